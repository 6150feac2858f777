"""How likely a flag is right, from signals that are each a probability that the flag's label is
the right one, with reasons a moderator can read.

- `ngram`: an n-gram model that never saw the flagged text (out-of-sample, as cleanlab's
  self-confidence): its probability of the flag's label.
- `transformer`: the active transformer's probability of the flag's label.
- `source`: the source's approval record, (approved + 1) / (decided + 2).
- `votes`: the other sources' flags on the same text, (agreeing + 1) / (all + 2).

A flag is on a prediction that said the other label, so the models' probabilities are under 0.5
for most flags; what tells an honest flag from a wrong one is how far under. Until moderators
have decided enough flags, the score is the signals' mean log-odds (a ranking, not calibrated);
after that, a logistic regression on the decided flags' signals (`TriageModel.fit`), which is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

SIGNALS = ("ngram", "transformer", "source", "votes")
# Decided flags (and of each outcome) before the weights are fitted rather than equal.
MIN_DECIDED, MIN_EACH = 20, 5
_CLIP = 1e-4


def logit(p: float) -> float:
    p = min(max(float(p), _CLIP), 1 - _CLIP)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def record_share(agreeing: int, others: int) -> float:
    """(agreeing + 1) / (agreeing + others + 2): 0.5 with no record, nearer 0 or 1 with more."""
    return (agreeing + 1) / (agreeing + others + 2)


def self_confidence(proba: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Each row's probability of its given label (cleanlab's label quality score)."""
    proba = np.asarray(proba)
    return proba[np.arange(len(proba)), np.asarray(labels, dtype=int)]


def reasons(signals: Mapping[str, float], facts: Mapping[str, object] | None = None) -> list[str]:
    """One line per signal, for the moderator."""
    facts = facts or {}
    lines = []
    if "ngram" in signals:
        lines.append(f"an n-gram model that never saw this text gives the flag's label {signals['ngram']:.0%}")
    if "transformer" in signals:
        lines.append(f"the active model gives the flag's label {signals['transformer']:.0%}")
    if "source" in signals:
        approved, rejected = facts.get("source_approved", 0), facts.get("source_rejected", 0)
        lines.append(f"its source has {approved} approved and {rejected} rejected flag(s) before"
                     if approved or rejected else "its source has no decided flags yet")
    if "votes" in signals:
        agreeing, others = facts.get("votes_agree", 0), facts.get("votes_disagree", 0)
        lines.append(f"{agreeing} other source(s) gave the same label and {others} the other"
                     if agreeing or others else "no other source flagged this text")
    return lines


@dataclass(frozen=True)
class TriageModel:
    """score = sigmoid(bias + sum of weight * logit(signal)); equal weights until fitted."""

    weights: dict[str, float] = field(default_factory=lambda: {name: 1 / len(SIGNALS) for name in SIGNALS})
    bias: float = 0.0
    fitted_on: int = 0  # decided flags it was fitted on (0: equal weights)

    @property
    def calibrated(self) -> bool:
        return self.fitted_on > 0

    def score(self, signals: Mapping[str, float]) -> float:
        total = self.bias + sum(weight * logit(signals[name]) for name, weight in self.weights.items() if name in signals)
        return sigmoid(total)

    @classmethod
    def fit(cls, rows: Sequence[Mapping[str, float]], right: Sequence[bool]) -> TriageModel:
        """Weights from decided flags (`right`: approved), or equal weights when there are fewer
        than MIN_DECIDED of them or fewer than MIN_EACH of either outcome."""
        right = [bool(r) for r in right]
        if len(right) < MIN_DECIDED or min(sum(right), len(right) - sum(right)) < MIN_EACH:
            return cls()
        from sklearn.linear_model import LogisticRegression

        x = np.array([[logit(row.get(name, 0.5)) for name in SIGNALS] for row in rows])
        fitted = LogisticRegression(C=1.0).fit(x, right)
        return cls(weights=dict(zip(SIGNALS, map(float, fitted.coef_[0]))), bias=float(fitted.intercept_[0]),
                   fitted_on=len(right))

    def as_dict(self) -> dict:
        return {"weights": self.weights, "bias": self.bias, "fitted_on": self.fitted_on}
