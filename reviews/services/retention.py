"""Retention: what the worker's daily job deletes (reviews/worker/scheduler.py `retention`).

Expired sessions and rate-limit counters always go. Reviews go only when SENTIMENT_RETENTION_DAYS
is set, with their predictions, flags and explanations, except a review with a flag that is

- approved: a correction is the feedback loop's data. Unused, a retrain may learn from it; held
  out, it is the gate's evaluation set (deleting it changes what the gate measures); used, it is
  what a training run was made from (TrainingRun.correction_ids). Approving is a staff decision
  to keep the text.
- pending: staff have not decided yet. Once rejected it goes with the next run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from reviews.models import Feedback, Review
from reviews.tallies import tallies_refresh

# Reviews deleted per transaction: a first run on years of reviews holds no lock for long.
BATCH = 500
KEPT_STATUSES = (Feedback.Status.APPROVED, Feedback.Status.PENDING)


def reviews_expired(*, days: int, now: datetime | None = None) -> QuerySet[Review]:
    """Reviews older than `days` days that no approved or pending flag keeps (none when days is 0)."""
    if days <= 0:
        return Review.objects.none()
    cutoff = (now or timezone.now()) - timedelta(days=days)
    needed = Feedback.objects.filter(prediction__review=OuterRef("pk"), status__in=KEPT_STATUSES)
    return Review.objects.filter(created_at__lt=cutoff).exclude(Exists(needed))


def reviews_delete_expired(*, days: int, now: datetime | None = None) -> int:
    """Delete the expired reviews (their predictions, flags and explanations cascade), in batches
    of BATCH, each in its own transaction. Returns how many reviews went."""
    deleted = 0
    while True:
        batch = list(reviews_expired(days=days, now=now).order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not batch:
            return deleted
        with transaction.atomic():
            # Checked again inside the transaction: a flag may have come in since.
            _, per_model = reviews_expired(days=days, now=now).filter(pk__in=batch).delete()
        deleted += per_model.get(Review._meta.label, 0)
        if len(batch) < BATCH:
            return deleted


def sessions_clear_expired() -> None:
    """What `manage.py clearsessions` does: expired sessions leave the session store."""
    engine = import_module(settings.SESSION_ENGINE)
    try:
        engine.SessionStore.clear_expired()
    except NotImplementedError:
        pass  # a store that expires sessions by itself (cache, signed cookies)


def retention_run(*, days: int, now: datetime | None = None) -> dict[str, int]:
    """The daily clean-up: expired sessions, expired rate-limit counters, and reviews past `days`
    (SENTIMENT_RETENTION_DAYS; 0 keeps them all). Returns what was deleted, by kind."""
    from reviews.ratelimit import DatabaseCounters

    sessions_clear_expired()
    done = {
        "rate_counters": DatabaseCounters().delete_expired(),
        "reviews": reviews_delete_expired(days=days, now=now),
    }
    if done["reviews"]:
        tallies_refresh()  # the dashboard's counts without the deleted reviews
    return done
