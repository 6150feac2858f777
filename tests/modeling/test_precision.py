import json

import numpy as np
import pytest
import torch

from modeling import precision
from modeling.config import TrainConfig
from modeling.frozen_cache import frozen_weights_hash
from modeling.serving import Predictor
from modeling.train import train
from tests.tiny import tiny_config


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_is_bf16_only_where_the_cpu_has_it_natively(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert precision.resolve("auto", "cpu") == expected
    assert precision.resolve("fp32", "cpu") == "fp32"
    assert precision.resolve("bf16", "cpu") == "bf16"


def test_bad_precisions_are_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.resolve("int4", "cpu")
    with pytest.raises(ValueError, match="CUDA"):
        precision.resolve("fp16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="half")


def test_bf16_forward_runs_in_bf16_and_fp32_does_not(tiny_bert):
    from modeling.encoders import load_classifier

    model = load_classifier(str(tiny_bert)).eval()
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    with torch.inference_mode(), precision.autocast("cpu", "bf16"):
        assert model(input_ids=ids).logits.dtype == torch.bfloat16
    with torch.inference_mode(), precision.autocast("cpu", "fp32"):
        assert model(input_ids=ids).logits.dtype == torch.float32


def test_bf16_training_is_recorded_and_serves_close_to_fp32(tiny_bert, toy, tmp_path):
    """A bf16 run learns the toy task like an fp32 one, says which precision it ran at, and a
    bf16 predictor answers within bf16's rounding of the fp32 one."""
    model_dir = train(tiny_config(str(tiny_bert), precision="bf16"), toy, work_dir=tmp_path / "run", show_progress=False)
    summary = json.loads((tmp_path / "run" / "training.json").read_text())
    assert summary["precision"] == "bf16"
    assert summary["best_validation_accuracy"] >= 0.9
    texts = list(toy["test"]["text"])
    inference = {"max_length": 32}
    fp32 = Predictor(model_dir, verify=False, inference=inference, precision="fp32")
    bf16 = Predictor(model_dir, verify=False, inference=inference, precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    assert "bf16" in repr(bf16)
    a, b = fp32.predict_proba(texts), bf16.predict_proba(texts)
    assert np.abs(a - b).max() < 0.05
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.95
    weights = Predictor(model_dir, verify=False, inference=inference, precision="bf16-weights")
    assert weights.precision == "bf16-weights" and {p.dtype for p in weights.model.parameters()} == {torch.bfloat16}
    w = weights.predict_proba(texts)
    assert w.dtype == np.float64 and np.abs(a - w).max() < 0.05 and (a.argmax(1) == w.argmax(1)).mean() >= 0.95
    # int8 is ONNX Runtime's (tests/modeling/test_onnx_runtime.py); a folder without an export
    # is served by PyTorch in fp32, and PyTorch itself offers no int8.
    int8 = Predictor(model_dir, verify=False, inference=inference, precision="int8")
    assert (int8.backend, int8.precision) == ("torch", "fp32")
    assert np.array_equal(int8.predict_proba(texts), a)
    for kwargs in ({"device": "cuda"}, {"backend": "torch"}):
        with pytest.raises(ValueError, match="ONNX Runtime on a CPU"):
            Predictor(model_dir, verify=False, inference=inference, precision="int8", **kwargs)


def test_frozen_cache_rows_computed_in_bf16_are_other_rows(tiny_bert):
    from modeling.encoders import load_classifier

    model = load_classifier(str(tiny_bert))
    assert frozen_weights_hash(model, 1, "bf16") != frozen_weights_hash(model, 1, "fp32")
    assert frozen_weights_hash(model, 1) == frozen_weights_hash(model, 1, "fp32")


@pytest.mark.parametrize("cap, native", [("AVX2", False), ("avx512_core_vnni", False), ("AVX512_CORE_AMX", None), ("", None)])
def test_a_onednn_cap_below_bf16_counts_as_no_native_bf16(monkeypatch, cap, native):
    """ONEDNN_MAX_CPU_ISA=AVX2 makes a bf16 CPU compute like an AVX2 one (benchmarks' --isa avx2)."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert precision.cpu_has_native_bf16() is (True if native is None else native)
