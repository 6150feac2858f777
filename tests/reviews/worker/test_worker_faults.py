"""Worker faults that must not train twice or half-apply (issue 18, reproduction 8 and the
promotion of item 9)."""

import os
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import OperationalError

from modeling import registry
from reviews.models import Feedback, ModelVersion, TrainingRun, WorkStatus
from reviews.services import training as training_service
from reviews.services.training import TrainingOutcome, training_run_complete, training_run_promote, training_run_request
from reviews.worker import queue
from tests.reviews.conftest import approved_corrections

pytestmark = pytest.mark.django_db


def test_a_failing_keep_alive_marks_the_work_lost(active_model, monkeypatch):
    """One database error in the keep-alive thread sets `lost`, so the training stops (before: the
    thread died silently, heartbeats stopped, the row was requeued and trained a second time)."""
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
    claimed = queue.claim_next(TrainingRun, worker_id="w1")

    def failing_beat(row, **fields):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(queue, "beat", failing_beat)
    with queue.keep_alive(claimed, interval=0.05) as lost:
        assert lost.wait(5)


def test_only_the_claim_holder_completes_a_run(active_model, model_store):
    """A worker whose claim was taken over cannot overwrite the outcome (before: finish() did not
    check the claim, so the first worker's late result replaced the second's)."""
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
    first = queue.claim_next(TrainingRun, worker_id="w1")
    TrainingRun.objects.filter(pk=run.pk).update(status=WorkStatus.PENDING, claimed_by="")  # requeued as stale
    second = queue.claim_next(TrainingRun, worker_id="w2")
    outcome = TrainingOutcome(version_id=active_model.id, decision=TrainingRun.Decision.REJECTED, log="late")
    assert training_run_complete(run=first, outcome=outcome) is False
    assert not queue.finish(first, error="late failure")
    assert training_run_complete(run=second, outcome=TrainingOutcome(version_id=active_model.id, log="mine")) is True
    run.refresh_from_db()
    assert (run.status, run.log, run.claimed_by) == (WorkStatus.DONE, "mine", "w2")


@pytest.mark.django_db(transaction=True)
def test_promotion_activates_and_marks_corrections_used_in_one_transaction(loop, staff, monkeypatch):
    """If marking the corrections fails, the activation is rolled back too (before: two
    transactions, so a crash between them retrained on the same corrections)."""
    flags = approved_corrections(staff, 3)
    # A candidate row (its files are not needed: verification is not what this test is about).
    candidate = ModelVersion.objects.create(id="candidate-1", base_model="tiny", created_at=loop.created_at,
                                            status=ModelVersion.Status.CANDIDATE)
    run = TrainingRun.objects.create(trigger=TrainingRun.Trigger.MANUAL, profile="retrain", status=WorkStatus.DONE,
                                     model_version=candidate, decision=TrainingRun.Decision.AWAITING,
                                     correction_ids=[f.pk for f in flags])
    monkeypatch.setattr(training_service, "model_version_verify", lambda *, version: None)

    def crash(**kwargs):
        raise OperationalError("the database went away")

    real = training_service.Feedback.objects.filter
    monkeypatch.setattr(training_service.Feedback.objects, "filter", lambda *a, **k: crash())
    with pytest.raises(OperationalError):
        training_run_promote(run=run, user=staff)
    monkeypatch.setattr(training_service.Feedback.objects, "filter", real)
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == loop.pk
    assert not Feedback.objects.filter(training_run__isnull=False).exists()
    assert TrainingRun.objects.get(pk=run.pk).decision == TrainingRun.Decision.AWAITING


def test_the_worker_removes_stale_temporary_folders_at_start(model_store, settings, tmp_path):
    """A save killed midway leaves a .tmp- folder; the next worker start removes it once it is old."""
    store = tmp_path / "store"
    store.mkdir()
    settings.SENTIMENT_MODEL_STORE = store
    old = store / f"{registry.TMP_PREFIX}v1-123"
    old.mkdir()
    stamp = time.time() - timedelta(hours=2).total_seconds()
    os.utime(old, (stamp, stamp))
    call_command("runworker", once=True)
    assert not old.exists()
