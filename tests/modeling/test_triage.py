"""Triage signals and their combination; near-duplicate grouping for the labelling queue."""

import numpy as np
import pytest

from modeling.diversity import collapse_near_duplicates, jaccard, shingles
from modeling.triage import MIN_DECIDED, SIGNALS, TriageModel, reasons, record_share, self_confidence


def test_self_confidence_is_each_rows_probability_of_its_label():
    """The probability of the given label, row by row."""
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    assert self_confidence(proba, [1, 1, 0]).tolist() == [0.1, 0.7, 0.6]


def test_record_share_is_neutral_without_a_record_and_moves_with_one():
    """No record is 0.5; approvals raise it, rejections lower it, smoothed."""
    assert record_share(0, 0) == 0.5
    assert record_share(3, 0) == 0.8 and record_share(0, 3) == 0.2


def test_equal_weights_rank_a_flag_with_worse_signals_lower():
    """Uncalibrated, the score still orders: lower probabilities of the flag's label, a worse source, rank lower."""
    model = TriageModel()
    honest = {"ngram": 0.6, "transformer": 0.35, "source": 0.5, "votes": 0.5}
    wrong = {"ngram": 0.05, "transformer": 0.02, "source": 0.2, "votes": 0.5}
    assert not model.calibrated
    assert model.score(honest) > model.score(wrong)
    assert 0 < model.score(wrong) < model.score(honest) < 1


def test_fit_needs_enough_decided_flags_of_each_outcome():
    """Too few decided flags, or only one outcome, keep equal weights."""
    rows = [{name: 0.3 for name in SIGNALS}] * MIN_DECIDED
    outcomes = [True, False] * (MIN_DECIDED // 2)
    assert TriageModel.fit(rows[:-1], outcomes[:-1]) == TriageModel()
    assert TriageModel.fit(rows, [True] * MIN_DECIDED) == TriageModel()


def test_fit_learns_which_signal_separates_the_outcomes():
    """Approved flags had a high n-gram signal and rejected ones a low one; the source was noise:
    the fitted model weighs the n-gram signal most and calibrates the score."""
    rng = np.random.default_rng(0)
    rows, right = [], []
    for i in range(60):
        ok = i % 2 == 0
        rows.append({"ngram": float(rng.uniform(0.5, 0.9) if ok else rng.uniform(0.02, 0.3)),
                     "transformer": 0.3, "source": float(rng.uniform(0.2, 0.8)), "votes": 0.5})
        right.append(ok)
    model = TriageModel.fit(rows, right)
    assert model.calibrated and model.fitted_on == 60
    assert model.weights["ngram"] == max(model.weights.values(), key=abs)
    assert model.score({"ngram": 0.85, "transformer": 0.3, "source": 0.5, "votes": 0.5}) > 0.8
    assert model.score({"ngram": 0.05, "transformer": 0.3, "source": 0.5, "votes": 0.5}) < 0.2


def test_reasons_say_each_signal_in_words():
    """One line per signal, with the source's record and the votes counted."""
    lines = reasons({"ngram": 0.12, "transformer": 0.3, "source": 0.25, "votes": 0.75},
                    {"source_approved": 1, "source_rejected": 5, "votes_agree": 2, "votes_disagree": 0})
    assert lines[0].endswith("12%") and lines[1].endswith("30%")
    assert "1 approved and 5 rejected" in lines[2] and "2 other source(s) gave the same label" in lines[3]


def test_shingles_read_the_text_as_the_model_does():
    """Case and punctuation do not make two texts different."""
    assert shingles("A GREAT film, truly great!") == shingles("a great film truly great")
    assert jaccard(shingles("one two three four"), shingles("one two three five")) == pytest.approx(1 / 3)


def test_near_duplicates_join_the_first_group_they_resemble():
    """A text with one word changed joins its original's group; different texts lead their own;
    the limit caps the groups, not the grouping."""
    base = "the plot was thin but the actors carried every scene with real warmth and wit"
    texts = [base, "a completely different review about a dull and slow documentary film",
             base.replace("warmth", "charm"), base + " overall", "yet another unrelated short text here"]
    groups = collapse_near_duplicates(texts, threshold=0.6)
    assert groups == [[0, 2, 3], [1], [4]]
    assert collapse_near_duplicates(texts, threshold=0.6, limit=1) == [[0, 2, 3]]
    assert collapse_near_duplicates(texts, threshold=1.01) == [[0], [1], [2], [3], [4]]
