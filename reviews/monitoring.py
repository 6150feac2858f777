"""What the dashboard watches over the last SENTIMENT_MONITOR_DAYS days: the flag rate per
version per day, how confident predictions were (a histogram), the share of low-confidence
predictions per day (a drift signal: new kinds of text make the model unsure), and the
moderators' backlog. A handful of aggregate queries, whatever the number of predictions."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Min, Q
from django.db.models.functions import Floor, TruncDate
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
    # One pass over the window's predictions, grouped by day, version, confidence bin (0.05 wide:
    # floor(20 x confidence) - 10, 1.0 in the last) and low or not, each group counted once: three
    # passes with a filtered count per bin took 0.1 s at a million reviews.
    edges = list(zip(BINS, BINS[1:]))
    rows = list(window.annotate(day=TruncDate("created_at"), bin=Floor(F("confidence") * 20) - 10,
                                is_low=ExpressionWrapper(Q(confidence__lt=low), output_field=BooleanField()))
                .order_by().values("day", "model_version_id", "bin", "is_low").annotate(n=Count("pk")))
    rows.sort(key=lambda row: (row["day"], row["model_version_id"]))  # here: ORDER BY made it sort 80,000 rows
    histogram = [{"low": lo, "high": hi, "count": 0} for lo, hi in edges]
    grouped: dict = {}
    for row in rows:
        if row["bin"] >= 0:
            histogram[min(int(row["bin"]), len(edges) - 1)]["count"] += row["n"]
        counts = grouped.setdefault((row["day"], row["model_version_id"]), {"predictions": 0, "low": 0})
        counts["predictions"] += row["n"]
        counts["low"] += row["n"] if row["is_low"] else 0
    versions: dict[str, dict] = {}
    daily: dict = {}
    for (day, version), counts in grouped.items():
        flags = flags_by.get((day, version), 0)
        series = versions.setdefault(version, {"id": version, "days": []})
        series["days"].append({"day": day, "predictions": counts["predictions"], "flags": flags,
                               "rate": flags / counts["predictions"] if counts["predictions"] else None})
        totals = daily.setdefault(day, {"day": day, "predictions": 0, "low": 0})
        totals["predictions"] += counts["predictions"]
        totals["low"] += counts["low"]
    # The versions that answered most recently.
    shown = sorted(versions.values(), key=lambda v: v["days"][-1]["day"], reverse=True)[:VERSIONS_SHOWN]
    low_share = [{**day, "share": day["low"] / day["predictions"]} for day in daily.values() if day["predictions"]]

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
