"""A tuning study on the installation's data (`manage.py tune`, or a training run of trigger
`tune` that the worker runs under the training lease): modeling.tuning's search, its study in
the project's database, and the best trial registered as a version that staff may activate.

Optuna keeps a study in its own tables (`studies`, `trials`, ... created on first use) in the
database Django uses, through SQLAlchemy: on PostgreSQL over psycopg, on SQLite in the same file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from modeling.checkpoints import CHECKPOINT
from modeling.config import TrainConfig
from modeling.tuning import Study, TuningError, load_space, summary, write_pictures
from reviews.conf import conf
from reviews.worker.training import load_training_data, profile_config, train_and_register, work_dir_for

log = logging.getLogger(__name__)
TUNED_PROFILE = "tuned"


@dataclass(frozen=True)
class TuneRequest:
    """What to search: from `profile`'s recipe, `trials` trials in all (completed or pruned, over
    every resumption), for at most `budget_minutes` of this process's time (a trial under way is
    finished), in the study `name`."""

    profile: str = "quick"
    trials: int = 20
    budget_minutes: float | None = None
    name: str = ""
    space: str | None = None  # a JSON file; default modeling.tuning.SEARCH_SPACE
    storage: str | None = None  # an SQLAlchemy URL; default the project's database
    data_source: str | None = None
    seed: int = 0
    heartbeat_seconds: int = 60
    pictures: str | None = None  # a folder for history.svg and importances.svg
    register: bool = True

    def study_name(self) -> str:
        return self.name or f"tune-{self.profile}"


# Keys of Django's database OPTIONS that are Django's own, not the driver's connection parameters.
DJANGO_ONLY_OPTIONS = frozenset({"pool", "isolation_level", "server_side_binding", "assume_role", "transaction_mode",
                                 "init_command"})


def project_storage() -> tuple[str, dict]:
    """The project's database as SQLAlchemy reaches it: (URL, the driver's connect arguments),
    the same server, credentials and connection options (sslmode, sslrootcert, options,
    application_name, ...) as Django's own connection; on SQLite the same lock timeout."""
    from sqlalchemy.engine import URL

    s = connection.settings_dict
    options = {k: v for k, v in (s.get("OPTIONS") or {}).items() if k not in DJANGO_ONLY_OPTIONS}
    if connection.vendor == "sqlite":
        name = str(s["NAME"])
        if not name or name == ":memory:" or name.startswith("file:"):
            raise TuningError("the project's database is in memory: pass --storage")
        return f"sqlite:///{Path(name).resolve()}", {"timeout": options.get("timeout", 20)}
    if connection.vendor == "postgresql":
        host = s["HOST"] or "127.0.0.1"
        if host.startswith("/"):  # a Unix socket's folder: libpq takes it as a parameter
            options.setdefault("host", host)
            host = None
        url = URL.create("postgresql+psycopg", username=s["USER"] or None, password=s.get("PASSWORD") or None,
                         host=host, port=int(s["PORT"]) if s["PORT"] else None, database=s["NAME"])
        return url.render_as_string(hide_password=False), options
    raise TuningError(f"a study cannot live in a {connection.vendor} database: pass --storage")


def open_study(request: TuneRequest):
    """The study, created or loaded: TPE sampling, a median pruner on per-epoch validation
    accuracy, heartbeats, and a trial whose process died tried again once with its parameters."""
    import warnings

    import optuna

    with warnings.catch_warnings():  # heartbeats and their retry are marked experimental (Optuna 5.1)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        url, connect_args = (request.storage, {}) if request.storage else project_storage()
        storage = optuna.storages.RDBStorage(
            url, heartbeat_interval=request.heartbeat_seconds, grace_period=2 * request.heartbeat_seconds,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
            engine_kwargs={"pool_pre_ping": True, "connect_args": connect_args},
        )
    return optuna.create_study(
        study_name=request.study_name(), storage=storage, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=request.seed, n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )


def fail_trials_that_never_beat(study, grace_seconds: float) -> list[int]:
    """Fail, and hand to the storage's retry, every running trial older than the grace period
    that has no heartbeat at all; returns their numbers.

    Optuna's own stale check (before each trial) fails a running trial whose last heartbeat is
    too old but skips one that has none, so a process killed between creating its trial and
    recording the first heartbeat would leave that trial running for ever. A trial that another
    live process has just created is younger than the grace period and is left alone."""
    import copy
    from datetime import datetime, timedelta

    import optuna
    import sqlalchemy

    storage = study._storage
    running = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
               if t.datetime_start is not None and datetime.now() - t.datetime_start > timedelta(seconds=grace_seconds)]
    if not running:
        return []
    engine = getattr(storage, "_backend", storage).engine  # the RDB storage under Optuna's cache
    with engine.connect() as db:  # Optuna keeps heartbeats in this table of its schema
        beating = set(db.execute(sqlalchemy.text("SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids")
                                 .bindparams(sqlalchemy.bindparam("ids", expanding=True)),
                                 {"ids": [t._trial_id for t in running]}).scalars())
    failed = []
    for trial in running:
        if trial._trial_id in beating:
            continue  # Optuna's stale check decides on this one
        try:
            if storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL):
                failed.append(trial)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another process failed or finished it first
    retry = storage.get_heartbeat_stale_trial_callback()
    for trial in failed:
        log.warning("trial %d never recorded a heartbeat (its process died at its start): failed, tried again", trial.number)
        if retry is not None:
            retry(study, copy.deepcopy(storage.get_trial(trial._trial_id)))
    return [t.number for t in failed]


def counted(study) -> int:
    """Trials that count towards `trials`: completed or pruned."""
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)))


def run_study(request: TuneRequest, *, progress=None, show_progress: bool = False, device: str = "auto"):
    """Run (or resume) the study to `trials`, then register its best trial: returns (study,
    summary, the registered row or None). The best trial's folder holds its finished training
    when it ran here, and is registered as it is; otherwise its recipe is trained again."""
    import optuna

    space = load_space(request.space)
    study = open_study(request)
    base = profile_config(request.profile)
    source = request.data_source or conf.data.source
    searches = {"profile": request.profile, "base_model": base.base_model, "data_source": source}
    known = study.user_attrs.get("searches")
    if known is None:
        study.set_user_attr("searches", searches)
    elif known != searches:  # its trials would not be comparable, nor their folders' checkpoints usable
        raise TuningError(f"study {request.study_name()} searches {known}, not {searches}: name another study")
    data = load_training_data(source)
    runner = Study(study, base, space, data, work_dir_for(f"tune-{request.study_name()}"), device=device,
                   show_progress=show_progress, progress=progress)
    started = time.monotonic()
    fail_trials_that_never_beat(study, 2 * request.heartbeat_seconds)
    if counted(study) < request.trials:
        study.optimize(runner.objective, timeout=request.budget_minutes * 60 if request.budget_minutes else None,
                       callbacks=[runner.keep_the_best,
                                  optuna.study.MaxTrialsCallback(request.trials, states=(
                                      optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))],
                       gc_after_trial=True)
    report = summary(study, seconds=time.monotonic() - started)
    report["profile"] = request.profile
    if request.pictures:
        write_pictures(study, request.pictures)
    if report["best_trial"] is None or not request.register:
        return study, report, None
    best = study.best_trial
    registered = study.user_attrs.get("registered") or {}
    if registered.get("trial") == best.number:  # a finished study run again: nothing new to register
        from reviews.models import ModelVersion

        row = ModelVersion.objects.filter(pk=registered["version"]).first()
        if row is not None:
            log.info("the best trial (%d) is version %s already", best.number, row.id)
            report["registered_before"] = True
            return study, report, row
    config = TrainConfig.from_dict(best.user_attrs["config"])
    folder = Path(best.user_attrs["work_dir"])
    trained_here = (folder / CHECKPOINT).exists()
    if not trained_here:
        log.info("the best trial (%d) ran elsewhere or its folder is gone: training its recipe again", best.number)
    _, row = train_and_register(config, profile=TUNED_PROFILE, data_source=source, work_dir=folder,
                                resume=trained_here, progress=progress, show_progress=show_progress, data=data,
                                device=device, extra_manifest={"tuning": report})
    study.set_user_attr("registered", {"trial": best.number, "version": row.id})
    return study, report, row


def tune_run(run, *, progress, device: str = "auto"):
    """A training run of trigger "tune" (the worker, under the training lease): the study its
    options ask for, its best trial registered and put to the gate's test check against the
    active version on the gate's test sample; it then waits for staff to promote it (or is
    rejected), as a retrain's candidate does. The first version of an installation is active."""
    from modeling.evaluate import stratified_subset
    from reviews.models import TrainingRun
    from reviews.services.training import TrainingOutcome
    from reviews.worker.training import test_check

    options = run.options or {}
    request = TuneRequest(profile=run.profile, trials=int(options.get("trials", TuneRequest.trials)),
                          budget_minutes=options.get("budget_minutes"), name=options.get("study", ""))
    started = time.monotonic()
    _, report, row = run_study(request, progress=progress, device=device)
    if row is None:
        raise TuningError(f"no trial of study {request.study_name()} completed")
    if report.get("registered_before"):  # a finished study asked again: its best is known already
        return TrainingOutcome(
            version_id=row.id, decision=TrainingRun.Decision.SKIPPED, metrics={"tuning": report},
            duration_s=round(time.monotonic() - started, 1),
            log=(f"study {report['study']}: its best trial {report['best_trial']} is version {row.id} already, "
                 "registered by an earlier run; nothing new"))
    metrics = {"candidate": {"test": row.metrics.get("test")}, "tuning": report}
    test = load_training_data(conf.data.source)["test"]
    rows = stratified_subset(test["label"], conf.gate_config().test_size, seed=conf.data.seed)
    passed, checks = test_check(row, test, rows, metrics)
    if not checks:  # nothing to compare with: it is the installation's first version, active already
        decision = TrainingRun.Decision.PROMOTED
    else:
        decision = TrainingRun.Decision.AWAITING if passed else TrainingRun.Decision.REJECTED
    said = {TrainingRun.Decision.PROMOTED: "is the first version: active",
            TrainingRun.Decision.AWAITING: "passed the gate: waiting for staff to promote it",
            TrainingRun.Decision.REJECTED: "was rejected by the gate"}[decision]
    return TrainingOutcome(
        version_id=row.id, decision=decision, reasons=checks, metrics=metrics,
        duration_s=round(time.monotonic() - started, 1),
        log=(f"study {report['study']}: best trial {report['best_trial']} (validation {report['best_validation']:.4f}) "
             f"of {sum(report['trials'].values())}, registered as {row.id}; it {said}"),
    )
