"""Fine-tuning a Hugging Face encoder for two-class sentiment: `train(config, data, work_dir=...)`.

It runs in labelled stages, each a function below: (1) set up: threads, device, seed, the model
(a base encoder or an existing version with `init_from`), both splits tokenized once, and the
checkpoint to resume from; (2) each phase of the config (head only, top-K layers, or everything):
what trains, AdamW with warmup + linear decay (modeling/optim.py); (3) each epoch: a clipped step
a batch, the time budget, a checkpoint every `checkpoint_every_s` seconds; (4) the end of each
epoch: validation, the best epoch's weights kept, early stopping when validation stops improving,
a checkpoint (modeling/checkpoints.py) so `resume=True` continues an interrupted run exactly;
(5) the best weights saved the Hugging Face way, with the run's history.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from modeling.batching import forward_in_order
from modeling import checkpoints
from modeling.checkpoints import BEST, CHECKPOINT, TrainState
from modeling.config import Phase, TrainConfig
from modeling.encoders import encode, load_classifier, load_tokenizer, pad_batch, set_trainable, transformer_layers
from modeling.frozen_cache import FrozenCache, batch_states, top_layers_only
from modeling.optim import adamw, linear_schedule
from modeling.precision import autocast
from modeling.precision import resolve as resolve_precision
from modeling.sampling import length_batches, sample_indices, training_rows, validation_rows

log = logging.getLogger(__name__)

Progress = Callable[[dict], None]
# The best epoch's validation probabilities, next to the model folder (build_version reuses them).
VALIDATION_PROBA = "validation_proba.npy"


class TrainingInterrupted(RuntimeError):
    """Raised by a progress callback to stop training (the last checkpoint stays usable)."""


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
    """Seed Python's, NumPy's and torch's global generators (dropout, a new head's weights)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def predict_logits(model, sequences: list[list[int]], *, pad_id: int, batch_size: int, device: torch.device,
                   desc: str | None = None, precision: str = "fp32") -> np.ndarray:
    """Logits for pre-tokenized sequences, batched by length, in input order."""
    model.eval()
    return forward_in_order(lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits.float(), sequences,
                            width=model.config.num_labels, pad_id=pad_id, batch_size=batch_size, device=device,
                            precision=precision, desc=desc)


@dataclass
class _Run:
    """One training run: what its set-up made, shared by every stage after it."""

    config: TrainConfig
    work_dir: Path
    device: torch.device
    precision: str
    tokenizer: object
    model: object
    train_seqs: list[list[int]]
    train_labels: np.ndarray
    val_seqs: list[list[int]]
    val_labels: np.ndarray
    state: TrainState
    # The checkpoint resumed from, until the phase it stopped in has restored its optimizer and rngs.
    checkpoint: dict | None
    scaler: torch.amp.GradScaler
    progress: Progress | None
    show_progress: bool
    frozen_cache: FrozenCache | None
    started: float
    last_checkpoint: float

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def report(self, **event) -> None:
        if self.progress is not None:
            self.progress(event)

    def save_checkpoint(self, phase: _Phase) -> None:
        checkpoints.save(self.work_dir, self.model, phase.optimizer, phase.scheduler, self.state, self.config)
        self.last_checkpoint = time.monotonic()
        # A caller may copy it elsewhere (the worker uploads it to the object store).
        self.report(kind="checkpoint", work_dir=str(self.work_dir))


@dataclass
class _Phase:
    """One phase as it runs: its recipe, optimizer and schedule, and the frozen layers' cached outputs."""

    spec: Phase
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    frozen: int = 0
    cached: list[np.ndarray] | None = None


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
    run = _set_up(config, data, Path(work_dir), init_from=init_from, resume=resume, device=device, threads=threads,
                  progress=progress, show_progress=show_progress, frozen_cache=frozen_cache)
    while run.state.phase < len(config.phases) and not run.state.done:
        _run_phase(run)
    return _save_result(run, init_from)


# --- 1. set up: threads, device, seed, model, data tokenized once, the checkpoint to resume -----


def _set_up(config: TrainConfig, data: DatasetDict, work_dir: Path, *, init_from, resume: bool, device: str,
            threads: int, progress: Progress | None, show_progress: bool, frozen_cache: FrozenCache | None) -> _Run:
    work_dir.mkdir(parents=True, exist_ok=True)
    if threads > 0:
        torch.set_num_threads(threads)
    dev = pick_device(device)
    precision = resolve_precision(config.precision, dev)
    seed_everything(config.seed)  # before the model loads: a new head's weights are drawn from it

    source = str(init_from) if init_from else config.base_model
    tokenizer = load_tokenizer(source)
    model = load_classifier(source)
    model.to(dev)

    state = TrainState()
    checkpoint = checkpoints.load(work_dir, config) if resume else None
    if checkpoint is None:
        for stale in (CHECKPOINT, BEST):
            (work_dir / stale).unlink(missing_ok=True)
    else:
        state = TrainState(**checkpoint["state"])
    rows = training_rows(config, data["train"])
    if config.fit_budget_s is not None:
        if state.fitted_rows is None:
            state.fitted_rows_per_s = _rows_per_second(config, model, tokenizer, data["train"], rows, dev, precision)
            state.fitted_rows = _rows_within_budget(config, state.fitted_rows_per_s, len(rows))
            log.info("%.1f training rows/s here: %d of %d rows fit %d epoch(s) in %.0f s", state.fitted_rows_per_s,
                     state.fitted_rows, len(rows), config.epochs, config.fit_budget_s)
        rows = sample_indices(list(data["train"]["label"]), state.fitted_rows, config.seed)
    train_seqs, train_labels = _tokenized(config, tokenizer, data["train"], rows)
    validation = data["validation"]
    val_seqs, val_labels = _tokenized(config, tokenizer, validation, validation_rows(config, validation))
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        log.info("resuming at phase %d epoch %d batch %d", state.phase + 1, state.epoch + 1, state.batch)
    # fp16 (CUDA without bf16) needs loss scaling or small gradients underflow; elsewhere the
    # scaler passes everything through. After a resume it starts again from its default scale
    # and finds its level within a few steps (a step whose gradients overflow is skipped).
    scaler = torch.amp.GradScaler(dev.type, enabled=precision == "fp16")
    return _Run(config, work_dir, dev, precision, tokenizer, model, train_seqs, train_labels, val_seqs, val_labels,
                state, checkpoint, scaler, progress, show_progress, frozen_cache,
                started=time.monotonic() - state.elapsed_s, last_checkpoint=time.monotonic())


def _rows_per_second(config: TrainConfig, model, tokenizer, split: Dataset, rows: list[int], device, precision: str,
                     *, steps: int = 3) -> float:
    """Training rows a second on this machine: the time of `steps` forward and backward passes on
    batches of training rows (after one untimed pass), as the first phase runs them, as padded
    tokens a second, divided by the padded tokens per row of an epoch's length batches (each
    padded only to its own longest row: far fewer than a random batch's when lengths vary). The
    model's weights are not changed (its gradients are dropped); the random generators are put back."""
    rng_state = torch.get_rng_state()
    spec = config.phases[0]
    set_trainable(model, spec.trainable, spec.top_k)
    sample = [rows[i] for i in np.random.default_rng(config.seed).permutation(len(rows))[: config.batch_size * (steps + 1)]]
    sequences, labels = _tokenized(config, tokenizer, split, sample)
    model.train()
    started, timed = 0.0, 0  # timed: padded tokens
    for step in range(steps + 1):
        chunk = slice(step * config.batch_size, (step + 1) * config.batch_size)
        if not sequences[chunk]:
            break  # fewer rows than the probe's batches
        if step == 1:
            started = time.perf_counter()
        ids, mask = pad_batch(sequences[chunk], tokenizer.pad_token_id)
        with autocast(device, precision):
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        torch.nn.functional.cross_entropy(logits.float(), torch.as_tensor(labels[chunk], device=device)).backward()
        model.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the passes run asynchronously there
        timed += ids.numel() if step > 0 else 0
    seconds = time.perf_counter() - started
    torch.set_rng_state(rng_state)
    if not timed:
        return math.inf  # too few rows to time: all of them fit
    lengths = [len(s) for s in _tokenized(config, tokenizer, split, rows)[0]]
    batches = length_batches(lengths, config.batch_size, config.seed * 1000)
    padded_per_row = sum(len(b) * max(lengths[i] for i in b) for b in batches) / len(lengths)
    return timed / seconds / padded_per_row


def _rows_within_budget(config: TrainConfig, rows_per_s: float, available: int) -> int:
    """As many rows as every epoch of the phases goes through in `config.fit_budget_s` at
    `rows_per_s`: at most `available`, at least `config.fit_min_rows` (or all there are)."""
    fitting = rows_per_s * config.fit_budget_s / config.epochs
    return max(min(int(fitting) if math.isfinite(fitting) else available, available), min(config.fit_min_rows, available))


def _tokenized(config: TrainConfig, tokenizer, split: Dataset, rows: list[int]) -> tuple[list[list[int]], np.ndarray]:
    chosen = split.select(rows)
    sequences = encode(tokenizer, list(chosen["text"]), max_length=config.max_length, truncation=config.truncation,
                       head_fraction=config.head_fraction)
    return sequences, np.asarray(chosen["label"])


# --- 2. a phase: what trains, the frozen layers' outputs, optimizer and schedule, its epochs -----


def _run_phase(run: _Run) -> None:
    config, state, model = run.config, run.state, run.model
    spec = config.phases[state.phase]
    set_trainable(model, spec.trainable, spec.top_k)
    frozen = max(0, len(transformer_layers(model)) - spec.top_k) if spec.trainable == "top_k" else 0
    optimizer = adamw(model, config, spec.lr)
    steps_per_epoch = math.ceil(len(run.train_seqs) / config.batch_size)
    scheduler = linear_schedule(optimizer, steps_per_epoch * spec.epochs, config.warmup_ratio)
    phase = _Phase(spec, optimizer, scheduler, frozen, _cached_states(run, frozen))
    if run.checkpoint is not None:
        checkpoints.restore_phase(run.checkpoint, state, phase.optimizer, phase.scheduler)
        run.checkpoint = None
    while state.epoch < spec.epochs and not state.done:
        batches = length_batches([len(s) for s in run.train_seqs], config.batch_size,
                                 config.seed * 1000 + state.phase * 100 + state.epoch)
        _train_epoch(run, phase, batches)
        if _end_epoch(run, phase, batches):
            break


def _cached_states(run: _Run, frozen: int) -> list[np.ndarray] | None:
    """The frozen layers' outputs for every training row, when the phase freezes layers and the
    run has a cache (the rows it holds are read, the others computed once and stored)."""
    cache = run.frozen_cache
    if cache is None or frozen == 0:
        return None
    hits, misses = cache.hits, cache.misses
    cached = cache.states(run.model, run.train_seqs, frozen=frozen, pad_id=run.tokenizer.pad_token_id,
                          device=run.device, batch_size=run.config.eval_batch_size, precision=run.precision)
    run.state.cache_hits += cache.hits - hits
    run.state.cache_misses += cache.misses - misses
    return cached


def _label(run: _Run, spec: Phase) -> str:
    state = run.state
    return f"phase {state.phase + 1}/{len(run.config.phases)} ({spec.trainable}) epoch {state.epoch + 1}/{spec.epochs}"


# --- 3. an epoch: a step a batch, each reported; the time budget; mid-epoch checkpoints ---------


def _train_epoch(run: _Run, phase: _Phase, batches: list[list[int]]) -> None:
    config, state = run.config, run.state
    run.model.train()
    bar = tqdm(total=len(batches), initial=state.batch, desc=_label(run, phase.spec), disable=not run.show_progress,
               mininterval=2)
    for batch in batches[state.batch :]:
        loss, correct = _train_step(run, phase, batch)
        state.batch += 1
        state.step += 1
        state.epoch_loss += loss * len(batch)
        state.epoch_correct += correct
        state.epoch_seen += len(batch)
        bar.update(1)
        bar.set_postfix(loss=f"{state.epoch_loss / state.epoch_seen:.4f}", refresh=False)
        state.elapsed_s = run.elapsed()
        try:
            run.report(kind="step", phase=state.phase + 1, epoch=state.epoch + 1, step=state.batch, steps=len(batches),
                       loss=state.epoch_loss / state.epoch_seen)
        except TrainingInterrupted:
            # Stopped from outside (the worker is shutting down): keep every step done so far.
            run.save_checkpoint(phase)
            raise
        if config.budget_s is not None and state.elapsed_s >= config.budget_s:
            log.info("time budget of %.0f s reached", config.budget_s)
            state.done = True
            break
        if time.monotonic() - run.last_checkpoint >= config.checkpoint_every_s and state.batch < len(batches):
            run.save_checkpoint(phase)
    bar.close()


def _train_step(run: _Run, phase: _Phase, batch: list[int]) -> tuple[float, int]:
    """One optimizer step on `batch`; returns its mean loss and how many of its rows it got right."""
    model, dev = run.model, run.device
    ids, mask = pad_batch([run.train_seqs[i] for i in batch], run.tokenizer.pad_token_id)
    targets = torch.as_tensor(run.train_labels[batch], dtype=torch.long, device=dev)
    with autocast(dev, run.precision):
        if phase.cached is None:
            logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
        else:
            with top_layers_only(model, phase.frozen) as stand_in:
                stand_in.batch = batch_states(phase.cached, batch, dev)
                logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
    loss = torch.nn.functional.cross_entropy(logits.float(), targets)
    phase.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.unscale_(phase.optimizer)  # clip the true gradients
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], run.config.max_grad_norm)
    run.scaler.step(phase.optimizer)
    run.scaler.update()
    phase.scheduler.step()
    return float(loss.detach()), int((logits.argmax(-1) == targets).sum())


# --- 4. end of an epoch (or of the budget): validate, keep the best, stop early, checkpoint -----


def _end_epoch(run: _Run, phase: _Phase, batches: list[list[int]]) -> bool:
    """Returns whether the phase is over."""
    state, spec = run.state, phase.spec
    logits = predict_logits(run.model, run.val_seqs, pad_id=run.tokenizer.pad_token_id,
                            batch_size=run.config.eval_batch_size, device=run.device,
                            desc="validation" if run.show_progress else None, precision=run.precision)
    val_accuracy = float((logits.argmax(-1) == run.val_labels).mean())
    entry = {
        "phase": state.phase + 1,
        "trainable": spec.trainable,
        "epoch": state.epoch + 1,
        "complete": state.batch >= len(batches),
        "loss": state.epoch_loss / max(1, state.epoch_seen),
        "train_accuracy": state.epoch_correct / max(1, state.epoch_seen),
        "validation_accuracy": val_accuracy,
        "elapsed_s": round(run.elapsed(), 1),
    }
    state.history.append(entry)
    log.info("%s: loss %.4f, train accuracy %.4f, validation accuracy %.4f",
             _label(run, spec), entry["loss"], entry["train_accuracy"], val_accuracy)
    if val_accuracy > state.best_accuracy:
        state.best_accuracy = val_accuracy
        state.best_epoch = f"{state.phase + 1}.{state.epoch + 1}"
        state.stale_epochs = 0
        checkpoints.save_best(run.work_dir, run.model)
        np.save(run.work_dir / VALIDATION_PROBA, torch.softmax(torch.from_numpy(logits), dim=-1).numpy())
    else:
        state.stale_epochs += 1
    phase_over = _next_epoch(run, spec)
    state.elapsed_s = run.elapsed()
    run.save_checkpoint(phase)
    run.report(kind="epoch", **entry)
    return phase_over


def _next_epoch(run: _Run, spec: Phase) -> bool:
    """Move on to the next epoch, or past the phase when its epochs are done or validation has
    not improved for `patience` epochs; returns whether the phase is over."""
    config, state = run.config, run.state
    state.epoch += 1
    state.batch = 0
    state.epoch_loss, state.epoch_correct, state.epoch_seen = 0.0, 0, 0
    if state.stale_epochs >= config.patience and state.epoch < spec.epochs:
        log.info("validation accuracy did not improve for %d epoch(s): ending phase %d early", state.stale_epochs,
                 state.phase + 1)
        state.epoch = spec.epochs
    if state.epoch < spec.epochs:
        return False
    state.phase += 1
    state.epoch = 0
    state.step = 0
    state.stale_epochs = 0
    if state.phase < len(config.phases):
        # The next phase starts from the best weights so far.
        run.model.load_state_dict(torch.load(run.work_dir / BEST, map_location=run.device))
    return True


# --- 5. the result: best weights + tokenizer, saved the Hugging Face way, and the history -------


def _save_result(run: _Run, init_from) -> Path:
    state, model = run.state, run.model
    model.load_state_dict(torch.load(run.work_dir / BEST, map_location=run.device))
    out_dir = run.work_dir / "model"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for p in model.parameters():
        p.requires_grad_(True)
    model.to("cpu").save_pretrained(out_dir)
    run.tokenizer.save_pretrained(out_dir)
    summary = {
        "best_epoch": state.best_epoch,
        "best_validation_accuracy": state.best_accuracy,
        "train_rows": len(run.train_seqs),
        "fitted": ({"budget_s": run.config.fit_budget_s,
                    "rows_per_s": round(state.fitted_rows_per_s, 2) if math.isfinite(state.fitted_rows_per_s) else None}
                   if state.fitted_rows_per_s is not None else None),
        "validation_rows": len(run.val_seqs),
        "duration_s": round(run.elapsed(), 1),
        "device": run.device.type,
        "precision": run.precision,
        "frozen_cache": {"hits": state.cache_hits, "misses": state.cache_misses} if run.frozen_cache else None,
        "init_from": str(init_from) if init_from else None,
        "history": state.history,
    }
    (run.work_dir / "training.json").write_text(json.dumps(summary, indent=2))
    return out_dir


def training_summary(model_dir: str | Path) -> dict:
    """The `training.json` written next to a trained model folder by `train`."""
    return json.loads((Path(model_dir).parent / "training.json").read_text())
