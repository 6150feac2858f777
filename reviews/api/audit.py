"""/api/v1/audit (staff): the append-only record of what staff and the system did."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from reviews.api import examples as docs
from reviews.api.base import ApiView, PageQuerySerializer, validated_filters
from reviews.api.serializers import page_serializer
from reviews.models import AuditEvent


class AuditEventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(help_text="The username then; empty for the system (e.g. the gate promoting).")
    actor_id = serializers.IntegerField(allow_null=True)
    action = serializers.ChoiceField(choices=AuditEvent.Action.choices)
    object_type = serializers.CharField(help_text="feedback, model_version or training_run.")
    object_id = serializers.CharField()
    before = serializers.JSONField()
    after = serializers.JSONField()
    note = serializers.CharField()

    class Meta:
        ref_name = "AuditEvent"


class AuditListApi(ApiView):
    required_permissions = {"GET": ["reviews.view_auditevent"]}

    class FilterSerializer(PageQuerySerializer):
        action = serializers.ChoiceField(choices=AuditEvent.Action.choices, required=False)
        object_type = serializers.ChoiceField(choices=["feedback", "model_version", "training_run"], required=False)
        object_id = serializers.CharField(required=False, max_length=64)
        actor = serializers.CharField(required=False, max_length=150, help_text="A username.")

        class Meta:
            ref_name = "AuditFilter"

    @extend_schema(
        operation_id="audit_list",
        summary="The audit trail, newest first (staff)",
        description="Every flag decision, activation, forced retrain and promotion: who, when, before and after, "
        "and the note. Events are never changed: a decision changed later has an event for each.",
        parameters=[FilterSerializer],
        responses={200: page_serializer(AuditEventOutputSerializer, "AuditPage"), **docs.errors(*docs.ANY, 404)},
        tags=["audit"],
    )
    def get(self, request):
        filters = validated_filters(self.FilterSerializer, request)
        return self.paginated(AuditEvent.objects.filter(**filters), AuditEventOutputSerializer)
