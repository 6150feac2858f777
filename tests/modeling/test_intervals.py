"""Intervals on every reported figure (modeling/evaluate.py) and the gate's two-sided McNemar test."""

import numpy as np
import pytest

from modeling.evaluate import bootstrap_intervals, format_metrics, metrics_from_proba, paired_difference
from modeling.significance import mcnemar_two_sided


def answers(n, accuracy, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.where(rng.random(n) < accuracy, y, 1 - y)


def test_the_accuracy_interval_is_the_binomial_one_and_repeatable():
    """5,000 answers at about 93%: the bootstrap interval holds the estimate and is as wide as the
    normal approximation of the binomial (+-0.7 points), within a tenth; the same data, the same interval."""
    y, pred = answers(5000, 0.93)
    acc = float(np.mean(y == pred))
    low, high = bootstrap_intervals(y, pred)["accuracy"]
    assert low < acc < high
    half = 1.96 * np.sqrt(acc * (1 - acc) / len(y))
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert bootstrap_intervals(y, pred) == bootstrap_intervals(y, pred)


def test_precision_recall_f1_intervals_hold_their_figures():
    y, pred = answers(800, 0.85, seed=3)
    proba = np.stack([1 - pred, pred], axis=1).astype(float)
    metrics = metrics_from_proba(y, proba)
    for name in ("accuracy", "precision", "recall", "f1"):
        low, high = metrics["intervals"][name]
        assert 0 <= low <= metrics[name] <= high <= 1, name
    assert metrics["intervals"]["accuracy"][1] - metrics["intervals"]["accuracy"][0] > 0.03  # 800 items: wide
    line = next(line for line in format_metrics(metrics) if line.startswith("accuracy "))
    assert "95% interval" in line and line.split()[1] == f"{metrics['accuracy']:.4f}"


def test_a_perfect_model_has_a_point_interval():
    y = np.array([0, 1] * 50)
    assert bootstrap_intervals(y, y)["accuracy"] == [1.0, 1.0]


def test_mcnemar_two_sided_exact_values():
    """Only the items the models answer differently count: 0 against 10 is 2 x 0.5^10; an even
    split is no evidence at all."""
    assert mcnemar_two_sided(0, 10) == pytest.approx(2 * 0.5**10)
    assert mcnemar_two_sided(10, 0) == pytest.approx(2 * 0.5**10)
    assert mcnemar_two_sided(5, 5) == 1.0 and mcnemar_two_sided(0, 0) == 1.0
    with pytest.raises(ValueError):
        mcnemar_two_sided(-1, 2)


def test_the_paired_comparison_says_whether_the_difference_is_significant():
    """Same 1,000 items: a candidate right on 30 more of them is significantly better; one that
    trades 15 for 15 is not, whatever its interval."""
    active = np.zeros(1000, dtype=bool)
    active[:800] = True
    better = active.copy()
    better[800:830] = True
    traded = active.copy()
    traded[:15] = False
    traded[800:815] = True
    assert paired_difference(better, active)["significant"] is True
    even = paired_difference(traded, active)
    assert even["significant"] is False and even["p_value"] == 1.0 and even["difference"] == 0.0
