"""Flags: a caller flags a wrong prediction; staff list, approve and reject flags."""

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from reviews import selectors
from reviews.api import examples as docs
from reviews.api.base import ApiView, PageQuerySerializer, Pagination, found, validated, validated_filters
from reviews.api.serializers import FeedbackOutputSerializer, FlagOutputSerializer, StrictCharField, label_field, page_serializer
from reviews.identity import visitor
from reviews.models import Feedback
from reviews.moderation import moderation_facts
from reviews.services.feedback import feedback_approve, feedback_flag, feedback_reject
from reviews.services.feedback_export import STREAMED, export_lines


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
        prediction = found(selectors.prediction_get(pk=pk, **who.scope()), "No such prediction.")
        data = validated(self.InputSerializer, request.data)
        feedback, created = feedback_flag(prediction=prediction, **data, **who.as_kwargs())
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(FlagOutputSerializer(feedback).data, status=answer)


class FeedbackListApi(ApiView):
    required_permissions = {"GET": ["reviews.view_feedback"]}

    class FilterSerializer(PageQuerySerializer):
        status = serializers.ChoiceField(choices=Feedback.Status.choices, required=False)
        kind = serializers.ChoiceField(choices=Feedback.Kind.choices, required=False)
        order = serializers.ChoiceField(
            choices=list(selectors.FEEDBACK_ORDERS), required=False, default="newest",
            help_text="newest (default), oldest, triage (most likely right first) or -triage (least likely first); "
                      "flags not scored yet come last.")
        triage_min = serializers.FloatField(required=False, min_value=0.0, max_value=1.0,
                                            help_text="Only flags whose triage score is at least this.")
        triage_max = serializers.FloatField(required=False, min_value=0.0, max_value=1.0,
                                            help_text="Only flags whose triage score is at most this.")

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
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.feedback_list(**filters), request, view=self)
        # The sources' histories and the other flags on each text, for the whole page at once.
        context = {"moderation": moderation_facts(page, duplicate_rows=True)}
        return paginator.get_paginated_response(FeedbackOutputSerializer(page, many=True, context=context).data)


class DecisionInputSerializer(serializers.Serializer):
    note = StrictCharField(required=False, allow_blank=True, max_length=2000, default="",
                           help_text="Why (kept with the decision).")

    class Meta:
        ref_name = "FeedbackDecisionRequest"


class FeedbackDecisionApi(ApiView):
    required_permissions = {"POST": ["reviews.moderate_feedback"]}
    decide = None  # the service: staticmethod(feedback_approve) or staticmethod(feedback_reject)

    def post(self, request, pk: int):
        feedback = found(selectors.feedback_get(pk=pk), "No such feedback.")
        data = validated(DecisionInputSerializer, request.data)
        decided = self.decide(feedback=feedback, reviewer=request.user, note=data["note"])
        return Response(FeedbackOutputSerializer(decided).data)


def decision_schema(operation_id: str, summary: str, examples):
    """The documented POST of one kind of decision."""
    return extend_schema_view(post=extend_schema(
        operation_id=operation_id, summary=summary, request=DecisionInputSerializer,
        responses={200: FeedbackOutputSerializer, **docs.errors(*docs.WRITE, 404)}, examples=examples,
        tags=["feedback"],
    ))


@decision_schema("feedback_approve", "Approve a flag (staff): the retraining may learn from it", docs.APPROVE_EXAMPLES)
class FeedbackApproveApi(FeedbackDecisionApi):
    decide = staticmethod(feedback_approve)


@decision_schema("feedback_reject", "Reject a flag (staff), with a note", docs.REJECT_EXAMPLES)
class FeedbackRejectApi(FeedbackDecisionApi):
    decide = staticmethod(feedback_reject)


class FeedbackExportApi(ApiView):
    required_permissions = {"GET": ["reviews.view_feedback"]}
    MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}

    class FilterSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=list(STREAMED), required=False, default="csv",
                                         help_text="csv (a header row) or jsonl (one JSON object a line).")
        status = serializers.ChoiceField(choices=Feedback.Status.choices, required=False)

        class Meta:
            ref_name = "FeedbackExportFilter"

    @extend_schema(
        operation_id="feedback_export",
        summary="Every flag as a file (staff), streamed",
        description="One row per flag, oldest first: id, text, predicted_label, corrected_label, status, kind "
        "(flag or label), source (a keyed hash), trusted, model_version, created_at, reviewed_at, held_out. In CSV a text that a "
        "spreadsheet would run as a formula starts with an apostrophe. Parquet and Hugging Face datasets: "
        "`manage.py export_feedback`.",
        parameters=[FilterSerializer],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/x-ndjson"): OpenApiTypes.STR,
                   **docs.errors(*docs.ANY)},
        tags=["feedback"],
    )
    def get(self, request):
        options = validated(self.FilterSerializer, request.query_params.dict())
        fmt = options["format"]
        response = StreamingHttpResponse(export_lines(fmt, status=options.get("status")),
                                         content_type=self.MEDIA_TYPES[fmt])
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="feedback-{stamp}.{fmt}"'
        return response
