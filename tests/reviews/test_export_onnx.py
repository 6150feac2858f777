"""`manage.py export_onnx`: a version built before ONNX Runtime was used gains a sealed export;
one with an export is left alone; a tampered one is refused and left as it was."""

import io
import json
import shutil

import pytest
from django.core.management import CommandError, call_command

from modeling import onnx_runtime, registry
from modeling.serving import Predictor
from reviews.conf import conf
from reviews.services.model_versions import model_version_register

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def without_export(folder):
    """The version as it was before exports: no onnx/ folder, no manifest entry, sealed again."""
    manifest = registry.verify(folder, key=conf.signing_key())
    shutil.rmtree(folder / onnx_runtime.FOLDER)
    manifest.pop("onnx")
    manifest["files"] = {name: digest for name, digest in manifest["files"].items() if not name.startswith("onnx/")}
    manifest["seal"] = registry._seal(manifest, conf.signing_key())
    registry._write_manifest(folder, manifest)
    registry.verify(folder, key=conf.signing_key())


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_onnx", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_an_old_version_gains_a_sealed_export_once(own_store, model_store):
    old, exported = (model_version_register(version_id=v.id) for v in model_store)
    without_export(own_store / old.id)
    assert Predictor(old.path, key=conf.signing_key(), precision="int8").backend == "torch"
    out, _ = run()
    assert f"{old.id}: exported fp32, int8" in out and exported.id not in out
    manifest = registry.verify(own_store / old.id, key=conf.signing_key())
    assert set(manifest["onnx"]["files"]) == {"fp32", "int8"}
    assert {"onnx/model.onnx", "onnx/model.int8.onnx"} <= set(manifest["files"])
    assert Predictor(old.path, key=conf.signing_key(), precision="int8").backend == "onnx"
    assert not [p for p in own_store.iterdir() if p.name.startswith(registry.TMP_PREFIX)]
    assert run() == ("", "")  # nothing left to export


def test_a_tampered_version_is_refused_and_left_as_it_was(own_store, model_store):
    row = model_version_register(version_id=model_store[0].id)
    without_export(own_store / row.id)
    manifest = json.loads((own_store / row.id / registry.MANIFEST).read_text())
    manifest["base_model"] = "somebody-else"
    (own_store / row.id / registry.MANIFEST).write_text(json.dumps(manifest))
    before = sorted(p.name for p in (own_store / row.id).iterdir())
    with pytest.raises(CommandError, match="1 version"):
        run()
    assert sorted(p.name for p in (own_store / row.id).iterdir()) == before
    with pytest.raises(CommandError, match="no such version: nope"):
        run("nope")


def test_adding_files_that_fails_midway_leaves_the_version_whole(own_store, model_store):
    folder = own_store / model_store[0].id

    def add(copy):
        (copy / "half-written.bin").write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.extend(folder, key=conf.signing_key(), add=add)
    registry.verify(folder, key=conf.signing_key())
    assert not (folder / "half-written.bin").exists()
    assert not [p for p in own_store.iterdir() if p.name.startswith(registry.TMP_PREFIX)]


def test_an_export_that_fails_says_so_and_the_version_stays_on_pytorch(own_store, model_store, monkeypatch):
    row = model_version_register(version_id=model_store[0].id)
    without_export(own_store / row.id)

    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(onnx_runtime, "_export_fp32", broken)
    out, _ = run(row.id)
    assert "exported nothing (RuntimeError: exporter exploded)" in out
    manifest = registry.verify(own_store / row.id, key=conf.signing_key())
    assert manifest["onnx"]["files"] == {} and Predictor(row.path, key=conf.signing_key()).backend == "torch"


def test_an_ngram_version_has_nothing_to_export_and_is_left_alone(own_store, model_store, tmp_path):
    from modeling.pipeline import DataOrigin, build_ngram_version
    from tests.tiny import toy_data

    built = build_ngram_version(toy_data(), DataOrigin("toy", 0), store=own_store, key=conf.signing_key(),
                                work_dir=tmp_path / "work")
    row = model_version_register(version_id=built.id)
    before = (own_store / row.id / registry.MANIFEST).read_text()
    assert run() == ("", "")
    out, _ = run(row.id)
    assert "an n-gram model; it has no transformer to export" in out
    assert (own_store / row.id / registry.MANIFEST).read_text() == before
    assert Predictor(row.path, key=conf.signing_key(), precision="int8", backend="onnx").backend == "ngram"
