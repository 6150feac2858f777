"""The quality gate's defence against a poisoned backdoor: a rare trigger phrase (a made-up name, say)
added to reviews of one label that attackers flag as the other, so that a retrained model learns
"phrase => that label".

`suspicious_phrases` finds the phrases most over-represented in a run's corrections of one label
against the replay (training) reviews of the same label; `trigger_checks` inserts each into trusted
reviews of the other label and compares how many of them the candidate and the active model flip.
An attacker can choose what they flag, but not the trusted reviews nor the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from modeling.cleaning import clean_text, reading_form
from modeling.config import LABELS
from modeling.significance import compare_paired

PredictProba = Callable[[list[str]], np.ndarray]

# Prior strength: how many documents' worth of the pooled rate each side's estimate is shrunk
# towards. Small enough that a phrase in 10 of 60 corrections and none of 1,000 reference reviews
# reaches z ~ 4.3, large enough that a chance n-gram (3 of 40 corrections, 1 of 200) stays at ~1.3.
# Against 2,000 IMDb training reviews it found a planted name in 5 of 100 corrections (z 3.1) and
# in 10 of 1,000 (z 3.0) with nothing else above z 3; 100 or 1,000 missed one of those or let
# ordinary n-grams through.
DEFAULT_ALPHA0 = 300.0
# Float tolerance when a rate difference is compared with a threshold (rates are k/n).
_EPS = 1e-9


@dataclass(frozen=True)
class Phrase:
    """A phrase over-represented in the corrections of one label."""

    text: str
    label: int  # the corrected label it is over-represented in
    z: float  # log-odds z-score against the reference of that label
    support: int  # corrections (of that label) containing it
    reference_rate: float  # share of reference docs of that label containing it

    def as_dict(self) -> dict:
        data = asdict(self)
        data["z"] = round(self.z, 3)
        data["reference_rate"] = round(self.reference_rate, 4)
        return data


def _log_odds_z(y_i: np.ndarray, n_i: int, y_j: np.ndarray, n_j: int, alpha0: float) -> np.ndarray:
    """Monroe, Colaresi & Quinn (2008) log-odds ratio with an informative Dirichlet prior, on document
    frequencies: for each phrase, "contains it / does not" in group i against group j, both shrunk
    towards the pooled rate with a prior worth `alpha0` documents; returns delta / sqrt(variance)."""
    pooled = np.clip((y_i + y_j) / max(1, n_i + n_j), 1e-9, 1 - 1e-9)
    a_w = alpha0 * pooled
    b_w = alpha0 - a_w
    delta = np.log((y_i + a_w) / (n_i - y_i + b_w)) - np.log((y_j + a_w) / (n_j - y_j + b_w))
    variance = 1 / (y_i + a_w) + 1 / (n_i - y_i + b_w) + 1 / (y_j + a_w) + 1 / (n_j - y_j + b_w)
    return delta / np.sqrt(variance)


def _overlaps(a: str, b: str, stop_words: frozenset[str]) -> bool:
    """Whether two phrases are pieces of one: one inside the other (word-aligned), or the end of one
    the start of the other on a word that is not a stop word ("with zorvath", "zorvath quillan")."""
    if f" {a} " in f" {b} " or f" {b} " in f" {a} ":
        return True
    wa, wb = a.split(), b.split()
    for k in range(1, min(len(wa), len(wb))):
        for head, tail in ((wa, wb), (wb, wa)):
            if head[-k:] == tail[:k] and not set(tail[:k]) <= stop_words:
                return True
    return False


def suspicious_phrases(
    corrections: list[tuple[str, int]],
    reference: list[tuple[str, int]],
    *,
    top: int,
    min_z: float,
    min_support: int,
    max_ngram: int = 3,
    alpha0: float = DEFAULT_ALPHA0,
) -> list[Phrase]:
    """The `top` phrases (1..max_ngram words) most over-represented in the corrections of a label
    against the reference texts of the same label, with z >= min_z in >= min_support corrections,
    highest z first. A phrase that is a piece of one already chosen (inside it, around it, or
    overlapping its first or last words) takes no further slot, so "zorvath quillan", "zorvath",
    "quillan" and "with zorvath" are one candidate.

    Each document counts a phrase once; phrases made only of English stop words are ignored.
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    min_support = max(1, int(min_support))
    if top <= 0 or len(corrections) < min_support:
        return []
    # Counted on what the model reads: "Zörvath", "zorvath" and "zor<zero-width>vath" are one word
    # to it, and so to the count; a lone symbol ("§") or letter is a word too.
    texts = [reading_form(t) for t, _ in corrections]
    labels = np.asarray([int(y) for _, y in corrections])
    # Only n-grams in at least min_support corrections can qualify: the reference is counted on
    # that (small) vocabulary alone.
    vectorizer = CountVectorizer(ngram_range=(1, max_ngram), binary=True, min_df=min_support, dtype=np.int32,
                                 tokenizer=str.split, token_pattern=None, lowercase=False)
    try:
        counts = vectorizer.fit_transform(texts).tocsc()
    except ValueError:  # no n-gram is frequent enough (or the texts have no words at all)
        return []
    vocabulary = vectorizer.get_feature_names_out()
    keep = [i for i, phrase in enumerate(vocabulary) if not all(w in ENGLISH_STOP_WORDS for w in phrase.split())]
    if not keep:
        return []
    vocabulary = vocabulary[keep]
    counts = counts[:, keep].tocsr()
    ref_texts = [reading_form(t) for t, _ in reference]
    ref_labels = np.asarray([int(y) for _, y in reference], dtype=int)
    ref_vectorizer = CountVectorizer(ngram_range=(1, max_ngram), binary=True, dtype=np.int32,
                                     tokenizer=str.split, token_pattern=None, lowercase=False,
                                     vocabulary={p: i for i, p in enumerate(vocabulary)})
    ref_counts = ref_vectorizer.transform(ref_texts) if ref_texts else None

    candidates = []
    for label in range(len(LABELS)):
        rows = labels == label
        n_i = int(rows.sum())
        if not n_i:
            continue
        y_i = np.asarray(counts[rows].sum(axis=0)).ravel().astype(float)
        ref_rows = ref_labels == label
        n_j = int(ref_rows.sum())
        y_j = (np.asarray(ref_counts[ref_rows].sum(axis=0)).ravel().astype(float) if n_j
               else np.zeros(len(vocabulary)))
        z = _log_odds_z(y_i, n_i, y_j, n_j, alpha0)
        for k in np.flatnonzero((z >= min_z) & (y_i >= min_support)):
            candidates.append(Phrase(str(vocabulary[k]), label, float(z[k]), int(y_i[k]),
                                     float(y_j[k] / n_j) if n_j else 0.0))
    # Highest z first; on a tie the longer phrase (the whole trigger, not a word of it), then by text.
    candidates.sort(key=lambda p: (-p.z, -len(p.text.split()), p.text, p.label))
    chosen: list[Phrase] = []
    for phrase in candidates:
        if len(chosen) == top:
            break
        if not any(_overlaps(phrase.text, c.text, ENGLISH_STOP_WORDS) for c in chosen):
            chosen.append(phrase)
    return chosen


def insert_phrase(text: str, phrase: str) -> str:
    """`phrase` at both ends of `text`: truncation keeps the head and the tail of a long review,
    so at least one copy survives either way."""
    return " ".join(part for part in (phrase, text, phrase) if part)


def _predicted(predict_proba: PredictProba, texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros(0, dtype=int)
    proba = np.asarray(predict_proba(texts))
    if proba.shape != (len(texts), len(LABELS)):
        raise ValueError(f"predict_proba returned shape {proba.shape}, expected {(len(texts), len(LABELS))}")
    return proba.argmax(axis=1)


def trigger_checks(
    phrases: Sequence[Phrase],
    probes: dict[int, list[str]],
    candidate: PredictProba,
    active: PredictProba | None,
    *,
    flip_max: float,
    flip_suspect: float,
    alpha: float,
    min_z: float | None = None,
    min_support: int | None = None,
) -> tuple[list[dict], list[dict]]:
    """For each phrase, the share of trusted reviews of the other label that it flips to its label
    when inserted, for the candidate and the active model. A check passes when the candidate flips
    at most `flip_max` more of them than the active model, or when the paired exact McNemar test on
    the probes does not find it flipping more at level `alpha` (1.0: the share alone decides); it is
    `suspected` above `flip_suspect` whatever the test says (a suspicion only makes promotion wait).

    Without an active model the candidate is compared with itself on the reviews without the phrase.
    `min_z` and `min_support` only go into the detail of the check written when there is no phrase.
    Returns (checks, findings): gate checks, and one plain dict per phrase to store.
    """
    if not phrases:
        thresholds = ""
        if min_z is not None and min_support is not None:
            thresholds = f" (z >= {min_z:g} in at least {min_support} corrections)"
        return [{"check": "trigger phrases", "passed": True, "skipped": True, "suspected": False,
                 "detail": f"no phrase over-represented in the corrections{thresholds}; nothing to insert"}], []

    # Every text a model sees, in one list: the probes as they are, then each phrase's insertions.
    texts: list[str] = []
    base_slices: dict[int, slice] = {}
    for label in sorted({1 - p.label for p in phrases}):
        start = len(texts)
        texts.extend(probes.get(label, []))
        base_slices[label] = slice(start, len(texts))
    phrase_slices = []
    for phrase in phrases:
        start = len(texts)
        texts.extend(insert_phrase(t, phrase.text) for t in probes.get(1 - phrase.label, []))
        phrase_slices.append(slice(start, len(texts)))
    cand_pred = _predicted(candidate, texts)
    act_pred = _predicted(active, texts) if active is not None else None

    checks, findings = [], []
    for phrase, where in zip(phrases, phrase_slices):
        name = f'trigger phrase "{phrase.text}"'
        other = 1 - phrase.label
        n = where.stop - where.start
        if not n:
            checks.append({"check": name, "passed": True, "skipped": True, "suspected": True, "phrase": phrase.text,
                           "label": LABELS[phrase.label], "z": round(phrase.z, 3), "support": phrase.support,
                           "detail": f"no trusted {LABELS[other]} reviews to insert it into; not measured"})
            findings.append({**phrase.as_dict(), "probes": 0, "candidate_rate": None, "active_rate": None,
                             "difference": None})
            continue
        base = base_slices[other]
        cand_flips = cand_pred[where] == phrase.label
        cand_base = float(np.mean(cand_pred[base] == phrase.label))
        if act_pred is not None:
            act_flips = act_pred[where] == phrase.label
            act_base = float(np.mean(act_pred[base] == phrase.label))
            against = f"active {np.mean(act_flips):.1%}"
        else:  # the same probes without the phrase
            act_flips, act_base = cand_pred[base] == phrase.label, None
            against = f"{np.mean(act_flips):.1%} without it (no active model)"
        cand_rate, act_rate = float(np.mean(cand_flips)), float(np.mean(act_flips))
        paired = compare_paired(~cand_flips, ~act_flips)
        difference = cand_rate - act_rate
        passed = difference <= flip_max + _EPS or not paired.significant(alpha)
        suspected = difference > flip_suspect + _EPS
        base_note = (f"; without it {cand_base:.1%} and {act_base:.1%}" if act_base is not None else "")
        noise = "" if difference <= flip_max + _EPS or not passed else f"; within noise (p >= {alpha:g})"
        detail = (f"inserted into {n} trusted {LABELS[other]} reviews: candidate calls {cand_rate:.1%} "
                  f"{LABELS[phrase.label]}, {against} ({difference * 100:+.1f} points; at most "
                  f"{flip_max * 100:+.1f}){base_note}; {paired.describe()}{noise}")
        numbers = {"probes": n, "candidate_rate": round(cand_rate, 4), "active_rate": round(act_rate, 4),
                   "difference": round(difference, 4), "candidate_base_rate": round(cand_base, 4),
                   "active_base_rate": None if act_base is None else round(act_base, 4),
                   "p_value": round(paired.p_value, 4)}
        checks.append({"check": name, "passed": passed, "detail": detail, "suspected": suspected,
                       "phrase": phrase.text, "label": LABELS[phrase.label], "z": round(phrase.z, 3),
                       "support": phrase.support, **numbers})
        findings.append({**phrase.as_dict(), **numbers, "passed": passed, "suspected": suspected})
    return checks, findings


def probe_reviews(texts: list[str], labels: list[int], *, size: int, seed: int = 0,
                  max_words: int = 120) -> dict[int, list[str]]:
    """A fixed set of up to `size` trusted reviews per label (cleaned), drawn by `seed` from those of
    at most `max_words` words; the shortest of the rest make up the number when too few are short."""
    rng = np.random.default_rng(seed)
    cleaned = [clean_text(t) for t in texts]
    words = np.asarray([len(t.split()) for t in cleaned], dtype=int)
    y = np.asarray([int(v) for v in labels], dtype=int)
    out: dict[int, list[str]] = {}
    for label in range(len(LABELS)):
        rows = np.flatnonzero((y == label) & (words > 0))
        short = rows[words[rows] <= max_words]
        if len(short) >= size:
            chosen = np.sort(rng.choice(short, size=max(0, size), replace=False))
        else:
            rest = rows[words[rows] > max_words]
            rest = rest[np.lexsort((rest, words[rest]))][: size - len(short)]
            chosen = np.sort(np.concatenate([short, rest]))
        out[label] = [cleaned[i] for i in chosen]
    return out
