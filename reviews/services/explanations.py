"""Explanations: asking the worker why the model decided (the worker computes them)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from reviews.conf import conf
from reviews.models import Explanation, Prediction, WorkStatus


def explanation_params() -> dict:
    """The LIME settings an explanation is asked with (SENTIMENT_EXPLAIN_*); kept on its row."""
    explain = conf.explain
    return {"num_samples": explain.num_samples, "num_features": explain.num_features, "max_words": explain.max_words,
            "seed": explain.seed, "selection": explain.selection}


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
