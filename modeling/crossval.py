"""k-fold cross-validation of a training recipe (`manage.py evaluate --cv K`).

The training split is cut into K stratified folds; each fold is held out once while the recipe
trains on the other K-1 (early stopping and the n-gram companion's weight on the source's own
validation split, as in a normal build) and is then scored on the held-out fold as it would be
served. The K scores give a mean and a 95% interval (Student's t over the folds), a steadier
estimate of the recipe than one split's figure. The test split is not used.

Each fold's result is written to `work_dir/folds.json` as it ends, and each fold trains with
checkpoints in its own folder: a run that is stopped resumes at the fold (and the epoch) it reached.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
from datasets import DatasetDict

from modeling.cleaning import split_hash
from modeling.config import TrainConfig
from modeling.evaluate import metrics_from_proba
from modeling.ngram import combine
from modeling.pipeline import fit_companion, inference_settings
from modeling.serving import Predictor
from modeling.train import Progress, train

log = logging.getLogger(__name__)
FIGURES = ("accuracy", "precision", "recall", "f1")
FOLDS_FILE = "folds.json"


def fold_indices(labels, k: int, seed: int) -> list[np.ndarray]:
    """K stratified, shuffled folds of positions (each label's rows dealt evenly), fixed by `seed`."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if np.bincount(y).min() < k:
        raise ValueError(f"{k} folds need at least {k} reviews of each label")
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [held for _, held in splitter.split(np.zeros(len(y)), y)]


def interval(values, *, level: float = 0.95) -> dict:
    """Mean, standard deviation and the Student's t interval of the mean of per-fold figures."""
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    half = float(t.ppf(0.5 + level / 2, len(v) - 1) * sd / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"mean": mean, "sd": sd, "low": mean - half, "high": mean + half}


def cross_validate(config: TrainConfig, data: DatasetDict, *, k: int, seed: int, work_dir: str | Path,
                   device: str = "auto", progress: Progress | None = None, show_progress: bool = False) -> dict:
    """Train and score `config` K times on `data['train']` (see the module); returns each fold's
    figures and, per figure, mean, sd and 95% interval."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    record = work_dir / FOLDS_FILE
    try:
        done = json.loads(record.read_text())
    except (FileNotFoundError, ValueError):  # none yet, or cut short
        done = {}
    split = data["train"]
    # As JSON gives it back (tuples become lists), to compare with the record's.
    key = json.loads(json.dumps({"config": config.to_dict(), "k": k, "seed": seed, "rows": len(split),
                                 "train_sha256": split_hash(split)}))
    if not isinstance(done, dict) or done.get("key") != key:  # another recipe or split: start again,
        done = {"key": key, "folds": []}  # and no fold resumes from weights trained on the other one
        for folder in work_dir.glob("fold-*"):
            shutil.rmtree(folder, ignore_errors=True)
    for i, held in enumerate(fold_indices(split["label"], k, seed)):
        if i < len(done["folds"]):
            continue
        fit = np.setdiff1d(np.arange(len(split)), held)
        fold = DatasetDict(train=split.select(fit), validation=data["validation"], test=split.select(held))
        folder = work_dir / f"fold-{i + 1}"
        if progress is not None:
            progress({"kind": "fold", "fold": i + 1, "of": k})
        model_dir = train(config, fold, work_dir=folder, resume=True, device=device, progress=progress,
                          show_progress=show_progress)
        predictor = Predictor(model_dir, verify=False, inference=inference_settings(config),
                              batch_size=config.eval_batch_size, precision=config.precision)
        texts = list(fold["test"]["text"])
        proba = predictor.transformer_proba(texts, desc=f"fold {i + 1}" if show_progress else None)
        if config.ngram_companion:
            companion = fit_companion(config, fold, predictor, model_dir, show_progress=show_progress)
            proba = combine(proba, companion.predict_proba(texts), companion.weight)
        metrics = metrics_from_proba(fold["test"]["label"], proba)
        done["folds"].append({"fold": i + 1, "n": metrics["n"], "train_rows": len(fit),
                              **{name: metrics[name] for name in FIGURES}})
        partial = record.with_suffix(".partial")
        partial.write_text(json.dumps(done, indent=2))
        os.replace(partial, record)  # a kill leaves the old record or the new one, whole
        shutil.rmtree(folder, ignore_errors=True)
        log.info("fold %d of %d: accuracy %.4f on %d held-out reviews", i + 1, k, metrics["accuracy"], metrics["n"])
    folds = done["folds"]
    return {"k": k, "seed": seed, "folds": folds,
            "summary": {name: interval([f[name] for f in folds]) for name in FIGURES}}
