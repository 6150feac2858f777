"""modeling/crossval.py: stratified folds that cover every row once, and the t interval."""

import json
from pathlib import Path

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


def test_a_changed_split_or_a_torn_record_starts_over_without_old_checkpoints(tmp_path, monkeypatch):
    """A record cut short by a kill, or one made for another split (seed, K, rows), starts the
    folds over, and the folds' checkpoints left by it are dropped: a fold resumed from weights
    trained on another split would have seen its held-out reviews."""
    from datasets import Dataset, DatasetDict

    from modeling import crossval
    from modeling.config import TrainConfig

    split = Dataset.from_dict({"text": [f"review {i}" for i in range(8)], "label": [0, 1] * 4})
    data = DatasetDict(train=split, validation=split, test=split)

    class Stop(Exception):
        pass

    seen = []

    def first_fold(config, fold, *, work_dir, **kwargs):  # stands in for training: what does it start from?
        seen.append(sorted(p.name for p in Path(work_dir).iterdir()) if Path(work_dir).exists() else [])
        raise Stop

    monkeypatch.setattr(crossval, "train", first_fold)
    for record in ('{"key": {"k": 2, "seed": 0}, "folds": [{"fold"', json.dumps({"key": {"k": 2, "seed": 1}, "folds": []})):
        (tmp_path / "fold-1").mkdir(exist_ok=True)
        (tmp_path / "fold-1" / "checkpoint.pt").write_text("trained on another split")
        (tmp_path / crossval.FOLDS_FILE).write_text(record)
        with pytest.raises(Stop):
            crossval.cross_validate(TrainConfig(), data, k=2, seed=0, work_dir=tmp_path)
    assert seen == [[], []]
