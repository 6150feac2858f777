"""modeling/crossval.py: stratified folds that cover every row once, and the t interval."""

import numpy as np
import pytest
from scipy.stats import t

from modeling.crossval import fold_indices, interval


def test_folds_hold_every_row_out_once_with_the_label_balance():
    labels = [0] * 30 + [1] * 60
    folds = fold_indices(labels, 3, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(90))
    assert [int(np.sum(np.asarray(labels)[f])) for f in folds] == [20, 20, 20]
    assert [f.tolist() for f in folds] == [f.tolist() for f in fold_indices(labels, 3, seed=0)]
    with pytest.raises(ValueError, match="at least 2 folds"):
        fold_indices(labels, 1, seed=0)
    with pytest.raises(ValueError, match="at least 5 reviews of each label"):
        fold_indices([0, 0, 1, 1, 1, 1, 1], 5, seed=0)


def test_the_interval_is_students_t_over_the_folds():
    values = [0.90, 0.92, 0.91, 0.93, 0.89]
    s = interval(values)
    half = t.ppf(0.975, 4) * np.std(values, ddof=1) / np.sqrt(5)
    assert s["mean"] == pytest.approx(0.91) and s["high"] - s["mean"] == pytest.approx(half)
    assert interval([0.9])["low"] == interval([0.9])["high"] == 0.9
