"""The corrections people made, out of the database: one row per flag, written as CSV, JSON Lines,
Parquet or a Hugging Face `datasets` dataset (`manage.py export_feedback`, `GET
/api/v1/feedback/export`).

A row holds the review's text, the predicted and the corrected label, the flag's status, who
flagged it as a keyed hash (stable within an installation, so rows of one source group together,
but not reversible to a user id or an address), the model version that predicted, when it was
flagged and decided, and whether the retraining loop holds it out for evaluation. Timestamps are
ISO 8601 in UTC. The texts are written as they were sent, except in CSV, where a text a
spreadsheet would run as a formula (it begins with =, +, -, @, a tab or a carriage return) gets a
leading apostrophe (`CSV_FORMULA_PREFIX`), as OWASP advises for CSV files.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.conf import settings

from reviews.models import Feedback

FIELDS: tuple[str, ...] = ("id", "text", "predicted_label", "corrected_label", "status", "kind", "source", "trusted",
                           "model_version", "created_at", "reviewed_at", "held_out")
FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet", "hf")
CSV_FORMULA_PREFIX = "'"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CHUNK = 500


def source_hash(source: str) -> str:
    """Who flagged, as a keyed hash: the same source gives the same value in one installation."""
    if not source:
        return ""
    key = hashlib.sha256(b"feedback-export:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, source.encode(), hashlib.sha256).hexdigest()[:16]


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def feedback_export_rows(*, status: str | None = None) -> Iterator[dict]:
    """Every flag (or those with `status`), oldest first, as plain rows of FIELDS; read in chunks,
    so an export of many flags does not hold them all in memory."""
    flags = Feedback.objects.select_related("prediction__review").order_by("created_at", "id")
    if status:
        flags = flags.filter(status=status)
    for flag in flags.iterator(chunk_size=_CHUNK):
        yield {
            "id": flag.id,
            "text": flag.prediction.review.text,
            "predicted_label": flag.predicted_label,
            "corrected_label": flag.corrected_label,
            "status": flag.status,
            "kind": flag.kind,
            "source": source_hash(flag.source or flag.reporter),
            "trusted": flag.trusted,
            "model_version": flag.prediction.model_version_id,
            "created_at": _iso(flag.created_at),
            "reviewed_at": _iso(flag.reviewed_at),
            "held_out": flag.is_holdout,
        }


def _csv_safe(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return CSV_FORMULA_PREFIX + value
    return value


def csv_lines(rows: Iterable[dict]) -> Iterator[str]:
    """The rows as CSV (a header first), a line at a time."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writeheader()
    yield flush()
    for row in rows:
        writer.writerow({name: _csv_safe(value) for name, value in row.items()})
        yield flush()


def jsonl_lines(rows: Iterable[dict]) -> Iterator[str]:
    """The rows as JSON Lines, a line at a time."""
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


# Formats written as a stream of text (to a response or standard output); the others need a path.
LINES = {"csv": csv_lines, "jsonl": jsonl_lines}
STREAMED: tuple[str, ...] = tuple(LINES)


def export_lines(fmt: str, *, status: str | None = None) -> Iterator[str]:
    """The flags (or those with `status`) as lines of text in a STREAMED format."""
    return LINES[fmt](feedback_export_rows(status=status))


def _arrow_schema():
    import pyarrow as pa

    types = {"id": pa.int64(), "trusted": pa.bool_(), "held_out": pa.bool_()}
    return pa.schema([(name, types.get(name, pa.string())) for name in FIELDS])


def _chunks(rows: Iterable[dict], size: int = _CHUNK) -> Iterator[list[dict]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_parquet(rows: Iterable[dict], path: Path) -> None:
    """The rows into one Parquet file, written in chunks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema, empty = _arrow_schema(), True
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in _chunks(rows):
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            empty = False
        if empty:
            writer.write_table(schema.empty_table())


def write_hf(rows: Iterable[dict], path: Path) -> None:
    """The rows as a Hugging Face dataset folder (`Dataset.save_to_disk`; `load_from_disk` reads
    it back), labels as class labels named as the site names them."""
    from datasets import ClassLabel, Dataset, Features, Value

    from modeling.config import LABELS

    label = ClassLabel(names=list(LABELS))
    features = Features({
        "id": Value("int64"), "text": Value("string"), "predicted_label": label, "corrected_label": label,
        "status": Value("string"), "kind": Value("string"), "source": Value("string"), "trusted": Value("bool"),
        "model_version": Value("string"), "created_at": Value("string"), "reviewed_at": Value("string"),
        "held_out": Value("bool"),
    })
    listed = list(rows)
    columns = {name: [row[name] for row in listed] for name in FIELDS}
    Dataset.from_dict(columns, features=features).save_to_disk(str(path))


def _write_text(lines: Iterable[str], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.writelines(lines)


def _discard(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def export_feedback(path: Path, *, fmt: str, status: str | None = None) -> int:
    """Write the flags to `path` in `fmt` (FORMATS); how many rows. The file (or folder) appears
    whole or not at all: it is written beside `path` and moved there at the end."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists already; choose a new path")
    partial = path.with_name(f".{path.name}.partial")
    _discard(partial)
    count = 0

    def counted(rows):
        nonlocal count
        for row in rows:
            count += 1
            yield row

    rows = counted(feedback_export_rows(status=status))
    try:
        if fmt in STREAMED:
            _write_text(LINES[fmt](rows), partial)
        elif fmt == "parquet":
            write_parquet(rows, partial)
        else:
            write_hf(rows, partial)
        os.replace(partial, path)
    except BaseException:
        _discard(partial)
        raise
    return count
