"""A sealed model store (issue 18, reproduction 6): a version someone changed without the signing
key, a file planted beside its files, a path that leaves the folder, or a planted checkpoint is
refused, never loaded or run."""

import json
import shutil

import pytest
import torch

from modeling import checkpoints, registry
from modeling.config import Phase
from modeling.pipeline import BuildOptions, DataOrigin, build_version
from tests.tiny import KEY, tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sealed(tiny_bert, toy, tmp_path_factory):
    config = tiny_config(str(tiny_bert), phases=(Phase("all", 1, 2e-3),))
    return build_version(config, toy, DataOrigin("toy", 0), store=tmp_path_factory.mktemp("store"), key=KEY,
                         work_dir=tmp_path_factory.mktemp("work"), options=BuildOptions(show_progress=False))


@pytest.fixture
def copy(sealed, tmp_path):
    """A copy of the sealed version to tamper with."""
    target = tmp_path / sealed.id
    shutil.copytree(sealed.path, target)
    return target


def rewrite_manifest(folder, change):
    manifest = json.loads((folder / registry.MANIFEST).read_text())
    change(manifest)
    (folder / registry.MANIFEST).write_text(json.dumps(manifest))


def test_a_sealed_version_verifies_with_its_key_only(sealed):
    """The seal holds under the key that made it, and names another key as the reason otherwise."""
    assert registry.verify(sealed.path, key=KEY)["seal"]["alg"] == "HMAC-SHA256"
    with pytest.raises(registry.VerificationError, match="another signing key"):
        registry.verify(sealed.path, key=b"someone else's key")


def test_changed_weights_with_recomputed_checksums_are_refused(copy):
    """Changing the weights and recomputing every checksum in the manifest (what passed the old,
    unkeyed integrity check) breaks the seal."""
    weights = next(p for p in copy.iterdir() if p.suffix in (".safetensors", ".bin"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    rewrite_manifest(copy, lambda m: m["files"].update({weights.name: registry.file_sha256(weights)}))
    with pytest.raises(registry.VerificationError, match="seal does not match"):
        registry.verify(copy, key=KEY)


def test_a_file_planted_in_a_version_folder_is_refused(copy):
    """A file the manifest does not list (a planted n-gram companion, say) fails verification."""
    (copy / "ngram.json").write_text("{}")
    with pytest.raises(registry.VerificationError, match="not in its manifest: ngram.json"):
        registry.verify(copy, key=KEY)


def test_a_manifest_path_outside_the_folder_is_refused(copy, tmp_path):
    """A listed path that leaves the version folder fails, even with a correct checksum and a
    valid seal (a writer holding the key but gone wrong)."""
    outside = tmp_path / "outside.txt"
    outside.write_text("x")

    def escape(m):
        m["files"]["../outside.txt"] = registry.file_sha256(outside)
        m["seal"] = registry._seal(m, KEY)

    rewrite_manifest(copy, escape)
    with pytest.raises(registry.VerificationError, match="outside the version"):
        registry.verify(copy, key=KEY)


def test_an_old_unsealed_version_is_sealed_once_after_its_checks(copy):
    """A format-1 version (unkeyed digest) is refused until seal_existing seals it, which checks
    its digest first; a changed format-1 manifest is not sealed."""
    def as_format_1(m):
        m.pop("seal")
        m["format"] = 1
        m["integrity"] = registry._manifest_digest(m)

    rewrite_manifest(copy, as_format_1)
    with pytest.raises(registry.VerificationError, match="not sealed"):
        registry.verify(copy, key=KEY)
    assert registry.seal_existing(copy, key=KEY) is True
    assert registry.verify(copy, key=KEY)["format"] == registry.FORMAT
    assert registry.seal_existing(copy, key=KEY) is False
    rewrite_manifest(copy, as_format_1)
    rewrite_manifest(copy, lambda m: m["metrics"].update({"test": {"accuracy": 1.0}}))
    with pytest.raises(registry.VerificationError, match="changed after"):
        registry.seal_existing(copy, key=KEY)


class Planted:
    """Unpickling this runs a shell command (what a planted checkpoint did before)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_planted_checkpoint_runs_nothing_and_training_starts_over(tiny_bert, tmp_path):
    """checkpoint.pt is read with weights_only: a planted pickle is moved aside, not run."""
    marker = tmp_path / "ran"
    torch.save({"meta": Planted(marker)}, tmp_path / checkpoints.CHECKPOINT)
    config = tiny_config(str(tiny_bert))
    assert checkpoints.load(tmp_path, config) is None
    assert not marker.exists()
    assert (tmp_path / f"{checkpoints.CHECKPOINT}.refused").exists()


def test_rotating_the_signing_key_reseals_a_version(copy):
    """reseal() moves a version from the old key to the new one; the old key then fails."""
    registry.reseal(copy, old_key=KEY, key=b"the new key")
    registry.verify(copy, key=b"the new key")
    with pytest.raises(registry.VerificationError):
        registry.verify(copy, key=KEY)
