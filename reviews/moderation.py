"""What a moderator needs beside a flag, for a page of flags at once: the source's history, the
other flags on the same text (as the model reads it) and whether that text is in conflict.

A fixed number of queries for the whole page, whatever its length (the admin changelist and the
API list call `moderation_facts` once per page instead of once per row).
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


def moderation_facts(feedbacks, *, duplicate_rows: bool = False) -> dict[int, Facts]:
    """Facts for each flag of `feedbacks`, by pk: three queries (four with `duplicate_rows`, which
    also lists up to DUPLICATES_LISTED other flags per text)."""
    feedbacks = list(feedbacks)
    if not feedbacks:
        return {}
    histories = feedback_source_history(f.source for f in feedbacks if f.source)
    hashes = {f.text_hash for f in feedbacks if f.text_hash}
    counts: dict[str, int] = {}
    conflicts: set[str] = set()
    if hashes:
        rows = Feedback.objects.filter(text_hash__in=hashes).order_by().values("text_hash").annotate(n=Count("pk"))
        counts = {row["text_hash"]: row["n"] for row in rows}
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
