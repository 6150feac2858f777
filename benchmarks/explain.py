"""How fast and how faithful are the explanations? Prints one table (README: Explanations).

    .venv/bin/python benchmarks/explain.py [--version ID] [--reviews 20] [--isa native|avx2] [--quick]

On test-split reviews near the median length, with a trained version (default: the active one):
- the reference is the library's own `LimeTextExplainer` at its default 5,000 samples on the
  model as served (SENTIMENT_PRECISION: bf16 where the CPU has it natively), cached in
  benchmarks/reference/ (keyed by weights and precision) so reruns are cheap; a second reference
  run with another seed shows how much the reference agrees with itself;
- each candidate setting explains as the worker does (only the words the model reads, its
  head+tail window: `explain_window`), is timed (p50, p95 per explanation), its top-10 words
  compared with the reference's top-10 (overlap), and its faithfulness measured: how much the
  predicted class's probability drops when its top-5 words are deleted, against deleting 5
  random words.
`--isa avx2` measures the AVX2 case on a CPU that has more (benchmarks/_cpu.py). Run it alone on
the machine: it measures time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import statistics
import sys
import time
from typing import NamedTuple

import _cpu
import numpy as np
from _bootstrap import RESULTS, ROOT

# The expensive reference explanations are committed, keyed by the model's weights (not its
# version id), so a rerun, here or on a fresh checkout with the same model, is cheap.
REFERENCE_CACHE = ROOT / "benchmarks" / "reference" / "lime_reference.json"


class Candidate(NamedTuple):
    """One way of explaining. Unset fields are as the worker runs (reviews.explanations.explainer_for)."""

    name: str
    samples: int
    # How perturbed texts are classified: "default" = reviews.explanations.explain_precision() (bf16
    # weights where the CPU computes bf16 natively, else the int8 ONNX export); "served" = the
    # serving precision, as the reference (bf16 autocast where native); or "int8", "fp32", ...
    precision: str = "default"
    max_length: int | None = None  # tokens per perturbed text (None: the version's)
    selection: str = "gcv"  # "gcv": tuned ridge; "lime": LIME's own word choice
    batch_size: int | None = None  # perturbed texts per forward pass (None: SENTIMENT_EXPLAIN_BATCH_SIZE)
    compiled: bool | None = None  # torch.compile'd forward pass (None: SENTIMENT_EXPLAIN_COMPILE)
    # A version served with its n-gram companion: the perturbations that part is fitted on (None:
    # SENTIMENT_EXPLAIN_COMPANION_SAMPLES; 0: no split, the served average fitted as one).
    companion_samples: int | None = None
    backend: str | None = None  # "torch" or "onnx" (None: SENTIMENT_BACKEND)


CANDIDATES = [
    Candidate("lime-default-5000", 5000, "served", selection="lime"),
    Candidate("gcv-1000", 1000),
    Candidate("gcv-700", 700),
    Candidate("gcv-500", 500),
    Candidate("gcv-500-eager", 500, compiled=False),
    Candidate("gcv-500-eager-b64", 500, compiled=False, batch_size=64),
    Candidate("gcv-500-served", 500, "served", compiled=False),
    Candidate("gcv-400", 400),
    Candidate("gcv-300", 300),
    Candidate("gcv-200", 200),
    Candidate("gcv-150", 150),
    Candidate("gcv-100", 100),
    Candidate("gcv-200-len96", 200, max_length=96),
    Candidate("lime-500", 500, selection="lime"),
    Candidate("gcv-300-int8", 300, "int8"),
    Candidate("gcv-300-len96", 300, max_length=96),
    Candidate("gcv-500-len96", 500, max_length=96),
    Candidate("gcv-500-b16", 500, batch_size=16),
    Candidate("gcv-500-unsplit", 500, companion_samples=0),
    Candidate("gcv-300-unsplit", 300, companion_samples=0),
    Candidate("gcv-500-companion-2000", 500, companion_samples=2000),
    Candidate("gcv-300-companion-2000", 300, companion_samples=2000),
    # PyTorch in fp32: in the AVX2 case, kernels that are AVX2's alone (ONNX Runtime's use VNNI).
    Candidate("gcv-300-torch-fp32", 300, "fp32", backend="torch"),
    Candidate("gcv-200-torch-fp32", 200, "fp32", backend="torch"),
    Candidate("gcv-100-torch-fp32", 100, "fp32", backend="torch"),
    Candidate("gcv-500-unsplit-torch-fp32", 500, "fp32", backend="torch", companion_samples=0),
]


def pick_reviews(texts: list[str], n: int) -> list[str]:
    """The n reviews whose word counts are nearest the median."""
    counts = np.array([len(t.split()) for t in texts])
    median = np.median(counts)
    order = np.argsort(np.abs(counts - median), kind="stable")[:n]
    return [texts[i] for i in sorted(order)]


def reference_prefix(predictor, version_id: str) -> str:
    """What a cached reference depends on: the model's weights and the precision it ran at."""
    weights = predictor.manifest["files"].get("model.safetensors") or version_id
    # Another precision or runtime makes other references, and so does an n-gram companion in
    # the served average (the same transformer may be served with one or without).
    prefix = f"{weights[:16]}:{predictor.precision}" + ("" if predictor.backend == "torch" else f":{predictor.backend}")
    if predictor.ngram is not None:
        prefix += f":ngram-{predictor.manifest['files']['ngram.npz'][:8]}-{predictor.ngram.weight:g}"
    return prefix


def reference_key(key_prefix: str, samples: int, seed: int, text: str) -> str:
    return f"{key_prefix}:{samples}:{seed}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def reference(text: str, predict_proba, *, samples: int, seed: int, cache: dict, key_prefix: str) -> list[str]:
    """The library's LimeTextExplainer top-10 words and their weights towards 'positive' (cached)."""
    from lime.lime_text import LimeTextExplainer

    key = reference_key(key_prefix, samples, seed, text)
    if key not in cache:
        explainer = LimeTextExplainer(class_names=["negative", "positive"], random_state=seed)
        started = time.perf_counter()
        exp = explainer.explain_instance(text, predict_proba, num_features=10, num_samples=samples, labels=(1,))
        pairs = exp.as_list(label=1)
        cache[key] = {"words": [w for w, _ in pairs], "weights": [float(v) for _, v in pairs],
                      "seconds": time.perf_counter() - started}
    return cache[key]


def supporting(words: list[dict], predicted: int, k: int) -> list[str]:
    """The k words pushing hardest towards the predicted class."""
    sign = 1 if predicted == 1 else -1
    ranked = sorted(words, key=lambda w: -sign * w["weight"])
    return [w["word"] for w in ranked[:k] if sign * w["weight"] > 0] or [w["word"] for w in ranked[:k]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", help="model version id (default: the active one)")
    parser.add_argument("--reviews", type=int, default=20)
    parser.add_argument("--reference-samples", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="3 reviews, 300-sample reference: checks the script runs")
    parser.add_argument("--only", nargs="*", help="candidate names to run")
    parser.add_argument("--references-only", action="store_true",
                        help="compute and cache the reference explanations, then stop (slow; may run niced in the background)")
    parser.add_argument("--isa", choices=("native", "avx2"), default="native")
    args = parser.parse_args()
    if args.quick:
        args.reviews, args.reference_samples = 3, 300
    _cpu.apply_isa(args.isa)
    print(_cpu.describe(args.isa))

    import django

    django.setup()
    from django.conf import settings

    from modeling.explain import Mixture, explain_window, remove_words
    from modeling.serving import Predictor
    from reviews.conf import conf
    from reviews.data import load
    from reviews.worker.explanations import explain_precision
    from reviews.models import ModelVersion
    from reviews.selectors import model_version_active

    version = ModelVersion.objects.get(pk=args.version) if args.version else model_version_active()
    if version is None:
        sys.exit("no model version: train one first (manage.py train --profile quick)")
    data = load(version.data.get("source"))
    texts = pick_reviews(list(data["test"]["text"]), args.reviews)
    full = Predictor(version.path, key=conf.signing_key(), batch_size=64, precision=settings.SENTIMENT_PRECISION)
    RESULTS.mkdir(parents=True, exist_ok=True)
    cache_file = REFERENCE_CACHE
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    key_prefix = reference_prefix(full, version.id)

    refs, refs2 = [], []
    for text in texts:
        refs.append(reference(text, full.predict_proba, samples=args.reference_samples, seed=0, cache=cache, key_prefix=key_prefix))
        refs2.append(reference(text, full.predict_proba, samples=args.reference_samples, seed=1, cache=cache, key_prefix=key_prefix))
        if args.quick:
            continue  # a smoke run's small references stay out of the committed cache
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache, indent=0, sort_keys=True))
        os.replace(tmp, cache_file)  # a run stopped midway leaves the cache whole
    if args.references_only:
        print(f"{len(refs)} reference pairs cached in {cache_file}")
        return
    self_overlap = statistics.mean(len(set(a["words"]) & set(b["words"])) / 10 for a, b in zip(refs, refs2))

    rows, predictors = [], {}
    base_proba = full.predict_proba(texts)
    compile_seconds = {}
    for name, samples, precision, max_length, selection, batch_size, compiled, companion_samples, backend in CANDIDATES:
        if args.only and name not in args.only:
            continue
        if args.quick:
            samples = min(samples, 300)
        if name.startswith("lime-default"):
            samples = args.reference_samples
        precision = {"default": explain_precision(), "served": full.precision}.get(precision, precision)
        batch_size = batch_size or settings.SENTIMENT_EXPLAIN_BATCH_SIZE
        compiled = settings.SENTIMENT_EXPLAIN_COMPILE if compiled is None else compiled
        backend = backend or settings.SENTIMENT_BACKEND
        key = (precision, max_length, batch_size, compiled, backend)
        if name.startswith("lime-default"):
            predictor = full  # the references ran on the served model (cached: their time then)
        elif key not in predictors:
            predictor = predictors[key] = Predictor(version.path, key=conf.signing_key(), batch_size=batch_size,
                                                    max_length=max_length, precision=precision, backend=backend)
            if compiled:
                started = time.perf_counter()
                predictor.compile()  # as the worker does, in a thread, before the first request
                compile_seconds[repr(predictor)] = time.perf_counter() - started
        else:
            predictor = predictors[key]
        companion_samples = settings.SENTIMENT_EXPLAIN_COMPANION_SAMPLES if companion_samples is None else companion_samples
        classifier = predictor.explainable(companion_samples=companion_samples) if companion_samples else predictor.predict_proba
        split = isinstance(classifier, Mixture)
        times, overlaps, drops, random_drops = [], [], [], []
        rng = random.Random(0)
        for text, ref, p0 in zip(texts, refs, base_proba):
            if name.startswith("lime-default"):
                seconds = ref["seconds"]
                top10 = ref["words"]
                words = [{"word": w, "weight": v} for w, v in zip(ref["words"], ref["weights"])] if "weights" in ref else None
            else:
                # As the worker explains: only the words the model reads (its head+tail window).
                result = explain_window(text, predictor.reading_window(text), classifier,
                                        num_samples=samples, num_features=10, seed=0, selection=selection)
                seconds, words = result["seconds"], result["words"]
                top10 = [w["word"] for w in words]
            times.append(seconds)
            overlaps.append(len(set(top10) & set(ref["words"])) / 10)
            if words is None:
                continue  # a reference cached before weights were kept: no faithfulness row
            predicted = int(p0.argmax())
            top5 = supporting(words, predicted, 5)
            vocabulary = sorted(set(re.findall(r"\w+", text)))
            random5 = rng.sample(vocabulary, min(5, len(vocabulary)))
            after = full.predict_proba([remove_words(text, top5), remove_words(text, random5)])
            drops.append(p0[predicted] - after[0, predicted])
            random_drops.append(p0[predicted] - after[1, predicted])
        rows.append({
            "setting": name, "samples": samples, "selection": selection,
            "precision": predictor.precision if predictor.backend == "torch" else f"{predictor.precision} (ONNX Runtime)",
            "max_length": max_length or full.max_length, "batch_size": predictor.batch_size, "compiled": predictor.compiled,
            "companion_samples": companion_samples if split and selection == "gcv" and predictor is not full else None,
            "p50_s": statistics.median(times), "p95_s": float(np.percentile(times, 95)),
            "overlap_top10": statistics.mean(overlaps),
            "drop_top5": statistics.mean(drops) if drops else None,
            "drop_random5": statistics.mean(random_drops) if random_drops else None,
        })

    print(f"version {version.id}; {len(texts)} test reviews near the median length "
          f"({int(np.median([len(t.split()) for t in texts]))} words); reference: LimeTextExplainer, "
          f"{args.reference_samples} samples; reference vs itself (another seed): top-10 overlap {self_overlap:.2f}")
    for name, seconds in compile_seconds.items():
        print(f"compiling {name}: {seconds:.1f} s (once per worker process and version, in a thread)")
    print("| setting | samples | companion samples | selection | precision | max_length | batch | compiled | p50 s | p95 s | top-10 overlap | prob. drop, top-5 deleted | prob. drop, 5 random deleted | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["drop_top5"] is None:
            faithfulness = "n/a | n/a | n/a"
        else:
            # Deleting random words may not lower the probability at all; then no ratio exists.
            ratio = f"{r['drop_top5'] / r['drop_random5']:.1f}" if r["drop_random5"] > 1e-9 else "random ≤ 0"
            faithfulness = f"{r['drop_top5']:.3f} | {r['drop_random5']:.3f} | {ratio}"
        print(f"| {r['setting']} | {r['samples']} | {r['companion_samples'] or '–'} | {r['selection']} | {r['precision']} | {r['max_length']} | {r['batch_size']} | {'yes' if r['compiled'] else 'no'} | {r['p50_s']:.2f} | "
              f"{r['p95_s']:.2f} | {r['overlap_top10']:.2f} | {faithfulness} |")
    (RESULTS / "explain.json").write_text(json.dumps({"version": version.id, "self_overlap": self_overlap, "compile_seconds": compile_seconds, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
