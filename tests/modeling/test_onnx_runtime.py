"""ONNX Runtime: a version exported when it is built, sealed with it, served by ONNX Runtime where
the settings choose it, and PyTorch whenever the export is missing or failed."""

import logging

import numpy as np
import pytest
import torch

from modeling import onnx_runtime, registry, serving
from modeling.config import Phase, ServingConfig
from modeling.pipeline import BuildOptions, DataOrigin, build_version
from modeling.serving import Predictor, choose_backend
from tests.tiny import KEY, tiny_config

pytestmark = pytest.mark.slow


def _build(tiny_bert, toy, tmp_path_factory, **options):
    config = tiny_config(str(tiny_bert), phases=(Phase("all", 3, 2e-3),))
    return build_version(config, toy, DataOrigin("toy", 0), store=tmp_path_factory.mktemp("store"), key=KEY,
                         work_dir=tmp_path_factory.mktemp("work"), options=BuildOptions(show_progress=False, **options))


@pytest.fixture(scope="module")
def version(tiny_bert, toy, tmp_path_factory):
    return _build(tiny_bert, toy, tmp_path_factory)


def test_a_new_version_carries_both_exports_sealed(version):
    entry = version.manifest["onnx"]
    assert entry["files"] == {"fp32": "onnx/model.onnx", "int8": "onnx/model.int8.onnx"}
    assert entry["max_difference"]["fp32"] < 1e-4 and "error" not in entry
    # Listed with their checksums like every other file, so verify() covers them.
    assert {"onnx/model.onnx", "onnx/model.int8.onnx"} <= set(version.manifest["files"])
    registry.verify(version.path, key=KEY)


def test_onnx_runtime_answers_as_pytorch_does(version, toy):
    """fp32 through ONNX Runtime is PyTorch's fp32 to float rounding; int8 stays close; neither
    loads the PyTorch weights, and neither is compiled."""
    texts = list(toy["test"]["text"])
    reference = Predictor(version.path, key=KEY, backend="torch", precision="fp32").predict_proba(texts)
    fp32 = Predictor(version.path, key=KEY, backend="onnx", precision="fp32")
    int8 = Predictor(version.path, key=KEY, backend="onnx", precision="int8")
    assert (fp32.backend, fp32.precision, int8.precision) == ("onnx", "fp32", "int8")
    assert fp32.model is None and "onnx fp32" in repr(fp32)
    assert np.abs(fp32.predict_proba(texts) - reference).max() < 1e-4
    quantized = int8.predict_proba(texts)
    assert quantized.dtype == np.float64 and np.abs(quantized - reference).max() < 0.15
    assert (quantized.argmax(1) == reference.argmax(1)).mean() >= 0.9
    assert not fp32.compile() and not fp32.compiled
    # A batch of one, an empty call and the reading window work as on PyTorch.
    assert fp32.predict_proba(texts[:1]).shape == (1, 2) and fp32.predict_proba([]).shape == (0, 2)
    assert fp32.reading_window(texts[0]) == Predictor(version.path, key=KEY, backend="torch").reading_window(texts[0])


@pytest.mark.parametrize(
    "backend, precision, native, has, expected",
    [
        ("auto", "auto", False, ("fp32", "int8"), ("onnx", serving.AUTO_ONNX_PRECISION)),  # AVX2-class CPU
        ("auto", "auto", True, ("fp32", "int8"), ("torch", "bf16")),  # native bf16: PyTorch's autocast
        ("auto", "auto", False, (), ("torch", "fp32")),  # a version built before the export
        ("auto", "fp32", True, ("fp32", "int8"), ("onnx", "fp32")),
        ("auto", "int8", True, ("fp32", "int8"), ("onnx", "int8")),
        ("auto", "int8", False, ("fp32",), ("torch", "fp32")),  # falls back, with a warning
        ("auto", "bf16", False, ("fp32", "int8"), ("torch", "bf16")),
        ("auto", "bf16-weights", True, ("fp32", "int8"), ("torch", "bf16-weights")),
        ("torch", "auto", False, ("fp32", "int8"), ("torch", "fp32")),
        ("torch", "fp32", True, ("fp32", "int8"), ("torch", "fp32")),
        ("onnx", "auto", True, ("fp32", "int8"), ("onnx", serving.AUTO_ONNX_PRECISION)),
        ("onnx", "fp32", False, ("fp32",), ("onnx", "fp32")),
    ],
)
def test_which_runtime_answers(monkeypatch, tmp_path, backend, precision, native, has, expected):
    monkeypatch.setattr(serving, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr("modeling.precision.cpu_has_native_bf16", lambda: native)
    exported = {p: tmp_path / onnx_runtime.FILES[p] for p in has}
    config = ServingConfig(backend=backend, precision=precision)
    assert choose_backend(config, exported, torch.device("cpu")) == expected


@pytest.mark.parametrize(
    "backend, precision, has, device, message",
    [
        ("onnx", "auto", (), "cpu", "no int8 ONNX export"),
        ("onnx", "bf16", ("fp32", "int8"), "cpu", "fp32 or int8"),
        ("onnx", "fp32", ("fp32", "int8"), "cuda", "on a CPU"),
        ("torch", "int8", ("fp32", "int8"), "cpu", "ONNX Runtime on a CPU"),
        ("auto", "int8", ("fp32", "int8"), "cuda", "ONNX Runtime on a CPU"),
    ],
)
def test_impossible_choices_are_refused_clearly(tmp_path, backend, precision, has, device, message):
    exported = {p: tmp_path / onnx_runtime.FILES[p] for p in has}
    with pytest.raises(ValueError, match=message):
        choose_backend(ServingConfig(backend=backend, precision=precision), exported, torch.device(device))
    with pytest.raises(ValueError, match="backend must be one of"):
        ServingConfig(backend="tensorrt")


def test_int8_without_an_export_warns_and_serves_fp32(monkeypatch, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="modeling.serving"):
        assert choose_backend(ServingConfig(precision="int8"), {}, torch.device("cpu")) == ("torch", "fp32")
    assert "without an int8 ONNX export" in caplog.text


def test_a_failed_export_leaves_a_version_pytorch_serves(tiny_bert, toy, tmp_path_factory, monkeypatch, caplog):
    """Whatever breaks in the export, the version is saved without it and PyTorch serves it."""

    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(onnx_runtime, "_export_fp32", broken)
    with caplog.at_level(logging.WARNING, logger="modeling.onnx_runtime"):
        version = _build(tiny_bert, toy, tmp_path_factory)
    assert "exporter exploded" in version.manifest["onnx"]["error"] and version.manifest["onnx"]["files"] == {}
    assert not (version.path / onnx_runtime.FOLDER).exists()
    assert not any(name.startswith("onnx/") for name in version.manifest["files"])
    predictor = Predictor(version.path, key=KEY, precision="int8")
    assert (predictor.backend, predictor.precision) == ("torch", "fp32")
    with pytest.raises(ValueError, match="no fp32 ONNX export"):
        Predictor(version.path, key=KEY, backend="onnx", precision="fp32")


def test_an_export_that_disagrees_is_not_kept(tiny_bert, toy, tmp_path_factory, monkeypatch):
    """A file whose probabilities differ from PyTorch's beyond its tolerance is dropped."""
    monkeypatch.setitem(onnx_runtime.TOLERANCE, "int8", 0.0)
    real = onnx_runtime.OrtForward.proba
    monkeypatch.setattr(onnx_runtime.OrtForward, "proba",
                        lambda self, feed: real(self, feed) + (0.01 if "int8" in self.path.name else 0.0))
    version = _build(tiny_bert, toy, tmp_path_factory)
    assert version.manifest["onnx"]["files"] == {"fp32": "onnx/model.onnx"}
    assert not (version.path / "onnx" / "model.int8.onnx").exists()
    assert Predictor(version.path, key=KEY, backend="onnx", precision="fp32").backend == "onnx"


def test_the_export_can_be_turned_off(tiny_bert, toy, tmp_path_factory):
    version = _build(tiny_bert, toy, tmp_path_factory, onnx_export=False)
    assert version.manifest["onnx"] is None and not (version.path / onnx_runtime.FOLDER).exists()
