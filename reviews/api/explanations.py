"""/api/v1/predictions/{id}/explanation: ask why the model decided, and poll for the answer."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from modeling.config import EXPLAIN_SELECTIONS
from reviews import ratelimit, selectors
from reviews.api import examples as docs
from reviews.api.base import ApiView, found
from reviews.api.serializers import ProbabilitiesSerializer, label_field
from reviews.identity import visitor
from reviews.services.explanations import ExplanationQueueFull, explanation_request


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
    companion_weight = serializers.FloatField(
        required=False, help_text="A version served with its n-gram companion: the companion's share of the "
        "average explained; absent otherwise.")
    companion_samples = serializers.IntegerField(
        required=False, help_text="The perturbed texts the companion's part was fitted on (the transformer's: "
        "num_samples).")
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


class TooManyPending(Throttled):
    default_code = "too_many_pending"


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
        return found(selectors.prediction_get(pk=pk, **visitor(request).scope()), "No such prediction.")

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
        prediction = self._prediction(request, pk)
        who = visitor(request)
        try:
            explanation, _ = explanation_request(prediction=prediction, requester=who.rate_key)
        except ExplanationQueueFull as exc:
            ratelimit.undo("explain", who.rate_key, authenticated=who.authenticated)  # refused: no budget used
            raise TooManyPending(wait=exc.retry_after_s, detail=str(exc)) from None
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
        explanation = found(selectors.explanation_for(prediction=self._prediction(request, pk)),
                            "No explanation was asked for; POST to this URL to ask for one.")
        return _explanation_response(explanation)
