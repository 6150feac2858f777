"""Train, evaluate and register in one call: what `manage.py train` and the retraining loop run."""

from __future__ import annotations

import functools
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from datasets import DatasetDict

from modeling import registry
from modeling.config import TrainConfig
from modeling.data import split_hash
from modeling.evaluate import evaluate
from modeling.serving import Predictor
from modeling.train import Progress, train, training_summary

log = logging.getLogger(__name__)


def inference_settings(config: TrainConfig) -> dict:
    """How a version must tokenize at prediction time: exactly as it was trained."""
    return {"max_length": config.max_length, "truncation": config.truncation, "head_fraction": config.head_fraction}


def data_description(data: DatasetDict, *, source: str, seed: int) -> dict:
    return {
        "source": source,
        "seed": seed,
        "splits": {name: {"rows": len(split), "sha256": split_hash(split)} for name, split in data.items()},
    }


def build_version(
    config: TrainConfig,
    data: DatasetDict,
    *,
    data_source: str,
    data_seed: int,
    store: str | Path,
    work_dir: str | Path,
    init_from: str | Path | None = None,
    resume: bool = False,
    threads: int = 0,
    eval_splits: tuple[str, ...] = ("validation", "test"),
    progress: Progress | None = None,
    show_progress: bool = True,
    extra_manifest: dict | None = None,
    keep_work_dir: bool = False,
    before_save: Callable[[], None] | None = None,
    frozen_cache=None,
) -> registry.Version:
    """Fine-tune, measure on `eval_splits`, and save a verified version into `store`."""
    started = time.monotonic()
    model_dir = train(
        config, data, work_dir=work_dir, init_from=init_from, resume=resume, threads=threads,
        progress=progress, show_progress=show_progress, frozen_cache=frozen_cache,
    )
    summary = training_summary(model_dir)
    if progress is not None:
        progress({"kind": "evaluate", "splits": list(eval_splits)})
    predictor = Predictor(model_dir, verify=False, inference=inference_settings(config), batch_size=config.eval_batch_size)
    metrics = {}
    for name in eval_splits:
        if name in data:
            t0 = time.monotonic()
            desc = f"evaluating on {name}" if show_progress else None
            metrics[name] = evaluate(functools.partial(predictor.predict_proba, desc=desc), data[name])
            metrics[name]["seconds"] = round(time.monotonic() - t0, 1)
            log.info("%s accuracy %.4f", name, metrics[name]["accuracy"])
    manifest = {
        "base_model": config.base_model,
        "init_from": str(init_from) if init_from else None,
        "train_config": config.to_dict(),
        "inference": inference_settings(config),
        "data": data_description(data, source=data_source, seed=data_seed),
        "metrics": metrics,
        "training": summary,
        "build_seconds": round(time.monotonic() - started, 1),
        **(extra_manifest or {}),
    }
    version = registry.save(store, model_dir, manifest=manifest, before_rename=before_save)
    if not keep_work_dir:
        shutil.rmtree(work_dir, ignore_errors=True)
    return version
