"""Model versions and training checkpoints in an S3-compatible object store, shared by machines.

The registry (modeling/registry.py) keeps versions in a local folder; with an object store that
folder is each machine's cache, and the store holds the one copy every machine trusts:

    s3://bucket/prefix/versions/<id>/<file>...      a version's files, uploaded whole
    s3://bucket/prefix/versions/<id>/.complete      written last: the version is all there
    s3://bucket/prefix/checkpoints/<name>/<file>    a running training's checkpoint, each file
                                                    carrying its HMAC under the signing key
                                                    (object metadata: one atomic write)

A version is fetched into a temporary folder, verified (its seal and every checksum, against the
signing key: the store is not trusted more than a disk) and renamed into the cache, so a cache
never holds a half-fetched or unverified version. Any S3-compatible server works (AWS S3, MinIO,
SeaweedFS, moto's server): `endpoint_url` names one that is not AWS; credentials come the way
boto3 finds them (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlparse

from modeling.registry import TMP_PREFIX, RegistryError, VerificationError, read_manifest

log = logging.getLogger(__name__)
COMPLETE = ".complete"


class StoreUnavailable(RegistryError):
    """The object store could not be reached or refused the request: try again later (nothing is
    wrong with the version itself)."""


class NotInStore(RegistryError):
    """The store does not hold this version whole (never uploaded, or deleted)."""


def is_remote(location: str | Path) -> bool:
    return str(location).startswith("s3://")


def _safe_name(name: str) -> str:
    if not name or "/" in name or name.startswith(".") or ".." in name:
        raise RegistryError(f"invalid name in the object store: {name!r}")
    return name


class ObjectStore:
    """One bucket and prefix of an S3-compatible store."""

    def __init__(self, url: str, *, endpoint_url: str = "", region: str = "", client=None):
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not an object store location (s3://bucket/prefix): {url!r}")
        self.url = url
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        if client is None:
            import boto3
            from botocore.config import Config

            # Checksums only where S3 requires them: several S3-compatible servers reject the
            # checksum trailers boto3 sends by default since 1.36.
            client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None,
                                  config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                connect_timeout=5, read_timeout=60,
                                                request_checksum_calculation="when_required",
                                                response_checksum_validation="when_required"))
        self.client = client

    def __repr__(self):
        return f"ObjectStore({self.url!r})"

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _call(self, what: str, fn: Callable, *args, **kwargs):
        """A client call; a network or server failure becomes StoreUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise
            raise StoreUnavailable(f"object store {self.url}: {what} failed ({code or exc})") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"object store {self.url}: {what} failed ({exc})") from exc

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._call(f"reading {key}", self.client.head_object, Bucket=self.bucket, Key=key)
            return True
        except ClientError:
            return False

    def _list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call(f"listing {prefix}", lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=prefix)))
        for page in pages:
            keys.extend(item["Key"] for item in page.get("Contents", ()))
        return keys

    def _upload(self, path: Path, key: str) -> None:
        self._call(f"uploading {key}", self.client.upload_file, str(path), self.bucket, key)

    def _download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._call(f"downloading {key}", self.client.download_file, self.bucket, key, str(path))

    def _delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[start:start + 1000]]
            self._call("deleting", self.client.delete_objects, Bucket=self.bucket, Delete={"Objects": chunk})

    # --- versions ------------------------------------------------------------------------------

    def has_version(self, version_id: str) -> bool:
        """The version is in the store whole (its last object, the marker, is there)."""
        return self._exists(self._key("versions", _safe_name(version_id), COMPLETE))

    def put_version(self, folder: Path) -> None:
        """Upload a saved version's every file, then its marker: until the marker is there no
        machine fetches it. Uploading again (a version re-sealed or extended) replaces its files;
        the marker is taken away first, so nobody fetches a mix of old and new."""
        folder = Path(folder)
        vid = _safe_name(folder.name)
        marker = self._key("versions", vid, COMPLETE)
        old = set(self._list(self._key("versions", vid) + "/"))
        if marker in old:
            self._delete([marker])
        new = set()
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                key = self._key("versions", vid, path.relative_to(folder).as_posix())
                self._upload(path, key)
                new.add(key)
        self._delete(sorted(old - new - {marker}))
        self._call(f"marking {vid} complete", self.client.put_object, Bucket=self.bucket, Key=marker, Body=b"")
        log.info("version %s uploaded to %s", vid, self.url)

    def fetch_version(self, version_id: str, cache: Path, *, verify: Callable[[Path], object]) -> Path:
        """Download a version into `cache`, verified by `verify(folder)` (which raises when it
        fails) before it is renamed into place; returns its folder. A copy already in place (another
        process's fetch that landed first) is kept when it verifies and has the store's manifest;
        otherwise it is moved aside whole and replaced. A version not in the store whole raises
        NotInStore."""
        vid = _safe_name(version_id)
        if not self.has_version(vid):
            raise NotInStore(f"version {vid} is not in the object store {self.url}")
        cache = Path(cache)
        cache.mkdir(parents=True, exist_ok=True)
        # Fetched under its own name (a version's folder is named by its id) inside a temporary one.
        tmp = cache / f"{TMP_PREFIX}fetch-{vid}-{os.getpid()}-{os.urandom(3).hex()}"
        fetched = tmp / vid
        base = self._key("versions", vid) + "/"
        try:
            for key in self._list(base):
                rel = key[len(base):]
                if rel == COMPLETE:
                    continue
                if any(part in ("", ".", "..") for part in rel.split("/")):
                    raise VerificationError(f"version {vid}: unsafe file name in the store: {rel!r}")
                self._download(key, fetched / rel)
            verify(fetched)
            final = cache / vid
            for attempt in range(3):
                try:
                    os.rename(fetched, final)  # fails when a copy is there (never renamed over one)
                    log.info("version %s fetched from %s", vid, self.url)
                    return final
                except OSError:
                    if not final.exists():
                        continue  # another process moved it aside meanwhile
                if _same_copy(final, fetched, verify):
                    return final  # another process's fetch landed first: kept (a web process may read it)
                log.warning("version %s: the copy in %s differs from the store's or does not verify: replaced", vid, cache)
                try:  # moved aside whole (a process reading it keeps its files), deleted with `tmp`
                    os.rename(final, tmp / f"replaced-{attempt}")
                except FileNotFoundError:
                    pass  # another process moved it aside first
            raise VerificationError(f"version {vid}: its folder in {cache} kept changing while it was fetched")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def version_ids(self) -> list[str]:
        """Versions in the store whole."""
        base = self._key("versions") + "/"
        return sorted(key[len(base):].split("/")[0] for key in self._list(base) if key.endswith("/" + COMPLETE))

    # --- checkpoints ---------------------------------------------------------------------------

    def put_checkpoint(self, name: str, files: Iterable[Path], *, key: bytes) -> None:
        """Upload a training's checkpoint files, each with its HMAC under `key` (bound to the
        checkpoint's name and the file's) in the same write."""
        for path in files:
            path = Path(path)
            if not path.is_file():
                continue
            object_key = self._key("checkpoints", _safe_name(name), _safe_name(path.name))
            mac = _file_mac(path, key, f"{name}/{path.name}")
            self._call(f"uploading {object_key}", self.client.upload_file, str(path), self.bucket, object_key,
                       ExtraArgs={"Metadata": {"hmac": mac}})

    def get_checkpoint(self, name: str, folder: Path, *, key: bytes) -> list[str]:
        """Download a training's checkpoint into `folder`; returns the file names fetched ([] when
        the store has none). A file whose HMAC does not match under `key` is left out with a
        warning (training then starts that part over): it was not written by this installation."""
        base = self._key("checkpoints", _safe_name(name)) + "/"
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fetched = []
        for object_key in sorted(self._list(base)):
            file_name = _safe_name(object_key[len(base):])
            tmp = folder / f"{file_name}.fetching"
            meta = self._call(f"reading {object_key}", self.client.head_object, Bucket=self.bucket,
                              Key=object_key).get("Metadata", {})
            self._download(object_key, tmp)
            if not hmac.compare_digest(str(meta.get("hmac", "")), _file_mac(tmp, key, f"{name}/{file_name}")):
                tmp.unlink(missing_ok=True)
                log.warning("checkpoint %s/%s in %s: its signature does not match; not used", name, file_name, self.url)
                continue
            os.replace(tmp, folder / file_name)
            fetched.append(file_name)
        return fetched

    def delete_checkpoint(self, name: str) -> None:
        self._delete(self._list(self._key("checkpoints", _safe_name(name)) + "/"))


def _same_copy(folder: Path, fetched: Path, verify: Callable[[Path], object]) -> bool:
    """True when `folder` verifies and holds what `fetched` holds: the same manifest, so the same
    files by their digests (an older copy that still verifies, say before an export was added to
    the version, is not the same)."""
    try:
        verify(folder)
        return read_manifest(folder) == read_manifest(fetched)
    except (RegistryError, OSError, ValueError):
        return False


def _file_mac(path: Path, key: bytes, label: str) -> str:
    if not key:
        raise RegistryError("a signing key is needed to sign or check a checkpoint")
    mac = hmac.new(key, f"checkpoint:{label}:".encode(), hashlib.sha256)
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            mac.update(block)
    return mac.hexdigest()
