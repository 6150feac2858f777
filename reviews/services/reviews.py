"""Reviews and predictions: validating a text, classifying it, keeping it."""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.crypto import salted_hmac

from reviews.conf import conf
from reviews.identity import session_hash
from reviews.models import Prediction, Review, Source


class NoActiveModel(Exception):
    """No model version is active yet (a new installation whose first model is being trained)."""


def client_hash(ip: str | None) -> str:
    """A salted hash of the client (its IPv4 address or IPv6 /64): enough to tell repeat
    visitors apart, never the address."""
    if not ip:
        return ""
    from reviews.identity import client_group

    return salted_hmac("reviews.client-ip", client_group(ip), secret=conf.site.ip_salt or None).hexdigest()[:64]


def validate_review_text(text: object) -> str:
    """The text to classify, or a ValidationError a person can act on."""
    if not isinstance(text, str):
        raise ValidationError("The review must be text.", code="invalid")
    if not text.strip():
        raise ValidationError("Please paste a review: the text is empty.", code="required")
    limit = conf.serving.review_max_chars
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
    """Classify several reviews in one pass and keep them all, or none."""
    texts = [validate_review_text(t) for t in texts]
    # Inference runs outside the transaction: no database lock is held while the model thinks.
    results, version_id, latency_ms = classify(texts=texts)
    per_text_ms = latency_ms / max(1, len(texts))
    hashed = client_hash(client_ip)
    owner = user if user is not None and user.is_authenticated else None
    session = "" if owner else session_hash(session_key)
    with transaction.atomic():
        predictions = []
        for text, result in zip(texts, results):
            review = Review.objects.create(
                text=text, user=owner, session_key=session, client_hash=hashed, source=source
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
