"""The model store: one folder per version with `save_pretrained` weights and tokenizer and a
self-describing `manifest.json` (how it was made, how it scored, the SHA-256 of every file).

A version is assembled in a hidden temporary folder and renamed into place, so a reader never
sees a half-written version. The manifest is sealed with HMAC-SHA256 under the installation's
signing key, so whoever can write the folder but does not hold the key cannot change a version;
`verify` checks the seal, that every file in the folder is listed (and no path leaves it) and
every checksum, before a version is used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from modeling.config import LABELS, NGRAM, TRANSFORMER

MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"
FORMAT = 2
SEAL = "HMAC-SHA256"
# The file that makes a folder a model of its kind (the manifest's `kind`, modeling/config.py).
MODEL_FILE = {TRANSFORMER: "config.json", NGRAM: "ngram.json"}
LIBRARIES = ("torch", "transformers", "tokenizers", "datasets", "scikit-learn", "numpy")


class RegistryError(Exception):
    """A version that cannot be saved or found."""


class VerificationError(RegistryError):
    """A version whose files are missing, changed, or whose manifest is damaged."""


@dataclass(frozen=True)
class Version:
    id: str
    path: Path
    manifest: dict

    @property
    def metrics(self) -> dict:
        return self.manifest.get("metrics", {})


def new_version_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical(manifest: dict) -> bytes:
    body = {k: v for k, v in manifest.items() if k not in ("integrity", "seal")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _manifest_digest(manifest: dict) -> str:
    """The unkeyed digest of format-1 manifests (anyone could recompute it: kept only to re-seal
    old versions once, see `seal_existing`)."""
    return hashlib.sha256(_canonical(manifest)).hexdigest()


def key_id(key: bytes) -> str:
    """A short public name of a signing key (tells which key sealed a version, reveals nothing)."""
    return hashlib.sha256(b"key-id:" + key).hexdigest()[:12]


def _seal(manifest: dict, key: bytes) -> dict:
    if not key:
        raise RegistryError("a signing key is needed to seal or verify a version")
    mac = hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()
    return {"alg": SEAL, "key_id": key_id(key), "mac": mac}


def _listed_files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def _library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        _fsync_dir(folder)


def save(
    store: str | Path,
    model_dir: str | Path,
    *,
    manifest: dict,
    key: bytes,
    version_id: str | None = None,
    before_rename: Callable[[], None] | None = None,
) -> Version:
    """Copy a model folder (a `save_pretrained` transformer, or an n-gram model's files with the
    manifest's `kind` "ngram") into the store as a new version with its manifest, sealed with `key`.

    `manifest` holds what the caller knows (base model, training config, data, metrics); the
    id, creation time, label map, file checksums and library versions are added here.
    """
    store, model_dir = Path(store), Path(model_dir)
    required = model_file(manifest)
    if not (model_dir / required).is_file():
        raise RegistryError(f"{model_dir} is not a saved model (no {required})")
    store.mkdir(parents=True, exist_ok=True)
    vid = version_id or new_version_id()
    final = store / vid
    if final.exists():
        raise RegistryError(f"version {vid} already exists in {store}")
    tmp = store / f"{TMP_PREFIX}{vid}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(model_dir, tmp, ignore=shutil.ignore_patterns(MANIFEST, ".*"))
        files = _listed_files(tmp)
        full = {
            "format": FORMAT,
            **manifest,
            "id": vid,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "labels": list(LABELS),
            "files": files,
            "libraries": _library_versions(),
        }
        full["seal"] = _seal(full, key)
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=True))
        _fsync_tree(tmp)
        if before_rename is not None:
            before_rename()
        os.rename(tmp, final)
        _fsync_dir(store)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Version(vid, final, full)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise VerificationError(f"{path}: no {MANIFEST} (not a version, or an incomplete one)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VerificationError(f"{path}: {MANIFEST} is damaged ({exc})") from None
    if not isinstance(manifest, dict):
        raise VerificationError(f"{path}: {MANIFEST} is damaged (not an object)")
    return manifest


def verify(path: str | Path, *, key: bytes) -> dict:
    """Check a version before it is used: the manifest's seal under `key`, that it lists every
    file of the folder and nothing outside it, and every checksum. Returns the manifest, or raises
    VerificationError saying what is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise VerificationError(f"{path}: no such version folder")
    manifest = read_manifest(path)
    seal = manifest.get("seal")
    if not isinstance(seal, dict) or seal.get("alg") != SEAL:
        raise VerificationError(f"{path}: {MANIFEST} is not sealed (an old or foreign version; "
                                "`manage.py seal_versions` re-seals registered ones)")
    if not hmac.compare_digest(str(seal.get("mac", "")), _seal(manifest, key)["mac"]):
        which = "another signing key" if seal.get("key_id") != key_id(key) else "nobody: it was changed"
        raise VerificationError(f"{path}: {MANIFEST}'s seal does not match (sealed by {which})")
    _check_files(path, manifest)
    return manifest


def model_file(manifest: dict) -> str:
    """The file a version of this manifest's kind cannot be without."""
    kind = manifest.get("kind", TRANSFORMER)
    if kind not in MODEL_FILE:
        raise RegistryError(f"unknown kind of model version: {kind!r}")
    return MODEL_FILE[kind]


def _check_files(path: Path, manifest: dict) -> None:
    files = manifest.get("files")
    try:
        required = model_file(manifest)
    except RegistryError as exc:
        raise VerificationError(f"{path}: {exc}") from None
    if not isinstance(files, dict) or required not in files:
        raise VerificationError(f"{path}: {MANIFEST} lists no model files")
    root = path.resolve()
    for name in files:
        target = (path / name).resolve()
        if Path(name).is_absolute() or ".." in Path(name).parts or not target.is_relative_to(root):
            raise VerificationError(f"{path}: {MANIFEST} names a file outside the version: {name!r}")
    missing = [name for name in files if not (path / name).is_file()]
    if missing:
        raise VerificationError(f"{path}: incomplete, missing {', '.join(sorted(missing))}")
    present = _listed_files(path)
    unlisted = sorted(set(present) - set(files))
    if unlisted:
        raise VerificationError(f"{path}: files not in its manifest: {', '.join(unlisted)} (planted, or left over)")
    changed = [name for name, digest in files.items() if present[Path(name).as_posix()] != digest]
    if changed:
        raise VerificationError(f"{path}: checksum mismatch in {', '.join(sorted(changed))} (tampered or corrupted)")
    if manifest.get("id") != path.name:
        raise VerificationError(f"{path}: manifest id {manifest.get('id')!r} does not match the folder name")


def seal_existing(path: str | Path, *, key: bytes) -> bool:
    """Seal a format-1 version (unkeyed digest) under `key`, once, after checking its digest and
    files as format 1 did; False if it is sealed already. For upgrading an installation: whoever
    runs it vouches for the versions on disk."""
    path = Path(path)
    manifest = read_manifest(path)
    if isinstance(manifest.get("seal"), dict):
        verify(path, key=key)
        return False
    if manifest.get("integrity") != _manifest_digest(manifest):
        raise VerificationError(f"{path}: {MANIFEST} was changed after the version was written")
    _check_files(path, manifest)
    manifest.pop("integrity", None)
    manifest["format"] = FORMAT
    manifest["seal"] = _seal(manifest, key)
    _write_manifest(path, manifest)
    return True


def reseal(path: str | Path, *, old_key: bytes, key: bytes) -> None:
    """Move a version to a new signing key (key rotation): verified under `old_key`, re-sealed."""
    path = Path(path)
    manifest = verify(path, key=old_key)
    manifest["seal"] = _seal(manifest, key)
    _write_manifest(path, manifest)


def extend(path: str | Path, *, key: bytes, add: Callable[[Path], dict]) -> Version:
    """Add files to a sealed version (e.g. an ONNX export for a version built before exports):
    the version is verified, copied into a hidden folder beside it, `add(copy)` writes its files
    there and returns what to add to the manifest, and the copy, listed and sealed, replaces the
    version. Readers see the old version or the new one; between the two renames (microseconds)
    the folder is absent, and a loader that hits that moment fails and retries."""
    path = Path(path)
    manifest = verify(path, key=key)
    tmp = path.parent / f"{TMP_PREFIX}{path.name}-extend-{os.getpid()}"
    old = path.parent / f"{TMP_PREFIX}{path.name}-old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(path, tmp, ignore=shutil.ignore_patterns(MANIFEST))
        manifest.update(add(tmp))
        manifest["files"] = _listed_files(tmp)
        manifest["seal"] = _seal(manifest, key)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        _fsync_tree(tmp)
        os.rename(path, old)
        os.rename(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        if old.exists() and not path.exists():
            os.rename(old, path)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return Version(path.name, path, manifest)


def _write_manifest(path: Path, manifest: dict) -> None:
    tmp = path / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, path / MANIFEST)


def load(store: str | Path, version_id: str, *, key: bytes) -> Version:
    """A verified version of the store."""
    if not version_id or "/" in version_id or version_id.startswith("."):
        raise RegistryError(f"invalid version id {version_id!r}")
    path = Path(store) / version_id
    return Version(version_id, path, verify(path, key=key))


def list_versions(store: str | Path) -> list[Version]:
    """Versions in the store (manifests read, not verified), oldest first."""
    store = Path(store)
    if not store.is_dir():
        return []
    found = []
    for path in sorted(store.iterdir()):
        if path.is_dir() and not path.name.startswith("."):
            try:
                found.append(Version(path.name, path, read_manifest(path)))
            except VerificationError:
                continue
    return found


def remove_stale_temporaries(store: str | Path, *, older_than_s: float = 3600.0) -> list[Path]:
    """Delete temporary folders left by a process killed while saving."""
    store = Path(store)
    removed = []
    if store.is_dir():
        for path in store.glob(f"{TMP_PREFIX}*"):
            if time.time() - path.stat().st_mtime > older_than_s:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed
