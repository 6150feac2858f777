"""Train, evaluate and register in one call: what `manage.py train` and the retraining loop run."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict

from modeling import onnx_runtime, registry
from modeling.config import NGRAM, TrainConfig
from modeling.cleaning import split_hash
from modeling.evaluate import metrics_from_proba, save_predictions
from modeling.frozen_cache import FrozenCache
from modeling.ngram import NgramConfig, NgramModel, choose_weight, combine, weighted_accuracy
from modeling.serving import Predictor
from modeling.sampling import validation_rows
from modeling.train import VALIDATION_PROBA, Progress, train, training_summary

log = logging.getLogger(__name__)
# Regularisation strengths the n-gram companion of a new model is chosen from (on validation).
C_GRID = (0.05, 0.1, 0.3)


def inference_settings(config: TrainConfig) -> dict:
    """How a version must tokenize at prediction time: exactly as it was trained."""
    return {"max_length": config.max_length, "truncation": config.truncation, "head_fraction": config.head_fraction}


@dataclass(frozen=True)
class DataOrigin:
    """Where a version's data came from, as its manifest records it: the source it was loaded from
    (`modeling.data.load_reviews`'s `source`) and the seed of its split."""

    source: str
    seed: int

    def describe(self, data: DatasetDict) -> dict:
        """The manifest's `data`: this origin, and each split's size and content hash."""
        return {
            "source": self.source,
            "seed": self.seed,
            "splits": {name: {"rows": len(split), "sha256": split_hash(split)} for name, split in data.items()},
        }


@dataclass(frozen=True)
class BuildOptions:
    """How a build runs, beside what it builds: resuming, threads, which splits it measures,
    progress, the frozen-layer cache, and a hook before the version is saved."""

    resume: bool = False  # continue from the checkpoint in work_dir
    threads: int = 0  # torch threads; 0 = torch's own choice
    device: str = "auto"  # where training runs: auto (cuda, then mps, then cpu), cpu, cuda
    eval_splits: tuple[str, ...] = ("validation", "test")  # measured and recorded in the manifest
    # Per split, the rows measured (positions; a retrain's fixed stratified test subset); default all.
    eval_rows: dict[str, Sequence[int]] | None = None
    progress: Progress | None = None  # called with each training, evaluation and n-gram event
    show_progress: bool = True  # progress bars on the terminal
    frozen_cache: FrozenCache | None = None  # top-K phases read the frozen layers' outputs from it
    before_save: Callable[[], None] | None = None  # called just before the version is renamed into place
    onnx_export: bool = True  # export to ONNX (fp32, int8) into the version, sealed with it


def build_version(
    config: TrainConfig,
    data: DatasetDict,
    origin: DataOrigin,
    *,
    store: str | Path,
    key: bytes,
    work_dir: str | Path,
    init_from: str | Path | None = None,
    ngram_data: Dataset | None = None,
    companion: NgramModel | None = None,
    extra_manifest: dict | None = None,
    options: BuildOptions = BuildOptions(),
) -> registry.Version:
    """Fine-tune per `config` on `data` (from `origin`), measure it on `options.eval_splits`, and
    save it into `store` as a version sealed with `key`, working in `work_dir` (deleted once it is
    saved).

    `init_from` continues from an existing version's weights instead of the base encoder;
    `extra_manifest` is added to the manifest (the profile, a retrain's run and mix, ...). With
    `config.ngram_companion`, an n-gram model is fitted on `ngram_data` (default: every training
    review of `data`), or `companion` (one fitted already, e.g. the instant first model's) is
    taken as it is, and its weight in the served average chosen on the validation rows training
    used; each split's metrics then also say how each part alone did.
    """
    show_progress, progress = options.show_progress, options.progress
    started = time.monotonic()
    model_dir = train(config, data, work_dir=work_dir, init_from=init_from, resume=options.resume,
                      device=options.device, threads=options.threads, progress=progress, show_progress=show_progress,
                      frozen_cache=options.frozen_cache)
    summary = training_summary(model_dir)
    if progress is not None:
        progress({"kind": "evaluate", "splits": list(options.eval_splits)})
    # Evaluated at the precision it was trained and validated at (the companion's weight is chosen
    # on validation probabilities from training).
    predictor = Predictor(model_dir, verify=False, inference=inference_settings(config),
                          batch_size=config.eval_batch_size, precision=config.precision)
    companion = None
    if config.ngram_companion:
        if progress is not None:
            progress({"kind": "ngram"})
        companion = _fit_companion(config, data, ngram_data, predictor, model_dir, init_from, show_progress,
                                   fitted=companion)

    def predict(texts: list[str], desc: str | None):
        proba = predictor.transformer_proba(texts, desc=desc)
        if companion is None:
            return proba, None
        ngram = companion.predict_proba(texts)
        return combine(proba, ngram, companion.weight), {"transformer": proba, "ngram": ngram, "ngram_weight": companion.weight}

    metrics = _measure(predict, data, options, model_dir)
    exported = None
    if options.onnx_export:
        if progress is not None:
            progress({"kind": "export"})
        exported = onnx_runtime.export(model_dir, tokenizer=predictor.tokenizer)
    manifest = {
        "base_model": config.base_model,
        "init_from": str(init_from) if init_from else None,
        "train_config": config.to_dict(),
        "inference": inference_settings(config),
        "data": origin.describe(data),
        "metrics": metrics,
        "training": summary,
        "ngram": {"weight": companion.weight, **companion.info} if companion is not None else None,
        "onnx": exported,
        "build_seconds": round(time.monotonic() - started, 1),
        **(extra_manifest or {}),
    }
    version = registry.save(store, model_dir, manifest=manifest, key=key, before_rename=options.before_save)
    shutil.rmtree(work_dir, ignore_errors=True)
    return version


def build_ngram_version(
    data: DatasetDict,
    origin: DataOrigin,
    *,
    store: str | Path,
    key: bytes,
    work_dir: str | Path,
    fit_on: Dataset | None = None,
    config: NgramConfig = NgramConfig(),
    extra_manifest: dict | None = None,
    options: BuildOptions = BuildOptions(),
) -> registry.Version:
    """An n-gram model alone as a version (kind "ngram"): fitted on `fit_on` (default: every
    training review of `data`) in seconds, measured on `options.eval_splits`, saved into `store`
    sealed with `key`. It is an installation's instant first model, serving while the first
    transformer trains, and it becomes that transformer's companion (`companion=` of
    `build_version`)."""
    started = time.monotonic()
    if options.progress is not None:
        options.progress({"kind": "ngram"})
    fit_on = data["train"] if fit_on is None else fit_on
    model = NgramModel.fit(list(fit_on["text"]), list(fit_on["label"]), config)
    model.weight = 1.0  # alone, it is the whole answer
    folder = Path(work_dir) / "ngram"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    model.save(folder)
    metrics = _measure(lambda texts, desc: (model.predict_proba(texts), None), data, options, folder)
    manifest = {
        "kind": NGRAM,
        "base_model": "n-gram NB-weighted logistic regression",
        "init_from": None,
        "train_config": {},
        "inference": {},
        "data": origin.describe(data),
        "metrics": metrics,
        "ngram": {"weight": model.weight, "config": asdict(model.config), **model.info},
        "build_seconds": round(time.monotonic() - started, 1),
        **(extra_manifest or {}),
    }
    version = registry.save(store, folder, manifest=manifest, key=key, before_rename=options.before_save)
    shutil.rmtree(work_dir, ignore_errors=True)
    return version


def _measure(predict, data: DatasetDict, options: BuildOptions, folder: Path) -> dict:
    """Metrics on each of `options.eval_splits` that `data` has (on `options.eval_rows` of it, if
    given), the probabilities stored in `folder` (modeling.evaluate.save_predictions).
    `predict(texts, desc)` gives the served probabilities and, for a transformer with a companion,
    its parts ({"transformer": ..., "ngram": ..., "ngram_weight": ...}), whose accuracies are
    recorded too."""
    metrics = {}
    for name in options.eval_splits:
        if name not in data:
            continue
        t0 = time.monotonic()
        split = data[name]
        index = np.asarray((options.eval_rows or {}).get(name, range(len(split))), dtype=int)
        if len(index) != len(split):
            split = split.select(index)
        desc = f"evaluating on {name}" if options.show_progress else None
        proba, parts = predict(list(split["text"]), desc)
        metrics[name] = metrics_from_proba(split["label"], proba)
        if len(index) != len(data[name]):
            metrics[name]["of"] = len(data[name])  # a subset of the split
        if parts is not None:
            labels = np.asarray(split["label"])
            metrics[name]["parts"] = {
                "transformer": float((parts["transformer"].argmax(axis=1) == labels).mean()),
                "ngram": float((parts["ngram"].argmax(axis=1) == labels).mean()),
                "ngram_weight": parts["ngram_weight"],
            }
        save_predictions(folder, name, index, proba)
        metrics[name]["seconds"] = round(time.monotonic() - t0, 1)
        log.info("%s accuracy %.4f on %d reviews", name, metrics[name]["accuracy"], len(index))
    return metrics


def companion_candidates(data: DatasetDict) -> list[NgramModel]:
    """The n-gram models a new transformer's companion is chosen from (one per C of C_GRID),
    fitted on the training split: a tuning study fits them once for all its trials."""
    return NgramModel.fit_grid(list(data["train"]["text"]), list(data["train"]["label"]), NgramConfig(), C_GRID)


def served_validation_accuracy(config: TrainConfig, data: DatasetDict, model_dir: Path, *,
                               candidates: Sequence[NgramModel] | None = None, show_progress: bool = False) -> float:
    """What a trained model folder scores on the validation rows training used, as it would be
    served: averaged with its n-gram companion (regularisation and weight chosen on those rows,
    from `candidates` or a fresh C_GRID fit), or the transformer's best epoch alone."""
    if not config.ngram_companion:
        return float(training_summary(model_dir)["best_validation_accuracy"])
    predictor = Predictor(model_dir, verify=False, inference=inference_settings(config),
                          batch_size=config.eval_batch_size, precision=config.precision)
    companion = fit_companion(config, data, predictor, model_dir, fitted=candidates, show_progress=show_progress)
    return float(companion.info["validation_accuracy"]["combined"])


def fit_companion(config: TrainConfig, data: DatasetDict, predictor: Predictor, model_dir: Path, *,
                  fitted: Sequence[NgramModel] | None = None, show_progress: bool = False) -> NgramModel:
    """A new transformer's n-gram companion on `data` (train, then validation for C and weight),
    saved into `model_dir` and attached to `predictor` (tuning trials, cross-validation folds)."""
    return _fit_companion(config, data, None, predictor, model_dir, None, show_progress, fitted=fitted)


def _fit_companion(config, data: DatasetDict, ngram_data, predictor: Predictor, model_dir: Path, init_from,
                   show_progress: bool, *, fitted: NgramModel | Sequence[NgramModel] | None = None) -> NgramModel:
    """Fit the n-gram model (or take the `fitted` one, or choose among several fitted), choose
    its regularisation and its weight on the validation rows training used (reusing the best
    epoch's saved probabilities when there are any; a retrain from `init_from` keeps its
    parent's), save it into the model folder and attach it to `predictor`."""
    if ngram_data is None:
        ngram_data = data["train"]
    validation = data["validation"].select(validation_rows(config, data["validation"]))
    saved = Path(model_dir).parent / VALIDATION_PROBA
    proba = np.load(saved) if saved.exists() else None
    if proba is None or len(proba) != len(validation):
        proba = predictor.transformer_proba(list(validation["text"]), desc="validation" if show_progress else None)
    # A retrain keeps the n-gram settings its parent chose, the served weight included; a new
    # model chooses them here. The validation rows are the training source's kind of text, not
    # the corrections' (which the retrain learns): choosing the weight again on them can turn a
    # candidate into its n-gram model alone (0.95), unlearning the transformer's negation.
    parent = NgramModel.load(init_from) if init_from else None
    ngram_config, Cs = (parent.config, (parent.config.C,)) if parent else (NgramConfig(), C_GRID)
    if isinstance(fitted, NgramModel):
        candidates = [fitted]
    elif fitted is not None:
        candidates = list(fitted)
    else:
        candidates = NgramModel.fit_grid(list(ngram_data["text"]), list(ngram_data["label"]), ngram_config, Cs)
    best = None
    for candidate in candidates:
        ngram_proba, labels = candidate.predict_proba(list(validation["text"])), list(validation["label"])
        choice = (weighted_accuracy(proba, ngram_proba, labels, parent.weight) if parent
                  else choose_weight(proba, ngram_proba, labels))
        log.info("n-gram companion C=%g: %s", candidate.config.C, choice)
        if best is None or choice["validation_accuracy"]["combined"] > best[1]["validation_accuracy"]["combined"]:
            best = (candidate, choice)
    companion, choice = best
    companion.weight = choice["weight"]
    companion.info.update(choice)
    companion.save(model_dir)
    predictor.ngram = companion
    log.info("n-gram companion: weight %.2f, validation accuracy %s", companion.weight, choice["validation_accuracy"])
    return companion
