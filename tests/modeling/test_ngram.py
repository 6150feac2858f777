import dataclasses

import numpy as np
import pytest

from modeling import pipeline, registry
from modeling.config import Phase
from modeling.ngram import CONFIG_FILE, WEIGHTS_FILE, NgramConfig, NgramModel, choose_weight, combine
from modeling.pipeline import BuildOptions, DataOrigin, build_version
from modeling.serving import Predictor
from tests.tiny import KEY, tiny_config

SMALL = NgramConfig(n_features=2**14)


@pytest.fixture(scope="module")
def fitted(toy):
    return NgramModel.fit(list(toy["train"]["text"]), list(toy["train"]["label"]), SMALL)


def test_fits_the_toy_reviews(fitted, toy):
    """The cue words separate the toy reviews; the n-gram model finds them."""
    proba = fitted.predict_proba(list(toy["test"]["text"]))
    assert proba.shape == (len(toy["test"]), 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == np.asarray(toy["test"]["label"])).mean() >= 0.95
    assert fitted.info["train_rows"] == len(toy["train"])


def test_save_and_load_give_identical_probabilities(fitted, toy, tmp_path):
    fitted.weight = 0.35
    fitted.save(tmp_path)
    assert (tmp_path / WEIGHTS_FILE).exists() and (tmp_path / CONFIG_FILE).exists()
    loaded = NgramModel.load(tmp_path)
    texts = list(toy["test"]["text"])
    assert np.array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))
    assert loaded.weight == 0.35 and loaded.config == SMALL
    assert NgramModel.load(tmp_path / "elsewhere") is None


def test_odd_texts_get_valid_probabilities(fitted):
    texts = ["", "!", "<script>alert(1)</script> great", "Ça m'a plu, très émouvant 😀", "great " * 20_000]
    proba = fitted.predict_proba(texts)
    assert proba.shape == (len(texts), 2) and np.isfinite(proba).all()
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert fitted.predict_proba([]).shape == (0, 2)


def test_one_label_is_refused():
    with pytest.raises(ValueError, match="both labels"):
        NgramModel.fit(["great", "superb"], [1, 1], SMALL)


def test_choose_weight_follows_the_better_part():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    right = np.eye(2)[labels] * 0.8 + 0.1  # always right, confident
    noise = rng.dirichlet([1, 1], 400)  # chance
    assert choose_weight(right, noise, labels)["weight"] == 0.0
    picked = choose_weight(noise, right, labels)
    assert picked["weight"] > 0.5 and picked["validation_accuracy"]["combined"] == 1.0
    # Never worse on validation than either part alone (0 and 1 are on the grid).
    partly = np.where(rng.random((400, 1)) < 0.7, right, right[:, ::-1])
    choice = choose_weight(partly, noise, labels)
    accuracy = choice["validation_accuracy"]
    assert accuracy["combined"] >= max(accuracy["transformer"], accuracy["ngram"])
    assert np.allclose(combine(right, noise, 0.25), 0.75 * right + 0.25 * noise)


@pytest.mark.slow
def test_a_version_with_a_companion_serves_the_average(tiny_bert, toy, tmp_path, monkeypatch):
    """build_version fits the companion, chooses its weight on validation, saves it inside the
    version (checksummed like every file), and the Predictor serves the weighted average."""
    monkeypatch.setattr(pipeline, "C_GRID", (0.5, 2.0))
    config = dataclasses.replace(tiny_config(str(tiny_bert), phases=(Phase("all", 1, 2e-3),)), ngram_companion=True)
    quiet = BuildOptions(show_progress=False)
    version = build_version(config, toy, DataOrigin("toy", 0), store=tmp_path / "store", key=KEY, work_dir=tmp_path / "work",
                            options=quiet)
    manifest = version.manifest
    assert {WEIGHTS_FILE, CONFIG_FILE} <= set(manifest["files"])
    weight = manifest["ngram"]["weight"]
    assert 0.0 <= weight <= 1.0
    assert set(manifest["ngram"]["validation_accuracy"]) == {"transformer", "ngram", "combined"}
    parts = manifest["metrics"]["test"]["parts"]
    assert parts["ngram_weight"] == weight and 0.0 <= parts["transformer"] <= 1.0

    predictor = Predictor(version.path, key=KEY)
    assert predictor.ngram is not None and predictor.ngram.weight == weight
    texts = list(toy["test"]["text"])
    expected = combine(predictor.transformer_proba(texts), predictor.ngram.predict_proba(texts), weight)
    served = predictor.predict_proba(texts)
    assert np.allclose(served, expected)
    test_accuracy = float((served.argmax(axis=1) == np.asarray(toy["test"]["label"])).mean())
    assert test_accuracy == pytest.approx(manifest["metrics"]["test"]["accuracy"])

    assert predictor.ngram.config.C in (0.5, 2.0)

    # The companion reads the whole text, so every word moves the served answer: an explanation
    # looks at all of them, not only at the transformer's head+tail window, and fits the
    # companion's part on its own many samples (modeling/explain.Mixture).
    long_text = "fine " * 400 + "great film " + "fine " * 400
    assert predictor.reading_window(long_text) == [(0, len(long_text))]
    explainable = predictor.explainable(companion_samples=1234)
    assert (explainable.weight, explainable.cheap_samples) == (weight, 1234)
    assert np.allclose(explainable(texts), served)

    # A retrain from this version refits the companion with the n-gram settings chosen here, its
    # weight included: the validation rows (the training source's kind of text, not the users')
    # do not choose it again, as if they would now pick another one.
    monkeypatch.setattr(pipeline, "C_GRID", (0.01,))
    other = 0.95 if weight < 0.5 else 0.05
    monkeypatch.setattr(pipeline, "choose_weight",
                        lambda *args, **kwargs: {"weight": other, "validation_accuracy": {}})
    child = build_version(dataclasses.replace(config, phases=(Phase("top_k", 1, 1e-3, top_k=1),)), toy,
                          DataOrigin("toy", 0), store=tmp_path / "store", key=KEY, work_dir=tmp_path / "child",
                          init_from=version.path, options=quiet)
    child_ngram = NgramModel.load(child.path)
    assert child_ngram.config == predictor.ngram.config
    assert child_ngram.weight == weight and child.manifest["ngram"]["weight"] == weight
    assert set(child.manifest["ngram"]["validation_accuracy"]) == {"transformer", "ngram", "combined"}

    (version.path / WEIGHTS_FILE).write_bytes(b"changed")
    with pytest.raises(registry.VerificationError):
        registry.verify(version.path, key=KEY)


def test_an_ngram_version_alone_is_sealed_served_and_reads_the_whole_text(toy, tmp_path):
    """A version of kind "ngram" (the instant first model): no transformer, sealed like any version,
    measured and its probabilities stored; the Predictor answers with the n-gram model alone."""
    from modeling.evaluate import stored_predictions
    from modeling.pipeline import build_ngram_version

    version = build_ngram_version(toy, DataOrigin("toy", 0), store=tmp_path / "store", key=KEY,
                                  work_dir=tmp_path / "work", config=SMALL, options=BuildOptions(show_progress=False))
    manifest = registry.verify(version.path, key=KEY)
    assert manifest["kind"] == "ngram" and "config.json" not in manifest["files"]
    assert manifest["metrics"]["test"]["accuracy"] >= 0.95 and manifest["ngram"]["weight"] == 1.0
    predictor = Predictor(version.path, key=KEY, precision="int8", backend="onnx")  # not for an n-gram model
    assert (predictor.backend, predictor.kind, predictor.compile()) == ("ngram", "ngram", False)
    texts = list(toy["test"]["text"])
    served = predictor.predict_proba(texts)
    assert np.allclose(served, NgramModel.load(version.path).predict_proba(texts))
    assert np.allclose(stored_predictions(version.path, "test", range(len(texts))), served, atol=1e-6)
    long_text = "great " * 2000
    assert predictor.reading_window(long_text) == [(0, len(long_text))]
    with pytest.raises(ValueError, match="no transformer"):
        predictor.transformer_proba(texts)

    # Its model file is what makes it a version: a manifest that does not list it is refused.
    (version.path / CONFIG_FILE).unlink()
    with pytest.raises(registry.VerificationError, match="missing ngram.json"):
        registry.verify(version.path, key=KEY)
    with pytest.raises(registry.RegistryError, match="no ngram.json"):
        registry.save(tmp_path / "store", version.path, manifest={"kind": "ngram"}, key=KEY)
    with pytest.raises(registry.RegistryError, match="unknown kind"):
        registry.save(tmp_path / "store", version.path, manifest={"kind": "forest"}, key=KEY)
