"""The dashboard's big counts (reviews, predictions and flags per model version), exact and cheap
at a million rows.

A full count reads every row: 100 ms each at a million reviews on PostgreSQL, on every load of
the dashboard. Instead the worker's maintenance queue counts the rows up to an id every few
minutes (`tallies_refresh`, rows older than SETTLE_SECONDS, so no transaction still writing
below that id is missed) and keeps the counts in `Tally`; `tally_counts` adds the rows past that
id, which the primary key's index finds at once. Each refresh counts everything again, so
deleted rows (the retention job) leave the figures at the next refresh, and with no tally yet
(a new installation, a worker not started) the counts are simply taken in full.

The size of "Needs a label" (distinct texts nobody has labelled: 0.1 s at a million reviews) is
counted by the worker after each scoring pass, every 30 s; the dashboard shows that count while
it is recent (QUEUE_FRESH_SECONDS) and counts itself otherwise.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from reviews.models import Feedback, Prediction, Review, Tally

SETTLE_SECONDS = 300
REFRESH_SECONDS = 600
QUEUE_FRESH_SECONDS = 120
C = Tally.Counter
COUNTERS = (C.REVIEWS, C.PREDICTIONS, C.FLAGS)


def _rows(counter: str):
    """The rows a counter counts, as (queryset, the field to group by or None)."""
    if counter == C.REVIEWS:
        return Review.objects.all(), None
    if counter == C.PREDICTIONS:
        return Prediction.objects.all(), "model_version_id"
    # Flags only: a moderator's label from the queue is no sign the model was wrong.
    return Feedback.objects.filter(kind=Feedback.Kind.FLAG), "prediction__model_version_id"


def _grouped(rows, by) -> dict[str, int]:
    if by is None:
        return {"": rows.order_by().count()}
    counts = {key: n for key, n in rows.order_by().values_list(by).annotate(n=Count("pk"))}
    return {**counts, "": sum(counts.values())}


def tallies_refresh(*, now=None) -> int:
    """Count each counter's rows up to the newest one older than SETTLE_SECONDS; returns the
    number of rows counted."""
    now = now or timezone.now()
    settled = now - timedelta(seconds=SETTLE_SECONDS)
    total = 0
    for counter in COUNTERS:
        rows, by = _rows(counter)
        model = rows.model
        up_to = (model.objects.filter(created_at__lt=settled).order_by("-created_at", "-id")
                 .values_list("id", flat=True).first()) or 0
        counts = _grouped(rows.filter(id__lte=up_to), by)
        try:
            with transaction.atomic():
                Tally.objects.filter(counter=counter).delete()
                Tally.objects.bulk_create([Tally(counter=counter, key=key, value=n, up_to=up_to, counted_at=now)
                                           for key, n in counts.items()])
        except IntegrityError:
            continue  # another worker's refresh wrote this counter at the same moment: its count stands
        total += counts[""]
    return total


def tally_counts() -> dict[str, dict[str, int]]:
    """{counter: {key: count}} for every counter, exact: the tally plus the rows past it."""
    kept: dict[str, dict[str, int]] = {c: {} for c in COUNTERS}
    up_to = dict.fromkeys(COUNTERS, 0)
    for tally in Tally.objects.filter(counter__in=COUNTERS):
        kept[tally.counter][tally.key] = tally.value
        up_to[tally.counter] = tally.up_to
    result = {}
    for counter in COUNTERS:
        rows, by = _rows(counter)
        if not kept[counter]:  # not counted yet, or by an interrupted refresh: count in full
            up_to[counter] = 0
        recent = _grouped(rows.filter(id__gt=up_to[counter]), by)
        keys = set(kept[counter]) | set(recent)
        result[counter] = {key: kept[counter].get(key, 0) + recent.get(key, 0) for key in keys}
    return result


def queue_size_record() -> int:
    """Count "Needs a label" now and keep the count (the worker, after scoring)."""
    from reviews.moderation import label_queue_size

    size = label_queue_size()
    Tally.objects.update_or_create(counter=C.QUEUE, key="", defaults={"value": size, "up_to": 0,
                                                                       "counted_at": timezone.now()})
    return size


def queue_size_recent() -> int:
    """The worker's count of "Needs a label" if it is recent, a count taken now otherwise."""
    from reviews.moderation import label_queue_size

    fresh = timezone.now() - timedelta(seconds=QUEUE_FRESH_SECONDS)
    kept = Tally.objects.filter(counter=C.QUEUE, counted_at__gte=fresh).values_list("value", flat=True).first()
    return label_queue_size() if kept is None else kept
