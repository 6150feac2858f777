"""Fine-tuning a Hugging Face encoder for two-class sentiment.

Stages, in order: set up (seed, device, threads), load the model (a base encoder or an existing
version with `init_from`), tokenize once, then for each phase of the config (head only, top-K
layers, or everything) run epochs with warmup + linear decay, AdamW, gradient clipping and
validation after each epoch. The best epoch's weights are kept, a phase stops early when
validation stops improving, and a checkpoint is written after every epoch (and every
`checkpoint_every_s` seconds mid-epoch) so `resume=True` continues an interrupted run exactly.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from modeling.config import TrainConfig
from modeling.encoders import (
    encode,
    load_classifier,
    load_tokenizer,
    pad_batch,
    parameter_groups,
    set_trainable,
    transformer_layers,
)
from modeling.frozen_cache import FrozenCache, batch_states, top_layers_only
from modeling.precision import autocast
from modeling.precision import resolve as resolve_precision

log = logging.getLogger(__name__)

Progress = Callable[[dict], None]
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
# The best epoch's validation probabilities, next to the model folder (build_version reuses them).
VALIDATION_PROBA = "validation_proba.npy"


class TrainingInterrupted(RuntimeError):
    """Raised by a progress callback to stop training (the last checkpoint stays usable)."""


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


def pick_device(preferred: str = "auto") -> torch.device:
    """cuda, then Apple's mps, then cpu (or the one asked for)."""
    if preferred != "auto":
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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


def length_batches(lengths: list[int], batch_size: int, seed: int, *, shuffle: bool = True) -> list[list[int]]:
    """Batches of similar length (less padding), in a seeded random order.

    Rows are shuffled, cut into pools of 50 batches, sorted by length inside each pool, cut into
    batches, and the batches shuffled again, so each batch is short-padded but the order random.
    """
    order = np.arange(len(lengths))
    rng = np.random.default_rng(seed)
    if shuffle:
        order = rng.permutation(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool].tolist(), key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def _optimizer(model, config: TrainConfig, lr: float) -> torch.optim.Optimizer:
    groups = parameter_groups(model)
    layer_count = sum(1 for name in groups if name.startswith("layer."))
    param_groups = []
    for name, params in groups.items():
        params = [p for p in params if p.requires_grad]
        if not params:
            continue
        depth = 0 if name == "head" else (layer_count if name == "embeddings" else layer_count - 1 - int(name.split(".")[1]))
        group_lr = lr * (config.layer_lr_decay**depth)
        # No weight decay on biases and LayerNorm weights (1-D tensors).
        decayed = [p for p in params if p.ndim > 1]
        plain = [p for p in params if p.ndim <= 1]
        if decayed:
            param_groups.append({"params": decayed, "lr": group_lr, "weight_decay": config.weight_decay})
        if plain:
            param_groups.append({"params": plain, "lr": group_lr, "weight_decay": 0.0})
    return torch.optim.AdamW(param_groups)


def _scheduler(optimizer, total_steps: int, warmup_ratio: float):
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.inference_mode()
def predict_logits(model, sequences: list[list[int]], *, pad_id: int, batch_size: int, device: torch.device,
                   desc: str | None = None, precision: str = "fp32") -> np.ndarray:
    """Logits for pre-tokenized sequences, batched by length, in input order."""
    model.eval()
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    out = np.zeros((len(sequences), model.config.num_labels), dtype=np.float32)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc=desc, disable=desc is None, leave=False, mininterval=2):
        ids, mask = pad_batch([sequences[i] for i in batch], pad_id)
        with autocast(device, precision):
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        out[batch] = logits.float().cpu().numpy()
    return out


def _save_checkpoint(work_dir: Path, model, optimizer, scheduler, state: TrainState, config: TrainConfig) -> None:
    payload = {
        "config": config.to_dict(),
        "state": state.__dict__,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
    }
    tmp = work_dir / f"{CHECKPOINT}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, work_dir / CHECKPOINT)


def _save_best(work_dir: Path, model) -> None:
    tmp = work_dir / f"{BEST}.tmp"
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, work_dir / BEST)


def _load_checkpoint(work_dir: Path, config: TrainConfig) -> dict | None:
    path = work_dir / CHECKPOINT
    if not path.exists():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if TrainConfig.from_dict(payload["config"]) != config:
        raise ValueError(f"{path} was written by a different training configuration; use another work folder or drop --resume")
    return payload


def train(
    config: TrainConfig,
    data: DatasetDict,
    *,
    work_dir: str | Path,
    init_from: str | Path | None = None,
    resume: bool = False,
    device: str = "auto",
    threads: int = 0,
    progress: Progress | None = None,
    show_progress: bool = True,
    frozen_cache: FrozenCache | None = None,
) -> Path:
    """Fine-tune per `config` on `data['train']`, choosing epochs on `data['validation']`.

    Writes the best weights and the tokenizer (`save_pretrained`) to `work_dir/model` and a
    `training.json` with the history, and returns that model folder. `init_from` continues from
    an existing model folder instead of the base encoder; `resume` continues from the last
    checkpoint in `work_dir`. With a `frozen_cache`, a top-K phase reads the frozen layers'
    outputs from it instead of recomputing them every step.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    if threads > 0:
        torch.set_num_threads(threads)
    dev = pick_device(device)
    precision = resolve_precision(config.precision, dev)
    seed_everything(config.seed)

    source = str(init_from) if init_from else config.base_model
    tokenizer = load_tokenizer(source)
    model = load_classifier(source)
    model.to(dev)

    # --- data: tokenize once -------------------------------------------------------------
    train_split: Dataset = data["train"]
    train_rows = training_rows(config, train_split)
    train_texts = list(train_split.select(train_rows)["text"])
    train_labels = np.asarray(train_split.select(train_rows)["label"])
    val_split = data["validation"]
    val_rows = validation_rows(config, val_split)
    val_texts = list(val_split.select(val_rows)["text"])
    val_labels = np.asarray(val_split.select(val_rows)["label"])
    enc = dict(max_length=config.max_length, truncation=config.truncation, head_fraction=config.head_fraction)
    train_seqs = encode(tokenizer, train_texts, **enc)
    val_seqs = encode(tokenizer, val_texts, **enc)
    lengths = [len(s) for s in train_seqs]
    pad_id = tokenizer.pad_token_id

    state = TrainState()
    checkpoint = _load_checkpoint(work_dir, config) if resume else None
    if checkpoint is None:
        for stale in (CHECKPOINT, BEST):
            (work_dir / stale).unlink(missing_ok=True)
    else:
        state = TrainState(**checkpoint["state"])
        model.load_state_dict(checkpoint["model"])
        log.info("resuming at phase %d epoch %d batch %d", state.phase + 1, state.epoch + 1, state.batch)

    started = time.monotonic() - state.elapsed_s
    last_checkpoint = time.monotonic()

    def report(**event):
        if progress is not None:
            progress(event)

    layer_count = len(transformer_layers(model))
    # fp16 (CUDA without bf16) needs loss scaling or small gradients underflow; elsewhere the
    # scaler passes everything through. After a resume it starts again from its default scale
    # and finds its level within a few steps (a step whose gradients overflow is skipped).
    scaler = torch.amp.GradScaler(dev.type, enabled=precision == "fp16")
    while state.phase < len(config.phases) and not state.done:
        phase = config.phases[state.phase]
        set_trainable(model, phase.trainable, phase.top_k)
        frozen = max(0, layer_count - phase.top_k) if phase.trainable == "top_k" else 0
        cached = None
        if frozen_cache is not None and frozen > 0:
            before = (frozen_cache.hits, frozen_cache.misses)
            cached = frozen_cache.states(model, train_seqs, frozen=frozen, pad_id=pad_id, device=dev,
                                         batch_size=config.eval_batch_size, precision=precision)
            state.cache_hits += frozen_cache.hits - before[0]
            state.cache_misses += frozen_cache.misses - before[1]
        optimizer = _optimizer(model, config, phase.lr)
        steps_per_epoch = math.ceil(len(train_seqs) / config.batch_size)
        scheduler = _scheduler(optimizer, steps_per_epoch * phase.epochs, config.warmup_ratio)
        if checkpoint is not None:
            if state.epoch > 0 or state.batch > 0:
                # Mid-phase: the optimizer belongs to this phase. At a phase start it is new.
                optimizer.load_state_dict(checkpoint["optimizer"])
                scheduler.load_state_dict(checkpoint["scheduler"])
            rng = checkpoint["rng"]
            random.setstate(rng["python"])
            np.random.set_state(rng["numpy"])
            torch.set_rng_state(rng["torch"])
            if rng["cuda"] is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
            checkpoint = None

        while state.epoch < phase.epochs and not state.done:
            label = f"phase {state.phase + 1}/{len(config.phases)} ({phase.trainable}) epoch {state.epoch + 1}/{phase.epochs}"
            batches = length_batches(lengths, config.batch_size, config.seed * 1000 + state.phase * 100 + state.epoch)
            model.train()
            bar = tqdm(total=len(batches), initial=state.batch, desc=label, disable=not show_progress, mininterval=2)
            for batch in batches[state.batch :]:
                ids, mask = pad_batch([train_seqs[i] for i in batch], pad_id)
                targets = torch.as_tensor(train_labels[batch], dtype=torch.long, device=dev)
                with autocast(dev, precision):
                    if cached is None:
                        logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
                    else:
                        with top_layers_only(model, frozen) as stand_in:
                            stand_in.batch = batch_states(cached, batch, dev)
                            logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
                loss = torch.nn.functional.cross_entropy(logits.float(), targets)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)  # clip the true gradients
                torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                state.batch += 1
                state.step += 1
                state.epoch_loss += float(loss.detach()) * len(batch)
                state.epoch_correct += int((logits.argmax(-1) == targets).sum())
                state.epoch_seen += len(batch)
                bar.update(1)
                bar.set_postfix(loss=f"{state.epoch_loss / state.epoch_seen:.4f}", refresh=False)
                state.elapsed_s = time.monotonic() - started
                try:
                    report(kind="step", phase=state.phase + 1, epoch=state.epoch + 1, step=state.batch, steps=len(batches),
                           loss=state.epoch_loss / state.epoch_seen)
                except TrainingInterrupted:
                    # Stopped from outside (the worker is shutting down): keep every step done so far.
                    _save_checkpoint(work_dir, model, optimizer, scheduler, state, config)
                    raise
                if config.budget_s is not None and state.elapsed_s >= config.budget_s:
                    log.info("time budget of %.0f s reached", config.budget_s)
                    state.done = True
                    break
                if time.monotonic() - last_checkpoint >= config.checkpoint_every_s and state.batch < len(batches):
                    _save_checkpoint(work_dir, model, optimizer, scheduler, state, config)
                    last_checkpoint = time.monotonic()
            bar.close()

            # --- end of epoch (or of the budget): validate, keep the best, checkpoint ----------
            logits = predict_logits(model, val_seqs, pad_id=pad_id, batch_size=config.eval_batch_size, device=dev,
                                    desc="validation" if show_progress else None, precision=precision)
            val_accuracy = float((logits.argmax(-1) == val_labels).mean())
            entry = {
                "phase": state.phase + 1,
                "trainable": phase.trainable,
                "epoch": state.epoch + 1,
                "complete": state.batch >= len(batches),
                "loss": state.epoch_loss / max(1, state.epoch_seen),
                "train_accuracy": state.epoch_correct / max(1, state.epoch_seen),
                "validation_accuracy": val_accuracy,
                "elapsed_s": round(time.monotonic() - started, 1),
            }
            state.history.append(entry)
            log.info(
                "%s: loss %.4f, train accuracy %.4f, validation accuracy %.4f",
                label, entry["loss"], entry["train_accuracy"], val_accuracy,
            )
            if val_accuracy > state.best_accuracy:
                state.best_accuracy = val_accuracy
                state.best_epoch = f"{state.phase + 1}.{state.epoch + 1}"
                state.stale_epochs = 0
                _save_best(work_dir, model)
                np.save(work_dir / VALIDATION_PROBA, torch.softmax(torch.from_numpy(logits), dim=-1).numpy())
            else:
                state.stale_epochs += 1
            state.epoch += 1
            state.batch = 0
            state.epoch_loss, state.epoch_correct, state.epoch_seen = 0.0, 0, 0
            stop_phase = state.stale_epochs >= config.patience and state.epoch < phase.epochs
            if stop_phase:
                log.info("validation accuracy did not improve for %d epoch(s): ending phase %d early", state.stale_epochs, state.phase + 1)
                state.epoch = phase.epochs
            phase_over = state.epoch >= phase.epochs
            if phase_over:
                state.phase += 1
                state.epoch = 0
                state.step = 0
                state.stale_epochs = 0
                if state.phase < len(config.phases):
                    # The next phase starts from the best weights so far.
                    model.load_state_dict(torch.load(work_dir / BEST, map_location=dev))
            state.elapsed_s = time.monotonic() - started
            _save_checkpoint(work_dir, model, optimizer, scheduler, state, config)
            last_checkpoint = time.monotonic()
            report(kind="epoch", **entry)
            if phase_over:
                break

    # --- the result: best weights + tokenizer, saved the Hugging Face way --------------------
    model.load_state_dict(torch.load(work_dir / BEST, map_location=dev))
    out_dir = work_dir / "model"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for p in model.parameters():
        p.requires_grad_(True)
    model.to("cpu").save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    summary = {
        "best_epoch": state.best_epoch,
        "best_validation_accuracy": state.best_accuracy,
        "train_rows": len(train_seqs),
        "validation_rows": len(val_seqs),
        "duration_s": round(time.monotonic() - started, 1),
        "device": dev.type,
        "precision": precision,
        "frozen_cache": {"hits": state.cache_hits, "misses": state.cache_misses} if frozen_cache else None,
        "init_from": str(init_from) if init_from else None,
        "history": state.history,
    }
    (work_dir / "training.json").write_text(json.dumps(summary, indent=2))
    return out_dir


def training_summary(model_dir: str | Path) -> dict:
    """The `training.json` written next to a trained model folder by `train`."""
    return json.loads((Path(model_dir).parent / "training.json").read_text())


def validation_rows(config: TrainConfig, validation: Dataset) -> list[int]:
    """The validation rows `train` chose epochs on (all, or the `validation_limit` sample)."""
    return sample_indices(list(validation["label"]), config.validation_limit, config.seed)


def training_rows(config: TrainConfig, train_split: Dataset) -> list[int]:
    """The training rows `train` learned from (all, or the `train_limit` sample)."""
    return sample_indices(list(train_split["label"]), config.train_limit, config.seed)
