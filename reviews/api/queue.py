"""/api/v1/queue (moderators): what to label next, and labelling it."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from reviews import selectors
from reviews.api import examples as docs
from reviews.api.base import ApiView, found, validated
from reviews.api.serializers import FeedbackOutputSerializer, StrictCharField, label_field
from reviews.models import Label
from reviews.moderation import MEASURES, label_queue, label_queue_size
from reviews.services.label_queue import SKIP, queue_label, queue_skip


class QueueItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="prediction.id", help_text="The prediction's id (label it with this).")
    review_id = serializers.IntegerField(source="prediction.review_id")
    text = serializers.CharField(source="prediction.review.text")
    predicted_label = label_field(source="prediction.label", help_text="What the stored prediction said.")
    model_version = serializers.CharField(source="prediction.model_version_id",
                                          help_text="The version that made the stored prediction.")
    prob_positive = serializers.FloatField(help_text="The active version's probability of positive.")
    margin = serializers.FloatField(help_text="|P(positive) - P(negative)| by the active version: 0 is a coin toss.")
    entropy = serializers.FloatField(help_text="The active version's entropy, in bits (1 is a coin toss).")
    copies = serializers.ListField(child=serializers.IntegerField(),
                                   help_text="Predictions of near-duplicate texts shown as this item.")

    class Meta:
        ref_name = "QueueItem"


class QueueOutputSerializer(serializers.Serializer):
    size = serializers.IntegerField(help_text="Distinct texts waiting for a label (for this moderator).")
    measure = serializers.ChoiceField(choices=MEASURES)
    results = QueueItemSerializer(many=True)

    class Meta:
        ref_name = "Queue"


class QueueApi(ApiView):
    required_permissions = {"GET": ["reviews.moderate_feedback"]}

    class FilterSerializer(serializers.Serializer):
        measure = serializers.ChoiceField(choices=MEASURES, required=False, default="margin",
                                          help_text="How uncertainty is measured; with two labels both order alike.")
        limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=100)

        class Meta:
            ref_name = "QueueFilter"

    @extend_schema(
        operation_id="queue_list",
        summary="What to label next (moderators)",
        description="Stored predictions nobody has flagged or labelled, most uncertain (for the active model) "
        "first; near-duplicate texts are shown once, with the others in `copies`; items this moderator "
        "skipped are left out. The worker scores new predictions every 30 seconds.",
        parameters=[FilterSerializer],
        responses={200: QueueOutputSerializer, **docs.errors(*docs.ANY)},
        tags=["queue"],
    )
    def get(self, request):
        options = validated(self.FilterSerializer, request.query_params.dict())
        items = label_queue(moderator=request.user, measure=options["measure"], limit=options["limit"])
        return Response(QueueOutputSerializer({"size": label_queue_size(moderator=request.user),
                                               "measure": options["measure"], "results": items}).data)


class QueueLabelApi(ApiView):
    required_permissions = {"POST": ["reviews.moderate_feedback"]}

    class InputSerializer(serializers.Serializer):
        label = serializers.ChoiceField(choices=[*Label.values, SKIP],
                                        help_text="negative or positive; skip takes it out of your queue.")
        note = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")

        class Meta:
            ref_name = "QueueLabelRequest"

    @extend_schema(
        operation_id="queue_label",
        summary="Label a queue item (moderators)",
        description="The label is a trusted correction by you, approved at once (or once "
        "SENTIMENT_MODERATION_APPROVALS_TO_TRAIN moderators agree); it may agree with the model. Labelling "
        "the same item again returns your first label (200) and stores nothing. `skip` answers 204.",
        request=InputSerializer,
        responses={201: OpenApiResponse(FeedbackOutputSerializer, description="Labelled."),
                   200: OpenApiResponse(FeedbackOutputSerializer, description="You had labelled it already."),
                   204: OpenApiResponse(description="Skipped."),
                   **docs.errors(*docs.WRITE, 404)},
        tags=["queue"],
    )
    def post(self, request, pk: int):
        prediction = found(selectors.prediction_get(pk=pk, user=request.user), "No such prediction.")
        data = validated(self.InputSerializer, request.data)
        if data["label"] == SKIP:
            queue_skip(prediction=prediction, moderator=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        feedback, created = queue_label(prediction=prediction, label=data["label"], moderator=request.user,
                                        note=data["note"])
        return Response(FeedbackOutputSerializer(feedback).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
