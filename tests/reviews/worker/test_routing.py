"""Routed work (issue 22): each kind of work has a queue, a worker takes the queues it is given,
and a training run that asks for a device is claimed only by a worker that trains there."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from reviews import selectors
from reviews.models import TrainingRun, WorkerHeartbeat, WorkStatus
from reviews.services.training import training_run_request
from reviews.worker import queue, scheduler, training

pytestmark = pytest.mark.django_db


def test_queues_are_checked():
    """Known queues come back in a fixed order; an unknown or empty list is an error that names them."""
    assert queue.parse_queues("maintenance, training") == ("training", "maintenance")
    with pytest.raises(ValueError, match="unknown queue.*gpu"):
        queue.parse_queues("training,gpu")
    with pytest.raises(ValueError, match="at least one"):
        queue.parse_queues(" , ")
    with pytest.raises(CommandError, match="unknown queue"):
        call_command("runworker", once=True, queues="everything")


@pytest.fixture
def claimed(monkeypatch):
    """Training runs claimed by process_training_runs, without training them."""
    runs = []
    monkeypatch.setattr(training, "run_training", lambda run, **kwargs: runs.append((run.pk, kwargs["device"])) or True)
    return runs


def test_a_run_for_cuda_waits_for_a_cuda_worker(claimed):
    """A CPU worker leaves a run that asks for cuda pending; a cuda worker claims it."""
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL, device="cuda")
    assert training.process_training_runs(worker_id="cpu-worker", device="cpu") == 0
    run.refresh_from_db()
    assert run.status == WorkStatus.PENDING and claimed == []
    assert training.process_training_runs(worker_id="gpu-worker", device="cuda") == 1
    run.refresh_from_db()
    assert run.claimed_by == "gpu-worker" and claimed == [(run.pk, "cuda")]


def test_a_run_for_any_device_goes_to_any_training_worker(claimed):
    """Without a device, the first worker that takes training claims it."""
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
    assert training.process_training_runs(worker_id="cpu-worker", device="cpu") == 1
    assert claimed == [(run.pk, "cpu")]


def test_a_worker_without_the_training_queue_leaves_training_alone(claimed):
    """`runworker --queues maintenance` does its own work and never claims a training run; its
    heartbeat says what it takes."""
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
    call_command("runworker", once=True, queues="maintenance")
    run.refresh_from_db()
    assert run.status == WorkStatus.PENDING and claimed == []
    beat = WorkerHeartbeat.objects.get()
    assert beat.queues == "maintenance" and beat.device == ""


def test_each_queue_schedules_its_own_jobs():
    """The scheduler of a worker holds the heartbeat and the jobs of its queues only."""
    import threading

    def jobs(queues):
        schedule, _ = scheduler.build(worker_id="w", started_at=timezone.now(), stop=threading.Event(),
                                      queues=queues, device="cpu")
        return {job.id for job in schedule.get_jobs()}

    assert jobs(("training",)) == {"heartbeat", "training-runs"}
    assert jobs(("explanations",)) == {"heartbeat", "explanations", "explainer"}
    assert jobs(("maintenance",)) == {"heartbeat", "label-queue", "triage", "tallies", "retention", "retrain-check"}
    assert jobs(queue.QUEUES) == jobs(("training",)) | jobs(("explanations",)) | jobs(("maintenance",))


def test_health_names_the_queues_nobody_takes():
    """Staff health lists each worker's queues and device, and the queues no live worker takes."""
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="gpu:1", hostname="gpu", pid=1, started_at=now, last_seen=now,
                                   queues="training", device="cuda")
    WorkerHeartbeat.objects.create(worker_id="old:2", hostname="old", pid=2, started_at=now,
                                   last_seen=now - timedelta(hours=1), queues="explanations,maintenance")
    worker = selectors.system_health()["worker"]
    assert worker["unserved_queues"] == ["explanations", "maintenance"]
    assert worker["workers"] == [{"id": "gpu:1", "last_seen": now.isoformat(), "doing": "", "queues": ["training"],
                                  "device": "cuda"}]


def test_the_api_queues_a_run_for_a_device(staff_api):
    """POST /api/v1/training-runs {"device": "cuda"} asks for a GPU worker; another device is a 400."""
    bad = staff_api.post("/api/v1/training-runs", {"device": "tpu"}, format="json")
    assert bad.status_code == 400 and "device" in bad.json()["error"]["fields"]
    answer = staff_api.post("/api/v1/training-runs", {"device": "cuda"}, format="json")
    assert answer.status_code == 202 and answer.json()["device"] == "cuda"
    assert TrainingRun.objects.get().device == "cuda"
    assert staff_api.post("/api/v1/training-runs").json()["device"] == "cuda"  # the open run, as it was asked


def test_a_scheduled_retrain_asks_for_the_configured_device(active_model, settings, monkeypatch):
    """SENTIMENT_RETRAIN_DEVICE pins the nightly retrain to a device."""
    settings.SENTIMENT_RETRAIN_DEVICE = "cuda"
    monkeypatch.setattr(selectors, "corrections_waiting", lambda: 10_000)
    run = training.maybe_schedule_retrain()
    assert run is not None and run.device == "cuda"
