"""The feedback loop: retrain on IMDb replay plus approved corrections, gate, promote.

Runs in the worker, inside a claimed TrainingRun and under the training lease (reviews.jobs).
Nothing is marked as used and nothing is activated until the very end, so a run killed at any
point leaves the active model and the corrections as they were.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import numpy as np
from datasets import DatasetDict, concatenate_datasets
from django.conf import settings

from modeling.config import LABEL2ID, TrainConfig
from modeling.data import clean_text, split_hash
from modeling.frozen_cache import FrozenCache
from modeling.pipeline import build_version
from modeling.retrain import Correction, GateConfig, MixConfig, RetrainSchedule, assemble_mix, gate, retrain_config
from modeling.serving import Predictor
from reviews.data import load
from reviews.models import Feedback, ModelVersion, TrainingRun
from reviews.selectors import model_version_active
from reviews.services import model_version_register, training_run_promote, training_run_request

log = logging.getLogger(__name__)


def frozen_cache() -> FrozenCache:
    """The installation's cache of frozen-layer outputs (shared by retrains and `train`)."""
    return FrozenCache(settings.SENTIMENT_CACHE_DIR / "frozen", max_bytes=settings.SENTIMENT_FROZEN_CACHE_MAX_BYTES)


def fault_point(name: str) -> None:
    """Fault injection for the kill tests: SENTIMENT_FAULT=<name> makes the process SIGKILL
    itself here. Unset in normal operation."""
    if os.environ.get("SENTIMENT_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def unused_corrections() -> list[Correction]:
    """Approved corrections not held out and not yet used by a promoted run."""
    rows = Feedback.objects.filter(
        status=Feedback.Status.APPROVED, is_holdout=False, training_run__isnull=True
    ).select_related("prediction__review")
    return [Correction(f.pk, f.prediction.review.text, f.corrected_label, f.reporter) for f in rows.order_by("pk")]


def holdout_corrections() -> tuple[list[str], list[int]]:
    rows = Feedback.objects.filter(status=Feedback.Status.APPROVED, is_holdout=True).select_related("prediction__review")
    rows = list(rows.order_by("pk"))
    return [f.prediction.review.text for f in rows], [LABEL2ID[f.corrected_label] for f in rows]


def best_full_accuracy() -> float | None:
    best = ModelVersion.objects.filter(profile="full").exclude(status=ModelVersion.Status.REJECTED)
    values = [v.test_accuracy for v in best if v.test_accuracy is not None]
    return max(values) if values else None


def _accuracy(path, texts: list[str], labels: list[int]) -> float | None:
    if not texts:
        return None
    proba = Predictor(path, threads=settings.SENTIMENT_TORCH_THREADS, precision=settings.SENTIMENT_PRECISION).predict_proba(texts)
    return float((proba.argmax(1) == np.asarray(labels)).mean())


def retrain_schedule() -> RetrainSchedule:
    """The loop's fine-tuning schedule, from the SENTIMENT_RETRAIN_* settings."""
    return RetrainSchedule(
        from_base=settings.SENTIMENT_RETRAIN_FROM == "base",
        epochs=settings.SENTIMENT_RETRAIN_EPOCHS,
        lr=settings.SENTIMENT_RETRAIN_LR,
        top_k=settings.SENTIMENT_RETRAIN_TOP_K,
    )


def mix_config(*, seed: int) -> MixConfig:
    """A retrain's training mix, from the SENTIMENT_RETRAIN_* settings (`seed`: the run's)."""
    return MixConfig(
        replay_size=settings.SENTIMENT_RETRAIN_REPLAY_SIZE,
        oversample=settings.SENTIMENT_RETRAIN_OVERSAMPLE,
        max_feedback_share=settings.SENTIMENT_RETRAIN_MAX_FEEDBACK_SHARE,
        max_per_person=settings.SENTIMENT_RETRAIN_MAX_PER_PERSON,
        seed=seed,
        replay_seed=settings.SENTIMENT_RETRAIN_REPLAY_SEED,
    )


def retrain(run: TrainingRun, *, progress=None) -> dict:
    """Train a candidate from the active model, gate it, and promote or reject it. Returns the
    TrainingRun fields to store; raises (and the run is marked failed) when it cannot run."""
    started = time.monotonic()
    active = model_version_active()
    if active is None:
        raise RuntimeError("no active model to retrain; the first model must exist first")
    source = active.data.get("source") or settings.SENTIMENT_DATA_SOURCE
    seed = active.data.get("seed", settings.SENTIMENT_DATA_SEED)
    data = load(source, seed=seed)
    expected = (active.data.get("splits") or {}).get("test", {}).get("sha256")
    if expected != split_hash(data["test"]):
        raise RuntimeError(
            f"the test split of {source} (sha256 {split_hash(data['test'])[:12]}) differs from the one the active "
            f"model was measured on ({(expected or 'unknown')[:12]}); the candidate cannot be compared"
        )

    corrections = unused_corrections()
    mix, counts, used_ids = assemble_mix(
        data["train"],
        corrections,
        mix_config(seed=run.pk),
    )
    holdout_texts, holdout_labels = holdout_corrections()
    counts["holdout"] = len(holdout_texts)
    TrainingRun.objects.filter(pk=run.pk).update(counts=counts, correction_ids=used_ids)

    schedule = retrain_schedule()
    parent_config = TrainConfig.from_dict(active.train_config) if active.train_config else None
    config = retrain_config(parent_config, schedule, base_model=settings.SENTIMENT_BASE_MODEL, seed=run.pk)
    # An n-gram companion (if the active model has one) is refitted in seconds on every training
    # review plus the corrections, not only on the replay sample the transformer sees.
    ngram_data = None
    if config.ngram_companion:
        used = set(used_ids)
        used_texts = {clean_text(c.text) for c in corrections if c.id in used}
        ngram_data = concatenate_datasets([data["train"], mix.filter(lambda row: row["text"] in used_texts)])
    version = build_version(
        config,
        DatasetDict({"train": mix, "validation": data["validation"], "test": data["test"]}),
        data_source=source,
        data_seed=seed,
        store=settings.SENTIMENT_MODEL_STORE,
        work_dir=settings.SENTIMENT_CACHE_DIR / "training" / f"run-{run.pk}",
        init_from=None if schedule.from_base else active.path,
        resume=True,
        threads=settings.SENTIMENT_TORCH_THREADS,
        eval_splits=("test",),
        progress=progress,
        show_progress=False,
        extra_manifest={"profile": "retrain", "training_run": run.pk, "mix": counts, "parent": active.id},
        before_save=lambda: fault_point("before_rename"),
        frozen_cache=frozen_cache(),
        ngram_data=ngram_data,
    )
    candidate = model_version_register(version_id=version.id, profile="retrain")

    candidate_test = version.metrics["test"]["accuracy"]
    holdout_candidate = _accuracy(candidate.path, holdout_texts, holdout_labels)
    holdout_active = _accuracy(active.path, holdout_texts, holdout_labels)
    result = gate(
        candidate_test=candidate_test,
        active_test=active.test_accuracy,
        best_full_test=best_full_accuracy(),
        holdout_candidate=holdout_candidate,
        holdout_active=holdout_active,
        holdout_n=len(holdout_texts),
        config=GateConfig(
            tolerance=settings.SENTIMENT_GATE_TOLERANCE,
            floor_margin=settings.SENTIMENT_GATE_FLOOR_MARGIN,
            holdout_min=settings.SENTIMENT_GATE_HOLDOUT_MIN,
            holdout_margin=settings.SENTIMENT_GATE_HOLDOUT_MARGIN,
        ),
    )
    metrics = {
        "candidate": {"test": version.metrics["test"], "holdout_accuracy": holdout_candidate},
        "active": {"id": active.id, "test": active.metrics.get("test"), "holdout_accuracy": holdout_active},
    }
    fields = {
        "model_version": candidate,
        "reasons": result.checks,
        "metrics": metrics,
        "duration_s": round(time.monotonic() - started, 1),
    }
    summary = "; ".join(f"{c['check']}: {'ok' if c['passed'] else 'FAILED'} ({c['detail']})" for c in result.checks)
    if not result.passed:
        ModelVersion.objects.filter(pk=candidate.pk).update(status=ModelVersion.Status.REJECTED, status_reason=summary)
        return {**fields, "decision": TrainingRun.Decision.REJECTED,
                "log": f"candidate {candidate.id} rejected by the gate: {summary}"}
    TrainingRun.objects.filter(pk=run.pk).update(**fields, decision=TrainingRun.Decision.AWAITING)
    run.refresh_from_db()
    if settings.SENTIMENT_RETRAIN_AUTO_PROMOTE:
        training_run_promote(run=run, user=None)
        return {**fields, "decision": TrainingRun.Decision.PROMOTED,
                "log": f"candidate {candidate.id} passed the gate and was promoted: {summary}"}
    return {**fields, "decision": TrainingRun.Decision.AWAITING,
            "log": f"candidate {candidate.id} passed the gate; waiting for staff to promote it: {summary}"}


def maybe_schedule_retrain() -> TrainingRun | None:
    """The scheduled check: queue a retrain when enough approved corrections are waiting."""
    waiting = Feedback.objects.filter(status=Feedback.Status.APPROVED, is_holdout=False, training_run__isnull=True).count()
    if waiting < settings.SENTIMENT_RETRAIN_MIN_CORRECTIONS or model_version_active() is None:
        log.info("retrain not needed: %d correction(s) waiting, %d needed", waiting, settings.SENTIMENT_RETRAIN_MIN_CORRECTIONS)
        return None
    run, created = training_run_request(trigger=TrainingRun.Trigger.SCHEDULE)
    return run if created else None

