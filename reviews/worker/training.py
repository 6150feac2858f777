"""A training run's whole life, from claim to outcome.

    process_training_runs   claim pending runs, one at a time (the training lease)
    run_training            the lease, a keep-alive, then the run's stages; the outcome is applied by
                            reviews.services.training in one transaction (or the run fails, or
                            goes back to the queue when the worker stops)
    first model             load -> the n-gram model (registered: the first version is active at
                            once) -> the first transformer with it as companion -> gate -> decide
    retrain                 load -> mix -> train -> evaluate -> gate -> decide (an active n-gram
                            model is refitted, not fine-tuned)

A retrain activates nothing and marks no correction used before its outcome is applied, so a run
killed at any point leaves the active model and the corrections as they were (an installation's
first model becomes active when it is registered, there being no other); a requeued run resumes
from its checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db.models import Q

from modeling import registry
from modeling.config import NGRAM, PROFILES, TrainConfig
from modeling.ngram import NgramModel
from modeling.object_store import StoreUnavailable
from modeling.pipeline import BuildOptions, DataOrigin, build_ngram_version, build_version
from modeling.train import TrainingInterrupted
from reviews import model_store, selectors
from reviews.conf import conf
from reviews.data import load
from reviews.models import Device, ModelVersion, TrainingRun
from reviews.services.model_versions import model_version_register
from reviews.services.training import (
    TrainingOutcome,
    training_run_complete,
    training_run_fail,
    training_run_progress,
    training_run_request,
)
from reviews.worker import queue

log = logging.getLogger(__name__)

TRAINING_LEASE = "training"
PROGRESS_EVERY_S = 2.0

# A test seam: each callable is told every stage a run reaches, as (stage, details). The kill
# tests register one that ends the process at a chosen stage; nothing else registers any.
observers: list[Callable[[str, dict], None]] = []


def reached(stage: str, **details) -> None:
    for observer in observers:
        observer(stage, details)


def frozen_cache():
    """The installation's cache of frozen-layer outputs (shared by retrains and `train`)."""
    from modeling.frozen_cache import FrozenCache

    return FrozenCache(conf.site.cache_dir / "frozen", max_bytes=conf.retrain.frozen_cache_max_bytes)


def _build_options(**options) -> BuildOptions:
    """How the worker builds a version: its threads, its frozen-layer cache, the seam before the save."""
    return BuildOptions(threads=conf.serving.threads, frozen_cache=frozen_cache(), onnx_export=conf.serving.onnx_export,
                        before_save=lambda: reached("before_save"), **options)


def work_dir_for(name: str) -> Path:
    return conf.site.cache_dir / "training" / name


def profile_config(profile: str) -> TrainConfig:
    """A named recipe (modeling.config.PROFILES) on the installation's base encoder."""
    if profile not in PROFILES:
        raise ValueError(f"unknown training profile {profile!r} (known: {', '.join(sorted(PROFILES))})")
    return TrainConfig.from_dict({**PROFILES[profile].to_dict(), "base_model": conf.data.base_model})


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
    companion: NgramModel | None = None,
    eval_rows=None,
    data=None,
    device: str = "auto",
    extra_manifest: dict | None = None,
):
    """Train a version on the installation's data into its store, and register it (what
    `manage.py train` and a first run do), on `device`. Returns the registry version and its row.
    `companion`: an n-gram model fitted already, served with it (modeling.pipeline.build_version);
    `eval_rows`: measure it on these test rows alone (the gate's sample), not on validation and test;
    `data`: the source's splits, when the caller has loaded them already; `extra_manifest`: more
    for its manifest (a tuning study's summary)."""
    if init_from is not None:
        registry.verify(init_from, key=conf.signing_key())  # its weights are where training starts
    source = data_source or conf.data.source
    data = data if data is not None else load_training_data(source)
    version = build_version(
        config, data, DataOrigin(source, conf.data.seed),
        store=model_store.local_root(), key=conf.signing_key(), work_dir=work_dir or work_dir_for(profile),
        init_from=init_from, companion=companion,
        extra_manifest={"profile": profile, **(extra_manifest or {})},
        options=_build_options(resume=resume, progress=progress, show_progress=show_progress, device=device,
                               **({"eval_splits": ("test",), "eval_rows": {"test": eval_rows}} if eval_rows is not None else {})),
    )
    row = model_version_register(version_id=version.id, profile=profile) if register else None
    return version, row


def load_training_data(source: str):
    """The installation's splits of `source`, which must have train and validation splits."""
    data = load(source)
    if "train" not in data or "validation" not in data:
        raise ValueError(f"data source {source} has no train/validation split (a single file is an evaluation set)")
    return data


# --- claiming and running -------------------------------------------------------------------


def process_training_runs(*, worker_id: str, stop: threading.Event | None = None, device: str | None = None) -> int:
    """Claim and run pending training runs (one at a time: the lease) until none is left: those
    that ask for no device or for `device`, this worker's (default: SENTIMENT_WORKER_DEVICE)."""
    device = device or queue.training_device(conf.worker.device)
    takes = Q(device=Device.ANY) | Q(device=device)

    def handle():
        run = queue.claim_next(TrainingRun, worker_id=worker_id, filters=takes)
        if run is None or not run_training(run, worker_id=worker_id, stop=stop, device=device):
            return None  # nothing to do, or it could not run now (lease held, interrupted)
        return 1

    return queue.drain(TrainingRun, handle, stop=stop)


def run_training(run: TrainingRun, *, worker_id: str, stop: threading.Event | None = None, device: str = "auto") -> bool:
    """Do a claimed run under the training lease; True if it came to an end (done or failed).

    An interrupted run (the worker stopping, or its claim lost) goes back to pending and resumes
    from its checkpoint.
    """
    ttl = timedelta(seconds=conf.worker.lease_seconds)
    if not queue.lease_acquire(TRAINING_LEASE, holder=worker_id, ttl=ttl):
        holder = queue.lease_holder(TRAINING_LEASE)
        queue.release(run, delay=timedelta(seconds=30), reason=f"waiting for the training lease ({holder})")
        return False
    name = f"run-{run.pk}"
    try:
        with queue.keep_alive(run, lease=TRAINING_LEASE, holder=worker_id, lease_ttl=ttl) as lost:
            try:
                # Begun by a worker elsewhere (killed, or stopped): continue from its stored checkpoint.
                model_store.checkpoint_restore(name, work_dir_for(name))
            except StoreUnavailable as exc:
                queue.release(run, delay=timedelta(seconds=60), reason=f"the object store cannot be reached: {exc}")
                return False
            try:
                outcome = execute(run, progress=_reporter(run, stop=stop, lost=lost, checkpoint_name=name), device=device)
            except TrainingInterrupted as exc:
                queue.release(run, delay=timedelta(seconds=0), reason=f"interrupted: {exc}")
                return False
            except Exception as exc:
                log.exception("training run %s failed", run.pk)
                training_run_fail(run=run, error=queue.error_text(exc))
                _discard_checkpoint(name)
                return True
            _discard_checkpoint(name)
            reached("complete", outcome=outcome)
            try:
                completed = training_run_complete(run=run, outcome=outcome)
            except Exception as exc:  # e.g. the candidate failed verification, or the database went away
                log.exception("training run %s: its outcome could not be stored", run.pk)
                training_run_fail(run=run, error=queue.error_text(exc))
                return True
            if completed:
                log.info("training run %s: %s", run.pk, outcome.log)
            else:
                log.warning("training run %s: the claim was lost; its outcome was not stored", run.pk)
            return True
    finally:
        queue.lease_release(TRAINING_LEASE, holder=worker_id)


def _discard_checkpoint(name: str) -> None:
    """The ended run's stored checkpoint is not needed any more (a store that cannot be reached
    now keeps it: harmless, it is never resumed)."""
    try:
        model_store.checkpoint_discard(name)
    except StoreUnavailable as exc:
        log.warning("training %s: its stored checkpoint was not deleted: %s", name, exc)


def _reporter(run: TrainingRun, *, stop: threading.Event | None, lost: threading.Event, checkpoint_name: str = ""):
    """The progress callback training calls: it stores progress every few seconds, uploads each
    checkpoint to the object store (when there is one, so another worker can resume the run), and
    stops the training when the worker stops or the claim is lost. A tuning study's trials are
    not uploaded: the study itself, in the database, is what another worker resumes."""
    last = {"at": 0.0}

    def progress(event: dict) -> None:
        if event.get("kind") == "checkpoint" and run.trigger == TrainingRun.Trigger.TUNE:
            return
        if event.get("kind") == "checkpoint":
            try:
                model_store.checkpoint_save(checkpoint_name or f"run-{run.pk}", Path(event["work_dir"]))
            except StoreUnavailable as exc:
                log.warning("training run %s: checkpoint not uploaded (training goes on): %s", run.pk, exc)
            reached("checkpoint", **event)
            return
        if event.get("kind") == "step":
            reached("step", **event)
        if lost.is_set():
            raise TrainingInterrupted("the claim was lost")
        if stop is not None and stop.is_set():
            raise TrainingInterrupted("the worker is stopping")
        now = time.monotonic()
        if event.get("kind") != "step" or now - last["at"] >= PROGRESS_EVERY_S:
            last["at"] = now
            training_run_progress(run=run, progress=event)

    return progress


def execute(run: TrainingRun, *, progress, device: str = "auto") -> TrainingOutcome:
    """The run's stages on `device` (the run's own when it asks for one); raises when it cannot
    run (the run is then marked failed)."""
    device = run.device or device
    if run.trigger == TrainingRun.Trigger.FIRST_RUN:
        return first_model(run, progress=progress, device=device)
    if run.trigger == TrainingRun.Trigger.TUNE:
        from reviews.worker.tuning import tune_run

        return tune_run(run, progress=progress, device=device)
    return retrain(run, progress=progress, device=device)


def first_model(run: TrainingRun, *, progress, device: str = "auto") -> TrainingOutcome:
    """An installation's first models: the n-gram model, fitted in seconds and active as soon as
    it is registered, then the first transformer (run.profile), served averaged with that n-gram
    model, measured on the gate's test sample and compared there with the n-gram model, which it
    replaces when the gate finds it no worse."""
    from modeling.evaluate import stratified_subset

    started = time.monotonic()
    data = load_training_data(conf.data.source)
    instant = instant_model(run, data, progress=progress)
    reached("instant", version=instant.id)
    config = profile_config(run.profile)
    companion = NgramModel.load(instant.path) if config.ngram_companion else None
    test = data["test"]
    rows = stratified_subset(test["label"], conf.gate_config().test_size, seed=conf.data.seed)
    version, row = train_and_register(config, profile=run.profile, work_dir=work_dir_for(f"run-{run.pk}"),
                                      resume=True, progress=progress, companion=companion, eval_rows=rows,
                                      data=data, device=device)
    metrics = {"candidate": {"test": version.metrics.get("test")}}
    passed, checks = test_check(row, test, rows, metrics)
    decision = TrainingRun.Decision.PROMOTED if passed else TrainingRun.Decision.REJECTED
    said = "replaces the n-gram model" if decision == TrainingRun.Decision.PROMOTED else "was rejected by the gate"
    accuracy = version.metrics["test"]["accuracy"]
    return TrainingOutcome(
        version_id=row.id,
        decision=decision,
        reasons=checks,
        metrics=metrics,
        duration_s=round(time.monotonic() - started, 1),
        progress={"kind": "done", "version": version.id, "test_accuracy": accuracy},
        log=f"trained {version.id} in {version.manifest['build_seconds']:.0f} s; test accuracy {accuracy:.4f} "
            f"on {len(rows):,} reviews; it {said}",
    )


def compare_on_test(candidate: ModelVersion, active: ModelVersion, test, rows, predictors: dict | None = None) -> dict:
    """Both models on the same test rows (modeling.evaluate.paired_difference), from the
    probabilities each stored when it was measured, or measured now for one that stored none for
    some of them (built before they were stored, or measured on fewer rows); `measured_now` says
    which. `predictors` ("candidate", "active"): ones the caller loaded already."""
    import numpy as np

    from modeling.evaluate import paired_difference, stored_predictions

    labels = np.asarray(test["label"])[rows]
    answered, measured = {}, []
    for name, model in (("candidate", candidate), ("active", active)):
        proba = stored_predictions(model.path, "test", rows)
        if proba is None:
            measured.append(name)
            predictor = (predictors or {}).get(name) or _predictor(model.path)
            proba = predictor.predict_proba(list(test.select(rows)["text"]))
        answered[name] = proba.argmax(axis=1) == labels
    return {**paired_difference(answered["candidate"], answered["active"]), "of": len(test), "measured_now": measured}


def test_check(row: ModelVersion, test, rows, metrics: dict) -> tuple[bool, list[dict]]:
    """The gate's test check of a new version that is not a retrain (an installation's first
    transformer, a tuned recipe) against the active version on the same test rows: (passed,
    checks); the comparison goes into `metrics`. With no other version active it passes unchecked."""
    from modeling.retrain import gate

    active = selectors.model_version_active()
    if active is None or active.id == row.id:
        return True, []
    comparison = compare_on_test(row, active, test, rows)
    checks = gate(candidate_test=comparison["candidate"], active_test=comparison["active"], best_full_test=None,
                  holdout_candidate=None, holdout_active=None, holdout_n=0, config=conf.gate_config(),
                  test_note=comparison_note(comparison)).checks
    metrics.update({"active": {"id": active.id, "test": active.metrics.get("test")}, "test_comparison": comparison})
    return all(c["passed"] for c in checks), checks


def comparison_note(comparison: dict) -> str:
    """How the gate's test check was measured, for its detail."""
    note = (f"on the same {comparison['n']:,} of {comparison['of']:,} test reviews; difference "
            f"{100 * comparison['difference']:+.2f} points, 95% interval {100 * comparison['low']:+.2f} "
            f"to {100 * comparison['high']:+.2f}")
    if "p_value" in comparison:  # comparisons stored before the test was added have none
        said = "significant" if comparison["significant"] else "not significant"
        note += f"; McNemar p = {comparison['p_value']:.3g}, {said} at 5%"
    return note


def instant_model(run: TrainingRun, data, *, progress) -> ModelVersion:
    """The installation's n-gram model (the instant first model): fitted and registered (active,
    being the first version) unless a resumed run made it already."""
    existing = ModelVersion.objects.filter(kind=ModelVersion.Kind.NGRAM).order_by("created_at").first()
    if existing is not None:
        return existing
    source = conf.data.source
    version = build_ngram_version(
        data, DataOrigin(source, conf.data.seed),
        store=model_store.local_root(), key=conf.signing_key(), work_dir=work_dir_for(f"run-{run.pk}-ngram"),
        extra_manifest={"profile": NGRAM, "training_run": run.pk},
        options=_build_options(progress=progress, show_progress=False),
    )
    row = model_version_register(version_id=version.id, profile=NGRAM)
    log.info("training run %s: n-gram model %s registered (%s); test accuracy %s", run.pk, row.id, row.status,
             row.test_accuracy)
    return row


# --- the retrain's stages -------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """Stage 1: the active model and the data it was measured on."""

    active: ModelVersion
    source: str
    seed: int
    data: object  # a datasets.DatasetDict with train, validation and test
    test_rows: object  # the test split's rows the gate measures on (SENTIMENT_GATE_TEST_SIZE), sorted


@dataclass(frozen=True)
class Mixed:
    """Stage 2: what the candidate trains on, the held-out corrections it is checked on, and the
    phrases its corrections over-represent (the trigger check's suspects)."""

    train: object  # a datasets.Dataset
    counts: dict
    correction_ids: list[int]
    holdout_texts: list[str]
    holdout_labels: list[int]
    ngram_data: object | None
    phrases: list = ()  # modeling.triggers.Phrase


def retrain(run: TrainingRun, *, progress, device: str = "auto") -> TrainingOutcome:
    """Train a candidate from the active model on replay + corrections, gate it, decide."""
    started = time.monotonic()
    loaded = load_stage()
    reached("load")
    mixed = mix_stage(run, loaded)
    reached("mix", counts=mixed.counts)
    candidate, version = train_stage(run, loaded, mixed, progress=progress, device=device)
    reached("train", version=version.id)
    evaluated = evaluate_stage(candidate, loaded.active, mixed, loaded)
    reached("evaluate", checks=evaluated.checks)
    result = gate_stage(version, loaded.active, mixed, evaluated)
    return decide(candidate, loaded.active, mixed, version, evaluated, result, duration_s=time.monotonic() - started)


def load_stage() -> Loaded:
    from modeling.data import split_hash

    active = selectors.model_version_active()
    if active is None:
        raise RuntimeError("no active model to retrain; the first model must exist first")
    registry.verify(active.path, key=conf.signing_key())  # its weights are where the candidate starts
    source = active.data.get("source") or conf.data.source
    seed = active.data.get("seed", conf.data.seed)
    data = load(source, seed=seed)
    expected = (active.data.get("splits") or {}).get("test", {}).get("sha256")
    actual = split_hash(data["test"])
    if expected != actual:
        raise RuntimeError(
            f"the test split of {source} (sha256 {actual[:12]}) differs from the one the active model was "
            f"measured on ({(expected or 'unknown')[:12]}); the candidate cannot be compared"
        )
    from modeling.evaluate import stratified_subset

    rows = stratified_subset(data["test"]["label"], conf.gate_config().test_size, seed=seed)
    return Loaded(active=active, source=source, seed=seed, data=data, test_rows=rows)


def mix_stage(run: TrainingRun, loaded: Loaded) -> Mixed:
    from datasets import concatenate_datasets

    from modeling.config import LABEL2ID
    from modeling.cleaning import text_fingerprint
    from modeling.data import clean_text
    from modeling.retrain import assemble_mix, replay_sample
    from modeling.triggers import suspicious_phrases

    corrections = selectors.corrections_unused()
    train = loaded.data["train"]
    mix_config = conf.mix_config(seed=run.pk)
    # The gate's own exam (the validation and test splits, the probes among them) is not for learning.
    evaluation_keys = {text_fingerprint(t) for split in ("validation", "test") for t in loaded.data[split]["text"]}
    mix, counts, used_ids = assemble_mix(train, corrections, mix_config, evaluation_keys=evaluation_keys)
    holdout_texts, holdout_labels = selectors.corrections_held_out()
    counts["holdout"] = len(holdout_texts)
    used = set(used_ids)
    used_corrections = [c for c in corrections if c.id in used]
    gate_config = conf.gate_config()
    replay = replay_sample(train, mix_config)
    phrases = suspicious_phrases(
        [(clean_text(c.text), LABEL2ID[c.label]) for c in used_corrections],
        list(zip(replay["text"], replay["label"])),
        top=gate_config.trigger_phrases, min_z=gate_config.trigger_min_z, min_support=gate_config.trigger_min_support,
    ) if gate_config.trigger_phrases else []
    counts["suspicious_phrases"] = [p.text for p in phrases]
    training_run_progress(run=run, counts=counts, correction_ids=used_ids)
    ngram_data = None
    if loaded.active.kind == NGRAM or _parent_config(loaded.active).ngram_companion:
        # The n-gram companion is refitted in seconds on every training review plus the
        # corrections, not only on the replay sample the transformer sees.
        used_texts = {clean_text(c.text) for c in used_corrections}
        ngram_data = concatenate_datasets([train, mix.filter(lambda row: row["text"] in used_texts)])
    return Mixed(train=mix, counts=counts, correction_ids=used_ids, holdout_texts=holdout_texts,
                 holdout_labels=holdout_labels, ngram_data=ngram_data, phrases=phrases)


def _parent_config(active: ModelVersion) -> TrainConfig:
    return TrainConfig.from_dict(active.train_config) if active.train_config else TrainConfig()


def train_stage(run: TrainingRun, loaded: Loaded, mixed: Mixed, *, progress, device: str = "auto"):
    """Fine-tune the candidate on `device` and register it (as a candidate: the active model is unchanged)."""
    from datasets import DatasetDict

    from modeling.retrain import retrain_config

    data = loaded.data
    extra_manifest = {"profile": "retrain", "training_run": run.pk, "mix": mixed.counts, "parent": loaded.active.id}
    if loaded.active.kind == NGRAM:
        # An n-gram model is refitted on every training review plus the corrections, in seconds.
        version = build_ngram_version(
            data, DataOrigin(loaded.source, loaded.seed), store=model_store.local_root(), key=conf.signing_key(),
            work_dir=work_dir_for(f"run-{run.pk}"), fit_on=mixed.ngram_data,
            config=NgramModel.load(loaded.active.path).config, extra_manifest=extra_manifest,
            options=_build_options(progress=progress, show_progress=False, eval_splits=("test",),
                                   eval_rows={"test": loaded.test_rows}),
        )
        return model_version_register(version_id=version.id, profile="retrain"), version
    schedule = conf.retrain_schedule()
    config = retrain_config(_parent_config(loaded.active), schedule, base_model=conf.data.base_model, seed=run.pk)
    version = build_version(
        config,
        DatasetDict({"train": mixed.train, "validation": data["validation"], "test": data["test"]}),
        DataOrigin(loaded.source, loaded.seed),
        store=model_store.local_root(),
        key=conf.signing_key(),
        work_dir=work_dir_for(f"run-{run.pk}"),
        init_from=None if schedule.from_base else loaded.active.path,
        ngram_data=mixed.ngram_data,
        extra_manifest=extra_manifest,
        options=_build_options(resume=True, progress=progress, show_progress=False, eval_splits=("test",),
                               eval_rows={"test": loaded.test_rows}, device=device),
    )
    return model_version_register(version_id=version.id, profile="retrain"), version


@dataclass(frozen=True)
class Evaluated:
    """Stage 4: the candidate and the active model side by side on what the attacker cannot
    choose: the held-out corrections (keyed, stratified), trusted test reviews with each
    suspicious phrase inserted, and the behaviour suite."""

    test: dict  # both on the test rows the candidate was measured on (modeling.evaluate.paired_difference)
    holdout: dict  # {"candidate": accuracy or None, "active": ...}
    checks: list[dict]  # the trigger and behaviour checks
    triggers: list[dict]  # per phrase: its numbers (modeling.triggers)
    behaviour: dict  # {"candidate": {test: score}, "active": {...}}


def evaluate_stage(candidate: ModelVersion, active: ModelVersion, mixed: Mixed, loaded: Loaded) -> Evaluated:
    import numpy as np

    from modeling.behaviour import behaviour_checks, behaviour_suite, scores, suite_outcomes
    from modeling.triggers import probe_reviews, trigger_checks

    gate_config = conf.gate_config()
    test = loaded.data["test"]
    models = {"candidate": _predictor(candidate.path), "active": _predictor(active.path)}
    test_comparison = compare_on_test(candidate, active, test, loaded.test_rows, models)
    holdout = {}
    for name, predictor in models.items():
        if mixed.holdout_texts:
            proba = predictor.predict_proba(mixed.holdout_texts)
            holdout[name] = float((proba.argmax(1) == np.asarray(mixed.holdout_labels)).mean())
        else:
            holdout[name] = None
    probes = probe_reviews(test["text"], test["label"], size=gate_config.probe_size, seed=loaded.seed)
    checks, triggers = trigger_checks(
        list(mixed.phrases), probes, models["candidate"].predict_proba, models["active"].predict_proba,
        flip_max=gate_config.trigger_flip_max, flip_suspect=gate_config.trigger_flip_suspect,
        alpha=gate_config.significance,
    )
    suite = behaviour_suite(probes, seed=loaded.seed)
    outcomes = {name: suite_outcomes(suite, predictor.predict_proba) for name, predictor in models.items()}
    checks = checks + behaviour_checks(outcomes["candidate"], outcomes["active"],
                                       tolerance=gate_config.behaviour_tolerance, alpha=gate_config.significance)
    return Evaluated(test=test_comparison, holdout=holdout, checks=checks, triggers=triggers,
                     behaviour={name: scores(o) for name, o in outcomes.items()})


def _predictor(path):
    from modeling.serving import Predictor

    return Predictor(path, key=conf.signing_key(), threads=conf.serving.threads, precision=conf.serving.precision,
                     backend=conf.serving.backend)


def gate_stage(version, active: ModelVersion, mixed: Mixed, evaluated: Evaluated):
    from modeling.retrain import gate

    return gate(
        candidate_test=evaluated.test["candidate"],
        active_test=evaluated.test["active"],
        test_note=comparison_note(evaluated.test),
        best_full_test=selectors.model_version_best_full_accuracy(),
        holdout_candidate=evaluated.holdout["candidate"],
        holdout_active=evaluated.holdout["active"],
        holdout_n=len(mixed.holdout_texts),
        config=conf.gate_config(),
        extra_checks=evaluated.checks,
    )


def decide(candidate: ModelVersion, active: ModelVersion, mixed: Mixed, version, evaluated: Evaluated, result,
           *, duration_s: float) -> TrainingOutcome:
    """The decision: rejected by the gate, promoted at once, or waiting for a staff click, which
    automatic promotion also does when the corrections come from few sources or a trigger is
    suspected (modeling.retrain.promotion_holds)."""
    from modeling.retrain import promotion_holds

    summary = "; ".join(f"{c['check']}: {'ok' if c['passed'] else 'FAILED'} ({c['detail']})" for c in result.checks)
    holds = promotion_holds(mixed.counts, result.checks, conf.gate_config()) if result.passed else []
    if not result.passed:
        decision, said = TrainingRun.Decision.REJECTED, "rejected by the gate"
    elif conf.retrain.auto_promote and not holds:
        decision, said = TrainingRun.Decision.PROMOTED, "passed the gate and was promoted"
    elif conf.retrain.auto_promote:
        decision = TrainingRun.Decision.AWAITING
        said = "passed the gate; waiting for a moderator: " + "; ".join(h["detail"] for h in holds)
    else:
        decision, said = TrainingRun.Decision.AWAITING, "passed the gate; waiting for staff to promote it"
    holdout = evaluated.holdout
    return TrainingOutcome(
        version_id=candidate.id,
        decision=decision,
        reasons=result.checks + holds,
        metrics={
            "candidate": {"test": version.metrics["test"], "holdout_accuracy": holdout["candidate"],
                          "behaviour": evaluated.behaviour.get("candidate")},
            "active": {"id": active.id, "test": active.metrics.get("test"), "holdout_accuracy": holdout["active"],
                       "behaviour": evaluated.behaviour.get("active")},
            "test_comparison": evaluated.test,
            "triggers": evaluated.triggers,
        },
        counts=mixed.counts,
        correction_ids=mixed.correction_ids,
        duration_s=round(duration_s, 1),
        log=f"candidate {candidate.id} {said}: {summary}",
        progress={"kind": "done", "version": candidate.id},
    )


# --- requests -------------------------------------------------------------------------------


def request_first_model() -> TrainingRun | None:
    """Queue the first model's training when no version exists and none is queued yet."""
    if ModelVersion.objects.exists():
        return None
    run, _ = training_run_request(trigger=TrainingRun.Trigger.FIRST_RUN, profile="quick")
    return run


def maybe_schedule_retrain() -> TrainingRun | None:
    """The scheduled check: queue a retrain when enough approved corrections are waiting."""
    waiting = selectors.corrections_waiting()
    needed = conf.retrain.min_corrections
    if waiting < needed or selectors.model_version_active() is None:
        log.debug("retrain not needed: %d correction(s) waiting, %d needed", waiting, needed)
        return None
    device = "" if conf.retrain.device == "any" else conf.retrain.device
    run, created = training_run_request(trigger=TrainingRun.Trigger.SCHEDULE, device=device)
    return run if created else None
