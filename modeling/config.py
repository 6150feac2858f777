"""Frozen configuration dataclasses and the one ordered list of labels."""

from __future__ import annotations

from dataclasses import dataclass

# Index i of a probability vector is the probability of LABELS[i], everywhere.
LABELS: tuple[str, ...] = ("negative", "positive")
LABEL2ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}

PACKAGED_ENCODER = "all-MiniLM-L6-v2"
DEFAULT_DATA_SOURCE = "packaged"
DEFAULT_SEED = 42


@dataclass(frozen=True)
class SplitSizes:
    """Sizes of the deterministic stratified split of a source that has no official split."""

    train: int = 18_000
    validation: int = 2_000
    test: int = 5_000
