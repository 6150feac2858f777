"""Training runs: every change of a TrainingRun row is one of these services.

A run is requested (by the first start, the schedule or staff), claimed by a worker
(reviews.worker.queue), reports progress while it trains, and ends in ONE transaction that
stores its outcome and, for a promoted candidate, activates it and marks the corrections it
used; or it fails, or goes back to the queue. Staff may promote a candidate that waits for them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviews.models import Feedback, ModelVersion, TrainingRun, WorkStatus
from reviews.services.audit import audit_record
from reviews.services.model_versions import make_active, model_version_reject, model_version_verify

log = logging.getLogger(__name__)
OPEN = (WorkStatus.PENDING, WorkStatus.RUNNING)


@dataclass(frozen=True)
class TrainingOutcome:
    """What a finished run produced, as plain data (reviews.worker.training computes it)."""

    version_id: str
    # A TrainingRun.Decision for a retrain; empty for an installation's first model.
    decision: str = ""
    reasons: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    correction_ids: list[int] = field(default_factory=list)
    duration_s: float | None = None
    log: str = ""
    progress: dict = field(default_factory=dict)


def training_run_request(*, trigger: str, user=None, profile: str = "retrain", device: str = "",
                         options: dict | None = None) -> tuple[TrainingRun, bool]:
    """Queue a training run, for any worker that takes training or (`device` "cpu" or "cuda")
    only one that trains there; when one is already pending or running, that one is returned
    (two triggers at once make exactly one run). `options`: a tuning study's (trigger "tune").
    Returns (run, created)."""
    open_run = TrainingRun.objects.filter(status__in=OPEN).first()
    if open_run is not None:
        return open_run, False
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(trigger=trigger, profile=profile, requested_by=user, device=device,
                                             options=options or {})
            if user is not None:
                audit_record(action="training_run.request", actor=user, object_type="training_run", object_id=run.pk,
                             after={"trigger": trigger, "profile": profile, **({"device": device} if device else {}),
                                    **({"options": options} if options else {})})
            return run, True
    except IntegrityError:
        # Another trigger won the one open slot a moment ago.
        return TrainingRun.objects.filter(status__in=OPEN).first(), False


def _claimed(run: TrainingRun):
    """The run's row, only while `run`'s worker still holds the claim."""
    return TrainingRun.objects.filter(pk=run.pk, status=WorkStatus.RUNNING, claimed_by=run.claimed_by)


def training_run_progress(*, run: TrainingRun, **fields) -> bool:
    """Record what a running run is doing (progress, and once known its counts and the
    corrections it trains on); False when the claim was lost."""
    allowed = {"progress", "counts", "correction_ids"}
    if not fields.keys() <= allowed:
        raise ValueError(f"a running training run reports only {', '.join(sorted(allowed))}")
    return bool(_claimed(run).update(**fields))


def training_run_complete(*, run: TrainingRun, outcome: TrainingOutcome) -> bool:
    """Store a run's outcome in one transaction: the run done with its decision, a rejected
    candidate marked rejected, a promoted one made active with its corrections marked used.
    Only the worker that holds the claim can complete it (False otherwise, nothing written)."""
    decision = outcome.decision
    version = ModelVersion.objects.get(pk=outcome.version_id)
    reasons = outcome.reasons
    if decision == TrainingRun.Decision.PROMOTED:
        model_version_verify(version=version)
    with transaction.atomic():
        withdrawn = _withdrawn(outcome.correction_ids) if decision == TrainingRun.Decision.PROMOTED else 0
        if withdrawn:
            decision = TrainingRun.Decision.REJECTED
            reasons = [*reasons, {"check": "corrections still approved", "passed": False,
                                  "detail": f"{withdrawn} of the corrections it learned from were rejected or fell into "
                                            "conflict while it trained; the next run leaves them out"}]
        done = _claimed(run).update(
            status=WorkStatus.DONE, finished_at=timezone.now(), error="", model_version=version, decision=decision,
            reasons=reasons, metrics=outcome.metrics, counts=outcome.counts,
            correction_ids=list(outcome.correction_ids), duration_s=outcome.duration_s, log=outcome.log,
            progress=outcome.progress,
        )
        if not done:
            log.warning("training run %s: the claim was lost before it completed; its outcome is dropped", run.pk)
            return False
        if decision == TrainingRun.Decision.REJECTED:
            model_version_reject(version_id=version.pk, reason=outcome.log)
        elif decision == TrainingRun.Decision.PROMOTED:
            _promote(run=run, version=version, correction_ids=outcome.correction_ids, user=None)
    return True


def training_run_fail(*, run: TrainingRun, error: str) -> bool:
    """A run that could not finish: failed with its error (only by the claim holder)."""
    return bool(_claimed(run).update(status=WorkStatus.FAILED, finished_at=timezone.now(), error=error[:4000]))


def training_run_promote(*, run: TrainingRun, user=None) -> ModelVersion:
    """Staff activate a candidate that passed the gate and waits for them (or re-activate a
    promoted one): the activation and the "corrections used" mark in one transaction."""
    if run.model_version is None or run.decision not in (TrainingRun.Decision.AWAITING, TrainingRun.Decision.PROMOTED):
        raise ValidationError("Only a candidate that passed the gate can be promoted.", code="not_promotable")
    model_version_verify(version=run.model_version)
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
        withdrawn = _withdrawn(locked.correction_ids) if locked.decision == TrainingRun.Decision.AWAITING else 0
        if withdrawn:
            raise ValidationError(
                f"{withdrawn} of the corrections this candidate learned from were rejected or fell into conflict "
                "after it was trained: force a new retrain, which leaves them out.", code="corrections_withdrawn")
        version = _promote(run=locked, version=run.model_version, correction_ids=locked.correction_ids, user=user)
        TrainingRun.objects.filter(pk=run.pk).update(decision=TrainingRun.Decision.PROMOTED)
        audit_record(action="training_run.promote", actor=user, object_type="training_run", object_id=run.pk,
                     before={"decision": locked.decision}, after={"decision": TrainingRun.Decision.PROMOTED,
                                                                   "model_version": version.pk})
    return version


def _withdrawn(correction_ids) -> int:
    """Of a run's corrections, how many staff no longer approve or whose text is now corrected to
    both labels. Their rows stay locked until the transaction ends, so no decision slips in between
    (a decision on a flag locks it too, and refuses once the flag is marked used)."""
    from reviews.selectors import conflicting_text_hashes

    rows = list(Feedback.objects.select_for_update().filter(pk__in=list(correction_ids)).only("pk", "status", "text_hash"))
    conflicts = conflicting_text_hashes(among={f.text_hash for f in rows if f.text_hash})
    return sum(f.status != Feedback.Status.APPROVED or f.text_hash in conflicts for f in rows)


def _promote(*, run: TrainingRun, version: ModelVersion, correction_ids, user) -> ModelVersion:
    active = make_active(version=version, user=user)
    Feedback.objects.filter(pk__in=list(correction_ids), training_run__isnull=True).update(training_run=run)
    return active
