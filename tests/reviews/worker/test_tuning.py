"""manage.py tune (issue 23): an Optuna study over the recipe at toy size, in the project's
database, pruned per epoch, resumed after a kill, its best trial registered with the study's
summary and its pictures."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from modeling import registry
from reviews import model_store
from reviews.conf import conf
from tests.reviews.conftest import process_env, tiny_installation

ROOT = Path(__file__).resolve().parents[3]
# The study's tables are written by Optuna's own connection: no test transaction may hold the
# database meanwhile (SQLite would be locked).
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TOY_SPACE = {"lr": {"low": 5e-4, "high": 5e-3, "log": True}, "epochs": {"low": 1, "high": 3},
             "max_length": {"choices": [16, 32]}, "batch_size": {"choices": [8, 16]},
             "warmup_ratio": {"low": 0.0, "high": 0.2}}


@pytest.fixture
def installation(settings, tmp_path):
    tiny_installation(settings, tmp_path)
    space = tmp_path / "space.json"
    space.write_text(json.dumps(TOY_SPACE))
    return space


def project_study(name):
    import optuna

    from reviews.worker.tuning import project_storage

    url, connect_args = project_storage()
    return optuna.load_study(study_name=name, storage=optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": connect_args}))


def test_tune_searches_registers_the_best_and_draws_it(installation, tmp_path, capsys):
    """Four trials of the toy recipe: the study is in the project's database, each trial a
    served validation accuracy, the best registered (profile 'tuned') with the study in its
    manifest and test figures with intervals, the history and importances drawn."""
    from reviews.models import ModelVersion

    call_command("tune", "--trials", "4", "--space", str(installation), "--study", "toy", "--quiet",
                 "--pictures", str(tmp_path / "pictures"))
    out = capsys.readouterr().out
    study = project_study("toy")
    values = [t.value for t in study.trials if t.value is not None]
    assert len(study.trials) >= 4 and all(0 <= v <= 1 for v in values)
    row = ModelVersion.objects.get(profile="tuned")
    manifest = registry.load(model_store.local_root(), row.id, key=conf.signing_key()).manifest
    tuning = manifest["tuning"]
    assert tuning["best_trial"] == study.best_trial.number and tuning["best_validation"] == study.best_value
    assert sum(tuning["trials"].get(s, 0) for s in ("complete", "pruned")) == 4
    assert manifest["train_config"]["max_length"] == study.best_trial.params["max_length"]
    assert row.test_accuracy_interval is not None
    assert f"registered {row.id}" in out and "95% interval" in out
    assert (tmp_path / "pictures" / "history.svg").read_text().lstrip().startswith("<?xml")
    # Only the best trial's folder was kept, and the build took it (no folder left).
    assert not list((Path(tmp_path / "cache") / "training" / "tune-toy").glob("trial-*"))
    # The finished study run again: no trial, no second version.
    call_command("tune", "--trials", "4", "--space", str(installation), "--study", "toy", "--quiet")
    assert ModelVersion.objects.filter(profile="tuned").count() == 1 and len(project_study("toy").trials) == len(study.trials)


def test_the_study_connects_with_djangos_connection_options(installation, monkeypatch):
    """Optuna's engine reaches the database as Django does: its connection options (here an
    application name on PostgreSQL, as sslmode or sslrootcert would be) and not Django's own
    keys (its pool); on SQLite the same 20 s lock timeout. A study opens over it."""
    import sqlalchemy
    from django.db import connection

    from reviews.worker.tuning import TuneRequest, open_study, project_storage

    if connection.vendor == "postgresql":
        monkeypatch.setitem(connection.settings_dict, "OPTIONS",
                            {**connection.settings_dict.get("OPTIONS", {}), "application_name": "sentiment-tune",
                             "pool": {"min_size": 1, "max_size": 2}})
    url, connect_args = project_storage()
    if connection.vendor == "postgresql":
        assert connect_args["application_name"] == "sentiment-tune" and "pool" not in connect_args
        with sqlalchemy.create_engine(url, connect_args=connect_args).connect() as db:
            assert db.execute(sqlalchemy.text("SHOW application_name")).scalar() == "sentiment-tune"
    else:
        assert connect_args == {"timeout": 20}
    study = open_study(TuneRequest(name="connects"))
    assert study.study_name == "connects"
    # The study's own engine carries them (not only project_storage's answer).
    with study._storage._backend.engine.connect() as db:
        if connection.vendor == "postgresql":
            assert db.execute(sqlalchemy.text("SHOW application_name")).scalar() == "sentiment-tune"
        else:
            assert db.execute(sqlalchemy.text("PRAGMA busy_timeout")).scalar() == 20_000


def test_a_bad_search_space_is_a_clear_error(installation, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"learning_rate": {"low": 1, "high": 2}}))
    with pytest.raises(CommandError, match="unknown parameter 'learning_rate'"):
        call_command("tune", "--trials", "1", "--space", str(bad))
    bad.write_text(json.dumps({"lr": {"low": 2, "high": 1}}))
    with pytest.raises(CommandError, match="lr needs low <= high"):
        call_command("tune", "--trials", "1", "--space", str(bad))
    # A study searches one profile on one base model and data source: another one is refused.
    call_command("tune", "--trials", "1", "--space", str(installation), "--study", "one", "--quiet", "--no-register")
    with pytest.raises(CommandError, match="study one searches .*'profile': 'quick'.*name another study"):
        call_command("tune", "--trials", "2", "--space", str(installation), "--study", "one", "--profile", "full")


def test_a_killed_study_resumes(installation, tmp_path):
    """SIGKILL during the second trial; run again: the dead trial is failed once its heartbeat
    is stale (or, killed before its first heartbeat, once it is older than the grace period) and
    tried again, and the study ends with three counted trials and a registered best."""
    import optuna

    env = process_env(tmp_path / "var")
    command = [sys.executable, "manage.py", "tune", "--trials", "3", "--space", str(installation), "--study", "killed",
               "--heartbeat", "1", "--quiet", "--no-register"]
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            try:
                trials = project_study("killed").get_trials(deepcopy=False)
            except KeyError:  # not created yet
                trials = []
            if any(t.number >= 1 and t.state == optuna.trial.TrialState.RUNNING for t in trials):
                break
            assert first.poll() is None, first.stdout.read().decode()[-3000:]
            time.sleep(0.2)
        else:
            pytest.fail("the second trial never started")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    time.sleep(2.5)  # past the grace period (twice the heartbeat)
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    trials = project_study("killed").get_trials(deepcopy=False)
    states = [t.state for t in trials]
    assert optuna.trial.TrialState.FAIL in states  # the killed one
    assert sum(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for s in states) == 3
    failed = next(t for t in trials if t.state == optuna.trial.TrialState.FAIL)
    assert any(t.params == failed.params and t.number > failed.number for t in trials)  # tried again


def test_a_trial_killed_before_its_first_heartbeat_is_tried_again(installation):
    """A process killed between creating its trial and recording the trial's first heartbeat
    leaves a running trial with no heartbeat at all, which Optuna's stale check skips forever.
    The next run fails it once it is older than the grace period and tries its parameters again."""
    import optuna

    from reviews.worker.tuning import TuneRequest, open_study

    study = open_study(TuneRequest(name="silent", heartbeat_seconds=1))
    orphan = study.ask()  # no heartbeat thread: as if its process died at once
    lr = orphan.suggest_float("lr", 5e-4, 5e-3, log=True)
    time.sleep(2.5)  # past the grace period (twice the heartbeat)
    call_command("tune", "--trials", "1", "--space", str(installation), "--study", "silent", "--heartbeat", "1",
                 "--quiet", "--no-register")
    trials = project_study("silent").get_trials(deepcopy=False)
    assert trials[0].state == optuna.trial.TrialState.FAIL
    retried = [t for t in trials[1:] if t.params.get("lr") == lr]
    assert retried and retried[0].state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]


def test_a_tuning_study_is_a_training_run_the_worker_runs(installation, settings, staff_api, monkeypatch):
    """POST /api/v1/training-runs with `tune`: a run of trigger tune, with its options, that the
    worker runs under the training lease; the tuned version is the first one here, so it is active."""
    from modeling import tuning
    from reviews.models import ModelVersion, TrainingRun
    from reviews.worker.training import process_training_runs

    monkeypatch.setattr(tuning, "SEARCH_SPACE", TOY_SPACE)
    response = staff_api.post("/api/v1/training-runs", {"tune": {"trials": 2, "study": "by-api"}}, format="json")
    assert response.status_code == 202, response.content
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert (run.trigger, run.profile, run.options) == ("tune", "quick", {"trials": 2, "study": "by-api"})
    assert staff_api.post("/api/v1/training-runs", {"tune": {"trials": 0}}, format="json").status_code == 400
    assert process_training_runs(worker_id="w-tune") == 1
    run.refresh_from_db()
    assert run.status == "done", run.error
    assert run.model_version.profile == "tuned" and run.model_version.status == ModelVersion.Status.ACTIVE
    assert run.metrics["tuning"]["study"] == "by-api" and "best trial" in run.log
    assert len(project_study("by-api").trials) >= 2


def test_a_tuned_version_beside_an_active_one_waits_for_staff_or_is_rejected(installation, settings, staff_api,
                                                                             monkeypatch):
    """With a version active, a tune run's best goes through the gate's test check against it on
    the same test reviews: passed, it waits for staff (a candidate, not serving); failed, it is
    rejected with the failed check in the run. A finished study asked again adds nothing."""
    from modeling import tuning
    from reviews import selectors
    from reviews.models import ModelVersion, TrainingRun
    from reviews.worker.training import process_training_runs

    monkeypatch.setattr(tuning, "SEARCH_SPACE", TOY_SPACE)

    def tune(study):
        response = staff_api.post("/api/v1/training-runs", {"tune": {"trials": 2, "study": study}}, format="json")
        assert response.status_code == 202, response.content
        assert process_training_runs(worker_id="w-tune") == 1
        run = TrainingRun.objects.get(pk=response.json()["id"])
        assert run.status == "done", run.error
        return run

    first = tune("first")
    assert first.decision == TrainingRun.Decision.PROMOTED
    second = tune("second")
    assert second.decision == TrainingRun.Decision.AWAITING and "waiting for staff" in second.log
    assert second.model_version.status == ModelVersion.Status.CANDIDATE
    assert selectors.model_version_active().id == first.model_version_id
    assert second.metrics["test_comparison"]["n"] > 0 and "p_value" in second.metrics["test_comparison"]
    settings.SENTIMENT_GATE_TOLERANCE = -0.01  # a candidate must now beat the active version by a point
    third = tune("third")
    assert third.decision == TrainingRun.Decision.REJECTED and "rejected by the gate" in third.log
    failed = [c for c in third.reasons if not c["passed"]]
    assert [c["check"] for c in failed] == ["test accuracy vs active"]
    assert selectors.model_version_active().id == first.model_version_id
    again = tune("first")  # a finished study asked again: its best is the active version already
    assert again.decision == TrainingRun.Decision.SKIPPED and "nothing new" in again.log
    assert again.model_version_id == first.model_version_id == selectors.model_version_active().id
