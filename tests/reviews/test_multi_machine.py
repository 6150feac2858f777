"""Past one machine (issue 22): two web machines with their own caches and no shared model folder,
a CPU worker and training workers, one database, one object store (a real S3-compatible server,
tests/conftest.py). Each "machine" is a process with its own SENTIMENT_VAR_DIR, SENTIMENT_MODEL_CACHE
and SENTIMENT_CACHE_DIR; only the database and the store are shared (the toy training data and
the tiny base encoder are read from the test's folder, as every machine would read them from the
hub)."""

import signal
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import boto3
import pytest

from reviews.models import ModelVersion, TrainingRun, WorkStatus
from reviews.services.accounts import api_token_issue
from reviews.services.training import training_run_request
from tests.reviews.conftest import approved_corrections, loop_installed, postgresql_only, process_env
from tests.reviews.test_processes import free_port, get_json

ROOT = Path(__file__).resolve().parents[2]
# Several machines share a PostgreSQL server, never a SQLite file: PostgreSQL only.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), postgresql_only]
SHORT = 3  # seconds: a dead worker's claim and lease lapse quickly here


@pytest.fixture
def s3_loop(request, s3_store, settings, tmp_path, monkeypatch, staff):
    """The tiny installation of tests/reviews/conftest.py with its versions in the object store."""
    with loop_installed(request, settings, tmp_path, monkeypatch, folder_store=False) as row:
        yield row


def machine_env(tmp_path, name: str, **extra) -> dict[str, str]:
    """A machine of its own: nothing on disk shared with the others."""
    home = tmp_path / "machines" / name
    return process_env(home / "var", SENTIMENT_MODEL_CACHE=home / "model-cache", SENTIMENT_CACHE_DIR=home / "cache",
                       SENTIMENT_STALE_SECONDS=SHORT + 2, SENTIMENT_LEASE_SECONDS=SHORT + 2,
                       SENTIMENT_RETRAIN_EPOCHS=2, **extra)


@pytest.fixture
def machines(tmp_path):
    """Start web machines (gunicorn, one worker each) and background workers; all stopped at the end."""
    started = []

    def web(name: str) -> str:
        port = free_port()
        env = machine_env(tmp_path, name, SENTIMENT_BIND=f"127.0.0.1:{port}", SENTIMENT_WEB_WORKERS=1)
        log = (tmp_path / f"{name}.log").open("w")
        started.append(subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "sentiment_site/gunicorn.conf.py"],
                                        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        return f"http://127.0.0.1:{port}"

    def worker(name: str, *options: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("w")
        process = subprocess.Popen([sys.executable, "manage.py", "runworker", *options], cwd=ROOT,
                                   env=machine_env(tmp_path, name), stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        return process

    yield web, worker
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def training_machine(tmp_path, name: str, *command: str) -> subprocess.CompletedProcess:
    """A training worker that takes training only, does what is pending, and exits."""
    return subprocess.run([sys.executable, *command], cwd=ROOT, env=machine_env(tmp_path, name), capture_output=True,
                          text=True, timeout=300)


def serving_everywhere(bases: list[str], version_id: str, timeout: float = 30) -> None:
    """Each web machine answers predictions with `version_id` within `timeout` seconds (a process
    notices a new active version on a request, and swaps once it has loaded it beside the old)."""
    deadline = time.monotonic() + timeout
    for base in bases:
        answered = None
        while answered != version_id:
            if time.monotonic() > deadline:
                raise AssertionError(f"{base} still answers with {answered}, not {version_id}")
            try:
                code, body = get_json(f"{base}/api/v1/predict", {"text": "a fine film"})
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # not listening yet
                code, body = None, {}
            answered = body.get("model_version") if code == 200 else None
            time.sleep(0.2)


def test_a_version_trained_on_one_machine_is_served_by_every_web_machine(s3_loop, staff, machines, tmp_path, s3_bucket):
    """A training worker is killed after its first stored checkpoint and another, elsewhere,
    resumes the run from the store; the candidate it registers is served by both web machines
    within seconds; rolled back from one and forward from the other, both follow; a web machine
    started later fetches the active version itself."""
    web, worker = machines
    token = api_token_issue(user=staff).key
    first = s3_loop.id
    web_a, web_b = web("web-a"), web("web-b")
    worker("cpu-worker", "--queues", "explanations,maintenance")
    serving_everywhere([web_a, web_b], first, timeout=90)

    approved_corrections(staff, 4)
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL, device="cpu")
    killed = training_machine(tmp_path, "train-1", "-m", "tests.reviews.fault_worker", "after_checkpoint",
                              "--queues", "training")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    run.refresh_from_db()
    assert run.status == WorkStatus.RUNNING
    endpoint, bucket = s3_bucket
    stored = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket, Prefix=f"sentiment/checkpoints/run-{run.pk}/")
    assert {item["Key"].rsplit("/", 1)[1] for item in stored.get("Contents", [])} >= {"checkpoint.pt", "best.pt"}

    time.sleep(SHORT + 3)  # the dead worker's heartbeat and lease lapse
    resumed = training_machine(tmp_path, "train-2", "manage.py", "runworker", "--once", "--queues", "training")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumes from the checkpoint in s3://" in resumed.stderr and "resuming at phase 1 epoch 2" in resumed.stderr, \
        resumed.stderr[-3000:]
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE and run.attempts == 2, (run.error, run.log)
    assert run.decision == TrainingRun.Decision.PROMOTED, (run.reasons, run.log)
    second = run.model_version_id

    started = time.monotonic()
    serving_everywhere([web_a, web_b], second)
    assert time.monotonic() - started < 15
    for name in ("web-a", "web-b"):  # each fetched it from the store into its own cache
        assert (tmp_path / "machines" / name / "model-cache" / second / "manifest.json").exists()

    code, body = get_json(f"{web_a}/api/v1/models/{first}/activate", {}, token=token)
    assert code == 200, body
    serving_everywhere([web_a, web_b], first)
    code, body = get_json(f"{web_b}/api/v1/models/{second}/activate", {}, token=token)
    assert code == 200, body
    serving_everywhere([web_a, web_b], second)

    web_c = web("web-c")
    serving_everywhere([web_c], second, timeout=90)
    assert (tmp_path / "machines" / "web-c" / "model-cache" / second / "manifest.json").exists()
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).id == second
