"""The one batched forward loop: serving, evaluation, explanations' perturbations, validation during
training and the frozen-layer cache all run a model through `each_batch`, so a faster backend or
another precision is one change here.

Rows are sorted by length so each batch is padded only to its own longest row (far less padding
than one width for all), and the caller gets every output back at its row's original position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from modeling.encoders import pad_batch
from modeling.precision import autocast

# forward(input_ids, attention_mask) -> a tensor whose first dimension is the batch's rows.
Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def each_batch(
    forward: Forward,
    sequences: Sequence[Sequence[int]],
    on_batch: Callable[[list[int], np.ndarray], None],
    *,
    pad_id: int,
    batch_size: int,
    device: torch.device | str,
    precision: str = "fp32",
    desc: str | None = None,
    min_rows: int = 1,
) -> None:
    """Run `forward` over pre-tokenized `sequences`, shortest first, `batch_size` at a time, under
    inference mode and `precision`'s autocast (already resolved); call `on_batch(rows, output)`
    with each batch's row indices into `sequences` and its output as a CPU array. A batch of fewer
    than `min_rows` rows is repeated up to it (a compiled graph's shapes) and the copies dropped.
    With `desc`, a progress bar."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if desc is not None:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=desc, unit="batch", leave=False, mininterval=2)
    with torch.inference_mode(), autocast(device, precision):
        for rows in batches:
            ids, mask = pad_batch([sequences[i] for i in rows], pad_id)
            if len(rows) < min_rows:
                repeat = -(-min_rows // len(rows))
                ids, mask = ids.repeat(repeat, 1), mask.repeat(repeat, 1)
            output = forward(ids.to(device), mask.to(device))
            on_batch(rows, output[: len(rows)].cpu().numpy())


def forward_in_order(
    forward: Forward,
    sequences: Sequence[Sequence[int]],
    *,
    width: int,
    dtype: type = np.float32,
    **loop,
) -> np.ndarray:
    """`forward`'s output rows for every sequence, shape (len(sequences), width), in input order;
    `loop` takes `each_batch`'s keyword arguments (pad_id, batch_size, device, precision, ...)."""
    out = np.zeros((len(sequences), width), dtype=dtype)

    def keep(rows: list[int], output: np.ndarray) -> None:
        out[rows] = output

    each_batch(forward, sequences, keep, **loop)
    return out
