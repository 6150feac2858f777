"""A small CheckList-style behaviour suite (Ribeiro et al. 2020) the quality gate runs on the
candidate and the active model: labelled template sentences (negation, names and titles) and
invariance on trusted reviews (punctuation, casing). Nothing in it comes from user feedback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from string import Formatter

import numpy as np

from modeling.config import LABELS
from modeling.significance import compare_paired

PredictProba = Callable[[list[str]], np.ndarray]

POSITIVE_ADJECTIVES = ("good", "great", "excellent", "wonderful", "brilliant", "enjoyable", "superb", "fantastic")
NEGATIVE_ADJECTIVES = ("bad", "terrible", "awful", "boring", "dreadful", "dull", "horrible", "poor")
# The words each template slot takes.
SLOTS: dict[str, tuple[str, ...]] = {
    "pos": POSITIVE_ADJECTIVES,
    "neg": NEGATIVE_ADJECTIVES,
    "like": ("like", "enjoy", "love", "recommend"),
    "dislike": ("hate", "dislike"),
    "noun": ("movie", "film", "picture", "story"),
    "first": ("Maria", "James", "Aisha", "Wei", "Olga", "Carlos", "Priya", "Kwame", "Yuki", "Emma"),
    "last": ("Johnson", "Okafor", "Nguyen", "Schmidt", "Garcia", "Kowalski", "Haddad", "Tanaka"),
    "title": ("The Long Night", "Midnight Harbor", "Glass River", "A Quiet Summer", "Red Horizon", "The Last Letter"),
}

# (template, label): negated positives are negative, negated negatives beside a positive are
# positive, and plain sentences of both labels keep a model from passing by answering "negative".
NEGATION_TEMPLATES = (
    ("The {noun} was not {pos}.", 0),
    ("This {noun} is not {pos} at all.", 0),
    ("I did not {like} this {noun}.", 0),
    ("This {noun} is {neg}.", 0),
    ("I did not {dislike} this {noun}; it was {pos}.", 1),
    ("The {noun} was not {neg}, it was {pos}.", 1),
    ("I don't think this {noun} is {neg}; it is {pos}.", 1),
    ("The acting in this {noun} was {pos}.", 1),
)
# A name or a title must not decide the label: the adjective does.
NAME_TEMPLATES = tuple(
    (template.format(first="{first}", last="{last}", title="{title}", adj=adj), label)
    for template in ("{first} {last} was {adj} in {title}.", "{title}, starring {first} {last}, is {adj}.",
                     "As the lead of {title}, {first} was {adj}.")
    for adj, label in (("{neg}", 0), ("{pos}", 1))
)

# Punctuation, but not an apostrophe inside a word ("didn't" stays one negation).
_PUNCTUATION_RE = re.compile(r"[^\w\s'’]|(?<!\w)['’]|['’](?!\w)")
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class BehaviourTest:
    """One test: texts with expected labels ("label"), or texts that should be predicted like the
    original each was made from ("invariance")."""

    name: str
    kind: str  # "label" (expected labels) or "invariance"
    texts: tuple[str, ...]
    expected: tuple[int, ...] = ()  # for "label"
    originals: tuple[str, ...] = ()  # for "invariance"

    def __post_init__(self):
        if self.kind not in ("label", "invariance"):
            raise ValueError(f"behaviour test kind must be label or invariance, not {self.kind!r}")
        paired = self.expected if self.kind == "label" else self.originals
        if len(paired) != len(self.texts):
            raise ValueError(f"behaviour test {self.name!r}: {len(self.texts)} texts, {len(paired)} expected/originals")


def _fields(template: str) -> list[str]:
    return list(dict.fromkeys(field for _, field, _, _ in Formatter().parse(template) if field))


def _draw(template: str, count: int, rng: np.random.Generator) -> list[str]:
    """Up to `count` distinct fillings of `template`, drawn by `rng`, in a fixed order."""
    fields = _fields(template)
    sizes = [len(SLOTS[f]) for f in fields]
    total = int(np.prod(sizes)) if fields else 1
    rows = np.sort(rng.choice(total, size=min(count, total), replace=False))
    out = []
    for row in rows:
        picks = np.unravel_index(int(row), sizes) if fields else ()
        out.append(template.format(**{f: SLOTS[f][int(i)] for f, i in zip(fields, picks)}))
    return out


def _label_test(name: str, templates: Sequence[tuple[str, int]], per_test: int,
                rng: np.random.Generator) -> BehaviourTest:
    """Half of `per_test` sentences of each label, spread evenly over that label's templates,
    the labels alternating."""
    picked: dict[int, list[str]] = {}
    for label, count in ((0, per_test // 2), (1, per_test - per_test // 2)):
        own = [t for t, y in templates if y == label]
        picked[label] = []
        for j, template in enumerate(own):
            picked[label].extend(_draw(template, count // len(own) + (j < count % len(own)), rng))
    texts, expected = [], []
    for i in range(max(len(v) for v in picked.values())):
        for label in (0, 1):
            if i < len(picked[label]):
                texts.append(picked[label][i])
                expected.append(label)
    return BehaviourTest(name, "label", tuple(texts), expected=tuple(expected))


def _strip_punctuation(text: str) -> str:
    return _WS_RE.sub(" ", _PUNCTUATION_RE.sub(" ", text)).strip()


def _originals(probes: dict[int, list[str]], count: int, rng: np.random.Generator) -> list[str]:
    """Up to `count` probe reviews, drawn by `rng`, alternating between the labels."""
    shuffled = [[probes.get(label, [])[i] for i in rng.permutation(len(probes.get(label, [])))]
                for label in range(len(LABELS))]
    out = []
    for i in range(max((len(s) for s in shuffled), default=0)):
        for s in shuffled:
            if i < len(s) and len(out) < count:
                out.append(s[i])
    return out


def _invariance_test(name: str, originals: list[str], transforms) -> BehaviourTest:
    texts, sources = [], []
    for original in originals:
        for transform in transforms:
            texts.append(transform(original))
            sources.append(original)
    return BehaviourTest(name, "invariance", tuple(texts), originals=tuple(sources))


def behaviour_suite(probes: dict[int, list[str]], *, per_test: int = 100, seed: int = 0) -> list[BehaviourTest]:
    """The suite: "negation" and "names and titles" (template sentences with known labels, balanced),
    "punctuation" (stripped, "!!!" appended) and "casing" (lower, upper) as invariance on the probe
    reviews. At most `per_test` texts a test; the same seed gives the same suite. The invariance
    tests are left out when there are no probes."""
    rng = np.random.default_rng(seed)
    suite = [_label_test("negation", NEGATION_TEMPLATES, per_test, rng),
             _label_test("names and titles", NAME_TEMPLATES, per_test, rng)]
    originals = _originals(probes, per_test // 2, rng)
    if originals:
        suite.append(_invariance_test("punctuation", originals, (_strip_punctuation, lambda t: f"{t} !!!")))
        suite.append(_invariance_test("casing", originals, (str.lower, str.upper)))
    return suite


def suite_outcomes(suite: Sequence[BehaviourTest], predict_proba: PredictProba) -> dict[str, np.ndarray]:
    """Per test, whether each of its texts was answered as it should be: the expected label for
    "label" tests, the prediction on its original for "invariance" tests. All texts (originals
    included, each once) go in one predict_proba call."""
    index: dict[str, int] = {}
    for test in suite:
        for text in (*test.texts, *test.originals):
            index.setdefault(text, len(index))
    if not index:
        return {}
    texts = list(index)
    proba = np.asarray(predict_proba(texts))
    if proba.shape != (len(texts), len(LABELS)):
        raise ValueError(f"predict_proba returned shape {proba.shape}, expected {(len(texts), len(LABELS))}")
    pred = proba.argmax(axis=1)
    outcomes = {}
    for test in suite:
        if not test.texts:
            continue
        got = pred[[index[t] for t in test.texts]]
        want = (np.asarray(test.expected) if test.kind == "label" else pred[[index[t] for t in test.originals]])
        outcomes[test.name] = got == want
    return outcomes


def scores(outcomes: dict[str, np.ndarray]) -> dict[str, float]:
    """Score per test: the share of its texts answered as they should be."""
    return {name: float(np.mean(ok)) for name, ok in outcomes.items()}


def behaviour_checks(candidate: dict[str, np.ndarray], active: dict[str, np.ndarray], *, tolerance: float,
                     alpha: float) -> list[dict]:
    """One gate check per test, on the outcomes of `suite_outcomes` for both models: the candidate
    fails when its score is more than `tolerance` below the active model's *and* the paired exact
    McNemar test finds it worse at level `alpha` (a suite test of 50 sentences moves in steps of 2
    points; one or two unlucky sentences are noise, not harm). A test the active model has no
    outcomes for is skipped (and passes), saying so."""
    checks = []
    for name, ok in candidate.items():
        check = f"behaviour: {name}"
        score = float(np.mean(ok))
        if name not in active:
            checks.append({"check": check, "passed": True, "skipped": True, "candidate": round(score, 4),
                           "detail": f"candidate {score:.3f}; the active model has no score to compare with"})
            continue
        paired = compare_paired(ok, active[name])
        active_score = float(np.mean(active[name]))
        beyond = score < active_score - tolerance - 1e-9
        passed = not (beyond and paired.significant(alpha))
        verdict = ("" if not beyond else
                   f"; a significant drop (p < {alpha:g})" if not passed else f"; within noise (p >= {alpha:g})")
        checks.append({"check": check, "passed": passed, "candidate": round(score, 4), "active": round(active_score, 4),
                       "worse": paired.worse, "better": paired.better, "p_value": round(paired.p_value, 4),
                       "detail": f"candidate {score:.3f}, active {active_score:.3f} (at most {tolerance:.3f} lower) "
                                 f"on {len(ok)} texts: {paired.describe()}{verdict}"})
    return checks
