"""Serving a registry version: a `Predictor` per loaded version and a per-process holder that
swaps versions. The holder is told which version should be active; it never asks a database."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from modeling import onnx_runtime, registry
from modeling.batching import forward_in_order
from modeling.config import LABELS, NGRAM, TRANSFORMER, ServingConfig
from modeling.cleaning import clean_text
from modeling.ngram import NgramModel, combine
from modeling.precision import cpu_has_native_bf16
from modeling.precision import resolve as resolve_precision

log = logging.getLogger(__name__)


# On a CPU without native bf16, ONNX Runtime at this precision answers for SENTIMENT_PRECISION=auto
# (benchmarks/serving.py; docs/results.md, Serving).
AUTO_ONNX_PRECISION = "int8"


def choose_backend(config: ServingConfig, exported: dict[str, Path], device) -> tuple[str, str]:
    """Which runtime answers, and at what precision, for `config` on `device`, given the ONNX
    files the version has (`exported`: precision -> file; modeling/onnx_runtime.py).

    - backend "torch": PyTorch at `config.precision` ("auto": bf16 where native, else fp32);
    - backend "onnx": ONNX Runtime on the version's exported file, "fp32" or "int8" ("auto":
      `AUTO_ONNX_PRECISION`); the version must have it;
    - backend "auto": on a CPU, ONNX Runtime for "int8" and "fp32", and for "auto" where the CPU
      has no native bf16; PyTorch for bf16, on GPUs, and for a version without the file (its
      int8 then falls back to fp32, with a warning).
    """
    precision, on_cpu = config.precision, device.type == "cpu"
    onnx_precision = AUTO_ONNX_PRECISION if precision == "auto" else precision
    if config.backend == "onnx":
        if not on_cpu:
            raise ValueError("ONNX Runtime serves on a CPU here; use backend torch (or auto) on a GPU")
        if onnx_precision not in onnx_runtime.FILES:
            raise ValueError(f"ONNX Runtime serves fp32 or int8, not {precision}")
        if onnx_precision not in exported:
            raise ValueError(f"this version has no {onnx_precision} ONNX export (versions built before ONNX "
                             "Runtime was used have none); use backend torch or auto")
        return "onnx", onnx_precision
    if config.backend == "auto" and on_cpu and onnx_runtime.available():
        wanted = onnx_precision if (precision != "auto" or not cpu_has_native_bf16()) else None
        if wanted in exported:
            return "onnx", wanted
    if precision == "int8":
        if config.backend == "torch" or not on_cpu:
            raise ValueError("int8 runs through ONNX Runtime on a CPU: use backend auto or onnx")
        log.warning("int8 asked for a version without an int8 ONNX export; PyTorch serves it in fp32")
        return "torch", "fp32"
    if precision == "bf16-weights":
        return "torch", precision
    return "torch", resolve_precision(precision, device)


class Predictor:
    """A loaded, verified version answering `predict_proba(texts)` in length-sorted batches.

    How it answers comes from a `ServingConfig` (`config`), or from its fields given as keywords
    (`batch_size`, `threads`, `precision`, `max_length`, `device`, `backend`), which override
    `config`'s.
    Tokenization follows the version's manifest (max_length, truncation); `max_length` may lower
    it for a cheaper pass (explanations' perturbations use this). `precision` is the forward
    pass's autocast ("auto": bf16 where the hardware has it, modeling/precision.py);
    "bf16-weights": the model's weights cast to bf16, so every operation runs in bf16 (layer
    norms and softmax included) and no weight is cast again per call, which is cheaper than
    autocast and rounds a probability by about 0.01 (explanations' perturbations use it); or
    "int8": the version's int8 ONNX export. `backend` chooses between PyTorch and ONNX Runtime
    (`choose_backend`); `backend` and `precision` say what answers.

    A version of kind "ngram" (an n-gram model alone, modeling/ngram.py) loads no transformer:
    its `backend` is "ngram", it reads the whole text, and the settings above do not apply.
    """

    def __init__(
        self,
        path: str | Path,
        config: ServingConfig | None = None,
        *,
        key: bytes | None = None,
        verify: bool = True,
        inference: dict | None = None,
        batch_size: int | None = None,
        threads: int | None = None,
        precision: str | None = None,
        max_length: int | None = None,
        device: str | None = None,
        backend: str | None = None,
    ):
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        given = {"batch_size": batch_size, "threads": threads, "precision": precision, "max_length": max_length,
                 "device": device, "backend": backend}
        config = self.config = replace(config or ServingConfig(), **{k: v for k, v in given.items() if v is not None})
        self.path = Path(path)
        if verify:
            if key is None:
                raise ValueError("a version is verified before it is loaded: pass its store's signing key (key=)")
            self.manifest = registry.verify(self.path, key=key)
        elif (self.path / registry.MANIFEST).exists():
            self.manifest = registry.read_manifest(self.path)
        else:
            # A freshly trained folder not yet in the store (evaluated before it is saved).
            self.manifest = {"id": self.path.name, "inference": inference or {}}
        self.version_id: str = self.manifest["id"]
        self.kind: str = self.manifest.get("kind", TRANSFORMER)
        # The version's n-gram model: beside the transformer (served averaged with it), or alone.
        self.ngram = NgramModel.load(self.path)
        if self.kind == NGRAM:
            if self.ngram is None:
                raise registry.VerificationError(f"{self.path}: an n-gram version without its n-gram model")
            self.backend, self.precision, self.max_length, self.batch_size = NGRAM, "fp32", None, config.batch_size
            self.tokenizer = self.model = self.session = self._forward = self._eager = None
            return
        inference = inference or self.manifest.get("inference", {})
        self.max_length = int(config.max_length or inference.get("max_length", 256))
        self.truncation = inference.get("truncation", "head_tail")
        self.head_fraction = float(inference.get("head_fraction", 0.25))
        self.batch_size = config.batch_size
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        self._torch = torch
        self.device = torch.device(config.device)
        exported = onnx_runtime.files(self.path, self.manifest)
        self.backend, self.precision = choose_backend(config, exported, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        if self.backend == "onnx":
            # ONNX Runtime answers; the PyTorch weights are not loaded at all.
            self.model = None
            self.session = onnx_runtime.OrtForward(exported[self.precision], threads=config.threads)
            num_labels = AutoConfig.from_pretrained(self.path).num_labels
        else:
            self.session = None
            self.model = AutoModelForSequenceClassification.from_pretrained(self.path).to(self.device).eval()
            if self.precision == "bf16-weights":
                self.model = self.model.to(torch.bfloat16)
            num_labels = self.model.config.num_labels
        if num_labels != len(LABELS):
            raise registry.VerificationError(f"{self.path}: model has {num_labels} labels, expected {len(LABELS)}")
        # The forward pass: the model itself (or its ONNX Runtime session), or a compiled one
        # once `compile()` has made it.
        self._forward = self.session or self.model
        self._eager = self._forward

    def __repr__(self) -> str:
        if self.kind == NGRAM:
            return f"<Predictor {self.version_id} n-gram model>"
        companion = f" + n-gram {self.ngram.weight:.2f}" if self.ngram is not None else ""
        compiled = " compiled" if self.compiled else ""
        return (f"<Predictor {self.version_id} max_length={self.max_length} {self.backend} {self.precision}"
                f"{compiled}{companion}>")

    @property
    def compiled(self) -> bool:
        return self._forward is not self._eager

    def compile(self, *, tolerance: float = 0.02) -> bool:
        """Swap the forward pass for a `torch.compile`d one (inductor, the weights frozen into the
        graph as constants, shapes dynamic), once it is compiled and agrees with the eager pass
        (probabilities within `tolerance`) on a small batch. Returns whether it did; on any
        failure (no C++ compiler, an unsupported model) the eager pass stays and a warning is
        logged. It blocks while compiling (20-30 s for a 6-layer MiniLM on 2 cores), so callers
        run it in a thread: calls made meanwhile use the eager pass, each call one pass for all of
        its batches. A pass through ONNX Runtime is not compiled (ONNX Runtime optimises its own graph)."""
        if self.backend != "torch" or self.compiled:
            return self.compiled
        torch = self._torch
        started = time.perf_counter()
        try:
            from torch._inductor import config as inductor

            compiled = torch.compile(self.model, dynamic=True)
            # Two rows of different lengths: the graph for every batch of two or more rows (a
            # batch of one would get a graph of its own; transformer_proba pads it to two).
            sequences = self.encode(["a compiled forward pass is checked against the eager one", "fine"])
            # The graph is compiled on its first call, here, through the loop every call uses (its
            # inputs inference tensors like theirs, or the graph's guards would not match and it
            # would compile again on the first call). Weights frozen into it as constants (so
            # oneDNN packs them once) make it about 13% faster; torch.compile's own `options` does
            # not reach that switch, inductor's config does.
            with inductor.patch(freezing=True):
                expected = self._proba(self.model, sequences, batch_size=2)
                got = self._proba(compiled, sequences, batch_size=2)
            error = float(np.abs(got - expected).max())
            if not error <= tolerance:
                raise RuntimeError(f"the compiled pass differs from the eager one by {error:.4f}")
        except Exception as exc:  # noqa: BLE001 -- whatever fails, the eager pass keeps serving
            log.warning("could not compile %s (%s: %s); it keeps its eager forward pass", self, type(exc).__name__, exc)
            return False
        self._forward = compiled
        log.info("compiled %s in %.1f s", self, time.perf_counter() - started)
        return True

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        from modeling.encoders import encode

        cleaned = [clean_text(t) for t in texts]
        return encode(self.tokenizer, cleaned, max_length=self.max_length, truncation=self.truncation, head_fraction=self.head_fraction)

    def reading_window(self, text: str) -> list[tuple[int, int]]:
        """The character ranges of `text` this version reads (whole words): all of it, or, for a
        text longer than max_length tokens, its head and tail as `encode` keeps them. An n-gram
        model, alone or as the transformer's companion, reads all of it."""
        if self.ngram is not None:
            return [(0, len(text))]
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        counts = [len(ids) for ids in self.tokenizer([clean_text(text[a:b]) or "." for a, b in words],
                                                     add_special_tokens=False, verbose=False)["input_ids"]] if words else []
        budget = self.max_length - 2
        if sum(counts) <= budget:
            return [(0, len(text))]
        head = int(budget * self.head_fraction) if self.truncation == "head_tail" else budget
        used, first = 0, 0
        while first < len(words) and used + counts[first] <= head:
            used += counts[first]
            first += 1
        window = [(0, words[first - 1][1])] if first else []
        if self.truncation == "head_tail":
            used, last = 0, len(words)
            while last > first and used + counts[last - 1] <= budget - head:
                used += counts[last - 1]
                last -= 1
            if last < len(words):
                window.append((words[last][0], len(text)))
        return window or [(0, words[0][1])]

    def predict_proba(self, texts: Sequence[str], *, desc: str | None = None) -> np.ndarray:
        """Probabilities, shape (len(texts), len(LABELS)), in input order: the transformer's,
        averaged with the n-gram companion's if the version has one. With `desc`, a progress
        bar (for long evaluations; requests never show one)."""
        if self.kind == NGRAM:
            return self.ngram.predict_proba(texts)
        proba = self.transformer_proba(texts, desc=desc)
        if self.ngram is None or not len(proba):
            return proba
        return combine(proba, self.ngram.predict_proba(texts), self.ngram.weight)

    def explainable(self, *, companion_samples: int | None = None):
        """What an explanation asks (modeling/explain.py): `predict_proba`, or, for a transformer
        served with its n-gram companion, the same average as an `explain.Mixture`, so the
        companion's part is fitted on `companion_samples` perturbations at next to no cost."""
        from modeling.explain import Mixture

        if self.kind == NGRAM or self.ngram is None:
            return self.predict_proba
        extra = {} if companion_samples is None else {"cheap_samples": companion_samples}
        return Mixture(self.transformer_proba, self.ngram.predict_proba, self.ngram.weight, **extra)

    def transformer_proba(self, texts: Sequence[str], *, desc: str | None = None) -> np.ndarray:
        """The fine-tuned transformer's probabilities alone."""
        if self.kind == NGRAM:
            raise ValueError(f"{self.version_id} is an n-gram model: it has no transformer")
        # One pass for the whole call, even if compile() swaps it meanwhile.
        return self._proba(self._forward, self.encode(list(texts)), batch_size=self.batch_size, desc=desc)

    def _proba(self, forward, sequences: list[list[int]], *, batch_size: int, desc: str | None = None) -> np.ndarray:
        torch = self._torch

        def proba(ids, mask):
            logits = forward(input_ids=ids, attention_mask=mask).logits
            return torch.softmax(logits.float(), dim=-1)

        # A compiled pass gets two rows at least, so the one graph compile() made serves every call.
        return forward_in_order(proba, sequences, width=len(LABELS), dtype=np.float64,
                                pad_id=self.tokenizer.pad_token_id or 0, batch_size=batch_size, device=self.device,
                                precision=self.precision if self.backend == "torch" else "fp32", desc=desc,
                                min_rows=1 if forward is self._eager else 2)

    def predict(self, texts: Sequence[str]) -> list[dict]:
        """Per text: `label`, `confidence` and `probabilities` (label -> probability)."""
        results = []
        for row in self.predict_proba(texts):
            best = int(row.argmax())
            results.append(
                {
                    "label": LABELS[best],
                    "confidence": float(row[best]),
                    "probabilities": {label: float(p) for label, p in zip(LABELS, row)},
                }
            )
        return results

    def warm(self) -> "Predictor":
        """Run one tiny prediction so the first real request does not pay for lazy set-up."""
        self.predict_proba(["warm up"])
        return self


class PredictorHolder:
    """One current Predictor per process, swapped by replacing a single reference.

    A new version is built and warmed completely before the swap, under a lock so only one load
    happens at a time; requests that already hold the old predictor finish on it. If the new
    version cannot be loaded the old one keeps serving and the error is remembered.
    """

    def __init__(self, loader: Callable[[str], Predictor]):
        self._loader = loader
        self._current: Predictor | None = None
        self._lock = threading.Lock()
        self.last_error: dict[str, str] = {}
        self._loading: threading.Thread | None = None
        self._failed_at: dict[str, float] = {}
        # Called when a background load thread ends (e.g. to close its database connection).
        self.on_thread_exit: Callable[[], None] | None = None

    @property
    def current(self) -> Predictor | None:
        return self._current

    @property
    def version_id(self) -> str | None:
        current = self._current
        return current.version_id if current else None

    def ensure(self, version_id: str) -> Predictor | None:
        """Make `version_id` current if it is not; returns the predictor now current (the old
        one if loading failed)."""
        current = self._current
        if current is not None and current.version_id == version_id:
            return current
        with self._lock:
            current = self._current
            if current is not None and current.version_id == version_id:
                return current
            try:
                fresh = self._loader(version_id).warm()
            except Exception as exc:
                self.last_error[version_id] = f"{type(exc).__name__}: {exc}"
                log.exception("could not load model version %s; still serving %s", version_id, self.version_id)
                return current
            self.last_error.pop(version_id, None)
            self._failed_at.pop(version_id, None)
            self._current = fresh
            log.info("now serving model version %s", version_id)
            return fresh

    def ensure_in_background(self, version_id: str, *, retry_after_s: float = 30.0) -> bool:
        """Start loading `version_id` in a thread, off the request path; the current predictor
        keeps answering until the new one is warm. Returns whether a load was started."""
        with self._lock:
            if self._loading is not None and self._loading.is_alive():
                return False
            failed_at = self._failed_at.get(version_id)
            if failed_at is not None and time.monotonic() - failed_at < retry_after_s:
                return False
            self._loading = threading.Thread(target=self._load_quietly, args=(version_id,), name=f"load-{version_id}", daemon=True)
            self._loading.start()
            return True

    def _load_quietly(self, version_id: str) -> None:
        try:
            self.ensure(version_id)
            if version_id in self.last_error:
                self._failed_at[version_id] = time.monotonic()
        finally:
            if self.on_thread_exit is not None:
                self.on_thread_exit()

    def wait_for_loading(self, timeout: float | None = None) -> None:
        loading = self._loading
        if loading is not None:
            loading.join(timeout)

    def clear(self) -> None:
        with self._lock:
            self._current = None
