"""Which words does LIME pick from n samples, against its own pick from 5,000? Prints one table
(README: Explanations): LIME's word choice (a ridge fit with a fixed penalty of 0.01) and the
tuned ridge (`selection="gcv"`), on random subsets of a stored pool of samples per review.

    .venv/bin/python benchmarks/explain_selection.py [--pool 3000] [--sizes 200,300,500,700,1000]

The pool is LIME's sampling distribution (remove 1..d words at random) classified once by the
served model and stored in benchmarks/results/ (20 reviews x 3,000 texts: ~10 min on 2 cores, then
cached), so comparing ways of choosing words costs no forward pass. The references are those of
benchmarks/explain.py (cached in benchmarks/reference/; run it first). Subsets drawn from one pool
are not independent of each other, but each is independent of the references.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys

import numpy as np
from _bootstrap import RESULTS
from explain import REFERENCE_CACHE, pick_reviews, reference_key, reference_prefix


def pool_for(text: str, predict_proba, size: int, seed: int, path) -> dict:
    """`size` LIME samples of `text` (row 0: the text itself) and P(positive) for each, cached."""
    from modeling.explain import perturb, sample_masks, word_spans

    if path.exists():
        stored = np.load(path)
        if len(stored["y"]) == size:
            return {"masks": stored["masks"], "y": stored["y"]}
    spans = word_spans(text)
    features = list(spans)
    masks = sample_masks(len(features), size, seed)
    y = predict_proba([perturb(text, spans, features, mask) for mask in masks])[:, 1]
    np.savez_compressed(path, masks=masks, y=y)
    return {"masks": masks, "y": y}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=3000)
    parser.add_argument("--sizes", default="200,300,500,700,1000")
    parser.add_argument("--subsets", type=int, default=6, help="random subsets per review and size")
    parser.add_argument("--reviews", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    import django

    django.setup()
    from django.conf import settings
    from lime.lime_base import LimeBase
    from sklearn.metrics.pairwise import cosine_distances

    from modeling.explain import _kernel, gcv_selection, word_spans
    from modeling.serving import Predictor
    from reviews.conf import conf
    from reviews.data import load
    from reviews.selectors import model_version_active

    version = model_version_active()
    if version is None:
        sys.exit("no model version: train one first (manage.py train --profile quick)")
    texts = pick_reviews(list(load(version.data.get("source"))["test"]["text"]), args.reviews)
    predictor = Predictor(version.path, key=conf.signing_key(), batch_size=64, precision=settings.SENTIMENT_PRECISION)
    cache = json.loads(REFERENCE_CACHE.read_text()) if REFERENCE_CACHE.exists() else {}
    key_prefix = reference_prefix(predictor, version.id)
    folder = RESULTS / "explain_pools" / f"{key_prefix}:5000".replace(":", "-")
    folder.mkdir(parents=True, exist_ok=True)

    def lime_choice(masks, y, weights, k):  # LIME's own code: feature_selection="auto" at 10 words
        return list(LimeBase(_kernel).feature_selection(masks, y, weights, k, "highest_weights"))

    choices = {"lime": lime_choice, "gcv": lambda masks, y, weights, k: gcv_selection(masks, y, weights, k)[0]}
    overlaps = {(name, n): [] for name in choices for n in sizes}
    for i, text in enumerate(texts):
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        refs = [cache.get(reference_key(key_prefix, 5000, seed, text)) for seed in (0, 1)]
        if None in refs:
            sys.exit("references missing for this model: run benchmarks/explain.py --references-only first")
        # The pool's seed comes from the text, so a review's pool is the same in any run.
        pool = pool_for(text, predictor.predict_proba, args.pool, int(digest[:8], 16), folder / f"{digest}.npz")
        masks, y = pool["masks"].astype(float), pool["y"]
        weights = _kernel(cosine_distances(masks, masks[:1]).ravel() * 100)
        features = list(word_spans(text))
        rng = np.random.RandomState(7)
        for n in sizes:
            for _ in range(args.subsets):
                rows = np.r_[0, rng.choice(np.arange(1, len(y)), n - 1, replace=False)]
                for name, choose in choices.items():
                    top = {features[j] for j in choose(masks[rows], y[rows], weights[rows], 10)}
                    overlaps[name, n].append(statistics.mean(len(top & set(r["words"])) / 10 for r in refs))
        print(f"review {i + 1}/{len(texts)}", file=sys.stderr, flush=True)

    print(f"version {version.id}; {len(texts)} reviews; pool of {args.pool} samples each; {args.subsets} subsets "
          "per size; top-10 overlap with the two 5,000-sample references (mean)")
    print("| samples | LIME's word choice | tuned ridge (gcv) | gain |")
    print("|---|---|---|---|")
    for n in sizes:
        a, b = statistics.mean(overlaps["lime", n]), statistics.mean(overlaps["gcv", n])
        print(f"| {n} | {a:.3f} | {b:.3f} | {b - a:+.3f} |")


if __name__ == "__main__":
    main()
