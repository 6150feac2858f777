"""The API's shared pieces of data: strict input fields, and the output serializers several
endpoints answer with (a serializer used by one endpoint lives with it)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from reviews.api.errors import TOO_LONG
from reviews.conf import conf
from reviews.models import Feedback, Label, ModelVersion, Source
from reviews.services.reviews import validate_review_text

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


class FeedbackOutputSerializer(FlagOutputSerializer):
    review_id = serializers.IntegerField(source="prediction.review_id")
    review_text = serializers.CharField(source="prediction.review.text")
    model_version = serializers.CharField(source="prediction.model_version_id")
    reviewed_by = serializers.CharField(source="reviewed_by.username", allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    review_note = serializers.CharField()

    class Meta:
        ref_name = "Feedback"


class ModelVersionOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=ModelVersion.Status.choices)
    base_model = serializers.CharField()
    profile = serializers.CharField()
    test_accuracy = serializers.FloatField(allow_null=True)
    metrics = serializers.JSONField(help_text="Metrics per split, from the version's manifest.")
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
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": item(many=True),
        "Meta": type("Meta", (), {"ref_name": name}),
    }
    return type(name + "Serializer", (serializers.Serializer,), fields)
