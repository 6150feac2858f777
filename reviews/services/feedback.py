"""Feedback: people flag wrong predictions; staff approve or reject the flags."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from modeling.retrain import is_holdout
from reviews.conf import conf
from reviews.identity import reporter_key, session_hash
from reviews.models import Feedback, Label, Prediction
from reviews.services.reviews import client_hash

COMMENT_MAX_CHARS = 2000


def reporter_for(*, user=None, session_key: str = "") -> str:
    """Who flags: "user:<id>" or "session:<hash of the key>" (the one-flag-per-person rule's key)."""
    reporter = reporter_key(user=user, session_key=session_key)
    if reporter:
        return reporter
    raise ValidationError("Flagging needs a signed-in user or a session (enable cookies).", code="no_identity")


def feedback_flag(
    *, prediction: Prediction, label: str, comment: str = "", user=None, session_key: str = "", client_ip: str | None = None
) -> tuple[Feedback, bool]:
    """Flag a prediction as wrong. One flag per person per prediction: a repeat returns the
    first flag and `created=False`, storing nothing new."""
    if label not in (Label.NEGATIVE, Label.POSITIVE):
        raise ValidationError(f"Unknown label {label!r}; use negative or positive.", code="invalid_label")
    if label == prediction.label:
        raise ValidationError(
            f"The model already said {prediction.label}; a correction must name the other label.", code="same_label"
        )
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX_CHARS:
        raise ValidationError(f"The comment is longer than {COMMENT_MAX_CHARS:,} characters.", code="max_length")
    reporter = reporter_for(user=user, session_key=session_key)
    existing = Feedback.objects.filter(prediction=prediction, reporter=reporter).first()
    if existing is not None:
        return existing, False
    owner = user if user is not None and user.is_authenticated else None
    try:
        with transaction.atomic():
            feedback = Feedback.objects.create(
                prediction=prediction,
                predicted_label=prediction.label,
                corrected_label=label,
                comment=comment,
                user=owner,
                session_key="" if owner else session_hash(session_key),
                client_hash=client_hash(client_ip),
                reporter=reporter,
            )
    except IntegrityError:
        # Two clicks at once: the other request stored the flag first.
        return Feedback.objects.get(prediction=prediction, reporter=reporter), False
    return feedback, True


def _feedback_decide(*, feedback: Feedback, status: str, reviewer, note: str) -> Feedback:
    with transaction.atomic():
        locked = Feedback.objects.select_for_update().get(pk=feedback.pk)
        if locked.training_run_id is not None and status != locked.status:
            raise ValidationError("This correction was already used by a training run; its decision is final.", code="used")
        locked.status = status
        locked.reviewed_by = reviewer
        locked.reviewed_at = timezone.now()
        if note:
            locked.review_note = note.strip()
        # A fixed share of approved corrections is evaluation data, never trained on.
        locked.is_holdout = status == Feedback.Status.APPROVED and is_holdout(locked.pk, conf.gate.holdout_share)
        locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "is_holdout"])
    return locked


def feedback_approve(*, feedback: Feedback, reviewer, note: str = "") -> Feedback:
    """Staff accept a correction: the retraining loop may learn from it."""
    return _feedback_decide(feedback=feedback, status=Feedback.Status.APPROVED, reviewer=reviewer, note=note)


def feedback_reject(*, feedback: Feedback, reviewer, note: str = "") -> Feedback:
    """Staff refuse a correction (the model was right, or the flag is noise)."""
    return _feedback_decide(feedback=feedback, status=Feedback.Status.REJECTED, reviewer=reviewer, note=note)
