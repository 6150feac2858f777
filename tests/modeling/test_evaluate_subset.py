"""The gate's test subset (modeling/evaluate.py): a fixed stratified sample, the probabilities a
version stores for the rows it was measured on, and the paired difference with its interval."""

import numpy as np
import pytest

from modeling.evaluate import paired_difference, save_predictions, stored_predictions, stratified_subset


def test_the_subset_keeps_each_labels_share_and_is_the_same_every_time():
    labels = [0] * 700 + [1] * 300
    rows = stratified_subset(labels, 200, seed=7)
    assert len(rows) == len(set(rows.tolist())) == 200 and list(rows) == sorted(rows)
    assert np.bincount(np.asarray(labels)[rows]).tolist() == [140, 60]
    assert np.array_equal(rows, stratified_subset(labels, 200, seed=7))
    assert not np.array_equal(rows, stratified_subset(labels, 200, seed=8))


def test_a_subset_of_odd_size_gives_the_remainder_to_the_largest_fraction():
    labels = [0] * 5 + [1] * 4  # 7 of 9: 3.89 and 3.11 -> 4 and 3
    assert np.bincount(np.asarray(labels)[stratified_subset(labels, 7, seed=0)]).tolist() == [4, 3]


@pytest.mark.parametrize("size", [0, 10, 50])
def test_size_zero_or_the_whole_split_means_every_row(size):
    assert stratified_subset([0, 1] * 5, size, seed=0).tolist() == list(range(10))


def test_stored_predictions_come_back_in_the_order_asked_and_only_when_all_are_there(tmp_path):
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    save_predictions(tmp_path, "test", [3, 10, 42], proba)
    assert np.allclose(stored_predictions(tmp_path, "test", [42, 3]), proba[[2, 0]], atol=1e-6)
    assert stored_predictions(tmp_path, "test", [3, 11]) is None  # row 11 was not measured
    assert stored_predictions(tmp_path, "validation", [3]) is None  # nothing stored for that split


def test_the_paired_difference_and_its_interval():
    candidate = [True] * 90 + [False] * 10
    active = [True] * 85 + [False] * 5 + [True] * 5 + [False] * 5  # the candidate better on 5, worse on 5
    result = paired_difference(candidate, active)
    assert result["n"] == 100 and result["candidate"] == 0.9 and result["active"] == 0.9
    assert result["difference"] == 0.0 and result["low"] < 0 < result["high"]
    better = paired_difference([True] * 100, [True] * 80 + [False] * 20)
    assert better["difference"] == pytest.approx(0.2) and better["low"] > 0.1
    same = paired_difference([True, False], [True, False])
    assert same["low"] == same["high"] == 0.0
    with pytest.raises(ValueError):
        paired_difference([True], [True, False])
