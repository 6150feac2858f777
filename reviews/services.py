"""Writes. Each service is keyword-only, typed and atomic; the website, the API, the admin and
the worker all change data through these."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from modeling import registry
from modeling.retrain import is_holdout
from reviews.models import (
    Explanation,
    Feedback,
    Label,
    ModelVersion,
    Prediction,
    Review,
    Source,
    TrainingRun,
    WorkStatus,
)

log = logging.getLogger(__name__)


def _store():
    return settings.SENTIMENT_MODEL_STORE


@transaction.atomic
def model_version_register(*, version_id: str, profile: str = "") -> ModelVersion:
    """Give a registry version its row (the only way a version gets one). The version is
    verified first; when no version is active, the first verified one becomes active."""
    try:
        version = registry.load(_store(), version_id)
    except registry.RegistryError as exc:
        raise ValidationError(f"model version {version_id} cannot be registered: {exc}") from exc
    manifest = version.manifest
    row, _ = ModelVersion.objects.update_or_create(
        id=version.id,
        defaults={
            "base_model": manifest.get("base_model", ""),
            "profile": profile or manifest.get("profile", ""),
            "metrics": manifest.get("metrics", {}),
            "data": manifest.get("data", {}),
            "train_config": manifest.get("train_config", {}),
            "created_at": datetime.fromisoformat(manifest["created_at"]),
        },
    )
    if not ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE).exists():
        row = model_version_activate(version=row, user=None)
    return row


def model_version_activate(*, version: ModelVersion, user=None) -> ModelVersion:
    """Make `version` the active one (rollback = activating an earlier version). A version whose
    files fail verification is refused and marked rejected."""
    try:
        registry.verify(version.path)
    except registry.RegistryError as exc:
        # Not in a transaction of ours: the rejection must survive the error raised below.
        ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.REJECTED, status_reason=str(exc))
        raise ValidationError(f"model version {version.id} failed verification and was not activated: {exc}") from exc
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status == ModelVersion.Status.ACTIVE:
            return locked
        ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE).update(
            status=ModelVersion.Status.RETIRED
        )
        locked.status = ModelVersion.Status.ACTIVE
        locked.activated_at = timezone.now()
        locked.activated_by = user
        locked.status_reason = ""
        locked.save(update_fields=["status", "activated_at", "activated_by", "status_reason"])
    log.info("model version %s activated by %s", locked.id, user or "the system")
    return locked


class NoActiveModel(Exception):
    """No model version is active yet (a new installation whose first model is being trained)."""


def client_hash(ip: str | None) -> str:
    """A salted hash of the client IP: enough to tell repeat visitors apart, never the IP."""
    if not ip:
        return ""
    return salted_hmac("reviews.client-ip", ip, secret=settings.SENTIMENT_IP_SALT or None).hexdigest()[:64]


def validate_review_text(text: object) -> str:
    """The text to classify, or a ValidationError a person can act on."""
    if not isinstance(text, str):
        raise ValidationError("The review must be text.", code="invalid")
    if not text.strip():
        raise ValidationError("Please paste a review: the text is empty.", code="required")
    limit = settings.SENTIMENT_REVIEW_MAX_CHARS
    if len(text) > limit:
        raise ValidationError(
            f"The review is {len(text):,} characters long; the limit is {limit:,}.", code="max_length"
        )
    if "\x00" in text:
        raise ValidationError("The review contains a NUL character.", code="invalid")
    return text


def classify(*, texts: list[str]) -> tuple[list[dict], str, float]:
    """Predict with this process's current predictor: results, the version that really
    answered, and the latency in ms. Raises NoActiveModel before the first model exists."""
    from reviews.predictor import current_predictor

    predictor = current_predictor()
    if predictor is None:
        raise NoActiveModel("The first model is being prepared.")
    started = time.perf_counter()
    results = predictor.predict(texts)
    return results, predictor.version_id, (time.perf_counter() - started) * 1000.0


def review_submit(
    *, text: str, user=None, session_key: str = "", client_ip: str | None = None, source: str = Source.WEB
) -> Prediction:
    """Classify a review and keep it with its prediction (and the version that made it)."""
    return review_submit_many(texts=[text], user=user, session_key=session_key, client_ip=client_ip, source=source)[0]


def review_submit_many(
    *, texts: list[str], user=None, session_key: str = "", client_ip: str | None = None, source: str = Source.WEB
) -> list[Prediction]:
    texts = [validate_review_text(t) for t in texts]
    # Inference runs outside the transaction: no database lock is held while the model thinks.
    results, version_id, latency_ms = classify(texts=texts)
    per_text_ms = latency_ms / max(1, len(texts))
    hashed = client_hash(client_ip)
    owner = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        predictions = []
        for text, result in zip(texts, results):
            review = Review.objects.create(
                text=text, user=owner, session_key="" if owner else session_key, client_hash=hashed, source=source
            )
            predictions.append(
                Prediction.objects.create(
                    review=review,
                    model_version_id=version_id,
                    label=result["label"],
                    confidence=result["confidence"],
                    prob_negative=result["probabilities"]["negative"],
                    prob_positive=result["probabilities"]["positive"],
                    latency_ms=per_text_ms,
                )
            )
    return predictions


def reporter_for(*, user=None, session_key: str = "") -> str:
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    if session_key:
        return f"session:{session_key}"
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
    if len(comment) > 2000:
        raise ValidationError("The comment is longer than 2,000 characters.", code="max_length")
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
                session_key="" if owner else session_key,
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
        locked.is_holdout = status == Feedback.Status.APPROVED and is_holdout(locked.pk, settings.SENTIMENT_HOLDOUT_SHARE)
        locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "is_holdout"])
    return locked


def feedback_approve(*, feedback: Feedback, reviewer, note: str = "") -> Feedback:
    """Staff accept a correction: the retraining loop may learn from it."""
    return _feedback_decide(feedback=feedback, status=Feedback.Status.APPROVED, reviewer=reviewer, note=note)


def feedback_reject(*, feedback: Feedback, reviewer, note: str = "") -> Feedback:
    """Staff refuse a correction (the model was right, or the flag is noise)."""
    return _feedback_decide(feedback=feedback, status=Feedback.Status.REJECTED, reviewer=reviewer, note=note)


@transaction.atomic
def api_token_issue(*, user, rotate: bool = False):
    """The user's API token (one per user), created when missing; `rotate` replaces it, so the
    old key stops working at once."""
    from rest_framework.authtoken.models import Token

    if rotate:
        Token.objects.filter(user=user).delete()
    token, _ = Token.objects.get_or_create(user=user)
    return token


def explanation_params() -> dict:
    """The LIME settings an explanation is asked with (SENTIMENT_EXPLAIN_*); kept on its row."""
    return {
        "num_samples": settings.SENTIMENT_EXPLAIN_NUM_SAMPLES,
        "num_features": settings.SENTIMENT_EXPLAIN_NUM_FEATURES,
        "max_words": settings.SENTIMENT_EXPLAIN_MAX_WORDS,
        "seed": settings.SENTIMENT_EXPLAIN_SEED,
        "selection": settings.SENTIMENT_EXPLAIN_SELECTION,
    }


def explanation_request(*, prediction: Prediction) -> tuple[Explanation, bool]:
    """Ask for an explanation of a prediction by the version that made it. One per prediction:
    asked again (even twice at once) the existing one is returned; a failed one is retried."""
    params = explanation_params()
    existing = Explanation.objects.filter(prediction=prediction).first()
    if existing is None:
        try:
            with transaction.atomic():
                return (
                    Explanation.objects.create(prediction=prediction, model_version_id=prediction.model_version_id, params=params),
                    True,
                )
        except IntegrityError:
            existing = Explanation.objects.get(prediction=prediction)
    if existing.status == WorkStatus.FAILED:
        retried = Explanation.objects.filter(pk=existing.pk, status=WorkStatus.FAILED).update(
            status=WorkStatus.PENDING, claimed_by="", claimed_at=None, not_before=None, attempts=0, error="", params=params
        )
        existing.refresh_from_db()
        return existing, bool(retried)
    return existing, False


def training_run_request(*, trigger: str, user=None, profile: str = "retrain"):
    """Queue a training run; when one is already pending or running, that one is returned
    (two triggers at once make exactly one run). Returns (run, created)."""
    open_run = TrainingRun.objects.filter(status__in=[WorkStatus.PENDING, WorkStatus.RUNNING]).first()
    if open_run is not None:
        return open_run, False
    try:
        with transaction.atomic():
            return TrainingRun.objects.create(trigger=trigger, profile=profile, requested_by=user), True
    except IntegrityError:
        # Another trigger won the one open slot a moment ago.
        return TrainingRun.objects.filter(status__in=[WorkStatus.PENDING, WorkStatus.RUNNING]).first(), False


def training_run_promote(*, run, user=None) -> ModelVersion:
    """Activate a run's candidate (automatic after the gate, or a staff click when promotion
    waits for one) and mark the corrections it used as used."""
    if run.model_version is None or run.decision not in (TrainingRun.Decision.AWAITING, TrainingRun.Decision.PROMOTED):
        raise ValidationError("Only a candidate that passed the gate can be promoted.", code="not_promotable")
    version = model_version_activate(version=run.model_version, user=user)
    with transaction.atomic():
        Feedback.objects.filter(pk__in=run.correction_ids, training_run__isnull=True).update(training_run=run)
        TrainingRun.objects.filter(pk=run.pk).update(decision=TrainingRun.Decision.PROMOTED)
    return version
