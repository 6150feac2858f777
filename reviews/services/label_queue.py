"""The "Needs a label" queue: a moderator labels a stored prediction, or skips it.

A label is stored as a Feedback row of kind "label" by the moderator, trusted and decided at once
(approved, or pending until SENTIMENT_MODERATION_APPROVALS_TO_TRAIN moderators agree), so every
rule of the retraining loop applies to it as to an approved flag: one vote per text, conflicts,
held-out share, the audit trail. Unlike a flag it may agree with the model: a confirmed
prediction is a training example too.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from reviews.models import LABEL_VALUES, Feedback, Prediction, QueueSkip
from reviews.services.feedback import feedback_decide, reporter_for, text_key

SKIP = "skip"


def _check_moderator(moderator) -> None:
    if moderator is None or not moderator.is_authenticated or not moderator.has_perm("reviews.moderate_feedback"):
        raise ValidationError("Only a moderator labels from the queue.", code="permission")


def queue_label(*, prediction: Prediction, label: str, moderator, note: str = "") -> tuple[Feedback, bool]:
    """The moderator's label of `prediction`. Labelling it again (a repeated key press, two tabs)
    returns the first label with `created=False` and stores nothing."""
    _check_moderator(moderator)
    if label not in LABEL_VALUES:
        raise ValidationError(f"Unknown label {label!r}; use negative, positive or skip.", code="invalid_label")
    reporter = reporter_for(user=moderator)
    existing = Feedback.objects.filter(prediction=prediction, reporter=reporter).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            feedback = Feedback.objects.create(
                kind=Feedback.Kind.LABEL, prediction=prediction, predicted_label=prediction.label,
                corrected_label=label, user=moderator, reporter=reporter, source=reporter,
                text_hash=text_key(prediction.review.text), trusted=True,
            )
            feedback = feedback_decide(feedback=feedback, status=Feedback.Status.APPROVED, reviewer=moderator,
                                        note=note, action="queue.label")
    except IntegrityError:
        return Feedback.objects.get(prediction=prediction, reporter=reporter), False
    return feedback, True


def queue_skip(*, prediction: Prediction, moderator) -> bool:
    """Take `prediction` out of this moderator's queue (others still see it); True if new."""
    _check_moderator(moderator)
    _, created = QueueSkip.objects.get_or_create(prediction=prediction, moderator=moderator)
    return created
