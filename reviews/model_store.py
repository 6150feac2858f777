"""Where this machine finds model versions and where training checkpoints survive a worker.

With SENTIMENT_MODEL_STORE a folder (the default), versions live there and nothing here does
anything. With SENTIMENT_MODEL_STORE=s3://bucket/prefix (modeling/object_store.py) the store is
the one copy every machine shares, and SENTIMENT_MODEL_CACHE this machine's verified copies:

- a new version is saved into the cache, uploaded whole (`publish`), and only then registered;
- a version this machine lacks is fetched and verified before it serves or is activated
  (`local_path`), so activation works from any web machine and a web process started later
  fetches the active version itself;
- a training run's checkpoint is uploaded each time it is written, so another worker resumes the
  run from it (`checkpoint_save`, `checkpoint_restore`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from modeling import registry
from modeling.object_store import NotInStore, ObjectStore, is_remote
from reviews.conf import conf

log = logging.getLogger(__name__)
_stores: dict[tuple[str, str, str], ObjectStore] = {}
_fetching: dict[str, threading.Lock] = {}
_lock = threading.Lock()
# A training run's files that make its checkpoint: where it stands, the best epoch's weights and
# that epoch's validation probabilities (modeling.checkpoints.CHECKPOINT and BEST,
# modeling.train.VALIDATION_PROBA; named here so web processes need not import torch).
CHECKPOINT_FILES = ("checkpoint.pt", "best.pt", "validation_proba.npy")


def remote() -> ObjectStore | None:
    """The object store, or None when versions live in a local folder."""
    location = str(conf.site.model_store)
    if not is_remote(location):
        return None
    key = (location, conf.site.s3_endpoint_url, conf.site.s3_region)
    with _lock:
        if key not in _stores:
            _stores[key] = ObjectStore(location, endpoint_url=key[1], region=key[2])
        return _stores[key]


def local_root() -> Path:
    """The folder versions are read from on this machine (the cache, with an object store)."""
    return Path(conf.site.model_cache) if remote() is not None else Path(conf.site.model_store)


def _verify(folder: Path) -> None:
    registry.verify(folder, key=conf.signing_key())


def local_path(version_id: str) -> Path:
    """The version's folder on this machine; with an object store, fetched (and verified) first
    when the cache lacks it."""
    path = local_root() / version_id
    if remote() is None or (path / registry.MANIFEST).exists():
        return path
    return fetch_verified(version_id)


def fetch_verified(version_id: str) -> Path:
    """Fetch the version from the object store into the cache, verified, replacing a copy that
    does not verify (a version re-sealed under a new key, a damaged file). One fetch at a time per
    version in this process; another process fetching it too is harmless (the first verified copy
    renamed into place is kept; a copy is replaced only when it does not verify)."""
    store = remote()
    with _lock:
        lock = _fetching.setdefault(version_id, threading.Lock())
    with lock:
        path = local_root() / version_id
        if path.exists():
            try:
                _verify(path)
                return path
            except registry.RegistryError as exc:
                log.warning("cached copy of %s does not verify (%s); fetching it again", version_id, exc)
        return store.fetch_version(version_id, local_root(), verify=_verify)


def check_in_store(version_id: str) -> Path:
    """Activation's check: with an object store, the version must be there whole and this
    machine's copy must verify (fetched when missing or stale); without one, the local folder must
    verify. Returns the verified folder; raises registry.RegistryError: VerificationError when the
    version itself is wrong, object_store.NotInStore or StoreUnavailable when the store lacks it or
    cannot be reached."""
    store = remote()
    if store is None:
        path = local_root() / version_id
        _verify(path)
        return path
    if not store.has_version(version_id):
        raise NotInStore(f"version {version_id} is not in the object store {store.url} (`manage.py push_versions` "
                         "uploads the versions a machine has locally)")
    return fetch_verified(version_id)


def fetch_sealed_with(version_id: str, *, key: bytes) -> Path:
    """The store's copy of a version, verified under `key` (the key that sealed it, before a key
    rotation re-seals it): `manage.py seal_versions` with an object store."""
    return remote().fetch_version(version_id, local_root(), verify=lambda folder: registry.verify(folder, key=key))


def publish(version_id: str) -> None:
    """Upload a version saved on this machine, whole, before it is registered (no-op without an
    object store). Uploading again replaces it (after it was re-sealed or extended)."""
    store = remote()
    if store is not None:
        store.put_version(local_root() / version_id)


# --- training checkpoints -----------------------------------------------------------------------


def checkpoint_save(name: str, work_dir: Path) -> None:
    """Upload a run's checkpoint files (after each checkpoint) so another worker can resume it."""
    store = remote()
    if store is not None:
        store.put_checkpoint(name, [Path(work_dir) / f for f in CHECKPOINT_FILES], key=conf.signing_key())


def checkpoint_restore(name: str, work_dir: Path) -> list[str]:
    """Before a run starts or resumes here: fetch its checkpoint from the store when this
    machine has none (the run was started by a worker elsewhere). Returns the files fetched."""
    store = remote()
    work_dir = Path(work_dir)
    if store is None or (work_dir / CHECKPOINT_FILES[0]).exists():
        return []
    fetched = store.get_checkpoint(name, work_dir, key=conf.signing_key())
    if fetched:
        log.info("training %s resumes from the checkpoint in %s (%s)", name, store.url, ", ".join(fetched))
    return fetched


def checkpoint_discard(name: str) -> None:
    """A run that ended needs its stored checkpoint no more."""
    store = remote()
    if store is not None:
        store.delete_checkpoint(name)
