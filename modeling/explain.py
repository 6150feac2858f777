"""LIME explanations of a text classifier, returned as plain data.

This is LIME's algorithm (Ribeiro et al. 2016) on LIME's own core (`lime.lime_base.LimeBase`):
perturb the text by removing words, ask the classifier, weight the samples by their distance to
the original, fit a weighted ridge model, report the words with the largest coefficients. It
differs from `LimeTextExplainer` only in what makes it cheaper without changing its meaning:

- identical perturbed texts are classified once (short reviews repeat many samples);
- the words are chosen (`selection="gcv"`) by a ridge model whose penalty generalized
  cross-validation picks from the samples, where LIME's `highest_weights` uses a fixed, almost
  nil one (0.01). Both estimate the same weighted least-squares fit, and they agree when samples
  are plentiful; with few samples, the tuned penalty damps the noise that ~100 coefficients
  fitted to a few hundred samples pick up, so the words agree with a 5,000-sample LIME run as
  well as LIME's own selection does with 1.1-1.5x the samples (benchmarks/explain_selection.py).
  `selection="lime"` is LIME's own choice (`feature_selection="auto"`);
- a review with more distinct words than `max_words` has only the `max_words` most frequent
  ones perturbed (the rest stay as they are), and the result says so (`capped`);
- the classifier is any `predict_proba(list[str]) -> (n, 2) array`, batched by the caller
  (`Predictor.predict_proba` sorts by length and batches), or a `Mixture`: a classifier that is
  the weighted average of an expensive part and a cheap one (a transformer served with its n-gram
  companion). LIME's fit is linear in what it fits, so the mixture's explanation is the same
  average of the two parts' fits; the cheap part is fitted on `Mixture.cheap_samples`
  perturbations (LIME's default 5,000) for next to nothing, which takes its share of the sampling
  noise out of the words while the expensive part still costs `num_samples`.

Weights are towards the *positive* label: a positive weight pushes towards "positive", a negative
one towards "negative", whichever label was predicted, so colours mean the same on every page.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from lime.lime_base import LimeBase
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics.pairwise import cosine_distances

from modeling.config import EXPLAIN_SELECTIONS as SELECTIONS
from modeling.config import LABELS, ExplainConfig
from modeling.ngram import combine

WORD_RE = re.compile(r"\w+", re.UNICODE)
KERNEL_WIDTH = 25.0  # LimeTextExplainer's default
POSITIVE = LABELS.index("positive")
# Penalties generalized cross-validation chooses from (selection="gcv"): from LIME's 0.01 up.
GCV_ALPHAS = np.logspace(-2, 4, 25)
# Perturbed text a cheap model (an n-gram model) is asked about per explanation, at most: 5,000
# samples of a 1,200-character review, about 0.5 s on the CPUs measured.
CHEAP_CHARS = 6_000_000


def cheap_samples_for(text: str, wanted: int, floor: int, budget: int = CHEAP_CHARS) -> int:
    """How many perturbations of `text` a cheap model gets: `wanted`, or fewer for a long text,
    as many as `budget` characters allow, never fewer than `floor`."""
    return max(min(wanted, budget // max(len(text), 1)), floor)


@dataclass(frozen=True)
class Mixture:
    """A classifier whose probabilities are `(1 - weight) * expensive(texts) + weight *
    cheap(texts)` (modeling.ngram.combine: a transformer served with its n-gram companion).
    Called, it is that average; `explain` fits the cheap part on `cheap_samples` perturbations,
    or on fewer for a long text: as many as `cheap_chars` characters of perturbed text allow (a
    5,000-character review gets 1,200 of them at the default; never fewer than the expensive
    part's samples), so the cheap part costs about the same at any length."""

    expensive: Callable[[list[str]], np.ndarray]
    cheap: Callable[[list[str]], np.ndarray]
    weight: float
    cheap_samples: int = ExplainConfig.companion_samples
    cheap_chars: int = CHEAP_CHARS

    def __call__(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        return combine(self.expensive(texts), self.cheap(texts), self.weight)


def _kernel(distances: np.ndarray, width: float = KERNEL_WIDTH) -> np.ndarray:
    return np.sqrt(np.exp(-(distances**2) / width**2))


def word_spans(text: str) -> dict[str, list[tuple[int, int]]]:
    """Every word (as LIME splits text: runs of letters and digits, any script) and the
    character spans of all its occurrences, in order of first appearance."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for match in WORD_RE.finditer(text):
        spans.setdefault(match.group(), []).append((match.start(), match.end()))
    return spans


def _remove(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with the given character spans removed (LIME replaces a removed word by '')."""
    pieces, cursor = [], 0
    for start, end in sorted(spans):
        pieces.append(text[cursor:start])
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def explain(
    text: str,
    predict_proba: Callable[[list[str]], np.ndarray],
    *,
    num_samples: int = ExplainConfig.num_samples,
    num_features: int = ExplainConfig.num_features,
    max_words: int = ExplainConfig.max_words,
    seed: int = ExplainConfig.seed,
    kernel_width: float = KERNEL_WIDTH,
    selection: str = ExplainConfig.selection,
) -> dict:
    """Explain one prediction of `predict_proba` on `text` (defaults: `ExplainConfig`'s).

    Returns the prediction explained (label, probabilities), the local model's fit (`score`,
    R² on the weighted samples), the top words with signed weights towards "positive" and the
    character spans of every occurrence of each, and how the explanation was made.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("cannot explain an empty text")
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, not {selection!r}")
    started = time.perf_counter()
    spans = word_spans(text)
    counts = Counter({word: len(places) for word, places in spans.items()})
    total_words = len(spans)
    # The most frequent words first; ties in order of appearance (dicts keep it).
    order = {word: i for i, word in enumerate(spans)}
    features = sorted(spans, key=lambda w: (-counts[w], order[w]))[:max_words]
    features.sort(key=order.__getitem__)
    d = len(features)

    mixture = predict_proba if isinstance(predict_proba, Mixture) and selection == "gcv" else None
    if mixture is None:
        original = np.asarray(predict_proba([text]), dtype=float)[0]
    else:
        original_parts = [np.asarray(part([text]), dtype=float)[0] for part in (mixture.expensive, mixture.cheap)]
        original = combine(*original_parts, mixture.weight)
    predicted = int(original.argmax())
    result = {
        "label": LABELS[predicted],
        "probabilities": {label: float(p) for label, p in zip(LABELS, original)},
        "explained_label": LABELS[POSITIVE],
        "words_total": total_words,
        "words_considered": d,
        "capped": total_words > d,
        "num_samples": num_samples,
        "seed": seed,
        "selection": selection,
    }
    if d == 0:
        return {**result, "score": None, "intercept": float(original[POSITIVE]), "local_prediction": float(original[POSITIVE]),
                "words": [], "unique_samples": 1, "seconds": round(time.perf_counter() - started, 3)}

    if d == 1:
        # One word: LIME's samples all coincide (the word removed), and its kernel gives them
        # ~zero weight. The exact answer is the change when the word is removed.
        word = features[0]
        without = np.asarray(predict_proba([_remove(text, spans[word])]), dtype=float)[0]
        weight = float(original[POSITIVE] - without[POSITIVE])
        return {**result, "score": 1.0, "intercept": float(without[POSITIVE]), "local_prediction": float(original[POSITIVE]),
                "words": [{"word": word, "weight": weight, "spans": [list(s) for s in spans[word]]}],
                "unique_samples": 2, "seconds": round(time.perf_counter() - started, 3)}

    masks = sample_masks(d, num_samples, seed)
    distances = cosine_distances(masks, masks[:1]).ravel() * 100
    k = min(num_features, d)
    if mixture is None:
        proba, unique = _classify(text, spans, features, masks, predict_proba, original)
        if selection == "gcv":
            parts = [(1.0, masks, proba[:, POSITIVE], distances)]
    else:
        # The expensive part on the usual samples, the cheap part on those and more of LIME's
        # neighbourhood: each part's fit is LIME's, and the mixture's is their weighted sum.
        proba, unique = _classify(text, spans, features, masks, mixture.expensive, original_parts[0])
        more = cheap_samples_for(text, mixture.cheap_samples, num_samples, mixture.cheap_chars) - num_samples
        wide = np.vstack([masks, sample_masks(d, more + 1, seed + 1)[1:]]) if more else masks
        cheap, cheap_unique = _classify(text, spans, features, wide, mixture.cheap, original_parts[1])
        wide_distances = cosine_distances(wide, wide[:1]).ravel() * 100
        parts = [(1.0 - mixture.weight, masks, proba[:, POSITIVE], distances),
                 (mixture.weight, wide, cheap[:, POSITIVE], wide_distances)]
        proba = combine(proba, cheap[:num_samples], mixture.weight)
        result.update(companion_weight=mixture.weight, companion_samples=len(wide), companion_unique_samples=cheap_unique)

    if selection == "gcv":
        coef, alphas = 0.0, []
        for share, design, target, dist in parts:
            part, alpha = gcv_coefficients(design, target, _kernel(dist, kernel_width))
            coef, alphas = coef + share * part, alphas + [alpha]
        used = _top(coef, k)
        result["selection_alpha"] = alphas[0]
        # LIME's own last step on the chosen words (LimeBase.explain_instance_with_data): a ridge
        # fit, alpha 1, gives their weights; for a mixture, each part's, averaged.
        intercept, weights = 0.0, np.zeros(k)
        for share, design, target, dist in parts:
            local = Ridge(alpha=1.0).fit(design[:, used], target, sample_weight=_kernel(dist, kernel_width))
            intercept, weights = intercept + share * local.intercept_, weights + share * local.coef_
        # The local model's fit (R²) to what is explained, on the samples every part was asked about.
        predicted_local = intercept + masks[:, used] @ weights
        score = _weighted_r2(proba[:, POSITIVE], predicted_local, _kernel(distances, kernel_width))
        local_pred = predicted_local[0]
        weights = list(zip(used, weights))
    else:
        base = LimeBase(lambda dist: _kernel(dist, kernel_width), random_state=np.random.RandomState(seed))
        intercept, weights, score, local_pred = base.explain_instance_with_data(
            masks, proba, distances, POSITIVE, k, feature_selection="auto"
        )
    words = [
        {"word": features[j], "weight": float(w), "spans": [list(s) for s in spans[features[j]]]}
        for j, w in sorted(weights, key=lambda item: -abs(item[1]))
    ]
    return {
        **result,
        "score": float(score),
        "intercept": float(intercept),
        "local_prediction": float(np.asarray(local_pred).ravel()[0]),
        "words": words,
        "unique_samples": unique,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _classify(text, spans, features, masks, predict_proba, original) -> tuple[np.ndarray, int]:
    """`predict_proba` of each row's perturbed text (row 0 is the text itself, `original`),
    each distinct text classified once; and how many distinct texts there were."""
    texts, index = [text], {masks[0].tobytes(): 0}
    rows_to_unique = np.empty(len(masks), dtype=int)
    rows_to_unique[0] = 0
    for row in range(1, len(masks)):
        key = masks[row].tobytes()
        if key not in index:
            index[key] = len(texts)
            texts.append(perturb(text, spans, features, masks[row]))
        rows_to_unique[row] = index[key]
    proba = np.asarray(predict_proba(texts[1:]), dtype=float) if len(texts) > 1 else np.empty((0, len(LABELS)))
    return np.vstack([np.asarray(original, dtype=float)[None, :], proba])[rows_to_unique], len(texts)


def _weighted_r2(target: np.ndarray, predicted: np.ndarray, weight: np.ndarray) -> float:
    """R² with sample weights, as sklearn's `score(..., sample_weight=)` computes it."""
    mean = np.average(target, weights=weight)
    total = float(np.sum(weight * (target - mean) ** 2))
    return 1.0 - float(np.sum(weight * (target - predicted) ** 2)) / total if total > 0 else 0.0


def sample_masks(d: int, num_samples: int, seed: int) -> np.ndarray:
    """LIME's neighbourhood of a text with `d` words: row 0 keeps every word, each other row
    removes 1..d of them, chosen at random (1 = kept, 0 = removed)."""
    rng = np.random.RandomState(seed)
    masks = np.ones((num_samples, d), dtype=np.int8)
    for row, size in enumerate(rng.randint(1, d + 1, num_samples - 1), start=1):  # as LIME: 1 .. d
        masks[row, rng.choice(d, size, replace=False)] = 0
    return masks


def perturb(text: str, spans: dict[str, list[tuple[int, int]]], features: Sequence[str], mask: np.ndarray) -> str:
    """`text` without every occurrence of the features `mask` removes (0)."""
    removed = [s for j in np.flatnonzero(mask == 0) for s in spans[features[j]]]
    return _remove(text, removed) if removed else text


def gcv_coefficients(masks: np.ndarray, target: np.ndarray, sample_weight: np.ndarray) -> tuple[np.ndarray, float]:
    """The coefficients of a weighted ridge fit whose penalty generalized cross-validation
    (leave-one-out, closed form) picks, and that penalty."""
    ridge = RidgeCV(alphas=GCV_ALPHAS).fit(masks.astype(float), target, sample_weight=sample_weight)
    return ridge.coef_, float(ridge.alpha_)


def gcv_selection(masks: np.ndarray, target: np.ndarray, sample_weight: np.ndarray, k: int) -> tuple[list[int], float]:
    """The k features with the largest |coefficient| of `gcv_coefficients`; ties keep feature order."""
    coef, alpha = gcv_coefficients(masks, target, sample_weight)
    return _top(coef, k), alpha


def _top(coef: np.ndarray, k: int) -> list[int]:
    return [int(j) for j in np.argsort(-np.abs(coef), kind="stable")[:k]]


def remove_words(text: str, words: Sequence[str]) -> str:
    """`text` with every occurrence of `words` removed (for faithfulness checks)."""
    spans = word_spans(text)
    return _remove(text, [s for w in words for s in spans.get(w, [])])


# Between the two parts of a windowed text: whitespace, so it is no word and no token.
WINDOW_GAP = "\n\n"


def explain_window(text: str, window: list[tuple[int, int]], predict_proba, **params) -> dict:
    """explain() on only the parts of `text` the model reads (`window`: character ranges, e.g.
    from Predictor.reading_window), so a 20,000-character review costs what a long review costs;
    the spans of the result are offsets in `text` itself."""
    parts = [text[start:end] for start, end in window]
    result = explain(WINDOW_GAP.join(parts), predict_proba, **params)
    if len(window) == 1 and window[0] == (0, len(text)):
        return result
    # Offsets in the joined text -> offsets in `text`.
    starts, cursor = [], 0
    for (start, end), part in zip(window, parts):
        starts.append((cursor, cursor + len(part), start))
        cursor += len(part) + len(WINDOW_GAP)

    def original(offset: int) -> int:
        for begin, finish, start in starts:
            if begin <= offset <= finish:
                return start + offset - begin
        raise ValueError(f"offset {offset} is in no part of the window")

    for word in result["words"]:
        word["spans"] = [[original(a), original(b)] for a, b in word["spans"]]
    result["window"] = [list(w) for w in window]
    return result
