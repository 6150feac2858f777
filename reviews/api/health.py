"""GET /api/v1/health: is the service up; for staff also which version is active, which one this
process serves, and the workers (host names, pids: not for everyone's eyes)."""

from django.db import DatabaseError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
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
        queues = serializers.ListField(child=serializers.CharField(), help_text="The work it takes.")
        device = serializers.CharField(allow_blank=True, help_text="cpu or cuda: where it trains (empty: no training).")

        class Meta:
            ref_name = "HealthWorkerEntry"

    alive = serializers.BooleanField(help_text="A worker wrote its heartbeat recently.")
    workers = WorkerSerializer(many=True)
    unserved_queues = serializers.ListField(child=serializers.CharField(),
                                            help_text="Queues no live worker takes: that work waits.")

    class Meta:
        ref_name = "HealthWorker"


STAFF_ONLY = "Staff only."


class ExplanationQueueSerializer(serializers.Serializer):
    pending = serializers.IntegerField(help_text="Waiting for the worker.")
    running = serializers.IntegerField()
    oldest_wait_s = serializers.FloatField(allow_null=True, help_text="How long the oldest waiting one has waited.")
    recent_wait_p50_s = serializers.FloatField(allow_null=True, help_text="Median request-to-result time, last 50.")

    class Meta:
        ref_name = "HealthExplanationQueue"


def is_staff(request) -> bool:
    """Whether the caller is signed-in staff. Never fails: a wrong token or a database that is
    down makes the caller anonymous here, so the probe still answers (200, or 503)."""
    try:
        user = request.user
    except (exceptions.APIException, DatabaseError):
        return False
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class HealthApi(ApiView):
    permission_classes = [AllowAny]

    class PublicOutputSerializer(serializers.Serializer):
        # What everyone sees.
        status = serializers.ChoiceField(choices=[("ok", "ok"), ("error", "error")])
        database = serializers.BooleanField(help_text="The database answered.")

    class OutputSerializer(PublicOutputSerializer):
        # The schema's one answer: the public fields, and (optional) those staff see too.
        active_version = serializers.CharField(
            required=False, allow_null=True, help_text=f"The active model version (null before the first). {STAFF_ONLY}"
        )
        loaded_version = serializers.CharField(
            required=False, allow_null=True, help_text=f"The version this process has loaded. {STAFF_ONLY}"
        )
        active_loaded = serializers.BooleanField(
            required=False, help_text=f"This process serves the active version. {STAFF_ONLY}"
        )
        pid = serializers.IntegerField(
            required=False, help_text=f"The process that answered (each web process loads its own model). {STAFF_ONLY}"
        )
        load_error = serializers.CharField(
            required=False, allow_null=True,
            help_text=f"Why this process could not load the active version (it serves the old one). {STAFF_ONLY}",
        )
        worker = HealthWorkerSerializer(
            required=False, allow_null=True,
            help_text=f"Background workers seen recently (null if the database is down). {STAFF_ONLY}",
        )
        explanations = ExplanationQueueSerializer(
            required=False, allow_null=True,
            help_text=f"The explanation queue (null if the database is down). {STAFF_ONLY}",
        )

        class Meta:
            ref_name = "Health"

    def perform_authentication(self, request):
        # Lazily, in is_staff(): DRF's eager check would answer a wrong token with a 401, and
        # a database that is down with a 500, where a probe needs its 503.
        pass

    @extend_schema(
        operation_id="health",
        summary="Is the service up?",
        description="200 while the database answers, 503 when it does not. Anonymous callers get `status` and "
                    "`database` only; staff (session or token) every field.",
        responses={200: OutputSerializer, 503: OutputSerializer},
        examples=docs.HEALTH_EXAMPLES,
        tags=["health"],
    )
    def get(self, request):
        staff = is_staff(request)
        report = selectors.system_health(details=staff)
        body = {**report, "status": "ok" if report["database"] else "error"}
        serializer = self.OutputSerializer if staff else self.PublicOutputSerializer
        return Response(serializer(body).data, status=status.HTTP_200_OK if report["database"] else 503)
