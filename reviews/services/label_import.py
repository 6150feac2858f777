"""Labelled texts from a file, in as trusted corrections (`manage.py import_labels`).

The file is a CSV with a header naming a `text` and a `label` column (negative or positive; other
columns are ignored). Every row is checked first, as the site checks a review and a flag; a file
with any bad row imports nothing and gets one error per bad row. Each text is then stored as a
review classified by the active model: where the model says otherwise, the label becomes a
correction flagged and approved by the importing moderator (trusted, as their own flags are);
where the model already agrees there is nothing to correct, and the text is counted as agreeing.
Texts go in chunks, each stored whole; a text this moderator has imported before with the same
label (as a correction, or as a text the model agreed with) is skipped, so an import stopped
midway is finished by running it again.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError

from modeling.config import LABELS
from reviews.models import Feedback, Prediction, Source
from reviews.services.feedback import feedback_approve, feedback_flag, reporter_for, text_key
from reviews.services.reviews import review_submit_many, validate_review_text

CHUNK = 32
MAX_ERRORS_SHOWN = 50


class LabelFileError(Exception):
    """A file that cannot be imported: one message per bad row (or one for the whole file)."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:MAX_ERRORS_SHOWN]
        more = f"\n... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        super().__init__("\n".join(shown) + more)


@dataclass
class ImportReport:
    rows: int = 0
    corrections: int = 0  # flagged and approved now
    agreed: int = 0  # the model already said so: nothing to correct
    already: int = 0  # imported by this moderator before


def read_label_file(path: str | Path) -> list[tuple[str, str]]:
    """(text, label) per data row, every row checked; LabelFileError lists every bad one."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip().lower() for name in (reader.fieldnames or [])]
            if "text" not in header or "label" not in header:
                raise LabelFileError([f"{path}: the first row must name a 'text' and a 'label' column "
                                      f"(found: {', '.join(header) or 'nothing'})"])
            reader.fieldnames = header
            rows, errors, seen = [], [], {}
            for number, row in enumerate(reader, start=2):  # the header is line 1
                text, label = row.get("text"), (row.get("label") or "").strip().lower()
                problems = []
                try:
                    validate_review_text(text)
                except ValidationError as exc:
                    problems.append(exc.messages[0])
                if label not in LABELS:
                    problems.append(f"the label is {row.get('label')!r}; use {' or '.join(LABELS)}")
                if not problems:
                    key = text_key(text)
                    if key in seen:
                        problems.append(f"the same text as row {seen[key]}")
                    seen.setdefault(key, number)
                if problems:
                    errors.append(f"row {number}: " + "; ".join(problems))
                else:
                    rows.append((text, label))
    except UnicodeDecodeError as exc:
        raise LabelFileError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except csv.Error as exc:
        raise LabelFileError([f"{path}: not a readable CSV file ({exc})"]) from None
    if errors:
        raise LabelFileError(errors)
    if not rows:
        raise LabelFileError([f"{path}: no rows to import"])
    return rows


def labels_import(*, rows: list[tuple[str, str]], user, note: str = "") -> ImportReport:
    """Store each (text, label) as a review and, where the model disagrees, as an approved,
    trusted correction by `user`, a moderator (see the module's docstring)."""
    if not (user is not None and user.is_authenticated and user.is_staff and user.has_perm("reviews.moderate_feedback")):
        raise PermissionError("importing labels needs a staff account that may moderate flags")
    # What this moderator imported before: texts the model agreed with, and approved corrections.
    done = {(text_key(text), label) for text, label in Prediction.objects.filter(
        review__user=user, review__source=Source.IMPORT).values_list("review__text", "label").iterator()}
    done |= set(Feedback.objects.filter(reporter=reporter_for(user=user), status=Feedback.Status.APPROVED)
                .values_list("text_hash", "corrected_label"))
    report = ImportReport(rows=len(rows))
    pending = []
    for text, label in rows:
        if (text_key(text), label) in done:
            report.already += 1
        else:
            pending.append((text, label))
    for start in range(0, len(pending), CHUNK):
        chunk = pending[start:start + CHUNK]
        predictions = review_submit_many(texts=[text for text, _ in chunk], user=user, source=Source.IMPORT)
        for prediction, (_, label) in zip(predictions, chunk):
            if prediction.label == label:
                report.agreed += 1
                continue
            flag, _ = feedback_flag(prediction=prediction, label=label, user=user, comment="imported")
            feedback_approve(feedback=flag, reviewer=user, note=note)
            report.corrections += 1
    return report
