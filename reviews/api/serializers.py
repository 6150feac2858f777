"""The API's shared pieces of data: strict input fields, and the output serializers several
endpoints answer with (a serializer used by one endpoint lives with it)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviews.api.errors import TOO_LONG
from reviews.conf import conf
from reviews.models import Feedback, Label, ModelVersion, Source
from reviews.moderation import moderation_facts
from reviews.pagination import COUNT_LIMIT, PAGES_AHEAD
from reviews.services.reviews import validate_review_text
from reviews.text_display import invisible_characters, model_reads, visible_text

# --- Fields ----------------------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ReviewTextField(StrictCharField):
    """A review text, checked by the same rules as the website's (validate_review_text).
    A text over SENTIMENT_REVIEW_MAX_CHARS is reported with the code that makes it a 413."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return validate_review_text(text)
        except DjangoValidationError as exc:
            code = {"max_length": TOO_LONG, "required": "blank"}.get(exc.code, exc.code)
            raise serializers.ValidationError(exc.messages, code=code) from None


class TextBatchField(serializers.ListField):
    """A list of review texts, its length checked before any text is."""

    default_error_messages = {"too_many": "Send at most {limit} texts in one request; this one has {count}."}

    def __init__(self, **kwargs):
        super().__init__(child=ReviewTextField(), allow_empty=False, min_length=1, **kwargs)

    def to_internal_value(self, data):
        limit = conf.api.max_batch
        if isinstance(data, list) and len(data) > limit:
            self.fail("too_many", limit=limit, count=len(data))
        return super().to_internal_value(data)


def label_field(**kwargs):
    return serializers.ChoiceField(choices=Label.choices, **kwargs)


# --- Output serializers shared by several endpoints ------------------------------------------


class ProbabilitiesSerializer(serializers.Serializer):
    negative = serializers.FloatField(min_value=0.0, max_value=1.0)
    positive = serializers.FloatField(min_value=0.0, max_value=1.0)

    class Meta:
        ref_name = "Probabilities"


class FlagOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    prediction_id = serializers.IntegerField()
    predicted_label = label_field()
    corrected_label = label_field()
    comment = serializers.CharField()
    status = serializers.ChoiceField(choices=Feedback.Status.choices)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Flag"


class PredictionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = label_field()
    confidence = serializers.FloatField(min_value=0.0, max_value=1.0)
    probabilities = ProbabilitiesSerializer()
    model_version = serializers.CharField(source="model_version_id")
    latency_ms = serializers.FloatField()
    created_at = serializers.DateTimeField()
    flags = FlagOutputSerializer(source="feedback", many=True)

    class Meta:
        ref_name = "Prediction"


class ReviewOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    source = serializers.ChoiceField(choices=Source.choices)
    created_at = serializers.DateTimeField()
    flagged = serializers.SerializerMethodField(help_text="Whether any prediction of this review was flagged.")
    prediction = PredictionOutputSerializer(
        source="latest_prediction", allow_null=True, help_text="The latest prediction."
    )

    class Meta:
        ref_name = "Review"

    def get_flagged(self, review) -> bool:
        return any(prediction.feedback.all() for prediction in review.predictions.all())


class ReviewDetailOutputSerializer(ReviewOutputSerializer):
    predictions = PredictionOutputSerializer(many=True, help_text="Every prediction, newest first.")

    class Meta:
        ref_name = "ReviewDetail"


class InvisibleCharacterSerializer(serializers.Serializer):
    code_point = serializers.CharField(help_text='E.g. "U+202E".')
    name = serializers.CharField(help_text='E.g. "RIGHT-TO-LEFT OVERRIDE".')
    count = serializers.IntegerField(min_value=1)

    class Meta:
        ref_name = "InvisibleCharacter"


class SourceHistorySerializer(serializers.Serializer):
    flags = serializers.IntegerField(min_value=0)
    approved = serializers.IntegerField(min_value=0)
    rejected = serializers.IntegerField(min_value=0)
    pending = serializers.IntegerField(min_value=0)

    class Meta:
        ref_name = "SourceHistory"


class DuplicateFlagSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    corrected_label = label_field()
    status = serializers.ChoiceField(choices=Feedback.Status.choices)

    class Meta:
        ref_name = "DuplicateFlag"


class FeedbackOutputSerializer(FlagOutputSerializer):
    """A flag as staff moderate it. The source's history, the other flags on the text and the
    conflict come from context["moderation"] (reviews.moderation.moderation_facts of the whole
    page, filled by the list view); without it they are looked up for this one flag."""

    review_id = serializers.IntegerField(source="prediction.review_id")
    review_text = serializers.CharField(source="prediction.review.text")
    model_version = serializers.CharField(source="prediction.model_version_id")
    reviewed_by = serializers.CharField(source="reviewed_by.username", allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    review_note = serializers.CharField()
    model_text = serializers.SerializerMethodField(
        help_text="The text as the model reads it (tags removed, entities decoded, whitespace collapsed), with every "
                  "invisible or direction-changing character written out as ⟦U+202E RIGHT-TO-LEFT OVERRIDE⟧.")
    invisible_characters = serializers.SerializerMethodField(
        help_text="The invisible or direction-changing characters of the text the model reads, by first appearance.")
    source = serializers.CharField(help_text='Who flagged: "user:<id>", "client:<hash>" or "session:<hash>".')
    trusted = serializers.BooleanField(help_text="Flagged by a moderator or a trusted reporter.")
    source_history = serializers.SerializerMethodField(
        help_text="What the source flagged and what staff decided (null when the flag has no source).")
    duplicates = serializers.SerializerMethodField(
        help_text="Other flags on the same text as the model reads it (at most 50), oldest first.")
    conflict = serializers.SerializerMethodField(
        help_text="The text was corrected to both labels by flags that were not rejected.")
    kind = serializers.ChoiceField(choices=Feedback.Kind.choices,
                                   help_text="flag (someone said the model was wrong) or label (a moderator's label "
                                             "from the queue, which may agree with the model).")
    votes = serializers.SerializerMethodField(
        help_text="Flags and labels on the same text that were not rejected, this one included, by label.")
    triage_score = serializers.FloatField(
        allow_null=True, help_text="How likely the flag is right, 0-1 (null until the worker has scored it).")
    triage_reasons = serializers.SerializerMethodField(help_text="The signals behind the triage score, in words.")

    class Meta:
        ref_name = "Feedback"

    def get_votes(self, feedback) -> dict[str, int]:
        return self._facts(feedback).votes

    def get_triage_reasons(self, feedback) -> list[str]:
        return list(feedback.triage.get("reasons", []))

    def _facts(self, feedback):
        facts = self.context.setdefault("moderation", {})
        if feedback.pk not in facts:
            facts.update(moderation_facts([feedback], duplicate_rows=True))
        return facts[feedback.pk]

    def get_model_text(self, feedback) -> str:
        return visible_text(model_reads(feedback.prediction.review.text))

    @extend_schema_field(InvisibleCharacterSerializer(many=True))
    def get_invisible_characters(self, feedback):
        return invisible_characters(model_reads(feedback.prediction.review.text))

    @extend_schema_field(SourceHistorySerializer(allow_null=True))
    def get_source_history(self, feedback):
        return self._facts(feedback).history

    @extend_schema_field(DuplicateFlagSerializer(many=True))
    def get_duplicates(self, feedback):
        return self._facts(feedback).duplicates

    def get_conflict(self, feedback) -> bool:
        return self._facts(feedback).conflict


class ModelVersionOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=ModelVersion.Status.choices)
    kind = serializers.ChoiceField(choices=ModelVersion.Kind.choices,
                                   help_text="A fine-tuned transformer, or an n-gram model alone (the instant first model).")
    base_model = serializers.CharField()
    profile = serializers.CharField()
    test_accuracy = serializers.FloatField(allow_null=True)
    test_accuracy_interval = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, min_length=2, max_length=2,
        help_text="95% bootstrap interval of the test accuracy, [low, high] (null for versions measured before intervals).")
    metrics = serializers.JSONField(help_text="Metrics per split, from the version's manifest; each split's "
                                              "`intervals` holds 95% bootstrap intervals of accuracy, precision, recall and F1.")
    status_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "ModelVersion"


class ModelVersionDetailOutputSerializer(ModelVersionOutputSerializer):
    registered_at = serializers.DateTimeField()
    activated_by = serializers.CharField(source="activated_by.username", allow_null=True)
    data = serializers.JSONField(help_text="Data source, seed and split hashes.")
    train_config = serializers.JSONField()

    class Meta:
        ref_name = "ModelVersionDetail"


class PredictResultSerializer(serializers.Serializer):
    label = label_field()
    confidence = serializers.FloatField(min_value=0.0, max_value=1.0)
    probabilities = ProbabilitiesSerializer()
    model_version = serializers.CharField()
    review_id = serializers.IntegerField(allow_null=True, help_text="The stored review (null unless `store`).")
    prediction_id = serializers.IntegerField(allow_null=True, help_text="The stored prediction (null unless `store`).")

    class Meta:
        ref_name = "PredictResult"


def page_serializer(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The documented shape of a page of `item`s (what Pagination.get_paginated_response returns)."""
    fields = {
        "count": serializers.IntegerField(help_text=f"Matching items, counted up to {PAGES_AHEAD} pages past this "
                                                    f"one (at most {COUNT_LIMIT:,})."),
        "count_capped": serializers.BooleanField(help_text="More items match than were counted: `count` stops "
                                                           "there, and `next` goes on while items do."),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": item(many=True),
        "Meta": type("Meta", (), {"ref_name": name}),
    }
    return type(name + "Serializer", (serializers.Serializer,), fields)
