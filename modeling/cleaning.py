"""What every review source goes through (modeling/data.py loads them): each row validated and
cleaned, the rows made into a `Dataset` whose description records its source, its HTML rows and
a SHA-256 of its content, and deterministic, stratified, duplicate-free splits.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, DatasetInfo, Features, Value

from modeling.config import LABEL2ID, LABELS, SplitSizes

FEATURES = Features({"text": Value("string"), "label": ClassLabel(names=list(LABELS))})
# A tag starts with a letter (or '/' and a letter): "a < b" or "<3" are not tags.
_TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>")
_WS_RE = re.compile(r"\s+")


class DataSourceError(ValueError):
    """Input data that cannot be used, with the file and the row that are wrong."""


def has_html(text: str) -> bool:
    """Whether `text` holds an HTML tag (what `clean_text` removes)."""
    return _TAG_RE.search(text) is not None


def clean_text(text: str) -> str:
    """Remove HTML tags such as ``<br />``, decode entities and normalise whitespace."""
    text = _TAG_RE.sub(" ", text)
    text = html.unescape(text)
    return _WS_RE.sub(" ", text).strip()


def _is_punctuation(ch: str) -> bool:
    # As the BERT-family tokenizers decide it: ASCII symbols count as punctuation too.
    cp = ord(ch)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or unicodedata.category(ch).startswith("P")


# CJK ideographs: each one a word of its own, as the BERT-family tokenizers split them.
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK)


def reading_form(text: str) -> str:
    """The text as an uncased BERT-family tokenizer reads it, for telling texts apart: `clean_text`,
    without control and format characters (zero-width and bidi controls), lower-cased, accents
    removed (NFD, combining marks dropped), every punctuation mark a word of its own, whitespace
    collapsed. Two texts the model reads as the same tokens have the same reading form
    ("Zörvath!" and "zorvath !"); no compatibility folding, since the tokenizer does none (a
    full-width "ｇｏｏｄ" is not "good" to the model)."""
    text = unicodedata.normalize("NFD", clean_text(text).lower())
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Mn" or (category.startswith("C") and not ch.isspace()):
            continue
        out.append(f" {ch} " if _is_punctuation(ch) or _is_cjk(ch) else ch)
    return _WS_RE.sub(" ", "".join(out)).strip()


def text_fingerprint(text: str) -> str:
    """SHA-256 (hex) of `reading_form(text)`: one key for every spelling of one text that the
    model cannot tell apart (markup, entities, case, accents, invisible characters, spacing)."""
    return hashlib.sha256(reading_form(text).encode("utf-8")).hexdigest()


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


def html_rows(dataset: Dataset) -> int | None:
    """How many rows of a split held HTML before cleaning (None when unknown)."""
    return _description(dataset).get("html_rows")


class Rows(NamedTuple):
    """Validated rows: cleaned texts, label ids, and whether each raw text held HTML."""

    texts: list[str]
    labels: list[int]
    had_html: list[bool]

    def subset(self, index: Iterable[int]) -> Rows:
        index = list(index)
        return Rows([self.texts[i] for i in index], [self.labels[i] for i in index], [self.had_html[i] for i in index])


def validate_rows(rows: list[tuple[str, object, dict]], path: Path) -> Rows:
    """Raw `(where, text, record)` rows read from `path`, cleaned and with label ids; the first
    unusable row (no string, empty once cleaned, an unknown label) raises, naming file and row."""
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


def build_split(rows: Rows, source: str) -> Dataset:
    """One split as a `Dataset`, its description recording `source`, its content hash and HTML rows."""
    return split_dataset(rows.texts, rows.labels, source, html_rows=sum(rows.had_html))


def split_dataset(texts: Sequence[str], labels: Sequence[int], source: str, *, html_rows: int | None,
                  **recorded) -> Dataset:
    """A split of cleaned, validated texts and label ids as a `Dataset` with its description
    (`source`, content hash, HTML rows, and anything `recorded`)."""
    description = {"source": source, "sha256": _content_hash(texts, labels), "html_rows": html_rows, **recorded}
    info = DatasetInfo(description=json.dumps(description), features=FEATURES)
    return Dataset.from_dict({"text": list(texts), "label": list(labels)}, features=FEATURES, info=info)


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


def split_and_build(rows: Rows, source: str, seed: int, sizes: SplitSizes) -> DatasetDict:
    """A source without an official split: train, validation and test of `sizes`, fixed by `seed`."""
    rows = _unique(rows)
    parts = _stratified_split(rows.labels, seed, {"train": sizes.train, "validation": sizes.validation, "test": sizes.test})
    return DatasetDict({name: build_split(rows.subset(parts[name]), source) for name in ("train", "validation", "test")})


def carve_validation(train: Rows, test: Rows, source: str, seed: int, validation_size: int) -> DatasetDict:
    """A source with its own train and test: validation carved from train by `seed`."""
    train = _unique(train, exclude=test)
    validation = _stratified_split(train.labels, seed, {"validation": validation_size})["validation"]
    keep = np.ones(len(train.texts), dtype=bool)
    keep[validation] = False
    return DatasetDict(
        {
            "train": build_split(train.subset(np.flatnonzero(keep)), source),
            "validation": build_split(train.subset(validation), source),
            "test": build_split(test, source),
        }
    )
