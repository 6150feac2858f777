"""/api/v1/training-runs (staff): runs with their progress and the gate's decision, forcing a
retrain, and promoting a candidate that waits for a staff click."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from modeling.config import PROFILES
from reviews import selectors
from reviews.api import examples as docs
from reviews.api.base import ApiView, PageQuerySerializer, found, validated
from reviews.api.serializers import page_serializer
from reviews.models import TrainingRun
from reviews.services.training import training_run_promote, training_run_request


class TrainingRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trigger = serializers.CharField()
    profile = serializers.CharField()
    device = serializers.CharField(allow_blank=True, help_text="cpu or cuda: only a worker training there claims it; "
                                                               "empty: any worker that takes training.")
    status = serializers.CharField(help_text="pending, running, done or failed.")
    options = serializers.JSONField(help_text="A tuning study's request (trigger tune): trials, budget_minutes, study.")
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


class TuneSerializer(serializers.Serializer):
    profile = serializers.ChoiceField(choices=sorted(PROFILES), default="quick",
                                      help_text="The recipe the search starts from, and each trial's training budget.")
    trials = serializers.IntegerField(min_value=1, max_value=1000, default=20,
                                      help_text="Trials in all, completed or pruned (a study resumes where it stopped).")
    budget_minutes = serializers.FloatField(min_value=1, required=False,
                                            help_text="Stop starting trials after this many minutes.")
    study = serializers.SlugField(max_length=64, required=False, help_text="Study name (default: tune-<profile>).")

    class Meta:
        ref_name = "TuneRequest"


class TrainingRunListCreateApi(ApiView):
    required_permissions = {"GET": ["reviews.view_trainingrun"], "POST": ["reviews.run_training"]}

    class InputSerializer(serializers.Serializer):
        device = serializers.ChoiceField(choices=["cpu", "cuda"], required=False,
                                         help_text="Run it only on a worker that trains on this device "
                                                   "(SENTIMENT_WORKER_DEVICE); default: any worker that takes training.")
        tune = TuneSerializer(required=False, help_text="Run a tuning study instead of a retrain (`manage.py tune`).")

        class Meta:
            ref_name = "TrainingRunRequest"

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
                    "training run is already pending or running, that one is returned (200): one run at a time. "
                    "The body may ask for a device; an empty body leaves it to any worker that takes training. "
                    "With `tune`, the run is a tuning study (Optuna; its best trial is registered and waits for staff "
                    "to promote it once it passes the gate's test check).",
        request=InputSerializer,
        responses={202: TrainingRunOutputSerializer, 200: TrainingRunOutputSerializer, **docs.errors(*docs.WRITE)},
        examples=docs.TRAINING_RUN_EXAMPLES,
        tags=["training"],
    )
    def post(self, request):
        data = validated(self.InputSerializer, request.data or {})
        if "tune" in data:
            tune = dict(data["tune"])
            profile = tune.pop("profile")
            run, created = training_run_request(trigger=TrainingRun.Trigger.TUNE, user=request.user, profile=profile,
                                                device=data.get("device", ""), options=tune)
        else:
            run, created = training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=request.user,
                                                device=data.get("device", ""))
        return Response(TrainingRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


def _run_or_404(pk: int):
    return found(selectors.training_run_get(pk=pk), "No such training run.")


class TrainingRunDetailApi(ApiView):
    required_permissions = {"GET": ["reviews.view_trainingrun"]}

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
    required_permissions = {"POST": ["reviews.run_training"]}

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
        training_run_promote(run=run, user=request.user)
        return Response(TrainingRunOutputSerializer(_run_or_404(pk)).data)
