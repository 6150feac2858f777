"""The work the worker process does: training runs (the first model, retrains) and, polled
every few seconds, whatever web processes requested. Also used by the management commands."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from modeling.config import PROFILES, TrainConfig
from modeling.pipeline import build_version
from modeling.train import TrainingInterrupted
from reviews import work
from reviews.data import load
from reviews.models import Explanation, ModelVersion, TrainingRun
from reviews.retraining import fault_point, frozen_cache
from reviews.services import explanation_params, model_version_register

log = logging.getLogger(__name__)

TRAINING_LEASE = "training"


def train_and_register(
    config: TrainConfig,
    *,
    profile: str,
    data_source: str | None = None,
    init_from: Path | None = None,
    work_dir: Path | None = None,
    resume: bool = False,
    progress=None,
    show_progress: bool = False,
    register: bool = True,
):
    """Train a version with the installation's data and store, and register it."""
    source = data_source or settings.SENTIMENT_DATA_SOURCE
    data = load(source)
    if "train" not in data or "validation" not in data:
        raise ValueError(f"data source {source} has no train/validation split (a single file is an evaluation set)")
    version = build_version(
        config,
        data,
        data_source=source,
        data_seed=settings.SENTIMENT_DATA_SEED,
        store=settings.SENTIMENT_MODEL_STORE,
        work_dir=work_dir or settings.SENTIMENT_CACHE_DIR / "training" / profile,
        init_from=init_from,
        resume=resume,
        threads=settings.SENTIMENT_TORCH_THREADS,
        progress=progress,
        show_progress=show_progress,
        extra_manifest={"profile": profile},
        frozen_cache=frozen_cache(),
    )
    row = model_version_register(version_id=version.id, profile=profile) if register else None
    return version, row


@contextmanager
def keep_alive(row, *, lease: str | None = None, holder: str = "", interval: float = 10.0, lease_ttl: timedelta | None = None):
    """Beat the row's heartbeat (and renew a lease) from a side thread while a long step runs,
    so a busy worker is never mistaken for a dead one. `lost` is set if the claim is lost."""
    stop, lost = threading.Event(), threading.Event()

    def loop():
        try:
            while not stop.wait(interval):
                if not work.beat(row):
                    lost.set()
                if lease and not work.lease_renew(lease, holder=holder, ttl=lease_ttl):
                    lost.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop, name=f"keep-alive-{row.pk}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


def run_training(run: TrainingRun, *, worker_id: str, stop: threading.Event | None = None) -> bool:
    """Do a claimed training run under the training lease; True if it ran to an end.

    An interrupted run (worker stopping) goes back to pending and resumes from its checkpoint.
    """
    ttl = timedelta(seconds=settings.SENTIMENT_LEASE_SECONDS)
    if not work.lease_acquire(TRAINING_LEASE, holder=worker_id, ttl=ttl):
        work.release(run, delay=timedelta(seconds=30), reason=f"waiting for the training lease ({work.lease_holder(TRAINING_LEASE)})")
        return False
    try:
        if run.profile in PROFILES:
            config = PROFILES[run.profile]
            config = TrainConfig.from_dict({**config.to_dict(), "base_model": settings.SENTIMENT_BASE_MODEL})
        last = {"at": 0.0}

        with keep_alive(run, lease=TRAINING_LEASE, holder=worker_id, lease_ttl=ttl) as lost:

            def progress(event: dict) -> None:
                if event.get("kind") == "step" and event.get("step", 0) >= 2:
                    fault_point("during_training")
                if (stop is not None and stop.is_set()) or lost.is_set():
                    raise TrainingInterrupted("the worker is stopping" if not lost.is_set() else "the claim was lost")
                now = time.monotonic()
                if event.get("kind") != "step" or now - last["at"] >= 2.0:
                    last["at"] = now
                    TrainingRun.objects.filter(pk=run.pk).update(progress=event)

            def handler(row):
                if run.trigger != TrainingRun.Trigger.FIRST_RUN:
                    from reviews.retraining import retrain

                    return retrain(run, progress=progress)
                version, registered = train_and_register(
                    config, profile=run.profile, work_dir=settings.SENTIMENT_CACHE_DIR / "training" / f"run-{run.pk}",
                    resume=True, progress=progress,
                )
                test = version.metrics.get("test", {}).get("accuracy")
                return {
                    "model_version": registered,
                    "progress": {"kind": "done", "version": version.id, "test_accuracy": test},
                    "log": f"trained {version.id} in {version.manifest['build_seconds']:.0f} s; test accuracy {test}",
                }

            try:
                return work.run_claimed(run, handler, passthrough=(TrainingInterrupted,))
            except TrainingInterrupted as exc:
                work.release(run, delay=timedelta(seconds=0), reason=f"interrupted: {exc}")
                return False
    finally:
        work.lease_release(TRAINING_LEASE, holder=worker_id)


def drain(model, handle, *, stop: threading.Event | None = None) -> int:
    """Requeue `model`'s stale rows, then claim and handle pending ones until none is left
    (or `handle` says to stop by returning None). Returns how many were handled."""
    work.requeue_stale(model, stale_after=timedelta(seconds=settings.SENTIMENT_STALE_SECONDS), max_attempts=3)
    done = 0
    while stop is None or not stop.is_set():
        outcome = handle()
        if outcome is None:
            break
        done += outcome
    return done


def process_training_runs(*, worker_id: str, stop: threading.Event | None = None) -> int:
    """Claim and run pending training runs (one at a time: the lease) until none is left."""

    def handle():
        run = work.claim_next(TrainingRun, worker_id=worker_id)
        if run is None or not run_training(run, worker_id=worker_id, stop=stop):
            return None  # nothing to do, or it could not run now (lease held, interrupted)
        return 1

    return drain(TrainingRun, handle, stop=stop)


def scheduled(job):
    """Wrap a job for the scheduler's threads: fresh database connections around each run (a
    long-lived worker must not keep a connection the database has dropped)."""

    def run(**kwargs):
        close_old_connections()
        try:
            return job(**kwargs)
        finally:
            close_old_connections()

    run.__name__ = job.__name__
    return run


def request_first_model() -> TrainingRun | None:
    """Queue the first model's training when no version exists and none is queued yet."""
    from reviews.services import training_run_request

    if ModelVersion.objects.exists():
        return None
    run, _ = training_run_request(trigger=TrainingRun.Trigger.FIRST_RUN, profile="quick")
    return run


def heartbeat(*, worker_id: str, started_at, doing: str = "") -> None:
    import os
    import socket

    from reviews.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"hostname": socket.gethostname(), "pid": os.getpid(), "started_at": started_at,
                  "last_seen": timezone.now(), "doing": doing[:255]},
    )


# --- explanations ---------------------------------------------------------------------------

_explainers: dict[tuple, object] = {}
_explainers_lock = threading.Lock()


def explain_precision() -> str:
    """How perturbed texts are classified (SENTIMENT_EXPLAIN_PRECISION): "auto" is a copy of the
    model with bf16 weights where the CPU computes bf16 natively (all in bf16: faster than the
    served autocast, and a probability moves by about 0.01) and an int8 copy elsewhere
    (benchmarks/explain.py)."""
    from modeling.precision import resolve

    mode = settings.SENTIMENT_EXPLAIN_PRECISION
    if mode != "auto":
        return mode
    return "bf16-weights" if resolve(settings.SENTIMENT_PRECISION, "cpu") == "bf16" else "int8"


def explainer_for(version: ModelVersion):
    """The predictor that classifies a version's perturbed texts: the settings chosen by
    benchmarks/explain.py (precision, max_length, batch size, compiled). Kept per version,
    precision and max_length (the last two kept); the batch size and compiling are read when it
    is made. With SENTIMENT_EXPLAIN_COMPILE its forward pass is compiled in a thread;
    explanations use the eager one until that is done."""
    from modeling.serving import Predictor

    mode = explain_precision()
    max_length = settings.SENTIMENT_EXPLAIN_MAX_LENGTH or None
    key = (version.id, mode, max_length)
    with _explainers_lock:
        predictor = _explainers.get(key)
        if predictor is None:
            predictor = Predictor(
                version.path,
                batch_size=settings.SENTIMENT_EXPLAIN_BATCH_SIZE,
                threads=settings.SENTIMENT_TORCH_THREADS,
                max_length=max_length,
                precision=mode,
            )
            while len(_explainers) >= 2:
                _explainers.pop(next(iter(_explainers)))
            _explainers[key] = predictor
            if settings.SENTIMENT_EXPLAIN_COMPILE:
                threading.Thread(target=predictor.compile, name=f"compile-{version.id}", daemon=True).start()
        return predictor


def prepare_explainer() -> None:
    """Load the active version's explainer (and start compiling it) before anyone asks, so the
    first explanation after the worker starts or a version is activated does not wait for it."""
    from reviews.selectors import model_version_active

    version = model_version_active()
    if version is not None:
        explainer_for(version)


def compute_explanation(row: Explanation) -> dict:
    from modeling.explain import explain

    row = Explanation.objects.select_related("prediction__review", "model_version").get(pk=row.pk)
    predictor = explainer_for(row.model_version)
    # A row carries the settings it was asked with; older rows may lack some.
    params = {**explanation_params(), **row.params}
    compiled = predictor.compiled  # if compiling ends midway, the first calls ran uncompiled
    result = explain(row.prediction.review.text, predictor.predict_proba, **params)
    result["settings"] = {"precision": predictor.precision, "max_length": predictor.max_length, "compiled": compiled}
    return {"result": result}


def process_explanations(*, worker_id: str, stop: threading.Event | None = None) -> int:
    """Compute pending explanations (each failure recorded, never fatal) until none is left."""

    def handle():
        row = work.claim_next(Explanation, worker_id=worker_id)
        if row is None:
            return None
        with keep_alive(row):
            work.run_claimed(row, compute_explanation)
        return 1

    return drain(Explanation, handle, stop=stop)
