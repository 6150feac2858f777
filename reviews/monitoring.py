"""What the dashboard watches over the last SENTIMENT_MONITOR_DAYS days: the flag rate per
version per day, how confident predictions were (a histogram), the share of low-confidence
predictions per day (a drift signal: new kinds of text make the model unsure), and the
moderators' backlog. A handful of aggregate queries, whatever the number of predictions."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, F, Min, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from reviews.conf import conf
from reviews.models import Feedback, Prediction

# Confidence is the larger of two probabilities: from 0.5 to 1, in bins of 0.05.
BINS = [round(0.5 + 0.05 * i, 2) for i in range(11)]
VERSIONS_SHOWN = 4


def monitoring_stats(*, days: int | None = None, low_confidence: float | None = None) -> dict:
    days = days or conf.moderation.monitor_days
    low = conf.moderation.low_confidence if low_confidence is None else low_confidence
    now = timezone.now()
    since = now - timedelta(days=days)
    window = Prediction.objects.filter(created_at__gte=since)

    # Predictions per day and version, then flags per day and version of their predictions: two
    # grouped counts over the window's index range, no join of predictions with flags.
    flags_by = {(row["day"], row["version"]): row["n"] for row in
                Feedback.objects.filter(kind=Feedback.Kind.FLAG, prediction__created_at__gte=since).order_by()
                .values(day=TruncDate("prediction__created_at"), version=F("prediction__model_version_id"))
                .annotate(n=Count("pk"))}
    by_day_version = (window.annotate(day=TruncDate("created_at")).order_by().values("day", "model_version_id")
                      .annotate(predictions=Count("pk")).order_by("day"))
    versions: dict[str, dict] = {}
    for row in by_day_version:
        flags = flags_by.get((row["day"], row["model_version_id"]), 0)
        series = versions.setdefault(row["model_version_id"], {"id": row["model_version_id"], "days": []})
        series["days"].append({"day": row["day"], "predictions": row["predictions"], "flags": flags,
                               "rate": flags / row["predictions"] if row["predictions"] else None})
    # The versions that answered most recently.
    shown = sorted(versions.values(), key=lambda v: v["days"][-1]["day"], reverse=True)[:VERSIONS_SHOWN]

    bins = {f"b{i}": Count("pk", filter=Q(confidence__gte=lo) & (Q(confidence__lt=hi) if i < len(BINS) - 2 else Q()))
            for i, (lo, hi) in enumerate(zip(BINS, BINS[1:]))}
    counts = window.aggregate(**bins)
    histogram = [{"low": lo, "high": hi, "count": counts[f"b{i}"]} for i, (lo, hi) in enumerate(zip(BINS, BINS[1:]))]

    daily = (window.annotate(day=TruncDate("created_at")).values("day")
             .annotate(predictions=Count("pk"), low=Count("pk", filter=Q(confidence__lt=low))).order_by("day"))
    low_share = [{"day": row["day"], "predictions": row["predictions"], "low": row["low"],
                  "share": row["low"] / row["predictions"]} for row in daily if row["predictions"]]

    pending = Feedback.objects.filter(status=Feedback.Status.PENDING)
    oldest = pending.aggregate(at=Min("created_at"))["at"]
    return {
        "days": days,
        "low_confidence": low,
        "flag_rate": sorted(shown, key=lambda v: v["id"]),
        "histogram": histogram,
        "low_share": low_share,
        "backlog": {
            "pending_flags": pending.filter(kind=Feedback.Kind.FLAG).count(),
            "awaiting_agreement": pending.filter(decisions__approves=True).distinct().count(),
            "oldest_pending_days": round((now - oldest).total_seconds() / 86400, 1) if oldest else None,
            "unscored_flags": pending.filter(kind=Feedback.Kind.FLAG, triage_score__isnull=True).count(),
        },
    }
