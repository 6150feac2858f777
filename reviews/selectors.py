"""Reads. Views, the API and jobs call these rather than building queries themselves."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta

from django.db import DatabaseError, connection
from django.db.models import Count, Exists, F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from reviews.conf import conf
from reviews.identity import reporter_key, session_hash
from reviews.models import Explanation, Feedback, ModelVersion, Prediction, Review, TrainingRun, WorkerHeartbeat, WorkStatus
from reviews.tallies import tally_counts


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def model_version_list() -> list[ModelVersion]:
    return list(ModelVersion.objects.all())


def _visible_reviews(*, user=None, session_key: str = "") -> QuerySet[Review]:
    """Staff see every review; a signed-in user their own; an anonymous visitor their session's
    (rows keep the key's hash)."""
    reviews = Review.objects.all()
    if user is not None and user.is_authenticated:
        return reviews if user.is_staff else reviews.filter(user=user)
    if session_key:
        return reviews.filter(user__isnull=True, session_key=session_hash(session_key))
    return reviews.none()


def day_start(day: date) -> datetime:
    """Midnight starting `day` in the site's time zone (what `__date` compares in)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def review_list(
    *,
    user=None,
    session_key: str = "",
    label: str | None = None,
    flagged: bool | None = None,
    model_version: str | None = None,
    search: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
) -> QuerySet[Review]:
    """The visitor's reviews, newest first, with predictions and flags prefetched.

    `label` filters on the latest prediction's answer, `model_version` on any of the review's
    predictions, `flagged` on whether any of its predictions was flagged. Every filter is a
    condition on the review row (EXISTS, never a join), so no DISTINCT is needed; the days are
    ranges of `created_at` (its index serves them); on PostgreSQL a trigram index serves `search`.
    """
    reviews = _visible_reviews(user=user, session_key=session_key)
    if label:
        latest = Prediction.objects.filter(review=OuterRef("pk")).order_by("-created_at", "-id").values("label")[:1]
        reviews = reviews.annotate(latest_label=Subquery(latest)).filter(latest_label=label)
    if model_version:
        made = Prediction.objects.filter(model_version_id=model_version)
        latest = made.aggregate(at=Max("created_at"))["at"]  # one step down the (version, created_at) index
        if latest is None:
            return reviews.none()
        # A review is older than each of its predictions, so none of this version's is newer than
        # its latest prediction: bounding `created_at` there starts the newest-first walk at the
        # version's reviews instead of passing every newer version's first (1.4 s at a million
        # reviews). The hour covers a clock set back between a review's save and its prediction's.
        reviews = reviews.filter(Exists(made.filter(review=OuterRef("pk"))),
                                 created_at__lte=latest + timedelta(hours=1))
    if flagged is not None:
        has_flag = Exists(Feedback.objects.filter(prediction__review=OuterRef("pk")))
        reviews = reviews.filter(has_flag if flagged else ~has_flag)
    if search:
        reviews = reviews.filter(text__icontains=search.strip())
    if created_from:
        reviews = reviews.filter(created_at__gte=day_start(created_from))
    if created_to:
        reviews = reviews.filter(created_at__lt=day_start(created_to + timedelta(days=1)))
    return reviews.prefetch_related(
        Prefetch("predictions", queryset=Prediction.objects.select_related("model_version").prefetch_related("feedback"))
    )


def review_get(*, pk: int, user=None, session_key: str = "") -> Review | None:
    """One review the visitor may see (None otherwise: the caller answers 404)."""
    return (
        _visible_reviews(user=user, session_key=session_key)
        .prefetch_related(
            Prefetch("predictions", queryset=Prediction.objects.select_related("model_version").prefetch_related("feedback"))
        )
        .filter(pk=pk)
        .first()
    )


def prediction_get(*, pk: int, user=None, session_key: str = "") -> Prediction | None:
    """A prediction of a review the visitor may see."""
    reviews = _visible_reviews(user=user, session_key=session_key)
    return Prediction.objects.select_related("review", "model_version").filter(pk=pk, review__in=reviews).first()


def feedback_for(*, prediction: Prediction, user=None, session_key: str = "") -> Feedback | None:
    """The visitor's own flag on a prediction, if any."""
    reporter = reporter_key(user=user, session_key=session_key)
    if not reporter:
        return None
    return Feedback.objects.filter(prediction=prediction, reporter=reporter).first()


FEEDBACK_ORDERS = {"newest": ("-created_at", "-id"), "oldest": ("created_at", "id"),
                   # Triage: most likely right (or wrong) first; flags not scored yet last.
                   "triage": (F("triage_score").desc(nulls_last=True), "-id"),
                   "-triage": (F("triage_score").asc(nulls_last=True), "-id")}


def feedback_list(*, status: str | None = None, kind: str | None = None, order: str = "newest",
                  triage_min: float | None = None, triage_max: float | None = None) -> QuerySet[Feedback]:
    """Flags (and queue labels), filtered; `order` one of FEEDBACK_ORDERS."""
    feedback = Feedback.objects.select_related("prediction__review", "prediction__model_version", "reviewed_by", "user")
    if status:
        feedback = feedback.filter(status=status)
    if kind:
        feedback = feedback.filter(kind=kind)
    if triage_min is not None:
        feedback = feedback.filter(triage_score__gte=triage_min)
    if triage_max is not None:
        feedback = feedback.filter(triage_score__lte=triage_max)
    return feedback.order_by(*FEEDBACK_ORDERS[order])


def dashboard_stats() -> dict:
    """Pending flags, flag rate per model version, the active model, and a series over versions.

    Reviews, predictions and flags per version come from the worker's tallies plus the rows
    since (reviews.tallies: exact, without reading a million rows on each load)."""
    versions = list(ModelVersion.objects.order_by("created_at"))
    counts = tally_counts()
    predictions, flags = counts["predictions"], counts["flags"]
    series = []
    for v in versions:
        made, flagged = predictions.get(v.id, 0), flags.get(v.id, 0)
        series.append(
            {
                "id": v.id,
                "status": v.status,
                "kind": v.get_kind_display(),
                "created_at": v.created_at,
                "test_accuracy": v.test_accuracy,
                "test_accuracy_interval": v.test_accuracy_interval,
                "predictions": made,
                "flags": flagged,
                "flag_rate": (flagged / made) if made else None,
            }
        )
    statuses = dict(Feedback.objects.order_by().values_list("status").annotate(n=Count("pk")))
    return {
        "pending": statuses.get(Feedback.Status.PENDING, 0),
        "approved": statuses.get(Feedback.Status.APPROVED, 0),
        "rejected": statuses.get(Feedback.Status.REJECTED, 0),
        "reviews": counts["reviews"].get("", 0),
        "active": next((v for v in versions if v.status == ModelVersion.Status.ACTIVE), None),
        "versions": series,
    }


def explanation_queue() -> dict:
    """The explanation queue: waiting and running, how long the oldest has waited, and the
    median wait (request to result) of the last 50 done, in seconds."""
    now = timezone.now()
    waiting = Explanation.objects.filter(status=WorkStatus.PENDING)
    oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
    recent = Explanation.objects.filter(status=WorkStatus.DONE, finished_at__isnull=False).order_by("-finished_at")[:50]
    waits = sorted((e.finished_at - e.created_at).total_seconds() for e in recent)
    return {
        "pending": waiting.count(),
        "running": Explanation.objects.filter(status=WorkStatus.RUNNING).count(),
        "oldest_wait_s": round((now - oldest).total_seconds(), 1) if oldest else None,
        "recent_wait_p50_s": round(waits[len(waits) // 2], 1) if waits else None,
    }


def first_model_run():
    """The first-run training request (the one the home page shows while no model is active)."""
    return TrainingRun.objects.filter(trigger=TrainingRun.Trigger.FIRST_RUN).order_by("-created_at").first()


def workers_alive() -> list:
    """Workers seen within SENTIMENT_WORKER_ALIVE_SECONDS."""
    cutoff = timezone.now() - timedelta(seconds=conf.worker.alive_seconds)
    return list(WorkerHeartbeat.objects.filter(last_seen__gte=cutoff))


def model_version_get(*, pk: str) -> ModelVersion | None:
    return ModelVersion.objects.select_related("activated_by").filter(pk=pk).first()


def feedback_get(*, pk: int) -> Feedback | None:
    return feedback_list().filter(pk=pk).first()


def system_health(*, details: bool = True) -> dict:
    """Whether the database answers, which version is active, and which one this process has
    loaded; with `details` (staff), the workers and the explanation queue too, which a frequent
    anonymous probe need not pay for. Never raises: a health check reports a broken database,
    it does not fail with it."""
    from reviews.predictor import holder  # pulls in the model libraries: only when asked

    # `pid` tells apart the web processes behind one address: each has its own loaded version.
    report = {"database": False, "active_version": None, "loaded_version": holder.version_id, "active_loaded": False,
              "pid": os.getpid(), "load_error": None, "worker": None, "explanations": None}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        active = model_version_active()
    except DatabaseError:
        return report
    report.update(database=True, active_version=active.id if active else None,
                  active_loaded=active is not None and holder.version_id == active.id)
    if active is not None:
        # Set when this process could not load the active version and still serves an older one.
        report["load_error"] = holder.last_error.get(active.id)
    if not details:
        return report
    from reviews.worker.queue import QUEUES

    alive = workers_alive()
    taken = {q for w in alive for q in (w.queues.split(",") if w.queues else QUEUES)}
    report["worker"] = {
        "alive": bool(alive),
        "workers": [{"id": w.worker_id, "last_seen": w.last_seen.isoformat(), "doing": w.doing,
                     "queues": w.queues.split(",") if w.queues else list(QUEUES), "device": w.device} for w in alive],
        # Work nobody alive takes waits: say so.
        "unserved_queues": [q for q in QUEUES if q not in taken],
    }
    report["explanations"] = explanation_queue()
    return report


def explanation_for(*, prediction):
    return Explanation.objects.filter(prediction=prediction).first()


def corrections_waiting() -> int:
    """Approved corrections the next retrain can learn from: after the mix's own rules (texts in
    conflict, learnt or held out left out, one vote per text, the per-source and per-network
    caps), so twenty copies of one text, or twenty flags of one source, do not start a retrain
    that would learn one or ten. Texts are not loaded: the stored keys decide."""
    from modeling.retrain import Correction, cap_per_source, one_vote_per_text

    excluded = _excluded_from_training()
    rows = list(_unused_corrections().values_list("pk", "corrected_label", "source", "reporter", "network", "text_hash",
                                                  "user_id"))
    trusted = _trusted_users({row[-1] for row in rows})
    corrections = [Correction(pk, "", label, source or reporter, network=network, text_hash=text_hash or f"row:{pk}",
                              trusted=user_id in trusted)
                   for pk, label, source, reporter, network, text_hash, user_id in rows
                   if not (text_hash and text_hash in excluded)]
    mix = conf.mix_config(seed=0)
    return len(cap_per_source(one_vote_per_text(corrections), per_source=mix.max_per_source,
                              per_network=mix.max_per_network))


def _unused_corrections() -> QuerySet[Feedback]:
    """Approved, not held out, not yet learnt; with SENTIMENT_MODERATION_APPROVALS_TO_TRAIN above 1,
    only those that many moderators agree with (also those approved before it was raised)."""
    rows = Feedback.objects.filter(status=Feedback.Status.APPROVED, is_holdout=False, training_run__isnull=True)
    required = conf.moderation.approvals_to_train
    if required > 1:
        rows = (rows.annotate(approvals=Count("decisions", filter=Q(decisions__approves=True)))
                .filter(approvals__gte=required))
    return rows


def conflicting_text_hashes(*, among=None) -> set[str]:
    """Texts corrected to both labels by flags staff have not rejected: a conflict for staff to
    resolve; the loop trains and evaluates on neither side. `among`: only these text keys."""
    flags = Feedback.objects.exclude(status=Feedback.Status.REJECTED).exclude(text_hash="")
    if among is not None:
        flags = flags.filter(text_hash__in=list(among))
    rows = (flags.order_by().values("text_hash").annotate(labels=Count("corrected_label", distinct=True)).filter(labels__gt=1))
    return {row["text_hash"] for row in rows}


def _trusted_users(user_ids) -> set[int]:
    """Of these users, those trusted *now* (moderators, trusted reporters): a correction's trust is
    decided when a retrain uses it, so taking the permission away from an account un-trusts its
    waiting corrections, and a moderator's flags from before the permission existed count as trusted."""
    from django.contrib.auth import get_user_model

    from reviews.services.feedback import user_is_trusted

    ids = {i for i in user_ids if i is not None}
    return {u.pk for u in get_user_model().objects.filter(pk__in=ids) if user_is_trusted(u)} if ids else set()


def _as_correction(f: Feedback, trusted: set[int]):
    from modeling.retrain import Correction

    return Correction(f.pk, f.prediction.review.text, f.corrected_label, f.source or f.reporter,
                      network=f.network, text_hash=f.text_hash, trusted=f.user_id in trusted)


def corrections_unused() -> list:
    """The waiting corrections as modeling.retrain.Correction, oldest first: without texts in
    conflict, texts a promoted run already learnt and texts with a held-out copy; trust as it is now."""
    excluded = _excluded_from_training()
    rows = list(_unused_corrections().select_related("prediction__review").order_by("pk"))
    trusted = _trusted_users({f.user_id for f in rows})
    return [_as_correction(f, trusted) for f in rows if not (f.text_hash and f.text_hash in excluded)]


def _learnt_text_hashes() -> set[str]:
    return set(Feedback.objects.filter(status=Feedback.Status.APPROVED, training_run__isnull=False)
               .values_list("text_hash", flat=True))


def _excluded_from_training() -> set[str]:
    """Text keys no retrain may learn: in conflict, already learnt, or held out (a text with a
    held-out copy is evaluation data, whichever side its other copies fell on)."""
    held_out = Feedback.objects.filter(status=Feedback.Status.APPROVED, is_holdout=True).values_list("text_hash", flat=True)
    return conflicting_text_hashes() | _learnt_text_hashes() | set(held_out)


def corrections_held_out() -> tuple[list[str], list[int]]:
    """Texts and label ids of the gate's held-out corrections: one per text, none in conflict, and
    at most SENTIMENT_GATE_HOLDOUT_PER_SOURCE of each source (stratified: which ones is keyed
    with the secret, like membership), so that no source dominates the check."""
    from modeling.config import LABEL2ID
    from reviews.services.feedback import holdout_key

    # A text a promoted run learnt (a copy of it was on the training side) is no test of the candidate.
    conflicts = conflicting_text_hashes() | _learnt_text_hashes()
    rows = Feedback.objects.filter(status=Feedback.Status.APPROVED, is_holdout=True).select_related("prediction__review")
    by_source: dict[str, list[Feedback]] = {}
    seen: set[str] = set()
    for f in rows.order_by("pk"):
        if f.text_hash in conflicts or (f.text_hash and f.text_hash in seen):
            continue
        seen.add(f.text_hash)
        by_source.setdefault(f.source or f.reporter, []).append(f)
    per_source = conf.gate.holdout_per_source
    chosen = []
    for flags in by_source.values():
        flags.sort(key=lambda f: holdout_key(f"order:{f.text_hash}:{f.pk}"))
        chosen.extend(flags[:per_source])
    chosen.sort(key=lambda f: f.pk)
    return [f.prediction.review.text for f in chosen], [LABEL2ID[f.corrected_label] for f in chosen]


def feedback_source_history(sources) -> dict[str, dict]:
    """Each source's record (flags, approved, rejected, pending), for the moderators."""
    from reviews.models import FeedbackSource

    return {row.source: row.as_dict() for row in FeedbackSource.objects.filter(source__in=set(sources))}


def feedback_duplicates(feedback: Feedback) -> list[Feedback]:
    """Other flags on the same text (as the model reads it), with their labels and statuses."""
    if not feedback.text_hash:
        return []
    return list(Feedback.objects.filter(text_hash=feedback.text_hash).exclude(pk=feedback.pk)
                .select_related("reviewed_by").order_by("pk")[:50])


def model_version_best_full_accuracy() -> float | None:
    """The best test accuracy of a full-profile version that was not rejected (the gate's floor)."""
    versions = ModelVersion.objects.filter(profile="full").exclude(status=ModelVersion.Status.REJECTED)
    values = [v.test_accuracy for v in versions if v.test_accuracy is not None]
    return max(values) if values else None


def training_run_list():
    return TrainingRun.objects.select_related("requested_by", "model_version").order_by("-created_at", "-id")


def training_run_get(*, pk: int):
    return training_run_list().filter(pk=pk).first()
