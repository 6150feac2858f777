import numpy as np
import pytest

from modeling.significance import compare_paired, mcnemar_worse


def test_exact_one_sided_mcnemar_values():
    """Known binomial tails: 3 of 3 discordant against the candidate is p = 1/8; none is p = 1."""
    assert mcnemar_worse(3, 0) == pytest.approx(0.125)
    assert mcnemar_worse(10, 4) == pytest.approx(0.08978, abs=1e-5)
    assert mcnemar_worse(0, 5) == mcnemar_worse(0, 0) == 1.0
    assert mcnemar_worse(7, 0) < 0.01


def test_compare_paired_counts_discordant_items():
    """Only items the two answer differently count, each way."""
    got = compare_paired([True, False, False, True, True], [True, True, True, False, True])
    assert (got.worse, got.better) == (2, 1) and got.p_value == pytest.approx(0.5)
    assert not got.significant(0.05) and got.significant(0.6)


def test_compare_paired_refuses_unpaired_outcomes():
    """Outcomes of different lengths are not paired."""
    with pytest.raises(ValueError):
        compare_paired(np.ones(3, bool), np.ones(4, bool))
    with pytest.raises(ValueError):
        mcnemar_worse(-1, 2)
