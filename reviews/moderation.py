"""What a moderator reads: beside a flag, for a page of flags at once, the source's history, the
other flags on the same text (as the model reads it), their votes and whether that text is in
conflict; the "Needs a label" queue; and how far moderators agree.

`moderation_facts` makes a fixed number of queries for the whole page, whatever its length (the
admin changelist and the API list call it once per page instead of once per row).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber

from reviews.models import Feedback
from reviews.selectors import conflicting_text_hashes, feedback_source_history

# As many other flags on one text as selectors.feedback_duplicates lists.
DUPLICATES_LISTED = 50


@dataclass
class Facts:
    history: dict | None = None  # FeedbackSource.as_dict() of the flag's source; None without one
    duplicate_count: int = 0  # other flags with the same text_hash
    conflict: bool = False  # selectors.conflicting_text_hashes() holds its text_hash
    duplicates: list[dict] = field(default_factory=list)  # {id, corrected_label, status}, when asked for
    # Flags and labels on the text that were not rejected, this one included, by corrected label.
    votes: dict[str, int] = field(default_factory=dict)


def moderation_facts(feedbacks, *, duplicate_rows: bool = False) -> dict[int, Facts]:
    """Facts for each flag of `feedbacks`, by pk: three queries (four with `duplicate_rows`, which
    also lists up to DUPLICATES_LISTED other flags per text)."""
    feedbacks = list(feedbacks)
    if not feedbacks:
        return {}
    histories = feedback_source_history(f.source for f in feedbacks if f.source)
    hashes = {f.text_hash for f in feedbacks if f.text_hash}
    counts: dict[str, int] = {}
    votes: dict[str, dict[str, int]] = {}
    conflicts: set[str] = set()
    if hashes:
        rows = (Feedback.objects.filter(text_hash__in=hashes).order_by().values("text_hash", "corrected_label", "status")
                .annotate(n=Count("pk")))
        for row in rows:
            counts[row["text_hash"]] = counts.get(row["text_hash"], 0) + row["n"]
            if row["status"] != Feedback.Status.REJECTED:
                label_votes = votes.setdefault(row["text_hash"], {})
                label_votes[row["corrected_label"]] = label_votes.get(row["corrected_label"], 0) + row["n"]
        conflicts = conflicting_text_hashes(among=hashes)
    listed: dict[str, list[dict]] = {}
    if duplicate_rows and hashes:
        ranked = (Feedback.objects.filter(text_hash__in=hashes)
                  .annotate(rank=Window(RowNumber(), partition_by=[F("text_hash")], order_by=F("pk").asc()))
                  .filter(rank__lte=DUPLICATES_LISTED + 1).order_by("pk")
                  .values("pk", "text_hash", "corrected_label", "status"))
        for row in ranked:
            listed.setdefault(row["text_hash"], []).append(row)
    facts = {}
    for f in feedbacks:
        duplicates = [{"id": row["pk"], "corrected_label": row["corrected_label"], "status": row["status"]}
                      for row in listed.get(f.text_hash, ()) if row["pk"] != f.pk][:DUPLICATES_LISTED]
        facts[f.pk] = Facts(
            history=histories.get(f.source) if f.source else None,
            duplicate_count=max(0, counts.get(f.text_hash, 1) - 1) if f.text_hash else 0,
            conflict=bool(f.text_hash) and f.text_hash in conflicts,
            duplicates=duplicates,
            votes=dict(votes.get(f.text_hash, {})) if f.text_hash else {},
        )
    return facts


def history_text(history: dict | None, *, trusted: bool = False) -> str:
    """E.g. "3 flags, 1 approved, 2 rejected" (and "(trusted)" for a trusted flag)."""
    if history is None:
        text = "no record"
    else:
        flags = history["flags"]
        text = f"{flags} flag{'s' if flags != 1 else ''}, {history['approved']} approved, {history['rejected']} rejected"
        if history.get("pending"):
            text += f", {history['pending']} pending"
    return text + (" (trusted)" if trusted else "")


def history_line(source: str, history: dict | None, *, trusted: bool = False) -> str:
    """E.g. "user:7: 3 flags, 1 approved, 2 rejected"."""
    if not source:
        return "no source recorded"
    return f"{source}: {history_text(history, trusted=trusted)}"


# --- The "Needs a label" queue ------------------------------------------------------------------

MEASURES = ("margin", "entropy")
# Candidates read per item shown, so near-duplicates collapsed still leave a full page.
CANDIDATES_PER_ITEM = 5


@dataclass
class QueueItem:
    prediction: object  # reviews.models.Prediction, with its review
    prob_positive: float  # the active version's
    margin: float
    entropy: float
    copies: list[int] = field(default_factory=list)  # prediction ids of near-duplicates shown as this one

    @property
    def uncertainty(self) -> float:
        """1 is a coin toss, 0 certain (1 - margin)."""
        return 1.0 - self.margin


def _entropy(p: float) -> float:
    import math

    return -sum(q * math.log2(q) for q in (p, 1 - p) if q > 0)


def label_queue_candidates(*, moderator=None):
    """Stored predictions the active version has scored that nobody has flagged or labelled (by
    their text as the model reads it) and this moderator has not skipped; most uncertain first."""
    from django.db.models import Exists, OuterRef

    from reviews.models import QueueScore, QueueSkip
    from reviews.selectors import model_version_active

    active = model_version_active()
    if active is None:
        return QueueScore.objects.none()
    scores = (QueueScore.objects.filter(model_version=active)
              .filter(~Exists(Feedback.objects.filter(text_hash=OuterRef("text_hash")))))
    if moderator is not None:
        scores = scores.filter(~Exists(QueueSkip.objects.filter(prediction=OuterRef("prediction"), moderator=moderator)))
    return scores.select_related("prediction__review", "prediction__model_version").order_by("margin", "-prediction_id")


def label_queue(*, moderator=None, measure: str = "margin", limit: int = 20) -> list[QueueItem]:
    """The next `limit` items to label, near-duplicates collapsed (SENTIMENT_QUEUE_NEAR_DUPLICATE).
    `measure` margin or entropy: with two labels both put the same item first; entropy is shown
    in bits."""
    from modeling.diversity import collapse_near_duplicates
    from reviews.conf import conf

    if measure not in MEASURES:
        raise ValueError(f"measure is one of {', '.join(MEASURES)}")
    rows = list(label_queue_candidates(moderator=moderator)[: limit * CANDIDATES_PER_ITEM])
    groups = collapse_near_duplicates([r.prediction.review.text for r in rows],
                                      threshold=conf.moderation.queue_near_duplicate, limit=limit)
    items = []
    for group in groups:
        row = rows[group[0]]
        items.append(QueueItem(prediction=row.prediction, prob_positive=row.prob_positive, margin=row.margin,
                               entropy=_entropy(row.prob_positive),
                               copies=[rows[i].prediction_id for i in group[1:]]))
    return items


def label_queue_size(*, moderator=None) -> int:
    """Distinct texts waiting in the queue (exact copies counted once)."""
    return label_queue_candidates(moderator=moderator).values("text_hash").distinct().count()


# --- Agreement ------------------------------------------------------------------------------------


def moderator_agreement() -> dict:
    """Cohen's kappa between moderators on texts two of them decided (each one's latest view of
    a text; a text seen by more than two gives a pair for each two), the votes behind it, and
    each moderator's volume. Kappa is None until there are pairs with more than one label."""
    from itertools import combinations

    from django.contrib.auth import get_user_model
    from django.db.models import Count, Q

    from reviews.models import ModerationDecision

    decisions = ModerationDecision.objects.order_by()
    # Volume per moderator, and the decisions on texts two or more moderators decided: grouped in
    # the database, so a dashboard load reads pairs, not every decision ever made.
    volume = {row.pop("moderator_id"): row for row in decisions.values("moderator_id").annotate(
        decisions=Count("pk"), approved=Count("pk", filter=Q(approves=True)),
        rejected=Count("pk", filter=Q(approves=False)), labels=Count("pk", filter=Q(feedback__kind=Feedback.Kind.LABEL)))}
    shared = (decisions.exclude(feedback__text_hash="").values("feedback__text_hash")
              .annotate(n=Count("moderator", distinct=True)).filter(n__gt=1).values("feedback__text_hash"))
    views: dict[str, dict[int, str]] = {}
    rows = (decisions.filter(feedback__text_hash__in=shared).order_by("at", "pk")
            .values_list("moderator_id", "label", "feedback__text_hash"))
    for moderator, label, text_hash in rows:
        views.setdefault(text_hash, {})[moderator] = label
    first, second = [], []
    for by_moderator in views.values():
        for a, b in combinations(sorted(by_moderator), 2):
            first.append(by_moderator[a])
            second.append(by_moderator[b])
    kappa = None
    if first and len(set(first) | set(second)) > 1:
        from sklearn.metrics import cohen_kappa_score

        kappa = float(cohen_kappa_score(first, second))
    names = dict(get_user_model().objects.filter(pk__in=volume).values_list("pk", "username"))
    agreed = sum(a == b for a, b in zip(first, second))
    return {
        "kappa": kappa,
        "pairs": len(first),
        "agreed": agreed,
        "texts": sum(1 for v in views.values() if len(v) > 1),
        "moderators": [{"id": pk, "name": names.get(pk, f"user {pk}"), **counts}
                       for pk, counts in sorted(volume.items(), key=lambda kv: (-kv[1]["decisions"], kv[0]))],
    }
