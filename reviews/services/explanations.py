"""Explanations: asking the worker why the model decided (the worker computes them)."""

from __future__ import annotations

import time

from django.db import IntegrityError, transaction

from reviews.conf import conf
from reviews.models import Explanation, Prediction, WorkStatus


def explanation_params() -> dict:
    """The LIME settings an explanation is asked with (SENTIMENT_EXPLAIN_*); kept on its row."""
    explain = conf.explain
    return {"num_samples": explain.num_samples, "num_features": explain.num_features, "max_words": explain.max_words,
            "seed": explain.seed, "selection": explain.selection, "companion_samples": explain.companion_samples,
            "num_samples_with_companion": explain.num_samples_with_companion}


class ExplanationQueueFull(Exception):
    """The asker already has SENTIMENT_EXPLAIN_MAX_PENDING explanations waiting or running."""

    retry_after_s = 5


def explanation_request(*, prediction: Prediction, requester: str = "") -> tuple[Explanation, bool]:
    """Ask for an explanation of a prediction by the version that made it. One per prediction:
    asked again (even twice at once) the existing one is returned; a failed one is retried.
    A `requester` ("user:<id>", "anon:<hash>") may have at most SENTIMENT_EXPLAIN_MAX_PENDING
    open at once (ExplanationQueueFull), so one client cannot fill the worker's queue; its
    requests are counted and queued one at a time (a row lock), so a burst cannot pass the cap."""
    existing = Explanation.objects.filter(prediction=prediction).first()
    if existing is not None and existing.status != WorkStatus.FAILED:
        return existing, False
    with transaction.atomic():
        if requester:
            _hold(requester)
            waiting = Explanation.objects.filter(requester=requester, status__in=[WorkStatus.PENDING, WorkStatus.RUNNING])
            if waiting.count() >= conf.explain.max_pending:
                raise ExplanationQueueFull(
                    f"{conf.explain.max_pending} of your explanations are still being computed; "
                    "ask again when they are done."
                )
        return _queue(prediction, requester, explanation_params())


def _hold(requester: str) -> None:
    """Lock this requester's row of the counter table until the transaction ends (an upsert
    locks the row on PostgreSQL; SQLite's write transactions are serial anyway)."""
    from reviews.ratelimit import DatabaseCounters

    DatabaseCounters().add(f"lock:explain-queue:{requester}", 0, expires_at=time.time() + 86_400)


def _queue(prediction: Prediction, requester: str, params: dict) -> tuple[Explanation, bool]:
    try:
        with transaction.atomic():
            return (
                Explanation.objects.create(prediction=prediction, model_version_id=prediction.model_version_id,
                                           params=params, requester=requester),
                True,
            )
    except IntegrityError:
        existing = Explanation.objects.get(prediction=prediction)
    if existing.status != WorkStatus.FAILED:
        return existing, False
    retried = Explanation.objects.filter(pk=existing.pk, status=WorkStatus.FAILED).update(
        status=WorkStatus.PENDING, claimed_by="", claimed_at=None, not_before=None, attempts=0, error="", params=params,
        requester=requester,
    )
    existing.refresh_from_db()
    return existing, bool(retried)
