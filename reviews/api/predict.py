"""POST /api/v1/predict: classify one text or a batch, storing nothing unless asked."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from reviews.api import examples as docs
from reviews.api.base import ApiView, validated
from reviews.api.serializers import PredictResultSerializer, ReviewTextField, TextBatchField
from reviews.conf import conf
from reviews.identity import visitor
from reviews.models import Source
from reviews.services.reviews import classify, review_submit_many


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
        if isinstance(texts, list) and 0 < len(texts) <= conf.api.max_batch:
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
            predictions = review_submit_many(texts=data["texts"], source=Source.API, **who.as_kwargs())
            version = predictions[0].model_version_id
            results = [
                {"label": p.label, "confidence": p.confidence, "probabilities": p.probabilities,
                 "model_version": p.model_version_id, "review_id": p.review_id, "prediction_id": p.pk}
                for p in predictions
            ]
        else:
            answers, version, _ = classify(texts=data["texts"])
            results = [
                {**answer, "model_version": version, "review_id": None, "prediction_id": None} for answer in answers
            ]
        output = {"model_version": version, "stored": data["store"], "results": results}
        return Response(self.OutputSerializer(output).data)
