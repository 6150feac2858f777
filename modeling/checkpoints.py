"""A training run's checkpoint: where it stands, the weights, the optimizer and schedule, every
random generator's state, and the configuration that wrote it, so `train(..., resume=True)`
continues an interrupted run exactly and refuses one written by another configuration.

Only tensors and plain values are stored (the configuration and state as JSON text), and a
checkpoint is read with `torch.load(weights_only=True)`: a planted file can hold no code to run.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from modeling.config import TrainConfig

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint."""

    phase: int = 0
    epoch: int = 0  # epoch within the phase
    batch: int = 0  # batches done within the epoch
    step: int = 0  # optimizer steps within the phase
    best_accuracy: float = -1.0
    best_epoch: str = ""
    stale_epochs: int = 0
    elapsed_s: float = 0.0
    done: bool = False
    history: list[dict] = field(default_factory=list)
    epoch_loss: float = 0.0
    epoch_correct: int = 0
    epoch_seen: int = 0
    # Frozen-layer cache rows read / computed so far (kept across a resume).
    cache_hits: int = 0
    cache_misses: int = 0
    # With `fit_budget_s`: the training rows chosen from the measured step time, and that rate
    # (kept, so a resumed run trains on the same rows).
    fitted_rows: int | None = None
    fitted_rows_per_s: float | None = None


def save(work_dir: Path, model, optimizer, scheduler, state: TrainState, config: TrainConfig) -> None:
    """Write `work_dir/checkpoint.pt` atomically (a kill mid-write leaves the previous one)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    payload = {
        "meta": json.dumps({"config": config.to_dict(), "state": state.__dict__}),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": {
            "python": random.getstate(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
    }
    tmp = work_dir / f"{CHECKPOINT}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, work_dir / CHECKPOINT)


def save_best(work_dir: Path, model) -> None:
    """Write the best epoch's weights so far to `work_dir/best.pt`, atomically."""
    tmp = work_dir / f"{BEST}.tmp"
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, work_dir / BEST)


def load(work_dir: Path, config: TrainConfig) -> dict | None:
    """The checkpoint in `work_dir` (None if there is none); refused if another config wrote it."""
    path = work_dir / CHECKPOINT
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        payload.update(json.loads(payload.pop("meta")))
    except (pickle.UnpicklingError, RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        # Not a checkpoint this code wrote (an older format, or a planted file): never run it.
        refused = path.with_name(f"{CHECKPOINT}.refused")
        os.replace(path, refused)
        log.warning("%s is not a checkpoint that can be read safely (%s); moved to %s, training starts over",
                    path, str(exc).splitlines()[0][:200], refused.name)
        return None
    if TrainConfig.from_dict(payload["config"]) != config:
        raise ValueError(f"{path} was written by a different training configuration; "
                         "use another work folder or drop --resume")
    return payload


def restore_phase(checkpoint: dict, state: TrainState, optimizer, scheduler) -> None:
    """Put a resumed phase back where the checkpoint left it: the optimizer and schedule (when it
    stopped mid-phase; at a phase start they are new) and every random generator."""
    if state.epoch > 0 or state.batch > 0:
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
    rng = checkpoint["rng"]
    random.setstate(_python_state(rng["python"]))
    kind, keys, pos, has_gauss, gauss = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def _python_state(state):
    """random.getstate()'s tuple, back from what the loader gives (tuples may come back as lists)."""
    version, internal, gauss = state
    return version, tuple(internal), gauss
