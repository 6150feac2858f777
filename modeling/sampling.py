"""Which rows a run trains and validates on, and the order its batches come in (all seeded)."""

from __future__ import annotations

import numpy as np
from datasets import Dataset

from modeling.config import TrainConfig


def sample_indices(labels: list[int], limit: int | None, seed: int) -> list[int]:
    """A stratified sample of at most `limit` row indices, fixed by `seed` (all rows if None)."""
    if limit is None or limit >= len(labels):
        return list(range(len(labels)))
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        picked.append(rows[: int(round(limit * len(rows) / len(y)))])
    return sorted(int(i) for i in np.concatenate(picked))


def length_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Batches of similar length (less padding), in a seeded random order.

    Rows are shuffled, cut into pools of 50 batches, sorted by length inside each pool, cut into
    batches, and the batches shuffled again, so each batch is short-padded but the order random.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.arange(len(lengths)))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool].tolist(), key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def validation_rows(config: TrainConfig, validation: Dataset) -> list[int]:
    """The validation rows `train` chose epochs on (all, or the `validation_limit` sample)."""
    return sample_indices(list(validation["label"]), config.validation_limit, config.seed)


def training_rows(config: TrainConfig, train_split: Dataset) -> list[int]:
    """The training rows `train` learned from (all, or the `train_limit` sample)."""
    return sample_indices(list(train_split["label"]), config.train_limit, config.seed)
