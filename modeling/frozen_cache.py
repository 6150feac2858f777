"""A cache of the frozen layers' outputs, so a top-K phase runs only the layers it trains.

When the embeddings and the bottom F transformer layers are frozen, their output for a given
input never changes: it is computed once (fp16, one file per review) and reused across epochs and
across retrains. A row's key covers everything that would make it stale: the frozen weights
(embeddings and the F layers, hashed), F itself, and the exact token ids (which carry the text,
the tokenizer, max_length and the truncation). The folder has a size limit; the least recently
used rows are evicted first.

Training then swaps, for the length of a phase, the model's embeddings for a module that returns
the cached states of the current batch and its layer stack for the top K layers alone, so the
model's own forward (attention masks, pooler, head) runs unchanged for BERT, DistilBERT, RoBERTa.
The frozen layers run in eval mode when cached (no dropout there), the one difference from a
full forward pass.
"""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from modeling.batching import each_batch
from modeling.encoders import transformer_layers


def frozen_weights_hash(model, frozen: int, precision: str = "fp32") -> str:
    """SHA-256 of the embeddings' and the bottom `frozen` layers' weights, and of the precision
    their outputs are computed at."""
    digest = hashlib.sha256(f"frozen={frozen};precision={precision};".encode())
    modules = [model.base_model.embeddings, *list(transformer_layers(model))[:frozen]]
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class FrozenCache:
    """Per-row fp16 files under `root/<weights hash>/`, evicted least-recently-used past `max_bytes`."""

    def __init__(self, root: str | Path, *, max_bytes: int = 4 << 30):
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0

    def _path(self, namespace: str, ids: list[int]) -> Path:
        key = hashlib.sha256(np.asarray(ids, dtype=np.int32).tobytes()).hexdigest()
        return self.root / namespace[:32] / key[:2] / f"{key}.npy"

    def states(self, model, sequences: list[list[int]], *, frozen: int, pad_id: int, device, batch_size: int = 64,
               precision: str = "fp32") -> list[np.ndarray]:
        """The hidden states after `frozen` layers for every sequence (computed once, then read)."""
        namespace = frozen_weights_hash(model, frozen, precision)
        paths = [self._path(namespace, seq) for seq in sequences]
        missing = [i for i, p in enumerate(paths) if not p.exists()]
        self.hits += len(sequences) - len(missing)
        self.misses += len(missing)
        if missing:
            self._compute(model, [sequences[i] for i in missing], [paths[i] for i in missing], frozen=frozen,
                          pad_id=pad_id, device=device, batch_size=batch_size, precision=precision)
            self.evict()
        now = time.time()
        loaded = []
        for p in paths:
            loaded.append(np.load(p, mmap_mode="r"))
            os.utime(p, (now, now))
        return loaded

    def _compute(self, model, sequences: list[list[int]], paths: list[Path], *, frozen: int, pad_id: int, device,
                 batch_size: int, precision: str) -> None:
        def hidden_states(ids, mask):
            out = model.base_model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            return out.hidden_states[frozen].to(torch.float16)

        def store(rows: list[int], hidden: np.ndarray) -> None:
            for i, states in zip(rows, hidden):
                self._write(paths[i], states[: len(sequences[i])])  # each row without its padding

        was_training = model.training
        model.eval()
        each_batch(hidden_states, sequences, store, pad_id=pad_id, batch_size=batch_size, device=device,
                   precision=precision)
        model.train(was_training)

    @staticmethod
    def _write(path: Path, array: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            np.save(fh, array)
        os.replace(tmp, path)

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*.npy")) if self.root.exists() else 0

    def evict(self) -> int:
        """Delete the least recently used rows until the folder is under `max_bytes`."""
        if not self.root.exists():
            return 0
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.root.rglob("*.npy")]
        total = sum(size for _, size, _ in files)
        removed = 0
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
        return removed


class _CachedEmbeddings(nn.Module):
    """Stands in for the embeddings: returns the current batch's cached states."""

    def __init__(self):
        super().__init__()
        self.batch: torch.Tensor | None = None

    def forward(self, *args, **kwargs):
        return self.batch


@contextmanager
def top_layers_only(model, frozen: int):
    """For the duration: the model's embeddings return the states set with `feed(...)`, and its
    layer stack holds only the layers above `frozen`. Everything is put back afterwards."""
    base = model.base_model
    layers = transformer_layers(model)
    owner_name = next(name for name, module in base.named_modules() if module is layers)
    parent_name, _, attr = owner_name.rpartition(".")
    parent = base.get_submodule(parent_name) if parent_name else base
    embeddings = base.embeddings
    stand_in = _CachedEmbeddings()
    base.embeddings = stand_in
    setattr(parent, attr, nn.ModuleList(list(layers)[frozen:]))
    try:
        yield stand_in
    finally:
        base.embeddings = embeddings
        setattr(parent, attr, layers)


def batch_states(states: list[np.ndarray], batch: list[int], device, dtype=torch.float32) -> torch.Tensor:
    """The cached states of a batch, zero-padded to its longest row (padding is masked anyway)."""
    width = max(states[i].shape[0] for i in batch)
    hidden = states[batch[0]].shape[1]
    out = np.zeros((len(batch), width, hidden), dtype=np.float16)
    for row, i in enumerate(batch):
        out[row, : states[i].shape[0]] = states[i]
    return torch.from_numpy(out).to(device=device, dtype=dtype)
