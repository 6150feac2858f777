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


def awaiting_run(loop, flags):
    """A run that passed the gate and waits, with a candidate row (files not needed: verification is skipped)."""
    candidate = ModelVersion.objects.create(id="candidate-2", base_model="tiny", created_at=loop.created_at,
                                            status=ModelVersion.Status.CANDIDATE)
    return TrainingRun.objects.create(trigger=TrainingRun.Trigger.MANUAL, profile="retrain", status=WorkStatus.DONE,
                                      model_version=candidate, decision=TrainingRun.Decision.AWAITING,
                                      correction_ids=[f.pk for f in flags])


def test_promoting_a_candidate_whose_correction_was_rejected_since_is_refused(loop, staff, monkeypatch):
    """A moderator rejects one of a waiting run's corrections: promoting it is refused, nothing is
    activated or marked (before: it went live, and the rejected flag was marked used, its decision final)."""
    from django.core.exceptions import ValidationError

    from reviews.services.feedback import feedback_reject

    flags = approved_corrections(staff, 3)
    run = awaiting_run(loop, flags)
    monkeypatch.setattr(training_service, "model_version_verify", lambda *, version: None)
    feedback_reject(feedback=flags[1], reviewer=staff)
    with pytest.raises(ValidationError) as refused:
        training_run_promote(run=run, user=staff)
    assert refused.value.code == "corrections_withdrawn" and "1 of the corrections" in refused.value.message
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == loop.pk
    assert not Feedback.objects.filter(training_run__isnull=False).exists()


def test_promoting_a_candidate_whose_correction_fell_into_conflict_is_refused(loop, staff, monkeypatch):
    """Another flag, still pending, corrects the same text to the other label after the run
    trained: the text is in conflict, and promotion is refused."""
    from django.core.exceptions import ValidationError

    *flags, later = approved_corrections(staff, 4)
    run = awaiting_run(loop, flags)
    monkeypatch.setattr(training_service, "model_version_verify", lambda *, version: None)
    other = "positive" if flags[0].corrected_label == "negative" else "negative"
    # The later flag made a flag on the same text (as the model reads it) with the other label.
    Feedback.objects.filter(pk=later.pk).update(text_hash=flags[0].text_hash, status=Feedback.Status.PENDING,
                                                corrected_label=other, predicted_label=flags[0].corrected_label)
    with pytest.raises(ValidationError) as refused:
        training_run_promote(run=run, user=staff)
    assert refused.value.code == "corrections_withdrawn"
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == loop.pk


def test_automatic_promotion_of_a_run_whose_correction_was_rejected_meanwhile_is_a_rejection(loop, staff, monkeypatch):
    """The worker completes a passing run after a moderator rejected one of its corrections: the
    candidate is rejected with that reason, the active model and the corrections stay as they were."""
    from reviews.services.feedback import feedback_reject

    flags = approved_corrections(staff, 3)
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
    claimed = queue.claim_next(TrainingRun, worker_id="w1")
    candidate = ModelVersion.objects.create(id="candidate-3", base_model="tiny", created_at=loop.created_at,
                                            status=ModelVersion.Status.CANDIDATE)
    monkeypatch.setattr(training_service, "model_version_verify", lambda *, version: None)
    feedback_reject(feedback=flags[0], reviewer=staff)
    outcome = TrainingOutcome(version_id=candidate.id, decision=TrainingRun.Decision.PROMOTED,
                              correction_ids=[f.pk for f in flags], log="passed")
    assert training_run_complete(run=claimed, outcome=outcome) is True
    run.refresh_from_db()
    assert run.decision == TrainingRun.Decision.REJECTED
    assert run.reasons[-1]["check"] == "corrections still approved" and not run.reasons[-1]["passed"]
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == loop.pk
    assert ModelVersion.objects.get(pk=candidate.pk).status == ModelVersion.Status.REJECTED
    assert not Feedback.objects.filter(training_run__isnull=False).exists()
