"""This process's predictor: loaded lazily, once per process, and swapped (never mutated) when
the database says another version is active. Nothing here runs at import time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from django.conf import settings

from modeling.serving import Predictor, PredictorHolder
from reviews.models import ModelVersion

# How often a process asks the database which version is active.
ACTIVE_CHECK_SECONDS = 1.0

_lock = threading.Lock()
_last_check = {"at": 0.0, "version_id": None}


def _load(version_id: str) -> Predictor:
    return Predictor(
        Path(settings.SENTIMENT_MODEL_STORE) / version_id,
        batch_size=settings.SENTIMENT_PREDICT_BATCH_SIZE,
        threads=settings.SENTIMENT_TORCH_THREADS,
    )


holder = PredictorHolder(_load)


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
    """The predictor for the active version (None when no version is active yet)."""
    version_id = active_version_id()
    if version_id is None:
        return None
    return holder.ensure(version_id)


def reset() -> None:
    """Forget the cached active version and the loaded predictor (tests, after activation)."""
    with _lock:
        _last_check.update(at=0.0, version_id=None)
    holder.clear()
