import json

import numpy as np
import pytest

from modeling import registry
from modeling.config import Phase, ServingConfig
from modeling.pipeline import BuildOptions, DataOrigin, build_version
from modeling.serving import Predictor, PredictorHolder
from tests.tiny import KEY, tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def version(tiny_bert, toy, tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    config = tiny_config(str(tiny_bert), phases=(Phase("all", 3, 2e-3),))
    return build_version(config, toy, DataOrigin("toy", 0), store=store, key=KEY, work_dir=tmp_path_factory.mktemp("work"),
                         options=BuildOptions(show_progress=False))


def test_manifest_describes_the_version(version):
    """The manifest records config, data hashes, metrics, file checksums and library versions."""
    m = version.manifest
    assert m["id"] == version.id == version.path.name
    assert m["labels"] == ["negative", "positive"]
    assert m["train_config"]["max_length"] == 32 and m["inference"]["max_length"] == 32
    assert set(m["data"]["splits"]) == {"train", "validation", "test"}
    assert (m["data"]["source"], m["data"]["seed"]) == ("toy", 0)
    assert 0.0 <= m["metrics"]["test"]["accuracy"] <= 1.0
    assert "config.json" in m["files"] and "torch" in m["libraries"]
    assert not any(p.name.startswith(".tmp") for p in version.path.parent.iterdir())


def test_registry_round_trip_gives_identical_probabilities(version, toy):
    """A version loaded back from the store answers exactly as the model that was saved."""
    texts = list(toy["test"]["text"])[:20]
    first = Predictor(version.path, key=KEY).predict_proba(texts)
    loaded = registry.load(version.path.parent, version.id, key=KEY)
    assert np.array_equal(Predictor(loaded.path, key=KEY).predict_proba(texts), first)


def test_one_flipped_byte_in_any_file_fails_verify(version, tmp_path):
    """Flipping one byte of any file of a version (manifest included) fails verification."""
    import shutil

    names = [p.relative_to(version.path) for p in version.path.rglob("*") if p.is_file()]
    assert registry.MANIFEST in {str(n) for n in names}
    for name in names:
        copy = tmp_path / name.as_posix().replace("/", "_") / version.id
        shutil.copytree(version.path, copy)
        target = copy / name
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        with pytest.raises(registry.VerificationError):
            registry.verify(copy, key=KEY)


def test_missing_file_is_reported_as_incomplete(version, tmp_path):
    """A version with a file removed is refused as incomplete, naming the file."""
    import shutil

    copy = tmp_path / version.id
    shutil.copytree(version.path, copy)
    (copy / "config.json").unlink()
    with pytest.raises(registry.VerificationError, match="missing config.json"):
        registry.verify(copy, key=KEY)


def test_predict_proba_batches_equal_single_texts(version, toy):
    """A mixed-length batch gives the same probabilities, in input order, as one text at a time."""
    predictor = Predictor(version.path, key=KEY, batch_size=4)
    texts = ["great", "the movie was awful and the plot a mess , dull dull", "loved it", "worst film of the year"] * 3
    together = predictor.predict_proba(texts)
    alone = np.vstack([predictor.predict_proba([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(together.sum(axis=1), 1.0)
    assert not np.allclose(together, together[0])


def test_a_serving_config_or_its_fields_as_keywords_set_up_the_predictor(version):
    """Unset, a Predictor answers as ServingConfig's defaults say; a config and the same fields as
    keywords set it up alike, and a keyword overrides the config's field."""
    assert Predictor(version.path, key=KEY).config == ServingConfig()
    from_config = Predictor(version.path, ServingConfig(batch_size=4, precision="fp32", max_length=16), key=KEY)
    from_keywords = Predictor(version.path, key=KEY, batch_size=4, precision="fp32", max_length=16)
    assert from_config.config == from_keywords.config
    assert (from_config.batch_size, from_config.precision, from_config.max_length) == (4, "fp32", 16)
    assert Predictor(version.path, ServingConfig(batch_size=4), key=KEY, batch_size=8).batch_size == 8


def test_compiled_forward_pass_answers_as_the_eager_one(version, toy):
    """compile() swaps in a compiled pass (one graph for batches of any size, a single text
    included) that gives the eager probabilities; an int8 copy stays as it is."""
    texts = list(toy["test"]["text"])[:13] + ["great"]
    eager = Predictor(version.path, key=KEY, batch_size=4, precision="bf16-weights")
    compiled = Predictor(version.path, key=KEY, batch_size=4, precision="bf16-weights")
    from torch._dynamo.utils import counters

    assert not compiled.compiled and compiled.compile() and compiled.compiled and "compiled" in repr(compiled)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1
    graph, rows = compiled._forward, []

    def counting(**inputs):  # every batch goes through the compiled pass, two rows at least
        rows.append(len(inputs["input_ids"]))
        return graph(**inputs)

    compiled._forward = counting
    expected = eager.predict_proba(texts)
    assert np.abs(compiled.predict_proba(texts) - expected).max() < 0.02
    assert np.abs(compiled.predict_proba(texts[:1]) - expected[:1]).max() < 0.02  # a batch of one
    assert counters["stats"]["unique_graphs"] == graphs  # the calls ran the graph compile() made
    assert rows == [4, 4, 4, 2, 2]  # 14 texts in batches of 4, then one text padded to two rows
    compiled._forward = graph
    assert compiled.compile()  # again: nothing to do
    int8 = Predictor(version.path, key=KEY, precision="int8")
    assert not int8.compile() and not int8.compiled


def test_a_forward_pass_that_cannot_compile_stays_eager(version, monkeypatch, caplog):
    """Where compiling fails (no C++ compiler, say) the predictor keeps answering, eagerly."""
    import torch

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    predictor = Predictor(version.path, key=KEY, precision="bf16-weights")
    monkeypatch.setattr(torch, "compile", broken)
    assert not predictor.compile() and not predictor.compiled
    assert "no C++ compiler" in caplog.text
    assert predictor.predict_proba(["great"]).shape == (1, 2)


def test_predict_returns_label_confidence_probabilities(version):
    """predict gives label, confidence and per-label probabilities for each text."""
    (result,) = Predictor(version.path, key=KEY).predict(["wonderful superb film"])
    assert result["label"] in ("negative", "positive")
    assert result["confidence"] == max(result["probabilities"].values())
    assert set(result["probabilities"]) == {"negative", "positive"}


def test_save_leaves_no_partial_version_when_it_fails(tmp_path):
    """A save that fails midway leaves neither the version nor its temporary folder."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    store = tmp_path / "store"
    registry.save(store, model_dir, manifest={}, key=KEY, version_id="v1")
    with pytest.raises(registry.RegistryError, match="already exists"):
        registry.save(store, model_dir, manifest={}, key=KEY, version_id="v1")
    assert [p.name for p in store.iterdir()] == ["v1"]
    assert json.loads((store / "v1" / "manifest.json").read_text())["id"] == "v1"


def test_stale_temporaries_are_removed_and_fresh_ones_kept(tmp_path):
    """A temporary folder older than the limit (a save killed midway) goes; a fresh one, maybe a
    save still running, and the versions stay."""
    import os
    import time

    store = tmp_path / "store"
    old, fresh, version = store / f"{registry.TMP_PREFIX}v1-123", store / f"{registry.TMP_PREFIX}v2-456", store / "v0"
    for folder in (old, fresh, version):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    os.utime(version, (two_hours_ago, two_hours_ago))
    assert registry.remove_stale_temporaries(store, older_than_s=3600) == [old]
    assert not old.exists() and fresh.is_dir() and version.is_dir()


def test_holder_swaps_versions_and_keeps_the_old_one_on_failure(version):
    """The holder loads a version once, and a version that fails to load leaves the old one serving."""
    loads = []

    def loader(version_id):
        loads.append(version_id)
        if version_id == "broken":
            raise registry.VerificationError("tampered")
        return Predictor(version.path.parent / version_id, key=KEY)

    holder = PredictorHolder(loader)
    first = holder.ensure(version.id)
    assert holder.ensure(version.id) is first and loads == [version.id]
    assert holder.ensure("broken") is first
    assert holder.version_id == version.id and "tampered" in holder.last_error["broken"]
