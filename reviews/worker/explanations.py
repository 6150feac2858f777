"""Explanations in the worker: the predictors that classify perturbed texts (kept per version,
loaded and compiled ahead of requests), and computing the explanations people asked for."""

from __future__ import annotations

import threading

from modeling.config import NGRAM
from reviews.conf import conf
from reviews.models import Explanation, ModelVersion
from reviews.services.explanations import explanation_params
from reviews.worker import queue

# At most this many explainers stay loaded (the active version's and two more).
CACHED_EXPLAINERS = 3

_explainers: dict[tuple, object] = {}
_compiling: set[tuple] = set()  # explainers whose compile was started (once each)
_explainers_lock = threading.Lock()


def explain_precision() -> str:
    """How perturbed texts are classified (SENTIMENT_EXPLAIN_PRECISION): "auto" is a copy of the
    model with bf16 weights where the CPU computes bf16 natively (all in bf16: faster than the
    served autocast, and a probability moves by about 0.01) and the version's int8 ONNX export
    elsewhere, or wherever serving itself is int8 or ONNX Runtime (benchmarks/explain.py; without
    an export, PyTorch in fp32)."""
    from modeling.precision import resolve

    mode, served = conf.explain.precision, conf.serving.precision
    if mode != "auto":
        return mode
    if served == "int8" or conf.serving.backend == "onnx":
        return "int8"
    return "bf16-weights" if resolve(served, "cpu") == "bf16" else "int8"


def explainer_for(version: ModelVersion, *, active: bool | None = None):
    """The predictor that classifies a version's perturbed texts: the settings chosen by
    benchmarks/explain.py (precision, max_length, batch size). Kept per version, precision and
    max_length. Only the active version's is compiled (SENTIMENT_EXPLAIN_COMPILE, in a thread,
    eager meanwhile) and it is never evicted, so steady use never loads or compiles it again;
    older versions' explainers run eager and the least recently used goes first."""
    from modeling.serving import Predictor

    if active is None:
        active = _active_version_id() == version.id
    mode = explain_precision()
    max_length = conf.explain.max_length or None
    key = (version.id, mode, max_length, conf.serving.backend)
    with _explainers_lock:
        predictor = _explainers.pop(key, None)
        if predictor is None:
            predictor = Predictor(
                version.path,
                key=conf.signing_key(),
                batch_size=conf.explain.batch_size,
                threads=conf.serving.threads,
                max_length=max_length,
                precision=mode,
                backend=conf.serving.backend,
            )
        _explainers[key] = predictor  # most recently used last
        if active and conf.explain.compile and key not in _compiling:
            _compiling.add(key)
            threading.Thread(target=predictor.compile, name=f"compile-{version.id}", daemon=True).start()
        pinned = version.id if active else _active_version_id()
        evictable = [k for k in _explainers if k[0] != pinned and k != key]
        while len(_explainers) > CACHED_EXPLAINERS and evictable:
            gone = evictable.pop(0)
            _explainers.pop(gone)
            _compiling.discard(gone)
        return predictor


def _active_version_id() -> str | None:
    from reviews.selectors import model_version_active

    current = model_version_active()
    return current.id if current else None


def prepare_explainer() -> None:
    """Load the active version's explainer (and start compiling it) before anyone asks, so the
    first explanation after the worker starts or a version is activated does not wait for it."""
    from reviews.selectors import model_version_active

    version = model_version_active()
    if version is not None:
        explainer_for(version, active=True)


def compute_explanation(row: Explanation) -> dict:
    """One explanation, of the words the model reads, with the settings it was asked with and
    how its pass ran."""
    from modeling.explain import explain_window
    row = Explanation.objects.select_related("prediction__review", "model_version").get(pk=row.pk)
    predictor = explainer_for(row.model_version)
    # A row carries the settings it was asked with; older rows may lack some.
    text = row.prediction.review.text
    params = samples_for(predictor, {**explanation_params(), **row.params}, text)
    companion_samples = params.pop("companion_samples")
    compiled = predictor.compiled  # if compiling ends midway, the first calls ran uncompiled
    result = explain_window(text, predictor.reading_window(text), predictor.explainable(companion_samples=companion_samples),
                            **params)
    result["settings"] = {"backend": predictor.backend, "precision": predictor.precision,
                          "max_length": predictor.max_length, "compiled": compiled}
    return {"result": result}


def samples_for(predictor, params: dict, text: str) -> dict:
    """`params` with the number of perturbed texts for this predictor's kind of model and `text`:
    an n-gram model alone is asked about companion_samples (it costs next to nothing; a long text
    gets fewer, modeling.explain.cheap_samples_for), a transformer served with its companion
    num_samples_with_companion (gcv: the companion's part is fitted apart)."""
    from modeling.explain import cheap_samples_for

    params = dict(params)
    with_companion = params.pop("num_samples_with_companion")
    if predictor.kind == NGRAM:
        wanted = params["companion_samples"]
        params["num_samples"] = cheap_samples_for(text, wanted, min(wanted, params["num_samples"]))
    elif predictor.ngram is not None and params["selection"] == "gcv":
        params["num_samples"] = with_companion
    return params


def process_explanations(*, worker_id: str, stop: threading.Event | None = None) -> int:
    """Compute pending explanations (each failure recorded, never fatal) until none is left."""

    def handle():
        row = queue.claim_next(Explanation, worker_id=worker_id)
        if row is None:
            return None
        with queue.keep_alive(row):
            queue.run_claimed(row, compute_explanation)
        return 1

    return queue.drain(Explanation, handle, stop=stop)

