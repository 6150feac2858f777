"""Feedback: people flag wrong predictions; staff approve or reject the flags."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from modeling.cleaning import text_fingerprint
from modeling.retrain import is_holdout
from reviews.conf import conf
from reviews.identity import network_of, reporter_key, session_hash
from reviews.models import Feedback, FeedbackSource, Label, ModerationDecision, Prediction
from reviews.services.audit import audit_record
from reviews.services.reviews import client_hash

COMMENT_MAX_CHARS = 2000


def reporter_for(*, user=None, session_key: str = "") -> str:
    """Who flags: "user:<id>" or "session:<hash of the key>" (the one-flag-per-person rule's key)."""
    reporter = reporter_key(user=user, session_key=session_key)
    if reporter:
        return reporter
    raise ValidationError("Flagging needs a signed-in user or a session (enable cookies).", code="no_identity")


def user_is_trusted(user) -> bool:
    """Moderators and users given the trusted-reporter permission: their corrections are not
    capped per source or network."""
    return bool(user is not None and user.is_authenticated and user.is_active
                and (user.has_perm("reviews.moderate_feedback") or user.has_perm("reviews.trusted_reporter")))


def source_for(*, user=None, session_key: str = "", client_ip: str | None = None) -> str:
    """Who is speaking, for the retraining loop: "user:<id>", else the client ("client:<hash>",
    the address or IPv6 /64, whatever the cookie), else the session."""
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    client = client_hash(client_ip)
    if client:
        return f"client:{client}"
    return f"session:{session_hash(session_key)}" if session_key else ""


def network_for(client_ip: str | None) -> str:
    """The client's network for the per-network cap: "net:<hash of its /24 or /48>" ("" without an address)."""
    network = network_of(client_ip or "")
    if not network:
        return ""
    return "net:" + salted_hmac("reviews.client-network", network, secret=conf.site.ip_salt or None).hexdigest()[:40]


def text_key(text: str) -> str:
    """The key of a correction's text: one text, one vote (modeling.cleaning.text_fingerprint)."""
    return text_fingerprint(text)


def holdout_key(text_hash: str) -> bytes:
    """The secret that decides held-out membership: derived from SECRET_KEY, so nobody outside
    can tell which texts will be held out; keyed by the text, so every copy of a text lands on
    the same side."""
    return salted_hmac("reviews.holdout", text_hash).digest()


def _record_source(source: str, **increments) -> None:
    if not source:
        return
    FeedbackSource.objects.get_or_create(source=source)
    FeedbackSource.objects.filter(source=source).update(
        last_seen=timezone.now(), **{name: F(name) + value for name, value in increments.items()})


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
    source = source_for(user=owner, session_key=session_key, client_ip=client_ip)
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
                source=source,
                network=network_for(client_ip),
                text_hash=text_key(prediction.review.text),
                trusted=user_is_trusted(owner),
            )
            _record_source(source, flags=1)
    except IntegrityError:
        # Two clicks at once: the other request stored the flag first.
        return Feedback.objects.get(prediction=prediction, reporter=reporter), False
    return feedback, True


def other_label(label: str) -> str:
    return Label.POSITIVE.value if label == Label.NEGATIVE else Label.NEGATIVE.value


def _record_decision(feedback: Feedback, reviewer, *, approves: bool) -> int:
    """The reviewer's view of the flag (the label they believe is right), replacing an earlier
    one of theirs (none without a person); returns how many moderators now agree with the correction."""
    if reviewer is not None:
        ModerationDecision.objects.update_or_create(
            feedback=feedback, moderator=reviewer,
            defaults={"label": feedback.corrected_label if approves else other_label(feedback.corrected_label),
                      "approves": approves, "at": timezone.now()})
    return ModerationDecision.objects.filter(feedback=feedback, approves=True).count()


def feedback_decide(*, feedback: Feedback, status: str, reviewer, note: str, action: str = "") -> Feedback:
    """Record the reviewer's decision; the flag is approved once SENTIMENT_MODERATION_APPROVALS_TO_TRAIN
    moderators agree with it (until then it stays pending, with their approvals shown), and
    rejected by a reviewer who disagrees."""
    with transaction.atomic():
        locked = Feedback.objects.select_for_update().get(pk=feedback.pk)
        if locked.training_run_id is not None and status != locked.status:
            raise ValidationError("This correction was already used by a training run; its decision is final.", code="used")
        before = locked.status
        was = {"status": before, "reviewed_by": locked.reviewed_by.get_username() if locked.reviewed_by else None,
               "note": locked.review_note}
        # The rule counts moderators; a decision without a person (none in the product) is not held to it.
        person = reviewer if reviewer is not None and getattr(reviewer, "is_authenticated", False) else None
        approvals = _record_decision(locked, person, approves=status == Feedback.Status.APPROVED)
        if person and status == Feedback.Status.APPROVED and approvals < conf.moderation.approvals_to_train:
            status = Feedback.Status.PENDING  # approved by fewer moderators than must agree
        locked.status = status
        locked.reviewed_by = reviewer
        locked.reviewed_at = timezone.now()
        if note:
            locked.review_note = note.strip()
        if not locked.text_hash:
            locked.text_hash = text_key(locked.prediction.review.text)
        # A share of approved corrections is evaluation data, never trained on: which ones is
        # keyed with a secret (and by the text, so copies of a text land on one side).
        locked.is_holdout = status == Feedback.Status.APPROVED and is_holdout(
            locked.text_hash, conf.gate.holdout_share, key=holdout_key(locked.text_hash))
        locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "is_holdout", "text_hash"])
        decided = "reject" if status == Feedback.Status.REJECTED else "approve"
        audit_record(action=action or f"feedback.{decided}", actor=reviewer,
                     object_type="feedback", object_id=locked.pk, before=was,
                     after={"status": status, "corrected_label": locked.corrected_label, "held_out": locked.is_holdout,
                            "approvals": approvals},
                     note=note.strip())
        if before != status and locked.kind == Feedback.Kind.FLAG:
            counted = {Feedback.Status.APPROVED: "approved", Feedback.Status.REJECTED: "rejected"}
            changes = {counted[before]: -1} if before in counted else {}
            if status in counted:
                changes[counted[status]] = changes.get(counted[status], 0) + 1
            _record_source(locked.source, **changes)
    return locked


def feedback_approve(*, feedback: Feedback, reviewer, note: str = "") -> Feedback:
    """Staff accept a correction: the retraining loop may learn from it."""
    return feedback_decide(feedback=feedback, status=Feedback.Status.APPROVED, reviewer=reviewer, note=note)


def feedback_reject(*, feedback: Feedback, reviewer, note: str = "") -> Feedback:
    """Staff refuse a correction (the model was right, or the flag is noise)."""
    return feedback_decide(feedback=feedback, status=Feedback.Status.REJECTED, reviewer=reviewer, note=note)
