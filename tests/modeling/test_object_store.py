"""modeling/object_store.py against a real S3-compatible server (moto's standalone server over
HTTP, tests/conftest.py): versions uploaded whole and fetched verified, checkpoints signed."""

import os

import boto3
import pytest

from modeling import registry
from modeling.object_store import NotInStore, ObjectStore, StoreUnavailable
from tests.tiny import KEY


@pytest.fixture
def store(s3_bucket):
    endpoint, bucket = s3_bucket
    return ObjectStore(f"s3://{bucket}/prefix", endpoint_url=endpoint)


@pytest.fixture
def version(tmp_path):
    """A sealed version with two files (no model: the store moves files, it never loads them)."""
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "sub" / "weights.bin").write_bytes(os.urandom(4096))
    return registry.save(tmp_path / "local", model, manifest={"base_model": "none"}, key=KEY)


def verify(folder):
    registry.verify(folder, key=KEY)


def test_a_version_goes_up_whole_and_comes_back_verified(store, version, tmp_path):
    """Uploaded, it is listed and fetched into another machine's cache, byte for byte, verified."""
    assert not store.has_version(version.id)
    store.put_version(version.path)
    assert store.has_version(version.id) and store.version_ids() == [version.id]
    fetched = store.fetch_version(version.id, tmp_path / "cache", verify=verify)
    assert fetched == tmp_path / "cache" / version.id
    assert (fetched / "sub" / "weights.bin").read_bytes() == (version.path / "sub" / "weights.bin").read_bytes()
    assert registry.verify(fetched, key=KEY)["id"] == version.id
    assert not list((tmp_path / "cache").glob(f"{registry.TMP_PREFIX}*"))


def test_a_version_without_its_marker_is_not_fetched(store, version, tmp_path, s3_bucket):
    """Files without the last object (an upload cut short) are no version: nothing lands in the cache."""
    store.put_version(version.path)
    endpoint, bucket = s3_bucket
    boto3.client("s3", endpoint_url=endpoint).delete_object(Bucket=bucket, Key=f"prefix/versions/{version.id}/.complete")
    assert not store.has_version(version.id)
    with pytest.raises(NotInStore):
        store.fetch_version(version.id, tmp_path / "cache", verify=verify)
    assert not (tmp_path / "cache" / version.id).exists()


def test_a_version_changed_in_the_store_is_refused(store, version, tmp_path, s3_bucket):
    """Someone with write access to the bucket but not the signing key: the fetch fails
    verification and leaves no folder (nor a temporary one) behind."""
    store.put_version(version.path)
    endpoint, bucket = s3_bucket
    boto3.client("s3", endpoint_url=endpoint).put_object(Bucket=bucket, Key=f"prefix/versions/{version.id}/sub/weights.bin",
                                                         Body=b"planted")
    with pytest.raises(registry.VerificationError):
        store.fetch_version(version.id, tmp_path / "cache", verify=verify)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_copy_another_process_fetched_meanwhile_is_kept_and_a_damaged_one_replaced(store, version, tmp_path):
    """Two processes fetching one version: the second to finish finds the first one's verified
    copy in place and keeps it (a web process may be reading it), instead of deleting it and
    renaming its own over it. A copy that does not verify, or is not the store's, is replaced."""
    import shutil

    store.put_version(version.path)
    final = tmp_path / "cache" / version.id

    def verify_while_another_process_lands(folder):
        verify(folder)
        if folder != final and not final.exists():
            shutil.copytree(folder, final)  # the other process's rename happens now

    fetched = store.fetch_version(version.id, tmp_path / "cache", verify=verify_while_another_process_lands)
    assert fetched == final
    weights = final / "sub" / "weights.bin"
    inode = weights.stat().st_ino
    fetched = store.fetch_version(version.id, tmp_path / "cache", verify=verify_while_another_process_lands)
    assert fetched == final and weights.stat().st_ino == inode  # the copy in use was not deleted
    weights.write_bytes(b"damaged")
    fetched = store.fetch_version(version.id, tmp_path / "cache", verify=verify)
    assert weights.read_bytes() == (version.path / "sub" / "weights.bin").read_bytes()
    registry.verify(fetched, key=KEY)
    # A copy that passes the check but is not the store's (older: before the version was extended).
    manifest = final / registry.MANIFEST
    manifest.write_text(manifest.read_text().replace('"base_model"', '"older": true, "base_model"', 1))
    store.fetch_version(version.id, tmp_path / "cache", verify=lambda folder: None)
    assert '"older"' not in manifest.read_text()
    assert not list((tmp_path / "cache").glob(f"{registry.TMP_PREFIX}*"))


def test_uploading_again_replaces_the_files_and_drops_removed_ones(store, version, tmp_path):
    """A version re-sealed or extended goes up again: the store then holds exactly its new files."""
    store.put_version(version.path)
    (version.path / "sub" / "weights.bin").unlink()
    (version.path / "config.json").write_text('{"changed": true}')
    store.put_version(version.path)
    fetched = store.fetch_version(version.id, tmp_path / "cache", verify=lambda folder: None)
    assert not (fetched / "sub" / "weights.bin").exists()
    assert (fetched / "config.json").read_text() == '{"changed": true}'


def test_a_checkpoint_comes_back_only_with_its_signature(store, tmp_path, s3_bucket):
    """Checkpoint files carry an HMAC under the signing key: fetched with the key they come back;
    a file replaced in the bucket, or read with another key, is left out."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "checkpoint.pt").write_bytes(os.urandom(2048))
    (work / "best.pt").write_bytes(os.urandom(1024))
    store.put_checkpoint("run-7", [work / "checkpoint.pt", work / "best.pt", work / "absent.npy"], key=KEY)
    assert sorted(store.get_checkpoint("run-7", tmp_path / "elsewhere", key=KEY)) == ["best.pt", "checkpoint.pt"]
    assert (tmp_path / "elsewhere" / "checkpoint.pt").read_bytes() == (work / "checkpoint.pt").read_bytes()
    assert store.get_checkpoint("run-7", tmp_path / "other-key", key=b"another key") == []

    endpoint, bucket = s3_bucket
    boto3.client("s3", endpoint_url=endpoint).put_object(Bucket=bucket, Key="prefix/checkpoints/run-7/best.pt",
                                                         Body=b"planted", Metadata={"hmac": "0" * 64})
    assert store.get_checkpoint("run-7", tmp_path / "third", key=KEY) == ["checkpoint.pt"]
    store.delete_checkpoint("run-7")
    assert store.get_checkpoint("run-7", tmp_path / "fourth", key=KEY) == []


def test_a_store_that_cannot_be_reached_says_so(tmp_path, monkeypatch):
    """No server at the address: StoreUnavailable (try later), not a verdict on the version."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = ObjectStore("s3://bucket/prefix", endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(StoreUnavailable):
        down.has_version("20260101-000000-abcdef")
