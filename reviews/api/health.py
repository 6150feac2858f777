"""GET /api/v1/health: is the service up, which version is active, which one this process serves."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from reviews import selectors
from reviews.api import examples as docs
from reviews.api.base import ApiView


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
