"""The REST API (/api/v1/). Each view validates its input with its own serializer, calls one
service or selector, and renders with an output serializer; the website calls the same services.
Errors, throttling and the schema's examples live in api_errors, api_throttles and api_schema."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from modeling.config import EXPLAIN_SELECTIONS
from reviews import api_schema as docs
from reviews import selectors, services
from reviews.api_errors import TOO_LONG
from reviews.identity import visitor
from reviews.models import Feedback, Label, ModelVersion, Source

# --- Fields ----------------------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ReviewTextField(StrictCharField):
    """A review text, checked by the same rules as the website's (services.validate_review_text).
    A text over SENTIMENT_REVIEW_MAX_CHARS is reported with the code that makes it a 413."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return services.validate_review_text(text)
        except DjangoValidationError as exc:
            code = {"max_length": TOO_LONG, "required": "blank"}.get(exc.code, exc.code)
            raise serializers.ValidationError(exc.messages, code=code) from None


class TextBatchField(serializers.ListField):
    """A list of review texts, its length checked before any text is."""

    default_error_messages = {"too_many": "Send at most {limit} texts in one request; this one has {count}."}

    def __init__(self, **kwargs):
        super().__init__(child=ReviewTextField(), allow_empty=False, min_length=1, **kwargs)

    def to_internal_value(self, data):
        limit = settings.SENTIMENT_API_MAX_BATCH
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


# --- Plumbing --------------------------------------------------------------------------------


class JsonAlways(DefaultContentNegotiation):
    """Answer JSON whatever the Accept header says: a script's odd Accept is not worth a 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class PageQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(required=False, min_value=1, help_text="Page number, from 1.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=Pagination.max_page_size,
                                         help_text=f"Items per page (default {Pagination.page_size}).")


class ApiView(APIView):
    # Staff only unless a view says otherwise: the safe default for a new endpoint. (A comment,
    # not a docstring: the schema would show a docstring as every endpoint's description.)
    content_negotiation_class = JsonAlways
    permission_classes = [IsAdminUser]

    def paginated(self, queryset, serializer_class):
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def validated_filters(serializer_class, request) -> dict:
    """The query's filters, checked; the page parameters are checked too but left to Pagination."""
    filters = validated(serializer_class, request.query_params.dict())
    return {name: value for name, value in filters.items() if name not in PageQuerySerializer().fields}


def _scope(who) -> dict:
    return {"user": who.user, "session_key": who.session_key}


# --- Endpoints -------------------------------------------------------------------------------


class PredictApi(ApiView):
    permission_classes = [AllowAny]
    throttle_scope = "predict"

    class InputSerializer(serializers.Serializer):
        text = ReviewTextField(required=False, help_text="One review. Send `text` or `texts`, not both.")
        texts = TextBatchField(
            required=False, help_text="Several reviews (at most SENTIMENT_API_MAX_BATCH, 64 by default)."
        )
        store = serializers.BooleanField(default=False, help_text="Keep the reviews and predictions (source `api`).")

        class Meta:
            ref_name = "PredictRequest"

        def validate(self, attrs):
            if ("text" in attrs) == ("texts" in attrs):
                raise serializers.ValidationError(
                    "Send either `text` (one review) or `texts` (a list).", code="text_or_texts"
                )
            attrs["texts"] = attrs.pop("texts", None) or [attrs.pop("text")]
            return attrs

    class OutputSerializer(serializers.Serializer):
        model_version = serializers.CharField(help_text="The version that answered.")
        stored = serializers.BooleanField()
        results = PredictResultSerializer(many=True, help_text="One per text, in order.")

        class Meta:
            ref_name = "PredictResponse"

    def throttle_cost(self, request) -> int:
        """A batch counts each text (a malformed request counts as one)."""
        data = request.data
        texts = data.get("texts") if isinstance(data, dict) else None
        if isinstance(texts, list) and 0 < len(texts) <= settings.SENTIMENT_API_MAX_BATCH:
            return len(texts)
        return 1

    @extend_schema(
        operation_id="predict",
        summary="Classify one text or a batch",
        description="Stores nothing unless `store` is true. Each text counts against the caller's predict rate.",
        request=InputSerializer,
        responses={200: OutputSerializer, **docs.errors(*docs.WRITE, 429, 503)},
        parameters=[docs.RETRY_AFTER],
        examples=docs.PREDICT_EXAMPLES,
        tags=["predictions"],
    )
    def post(self, request):
        data = validated(self.InputSerializer, request.data)
        if data["store"]:
            who = visitor(request, create_session=True)
            predictions = services.review_submit_many(texts=data["texts"], source=Source.API, **who.as_kwargs())
            version = predictions[0].model_version_id
            results = [
                {"label": p.label, "confidence": p.confidence, "probabilities": p.probabilities,
                 "model_version": p.model_version_id, "review_id": p.review_id, "prediction_id": p.pk}
                for p in predictions
            ]
        else:
            answers, version, _ = services.classify(texts=data["texts"])
            results = [
                {**answer, "model_version": version, "review_id": None, "prediction_id": None} for answer in answers
            ]
        output = {"model_version": version, "stored": data["store"], "results": results}
        return Response(self.OutputSerializer(output).data)


class ReviewListCreateApi(ApiView):
    permission_classes = [AllowAny]
    throttle_scope = "predict"

    class FilterSerializer(PageQuerySerializer):
        label = label_field(required=False, help_text="The latest prediction's label.")
        flagged = serializers.BooleanField(required=False, allow_null=True, default=None,
                                           help_text="Only reviews with (true) or without (false) a flag.")
        model_version = StrictCharField(required=False, max_length=64, help_text="Predicted by this version.")
        search = StrictCharField(required=False, max_length=200, help_text="Text contains this (case-insensitive).")
        created_from = serializers.DateField(required=False, help_text="Created on or after this day (YYYY-MM-DD).")
        created_to = serializers.DateField(required=False, help_text="Created on or before this day (YYYY-MM-DD).")

        class Meta:
            ref_name = "ReviewFilter"

    class InputSerializer(serializers.Serializer):
        text = ReviewTextField()

        class Meta:
            ref_name = "ReviewCreateRequest"

    def get_throttles(self):
        # Reading is free; classifying counts against the predict rate, as on the website.
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(
        operation_id="reviews_list",
        summary="List reviews",
        description="Staff see every review, a signed-in user their own, an anonymous caller those of its session.",
        parameters=[FilterSerializer],
        responses={200: page_serializer(ReviewOutputSerializer, "ReviewPage"), **docs.errors(*docs.ANY, 404)},
        examples=docs.REVIEW_LIST_EXAMPLES,
        tags=["reviews"],
    )
    def get(self, request):
        filters = validated_filters(self.FilterSerializer, request)
        reviews = selectors.review_list(**_scope(visitor(request)), **filters)
        return self.paginated(reviews, ReviewOutputSerializer)

    @extend_schema(
        operation_id="reviews_create",
        summary="Classify and store a review",
        request=InputSerializer,
        responses={201: ReviewDetailOutputSerializer, **docs.errors(*docs.WRITE, 429, 503)},
        parameters=[docs.RETRY_AFTER],
        examples=docs.REVIEW_CREATE_EXAMPLES,
        tags=["reviews"],
    )
    def post(self, request):
        data = validated(self.InputSerializer, request.data)
        who = visitor(request, create_session=True)
        prediction = services.review_submit(text=data["text"], source=Source.API, **who.as_kwargs())
        body = ReviewDetailOutputSerializer(prediction.review).data
        location = f"{request.path}/{prediction.review_id}"
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})


class ReviewDetailApi(ApiView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="reviews_retrieve",
        summary="One review with its predictions and flags",
        responses={200: ReviewDetailOutputSerializer, **docs.errors(*docs.ANY, 404)},
        examples=docs.REVIEW_DETAIL_EXAMPLES,
        tags=["reviews"],
    )
    def get(self, request, pk: int):
        review = selectors.review_get(pk=pk, **_scope(visitor(request)))
        if review is None:
            raise NotFound("No such review.")
        return Response(ReviewDetailOutputSerializer(review).data)


class PredictionFlagApi(ApiView):
    permission_classes = [AllowAny]
    throttle_scope = "flag"

    class InputSerializer(serializers.Serializer):
        label = label_field(help_text="The label that is right (not the predicted one).")
        comment = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")

        class Meta:
            ref_name = "FlagRequest"

    @extend_schema(
        operation_id="predictions_flag",
        summary="Flag a wrong prediction",
        description="One flag per caller and prediction: repeating it returns the first flag (200) and stores nothing.",
        request=InputSerializer,
        responses={
            201: OpenApiResponse(FlagOutputSerializer, description="Flag stored, pending review by staff."),
            200: OpenApiResponse(FlagOutputSerializer, description="The caller had already flagged it."),
            **docs.errors(*docs.WRITE, 404, 429),
        },
        parameters=[docs.RETRY_AFTER],
        examples=docs.FLAG_EXAMPLES,
        tags=["predictions"],
    )
    def post(self, request, pk: int):
        who = visitor(request)
        prediction = selectors.prediction_get(pk=pk, **_scope(who))
        if prediction is None:
            raise NotFound("No such prediction.")
        data = validated(self.InputSerializer, request.data)
        feedback, created = services.feedback_flag(prediction=prediction, **data, **who.as_kwargs())
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(FlagOutputSerializer(feedback).data, status=answer)


class FeedbackListApi(ApiView):
    class FilterSerializer(PageQuerySerializer):
        status = serializers.ChoiceField(choices=Feedback.Status.choices, required=False)

        class Meta:
            ref_name = "FeedbackFilter"

    @extend_schema(
        operation_id="feedback_list",
        summary="Flags to review (staff)",
        parameters=[FilterSerializer],
        responses={200: page_serializer(FeedbackOutputSerializer, "FeedbackPage"), **docs.errors(*docs.ANY, 404)},
        examples=docs.FEEDBACK_LIST_EXAMPLES,
        tags=["feedback"],
    )
    def get(self, request):
        filters = validated_filters(self.FilterSerializer, request)
        return self.paginated(selectors.feedback_list(**filters), FeedbackOutputSerializer)


class DecisionInputSerializer(serializers.Serializer):
    note = StrictCharField(required=False, allow_blank=True, max_length=2000, default="",
                           help_text="Why (kept with the decision).")

    class Meta:
        ref_name = "FeedbackDecisionRequest"


class FeedbackDecisionApi(ApiView):
    decide = None  # the service: staticmethod(feedback_approve) or staticmethod(feedback_reject)

    def post(self, request, pk: int):
        feedback = selectors.feedback_get(pk=pk)
        if feedback is None:
            raise NotFound("No such feedback.")
        data = validated(DecisionInputSerializer, request.data)
        decided = self.decide(feedback=feedback, reviewer=request.user, note=data["note"])
        return Response(FeedbackOutputSerializer(decided).data)


DECISION_RESPONSES = {200: FeedbackOutputSerializer, **docs.errors(*docs.WRITE, 404)}


class FeedbackApproveApi(FeedbackDecisionApi):
    decide = staticmethod(services.feedback_approve)

    @extend_schema(
        operation_id="feedback_approve",
        summary="Approve a flag (staff): the retraining may learn from it",
        request=DecisionInputSerializer,
        responses=DECISION_RESPONSES,
        examples=docs.APPROVE_EXAMPLES,
        tags=["feedback"],
    )
    def post(self, request, pk: int):
        return super().post(request, pk)


class FeedbackRejectApi(FeedbackDecisionApi):
    decide = staticmethod(services.feedback_reject)

    @extend_schema(
        operation_id="feedback_reject",
        summary="Reject a flag (staff), with a note",
        request=DecisionInputSerializer,
        responses=DECISION_RESPONSES,
        examples=docs.REJECT_EXAMPLES,
        tags=["feedback"],
    )
    def post(self, request, pk: int):
        return super().post(request, pk)


class ModelListApi(ApiView):
    @extend_schema(
        operation_id="models_list",
        summary="Model versions, newest first (staff)",
        responses={200: ModelVersionOutputSerializer(many=True), **docs.errors(*docs.ANY)},
        examples=docs.MODEL_LIST_EXAMPLES,
        tags=["models"],
    )
    def get(self, request):
        return Response(ModelVersionOutputSerializer(selectors.model_version_list(), many=True).data)


def _version_or_404(pk: str) -> ModelVersion:
    version = selectors.model_version_get(pk=pk)
    if version is None:
        raise NotFound("No such model version.")
    return version


class ModelDetailApi(ApiView):
    @extend_schema(
        operation_id="models_retrieve",
        summary="One model version with its metrics and recipe (staff)",
        responses={200: ModelVersionDetailOutputSerializer, **docs.errors(*docs.ANY, 404)},
        examples=docs.MODEL_DETAIL_EXAMPLES,
        tags=["models"],
    )
    def get(self, request, pk: str):
        return Response(ModelVersionDetailOutputSerializer(_version_or_404(pk)).data)


class ModelActivateApi(ApiView):
    @extend_schema(
        operation_id="models_activate",
        summary="Make a version the active one (staff); also the way to roll back",
        description="A version whose files fail verification is refused (400) and marked rejected.",
        request=None,
        responses={200: ModelVersionDetailOutputSerializer, **docs.errors(*docs.WRITE, 404)},
        examples=docs.ACTIVATE_EXAMPLES,
        tags=["models"],
    )
    def post(self, request, pk: str):
        version = services.model_version_activate(version=_version_or_404(pk), user=request.user)
        return Response(ModelVersionDetailOutputSerializer(version).data)


class ExplanationWordSerializer(serializers.Serializer):
    word = serializers.CharField()
    weight = serializers.FloatField(help_text="Towards 'positive' (> 0) or 'negative' (< 0).")
    spans = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        help_text="[start, end) character offsets of every occurrence in the review text.",
    )

    class Meta:
        ref_name = "ExplanationWord"


class ExplanationResultSerializer(serializers.Serializer):
    label = label_field(help_text="The label predicted by the model that explained it.")
    probabilities = ProbabilitiesSerializer()
    explained_label = label_field(help_text="Weights are towards this label.")
    score = serializers.FloatField(allow_null=True, help_text="R² of LIME's local model on its samples.")
    words = ExplanationWordSerializer(many=True, help_text="Top words, strongest first.")
    words_total = serializers.IntegerField()
    words_considered = serializers.IntegerField()
    capped = serializers.BooleanField(help_text="Only the most frequent words of a long review were examined.")
    num_samples = serializers.IntegerField()
    unique_samples = serializers.IntegerField()
    selection = serializers.ChoiceField(
        choices=list(EXPLAIN_SELECTIONS), required=False,
        help_text="How the top words were chosen: gcv (ridge with a cross-validated penalty) or lime "
        "(LIME's own); absent from explanations made before it was recorded.",
    )
    seconds = serializers.FloatField()

    class Meta:
        ref_name = "ExplanationResult"


class ExplanationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    prediction_id = serializers.IntegerField()
    model_version = serializers.CharField(source="model_version_id")
    status = serializers.CharField(help_text="pending, running, done or failed.")
    error = serializers.CharField(help_text="Why it failed (empty otherwise).")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    result = ExplanationResultSerializer(allow_null=True, help_text="Present once done.")

    class Meta:
        ref_name = "Explanation"


def _explanation_response(explanation) -> Response:
    """202 with Retry-After while the worker computes; 200 once done or failed."""
    body = ExplanationOutputSerializer(explanation).data
    if explanation.is_open:
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Retry-After": "2"})
    return Response(body)


class PredictionExplanationApi(ApiView):
    permission_classes = [AllowAny]
    throttle_scope = "explain"

    def get_throttles(self):
        # Polling is free; asking for a new computation counts against the explain rate.
        return super().get_throttles() if self.request.method == "POST" else []

    def _prediction(self, request, pk):
        prediction = selectors.prediction_get(pk=pk, **_scope(visitor(request)))
        if prediction is None:
            raise NotFound("No such prediction.")
        return prediction

    @extend_schema(
        operation_id="predictions_explanation_create",
        summary="Ask why the model decided (LIME)",
        description="Queues an explanation of the prediction by the version that made it and returns at once "
                    "(202 with Retry-After); asked again, the same one (200 once done). A failed one is retried.",
        request=None,
        responses={202: ExplanationOutputSerializer, 200: ExplanationOutputSerializer, **docs.errors(*docs.ANY, 404, 429)},
        parameters=[docs.RETRY_AFTER],
        examples=docs.EXPLANATION_EXAMPLES,
        tags=["predictions"],
    )
    def post(self, request, pk: int):
        explanation, _ = services.explanation_request(prediction=self._prediction(request, pk))
        return _explanation_response(explanation)

    @extend_schema(
        operation_id="predictions_explanation_retrieve",
        summary="The explanation of a prediction",
        description="202 while it is being computed, 200 with the result when done; 404 if none was asked for.",
        responses={200: ExplanationOutputSerializer, 202: ExplanationOutputSerializer, **docs.errors(*docs.ANY, 404)},
        examples=docs.EXPLANATION_EXAMPLES,
        tags=["predictions"],
    )
    def get(self, request, pk: int):
        explanation = selectors.explanation_for(prediction=self._prediction(request, pk))
        if explanation is None:
            raise NotFound("No explanation was asked for; POST to this URL to ask for one.")
        return _explanation_response(explanation)


class TrainingRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trigger = serializers.CharField()
    profile = serializers.CharField()
    status = serializers.CharField(help_text="pending, running, done or failed.")
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_s = serializers.FloatField(allow_null=True)
    progress = serializers.JSONField(help_text="Phase, epoch, step and loss while running.")
    counts = serializers.JSONField(help_text="Replay reviews, corrections used, held-out corrections, feedback share.")
    correction_ids = serializers.ListField(child=serializers.IntegerField())
    model_version = serializers.CharField(source="model_version_id", allow_null=True, help_text="The candidate.")
    decision = serializers.CharField(help_text="promoted, rejected, awaiting (a staff click) or empty.")
    reasons = serializers.JSONField(help_text="The gate's checks, each with what it compared.")
    metrics = serializers.JSONField(help_text="Candidate and active metrics the gate compared.")
    log = serializers.CharField()
    error = serializers.CharField()
    attempts = serializers.IntegerField()

    class Meta:
        ref_name = "TrainingRun"


class TrainingRunListCreateApi(ApiView):
    @extend_schema(
        operation_id="training_runs_list",
        summary="Training runs, newest first (staff)",
        parameters=[PageQuerySerializer],
        responses={200: page_serializer(TrainingRunOutputSerializer, "TrainingRunPage"), **docs.errors(*docs.ANY, 404)},
        examples=docs.TRAINING_RUN_LIST_EXAMPLES,
        tags=["training"],
    )
    def get(self, request):
        validated(PageQuerySerializer, request.query_params.dict())
        return self.paginated(selectors.training_run_list(), TrainingRunOutputSerializer)

    @extend_schema(
        operation_id="training_runs_create",
        summary="Force a retrain now (staff)",
        description="Queues a retrain on IMDb replay plus approved corrections for the worker (202). When a "
                    "training run is already pending or running, that one is returned (200): one run at a time.",
        request=None,
        responses={202: TrainingRunOutputSerializer, 200: TrainingRunOutputSerializer, **docs.errors(*docs.ANY)},
        examples=docs.TRAINING_RUN_EXAMPLES,
        tags=["training"],
    )
    def post(self, request):
        from reviews.models import TrainingRun

        run, created = services.training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=request.user)
        return Response(TrainingRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


def _run_or_404(pk: int):
    run = selectors.training_run_get(pk=pk)
    if run is None:
        raise NotFound("No such training run.")
    return run


class TrainingRunDetailApi(ApiView):
    @extend_schema(
        operation_id="training_runs_retrieve",
        summary="One training run with its progress, counts and the gate's decision (staff)",
        responses={200: TrainingRunOutputSerializer, **docs.errors(*docs.ANY, 404)},
        examples=docs.TRAINING_RUN_EXAMPLES,
        tags=["training"],
    )
    def get(self, request, pk: int):
        return Response(TrainingRunOutputSerializer(_run_or_404(pk)).data)


class TrainingRunPromoteApi(ApiView):
    @extend_schema(
        operation_id="training_runs_promote",
        summary="Promote a candidate that passed the gate (staff)",
        description="For SENTIMENT_RETRAIN_AUTO_PROMOTE=false: activates the candidate and marks its corrections used. "
                    "A run whose candidate did not pass the gate is refused (400).",
        request=None,
        responses={200: TrainingRunOutputSerializer, **docs.errors(*docs.WRITE, 404)},
        examples=docs.TRAINING_RUN_EXAMPLES,
        tags=["training"],
    )
    def post(self, request, pk: int):
        run = _run_or_404(pk)
        services.training_run_promote(run=run, user=request.user)
        return Response(TrainingRunOutputSerializer(_run_or_404(pk)).data)


class HealthWorkerSerializer(serializers.Serializer):
    class WorkerSerializer(serializers.Serializer):
        id = serializers.CharField()
        last_seen = serializers.DateTimeField()
        doing = serializers.CharField(allow_blank=True)

        class Meta:
            ref_name = "HealthWorkerEntry"

    alive = serializers.BooleanField(help_text="A worker wrote its heartbeat recently.")
    workers = WorkerSerializer(many=True)

    class Meta:
        ref_name = "HealthWorker"


class HealthApi(ApiView):
    permission_classes = [AllowAny]
    # No authentication: a health probe must not depend on the session store or a token.
    authentication_classes = []

    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=[("ok", "ok"), ("error", "error")])
        database = serializers.BooleanField(help_text="The database answered.")
        active_version = serializers.CharField(
            allow_null=True, help_text="The active model version (null before the first)."
        )
        loaded_version = serializers.CharField(allow_null=True, help_text="The version this process has loaded.")
        active_loaded = serializers.BooleanField(help_text="This process serves the active version.")
        pid = serializers.IntegerField(help_text="The process that answered (each web process loads its own model).")
        load_error = serializers.CharField(
            allow_null=True, help_text="Why this process could not load the active version (it serves the old one)."
        )
        worker = HealthWorkerSerializer(allow_null=True, help_text="Background workers seen recently (null if the database is down).")

        class Meta:
            ref_name = "Health"

    @extend_schema(
        operation_id="health",
        summary="Is the service up?",
        description="200 while the database answers, 503 when it does not.",
        responses={200: OutputSerializer, 503: OutputSerializer},
        examples=docs.HEALTH_EXAMPLES,
        tags=["health"],
    )
    def get(self, request):
        report = selectors.system_health()
        body = {**report, "status": "ok" if report["database"] else "error"}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_200_OK if report["database"] else 503)
