"""A worker killed with SIGKILL mid-retrain loses nothing (issue: faults that must lose nothing)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from modeling import registry
from reviews.worker import queue, training
from reviews.models import Feedback, Lease, ModelVersion, TrainingRun, WorkStatus
from reviews.services.training import training_run_request
from tests.reviews.conftest import approved_corrections, process_env
from reviews.conf import conf

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SHORT = 3  # seconds: stale claims and leases lapse quickly in these tests


def run_worker(tmp_path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = process_env(tmp_path / "var", SENTIMENT_STALE_SECONDS=SHORT + 2, SENTIMENT_LEASE_SECONDS=SHORT + 2)
    command = ["-m", "tests.reviews.fault_worker", fault] if fault else ["manage.py", "runworker", "--once"]
    return subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("fault", ["during_training", "before_rename"])
def test_sigkill_loses_nothing_and_the_next_run_succeeds(loop, staff, tmp_path, fault):
    """Killed during training or just before its version is renamed into the store: no
    version appears, the active model is unchanged, the corrections stay unused, the lease is
    recovered, and the next worker finishes the run."""
    approved_corrections(staff, 4)
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
    store = Path(settings.SENTIMENT_MODEL_STORE)
    before = [v.id for v in registry.list_versions(store)]

    killed = run_worker(tmp_path, fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run.refresh_from_db()
    assert run.status == WorkStatus.RUNNING  # its claimant died holding it
    assert [v.id for v in registry.list_versions(store)] == before
    for leftover in store.glob(".tmp-*"):
        with pytest.raises(registry.VerificationError):
            registry.verify(leftover, key=conf.signing_key())
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).id == loop.id
    assert not Feedback.objects.filter(training_run__isnull=False).exists()
    assert Lease.objects.filter(name=training.TRAINING_LEASE).exists()  # left behind by the dead worker

    time.sleep(SHORT + 3)  # the dead worker's heartbeat and lease lapse
    finished = run_worker(tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE and run.decision == TrainingRun.Decision.PROMOTED, (run.error, run.reasons)
    assert run.attempts == 2
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).id == run.model_version_id != loop.id
    assert Feedback.objects.filter(training_run=run).count() == len(run.correction_ids) > 0
    assert queue.lease_holder(training.TRAINING_LEASE) is None
