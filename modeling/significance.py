"""Is a candidate really worse than the active model, or is the difference noise? The gate asks
this of paired outcomes: the same items (template sentences, trusted reviews) answered by both.

A test of 50 sentences moves in steps of 2 points, so a fixed tolerance on the score alone cannot
tell one unlucky sentence from harm. The exact one-sided McNemar test looks only at the items the
two models answer differently: under "no difference" each of them is equally likely to go either
way, so the p-value is the chance of at least `worse` of the `worse + better` discordant items
going against the candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedComparison:
    """Two models on the same items: how many only the candidate got wrong (`worse`), how many only
    it got right (`better`), and the exact one-sided McNemar p-value of "the candidate is worse"."""

    worse: int
    better: int
    p_value: float

    def significant(self, alpha: float) -> bool:
        return self.p_value < alpha

    def describe(self) -> str:
        return f"{self.worse} worse, {self.better} better; McNemar p = {self.p_value:.3g}"


def mcnemar_worse(worse: int, better: int) -> float:
    """One-sided exact McNemar p-value: P(X >= worse) for X ~ Binomial(worse + better, 1/2)."""
    from scipy.stats import binom

    worse, better = int(worse), int(better)
    if worse < 0 or better < 0:
        raise ValueError("counts must be non-negative")
    n = worse + better
    if n == 0 or worse == 0:
        return 1.0
    return float(binom.sf(worse - 1, n, 0.5))


def mcnemar_two_sided(worse: int, better: int) -> float:
    """Two-sided exact McNemar p-value of "the two models differ": twice the smaller tail of
    Binomial(worse + better, 1/2), at most 1."""
    from scipy.stats import binomtest

    worse, better = int(worse), int(better)
    if worse < 0 or better < 0:
        raise ValueError("counts must be non-negative")
    if worse + better == 0:
        return 1.0
    return float(binomtest(worse, worse + better, 0.5, alternative="two-sided").pvalue)


def compare_paired(candidate_ok, active_ok) -> PairedComparison:
    """`candidate_ok[i]` and `active_ok[i]`: whether each model answered item i as it should."""
    cand = np.asarray(candidate_ok, dtype=bool)
    act = np.asarray(active_ok, dtype=bool)
    if cand.shape != act.shape:
        raise ValueError(f"paired outcomes differ in shape: {cand.shape} and {act.shape}")
    worse = int(np.sum(act & ~cand))
    better = int(np.sum(cand & ~act))
    return PairedComparison(worse, better, mcnemar_worse(worse, better))
