"""ONNX Runtime for inference on CPUs: a version's transformer exported once, when the version is
built, and sealed with it; served, evaluated and explained through ONNX Runtime where that is
faster than PyTorch (benchmarks/serving.py). PyTorch stays for training, GPUs and as the fallback.

A version folder gains `onnx/model.onnx` (float32, dynamic batch and sequence axes, fused by ONNX
Runtime's transformer optimizer) and `onnx/model.int8.onnx` (its weights quantized to int8 per
channel by ONNX Runtime's dynamic quantization; activations are quantized per call). Each is checked
against the PyTorch model on sample texts before it is kept; an export that fails or disagrees is
left out, and the version is served by PyTorch as before. The manifest's `onnx` entry records
what was kept and how far each file's probabilities were from PyTorch's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import shutil
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

log = logging.getLogger(__name__)

FOLDER = "onnx"
FILES = {"fp32": f"{FOLDER}/model.onnx", "int8": f"{FOLDER}/model.int8.onnx"}
INPUTS = ("input_ids", "attention_mask")
# How far an exported file's probabilities may be from PyTorch's on the sample texts: float32 is
# the same computation (differences of 1e-6); int8 rounds every weight, so it only has to agree
# roughly here, and its accuracy is measured, not assumed (benchmarks/serving.py).
TOLERANCE = {"fp32": 1e-3, "int8": 0.15}
SAMPLES = (
    "A wonderful, moving film with a cast at the top of its game.",
    "Dull, overlong and badly acted; I want those two hours back.",
    "Not bad at all.",
    "The plot made no sense, but the photography was gorgeous and the score haunting. "
    "I left the cinema unsure whether I had loved it or merely admired it.",
)


def available() -> bool:
    """Whether ONNX Runtime is installed (it is a requirement; a trimmed installation may lack it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def files(path: str | Path, manifest: dict) -> dict[str, Path]:
    """The exported files a version has, by precision ("fp32", "int8"), as its manifest lists them."""
    kept = (manifest.get("onnx") or {}).get("files", {})
    return {precision: Path(path) / name for precision, name in kept.items() if precision in FILES}


def export(model_dir: str | Path, *, tokenizer=None, quantize: bool = True) -> dict:
    """Export the transformer in `model_dir` (a `save_pretrained` folder) into `model_dir/onnx/`,
    check each file against PyTorch on `SAMPLES`, and return the manifest's `onnx` entry:
    `files` (precision -> path inside the folder), `max_difference` (largest probability
    difference from PyTorch, per file), `seconds`, and `error` when nothing could be kept."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    started = time.perf_counter()
    model_dir = Path(model_dir)
    folder = model_dir / FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    entry: dict = {"files": {}, "max_difference": {}}
    try:
        if not available():
            raise RuntimeError("onnxruntime is not installed")
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_dir)
        # Eager attention: a traceable graph that ONNX Runtime's optimizer can fuse.
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32,
                                                                   attn_implementation="eager").eval()
        sample = tokenizer(list(SAMPLES), padding=True, return_tensors="pt")
        with torch.inference_mode():
            expected = torch.softmax(model(**{k: sample[k] for k in INPUTS}).logits, -1).numpy()
        _export_fp32(model, sample, model_dir / FILES["fp32"])
        candidates = ["fp32"]
        if quantize:
            _quantize(model_dir / FILES["fp32"], model_dir / FILES["int8"])
            candidates.append("int8")
        for precision in candidates:
            session = OrtForward(model_dir / FILES[precision], threads=1)
            got = session.proba({k: sample[k] for k in INPUTS})
            difference = float(np.abs(got - expected).max())
            entry["max_difference"][precision] = round(difference, 6)
            if difference <= TOLERANCE[precision]:
                entry["files"][precision] = FILES[precision]
            else:
                log.warning("the %s ONNX export differs from PyTorch by %.4f; not kept", precision, difference)
                (model_dir / FILES[precision]).unlink()
    except Exception as exc:  # noqa: BLE001 -- a version without an export is served by PyTorch
        log.warning("could not export %s to ONNX (%s: %s); PyTorch serves it", model_dir, type(exc).__name__, exc)
        entry = {"files": {}, "max_difference": {}, "error": f"{type(exc).__name__}: {exc}"}
    if not entry["files"]:
        shutil.rmtree(folder, ignore_errors=True)
    entry["seconds"] = round(time.perf_counter() - started, 1)
    return entry


def _export_fp32(model, sample, target: Path) -> None:
    """The float32 graph: traced by `torch.onnx.export` (the TorchScript exporter, whose BERT-family
    graphs ONNX Runtime's transformer optimizer recognises), then fused by
    that optimizer (attention, embeddings + layer norm, skip + layer norm, bias + GELU), which
    makes the int8 copy about 1.25x faster (docs/results.md#serving)."""
    import torch
    from onnxruntime.transformers.optimizer import optimize_model

    traced = target.with_name("traced.onnx")
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    with warnings.catch_warnings(), torch.inference_mode(), _quiet():
        warnings.simplefilter("ignore")  # tracer notes on transformers' masking code
        torch.onnx.export(model, tuple(sample[k] for k in INPUTS), str(traced), input_names=list(INPUTS),
                          output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
        fused = optimize_model(str(traced), model_type="bert", num_heads=model.config.num_attention_heads,
                               hidden_size=model.config.hidden_size)
        fused.save_model_to_file(str(target))
    traced.unlink()


def _quantize(source: Path, target: Path) -> None:
    """Dynamic quantization: int8 weights per output channel (signed, as ONNX Runtime recommends
    for x86 CPUs; per channel keeps 99% of a quick model's labels where per tensor kept 97%),
    activations quantized per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        # DefaultTensorType: the fused operators come from ONNX Runtime's own domain, which shape
        # inference does not type.
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": 1})


@contextlib.contextmanager
def _quiet():
    """ONNX Runtime's tools and the exporter log every node they touch on the root logger."""
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class OrtForward:
    """An ONNX Runtime session over one exported file, called like a transformers model
    (`forward(input_ids=..., attention_mask=...).logits`) so the batched loop that runs PyTorch
    models (modeling/batching.py) runs it too. `threads`: ONNX Runtime's intra-op threads
    (0 = one per core, its own default)."""

    def __init__(self, path: str | Path, *, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, *, input_ids, attention_mask):
        import torch

        feed = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return SimpleNamespace(logits=torch.from_numpy(self.session.run(["logits"], feed)[0]))

    def proba(self, feed: dict) -> np.ndarray:
        """Probabilities for one tokenized batch (tensors by input name), as serving computes them."""
        import torch

        return torch.softmax(self(**feed).logits.float(), dim=-1).numpy()
