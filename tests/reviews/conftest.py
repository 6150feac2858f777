import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from modeling import config as modeling_config
from modeling.config import Phase
from modeling.pipeline import BuildOptions, DataOrigin, build_version
from reviews.conf import conf
from tests.tiny import make_model, tiny_config, toy_data, write_aclimdb


@pytest.fixture(scope="session")
def tiny_versions(tmp_path_factory):
    """Two tiny registry versions whose outputs differ, in a session-wide store."""
    store = tmp_path_factory.mktemp("model-store")
    data = toy_data()
    versions = []
    for seed, epochs in ((0, 4), (1, 1)):
        base = make_model(tmp_path_factory.mktemp(f"base{seed}"), "bert", seed=seed)
        config = tiny_config(str(base), phases=(Phase("all", epochs, 2e-3),), seed=seed)
        work_dir = tmp_path_factory.mktemp("work")
        versions.append(build_version(config, data, DataOrigin("toy", 0), store=store, key=conf.signing_key(), work_dir=work_dir,
                                      options=BuildOptions(show_progress=False)))
    return store, versions


@pytest.fixture
def model_store(tiny_versions, settings):
    store, versions = tiny_versions
    settings.SENTIMENT_MODEL_STORE = store
    return versions


@pytest.fixture
def own_store(model_store, settings, tmp_path):
    """A private copy of the tiny versions' store (now the installation's), safe to tamper with."""
    import shutil

    store = tmp_path / "own-store"
    shutil.copytree(settings.SENTIMENT_MODEL_STORE, store)
    settings.SENTIMENT_MODEL_STORE = store
    return store


def tamper_weights(folder):
    """Change one byte of a version's weights file, as corruption or an attacker would."""
    weights = next(folder.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))


def tamper_manifest(folder):
    """Raise a version's recorded test accuracy in its manifest, leaving the checksums alone."""
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["metrics"]["test"]["accuracy"] = 0.999
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def active_model(model_store, db):
    """The first tiny version registered (and so active), with this process's predictor reset."""
    from reviews import predictor
    from reviews.services.model_versions import model_version_register

    predictor.reset()
    row = model_version_register(version_id=model_store[0].id)
    yield row
    predictor.reset()


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True, is_superuser=True)


def moderator(django_user_model, name):
    """A staff account that may moderate and see flags (and nothing else), fresh from the database."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(name, password="pw-" + name + "-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="moderate_feedback"),
                              Permission.objects.get(codename="view_feedback"))
    return django_user_model.objects.get(pk=user.pk)  # permissions are cached per instance


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("member", password="pw-member-123")


@pytest.fixture(autouse=True)
def _fresh_rate_limits(request, settings, monkeypatch):
    """Each test starts with empty rate-limit counters and generous limits, and the limiter's
    clock stands still in the middle of a window: a test's requests never straddle two windows
    (on a slow machine they could, and the budget would reset between them)."""
    from types import SimpleNamespace

    from django.core.cache import cache

    from reviews import ratelimit

    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: 1_800_000_030.5))

    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if uses_db:
        cache.clear()
    settings.SENTIMENT_RATES = {"predict": {"anon": "1000/min", "user": "1000/min"},
                                "flag": {"anon": "1000/min", "user": "1000/min"}}


@contextmanager
def loop_installed(request, settings, tmp_path, monkeypatch, *, folder_store: bool = True):
    """A tiny installation with an active first model trained on the toy aclImdb folder
    (indirect parameter: changes to its training configuration, e.g. an n-gram companion); its
    model store a folder in tmp_path, or (folder_store False) the one settings name already."""
    base = tiny_installation(settings, tmp_path, folder_store=folder_store)
    settings.SENTIMENT_RETRAIN_REPLAY_SIZE = 120
    settings.SENTIMENT_RETRAIN_LR = 1e-3
    settings.SENTIMENT_RETRAIN_MIN_CORRECTIONS = 3
    # The loop's tests of other things flag from a few sessions; the hold on concentrated
    # corrections has its own tests (tests/reviews/worker/test_poisoning.py).
    settings.SENTIMENT_GATE_MIN_SOURCES = 1
    settings.SENTIMENT_GATE_MAX_SOURCE_SHARE = 1.0
    changes = getattr(request, "param", {})
    monkeypatch.setitem(modeling_config.PROFILES, "quick", tiny_config(str(base), phases=(Phase("all", 4, 2e-3),), **changes))
    from reviews import predictor
    from reviews.worker import training
    from reviews.models import ModelVersion

    predictor.reset()
    version, row = training.train_and_register(modeling_config.PROFILES["quick"], profile="quick")
    assert row.status == ModelVersion.Status.ACTIVE
    yield row
    predictor.reset()


@pytest.fixture
def loop(request, settings, tmp_path, monkeypatch, staff):
    """loop_installed, with the model store a folder."""
    with loop_installed(request, settings, tmp_path, monkeypatch) as row:
        yield row


def tiny_installation(settings, tmp_path, *, folder_store: bool = True) -> Path:
    """A tiny base encoder and the toy aclImdb data as the installation's, its model store
    (unless `folder_store` is False: the one settings name already) and cache folders in
    tmp_path; returns the encoder's folder."""
    base = make_model(tmp_path / "base", "bert")
    settings.SENTIMENT_BASE_MODEL = str(base)
    settings.SENTIMENT_DATA_SOURCE = f"aclimdb:{write_aclimdb(tmp_path / 'acl')}"
    if folder_store:
        settings.SENTIMENT_MODEL_STORE = tmp_path / "store"
    settings.SENTIMENT_CACHE_DIR = tmp_path / "cache"
    settings.SENTIMENT_DATA_SPLIT = (18000, 60, 5000)
    return base


def process_env(var_dir, **extra) -> dict[str, str]:
    """The environment of a process (a worker, a web server) of the test's installation: its
    database, store, data and loop settings; `var_dir` its own data folder; `extra` on top."""
    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SENTIMENT_VAR_DIR": str(var_dir),
        "SENTIMENT_MODEL_STORE": str(settings.SENTIMENT_MODEL_STORE),
        "SENTIMENT_S3_ENDPOINT_URL": settings.SENTIMENT_S3_ENDPOINT_URL,
        "SENTIMENT_CACHE_DIR": str(settings.SENTIMENT_CACHE_DIR),
        "SENTIMENT_BASE_MODEL": settings.SENTIMENT_BASE_MODEL,
        "SENTIMENT_DATA_SOURCE": settings.SENTIMENT_DATA_SOURCE,
        "SENTIMENT_DATA_SPLIT": ",".join(map(str, settings.SENTIMENT_DATA_SPLIT)),
        "SENTIMENT_RETRAIN_REPLAY_SIZE": str(settings.SENTIMENT_RETRAIN_REPLAY_SIZE),
        "SENTIMENT_RETRAIN_LR": str(settings.SENTIMENT_RETRAIN_LR),
        # The loop fixture's gate: these tests flag from three sessions, and which of their
        # corrections are held out depends on the secret key, so the default hold on few sources
        # would make the outcome a matter of chance.
        "SENTIMENT_GATE_MIN_SOURCES": str(settings.SENTIMENT_GATE_MIN_SOURCES),
        "SENTIMENT_GATE_MAX_SOURCE_SHARE": str(settings.SENTIMENT_GATE_MAX_SOURCE_SHARE),
        "SENTIMENT_TORCH_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({name: str(value) for name, value in extra.items()})
    return env


def approved_corrections(staff, n):
    """n reviews submitted, flagged with the other label, and approved by staff."""
    from reviews.services.feedback import feedback_approve, feedback_flag
    from reviews.services.reviews import review_submit

    flags = []
    for i in range(n):
        p = review_submit(text=f"the movie was great great wonderful number {i}", session_key=f"person{i % 3}")
        other = "negative" if p.label == "positive" else "positive"
        f, _ = feedback_flag(prediction=p, label=other, session_key=f"person{i % 3}")
        flags.append(feedback_approve(feedback=f, reviewer=staff))
    return flags


# Tests of what only PostgreSQL has (its indexes, its pool), or that stand for several machines,
# which share a PostgreSQL server and never a SQLite file.
postgresql_only = pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
                                     reason="PostgreSQL only")


def database_url() -> str:
    """The URL of the test database, for subprocesses that must share it."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def api():
    """An API client with no credentials (an anonymous caller)."""
    from rest_framework.test import APIClient

    return APIClient()


def token_client(user):
    """An API client authenticated with the user's token."""
    from rest_framework.test import APIClient

    from reviews.services.accounts import api_token_issue

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user).key}")
    return client


@pytest.fixture
def staff_api(staff):
    return token_client(staff)


@pytest.fixture
def member_api(member):
    return token_client(member)


def at_once(func, args_list) -> list:
    """Call `func(*args)` for each args in threads released together; returns their results and
    re-raises the first error. Each thread closes its own database connection."""
    import threading

    from django.db import connections

    barrier = threading.Barrier(len(args_list))
    results, errors = [None] * len(args_list), []

    def run(i, args):
        try:
            barrier.wait()
            results[i] = func(*args)
        except Exception as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, args)) for i, args in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def small_explanations(settings):
    """Explanations cheap enough for tests: few samples, the full-precision model."""
    settings.SENTIMENT_EXPLAIN_NUM_SAMPLES = 60
    settings.SENTIMENT_EXPLAIN_PRECISION = "fp32"
