"""The real thing: gunicorn with two web workers and the worker process, on the test database."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from reviews.models import ModelVersion
from reviews.services.accounts import api_token_issue
from reviews.services.model_versions import model_version_activate, model_version_register
from tests.reviews.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, data: dict | None = None, token: str = ""):
    body = json.dumps(data).encode() if data is not None else None
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def site(model_store, tmp_path):
    """`manage.py serve` (gunicorn, 2 workers, plus the worker process) on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SENTIMENT_MODEL_STORE": str(settings.SENTIMENT_MODEL_STORE),
        "SENTIMENT_VAR_DIR": str(tmp_path / "var"),
        "SENTIMENT_TORCH_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    yield f"http://127.0.0.1:{port}", process, tmp_path / "serve.log"
    if process.poll() is None:
        process.kill()
        process.wait()


def poll_health(base: str, until, timeout: float, token: str) -> dict[int, dict]:
    """Ask /api/v1/health (as staff: the pid and loaded version are staff details) repeatedly;
    returns the last answer per web worker pid once `until` holds."""
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            code, body = get_json(f"{base}/api/v1/health", token=token)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
            continue
        if code == 200:
            seen[body["pid"]] = body
            if until(seen):
                return seen
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s; last answers: {seen}")


def test_both_web_workers_switch_to_a_newly_activated_version(model_store, site, staff):
    """After activation, both gunicorn workers answer with the new version within seconds,
    predictions keep succeeding meanwhile, and Ctrl-C stops everything cleanly."""
    base, process, log = site
    token = api_token_issue(user=staff).key
    first = model_version_register(version_id=model_store[0].id)
    second = model_version_register(version_id=model_store[1].id)

    def all_on(version_id):
        return lambda seen: len(seen) >= 2 and all(b["loaded_version"] == version_id for b in seen.values())

    before = poll_health(base, all_on(first.id), timeout=90, token=token)
    assert len(before) == 2
    model_version_activate(version=ModelVersion.objects.get(pk=second.id))
    started = time.monotonic()
    failures = []
    seen: dict[int, dict] = {}
    while time.monotonic() - started < 30:
        code, body = get_json(f"{base}/api/v1/predict", {"text": "great film"})
        if code != 200:
            failures.append((code, body))
        code, health = get_json(f"{base}/api/v1/health", token=token)
        seen[health["pid"]] = health
        if set(seen) >= set(before) and all(seen[pid]["loaded_version"] == second.id for pid in before):
            break
    switched_after = time.monotonic() - started
    assert not failures
    assert all(seen[pid]["loaded_version"] == second.id for pid in before), seen
    assert switched_after < 10, f"took {switched_after:.1f} s"
    assert any(b.get("worker") for b in seen.values())

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=40) == 0, log.read_text()[-3000:]
