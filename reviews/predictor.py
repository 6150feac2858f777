"""This process's predictor: loaded lazily, once per process, and swapped (never mutated) when
the database says another version is active. Nothing here runs at import time."""

from __future__ import annotations

import threading
import time

from django.db import connections

from modeling import registry
from modeling.serving import Predictor, PredictorHolder
from reviews import model_store
from reviews.conf import conf
from reviews.models import ModelVersion

# How often a process asks the database which version is active.
ACTIVE_CHECK_SECONDS = 1.0

_lock = threading.Lock()
_last_check = {"at": 0.0, "version_id": None}


def _load(version_id: str) -> Predictor:
    """The version's predictor, from this machine's copy; with an object store, a cached copy
    that no longer verifies (re-sealed after a key rotation, damaged) is fetched again, once."""
    serving = conf.serving

    def load(path) -> Predictor:
        return Predictor(path, key=conf.signing_key(), batch_size=serving.batch_size, threads=serving.threads,
                         precision=serving.precision, backend=serving.backend)

    try:
        return load(model_store.local_path(version_id))
    except registry.VerificationError:
        if model_store.remote() is None:
            raise
        return load(model_store.fetch_verified(version_id))


holder = PredictorHolder(_load)
# A background load thread opens its own database connection; close it when the thread ends.
holder.on_thread_exit = lambda: connections.close_all()


def active_version_id(*, max_age: float = ACTIVE_CHECK_SECONDS) -> str | None:
    """The active version's id, read from the database at most once per `max_age` seconds."""
    now = time.monotonic()
    if now - _last_check["at"] >= max_age:
        version_id = (
            ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("id", flat=True).first()
        )
        with _lock:
            _last_check.update(at=now, version_id=version_id)
    return _last_check["version_id"]


def current_predictor() -> Predictor | None:
    """The predictor to answer with now (None when no version is active yet).

    The first request of a process loads the active version. After that, when another version
    becomes active, it is loaded and warmed in a background thread while the current one keeps
    answering; the swap is one reference. A version that fails to load leaves the old one
    serving (see `holder.last_error`, reported by the health endpoint).
    """
    version_id = active_version_id()
    if version_id is None:
        return None
    current = holder.current
    if current is None:
        return holder.ensure(version_id)
    if current.version_id != version_id:
        holder.ensure_in_background(version_id)
    return current


def reset() -> None:
    """Forget the cached active version and the loaded predictor (tests, after activation)."""
    with _lock:
        _last_check.update(at=0.0, version_id=None)
    holder.clear()
