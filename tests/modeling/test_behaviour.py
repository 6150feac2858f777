import re

import numpy as np
import pytest

from modeling.behaviour import SLOTS, BehaviourTest, behaviour_checks, behaviour_suite, run_suite

POSITIVE = set(SLOTS["pos"]) | set(SLOTS["like"]) | {"fun", "loved"}
NEGATIVE = set(SLOTS["neg"]) | set(SLOTS["dislike"]) | {"waste"}
NEGATORS = {"not", "don't", "didn't", "never", "no"}


def rule_predictor(*, negation=True, shouting=False):
    """Counts sentiment words; with `negation`, a negator flips them up to the next punctuation
    mark; with `shouting`, an all-capitals text is positive. Records the size of each call."""
    calls = []

    def predict_proba(texts):
        calls.append(len(texts))
        out = []
        for text in texts:
            score, negated = 0, False
            for token in re.findall(r"[a-z']+|[.,;!?]", text.lower()):
                if token in ".,;!?":
                    negated = False
                elif token in NEGATORS:
                    negated = negation
                elif token in POSITIVE or token in NEGATIVE:
                    score += (1 if token in POSITIVE else -1) * (-1 if negated else 1)
            if shouting and text.isupper():
                score = 1
            p = 0.8 if score > 0 else 0.2
            out.append([1 - p, p])
        return np.asarray(out)

    predict_proba.calls = calls
    return predict_proba


@pytest.fixture(scope="module")
def probes():
    return {0: [f"A dull, awful film number {i}. What a waste!" for i in range(40)],
            1: [f"Great fun; I loved film number {i}, truly." for i in range(40)]}


def test_suite_is_deterministic_balanced_and_bounded(probes):
    """The same seed gives the same suite; each test has at most per_test texts, label tests both labels."""
    suite = behaviour_suite(probes, per_test=50, seed=0)
    assert suite == behaviour_suite(probes, per_test=50, seed=0)
    assert suite != behaviour_suite(probes, per_test=50, seed=1)
    assert [t.name for t in suite] == ["negation", "names and titles", "punctuation", "casing"]
    assert all(0 < len(t.texts) <= 50 for t in suite)
    for test in suite:
        if test.kind == "label":
            assert sum(test.expected) == len(test.texts) // 2 and len(set(test.texts)) == len(test.texts)
        else:
            assert {o for o in test.originals} <= set(probes[0]) | set(probes[1])
            assert set(test.originals) & set(probes[0]) and set(test.originals) & set(probes[1])


def test_invariance_tests_transform_the_probes(probes):
    """Punctuation strips it and appends "!!!"; casing lowers and uppers."""
    suite = {t.name: t for t in behaviour_suite(probes, per_test=10)}
    original = suite["punctuation"].originals[0]
    assert suite["punctuation"].texts[:2] == (re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", original)).strip(),
                                              f"{original} !!!")
    assert suite["casing"].texts[:2] == (original.lower(), original.upper())


def test_no_probes_leave_only_the_template_tests():
    """Without trusted reviews the invariance tests are left out, not scored on nothing."""
    assert [t.name for t in behaviour_suite({0: [], 1: []})] == ["negation", "names and titles"]


def test_run_suite_scores_a_negation_aware_predictor_perfectly_in_one_call(probes):
    """A predictor that handles negation gets every template right, with one predict_proba call."""
    suite = behaviour_suite(probes)
    predictor = rule_predictor()
    scores = run_suite(suite, predictor)
    assert scores["negation"] == scores["names and titles"] == scores["casing"] == 1.0
    unique = {t for test in suite for t in (*test.texts, *test.originals)}
    assert predictor.calls == [len(unique)]


def test_run_suite_scores_invariance_against_the_original(probes):
    """A predictor that calls every shouted text positive agrees with itself on half the casing variants of negatives."""
    scores = run_suite(behaviour_suite(probes, per_test=40), rule_predictor(shouting=True))
    assert scores["casing"] == pytest.approx(0.75)
    assert scores["punctuation"] == 1.0


def test_behaviour_checks_fail_a_candidate_that_ignores_negation(probes):
    """Against an active model that handles negation, a bag-of-words candidate fails the negation check only."""
    suite = behaviour_suite(probes)
    active, candidate = run_suite(suite, rule_predictor()), run_suite(suite, rule_predictor(negation=False))
    assert candidate["negation"] < 0.5
    checks = behaviour_checks(candidate, active, tolerance=0.03)
    assert [c["check"] for c in checks if not c["passed"]] == ["behaviour: negation"]


def test_behaviour_checks_pass_a_candidate_equal_to_the_active(probes):
    """The same scores pass every check."""
    scores = run_suite(behaviour_suite(probes), rule_predictor(negation=False))
    checks = behaviour_checks(scores, dict(scores), tolerance=0.03)
    assert len(checks) == 4 and all(c["passed"] for c in checks)


def test_behaviour_check_detail_and_tolerance():
    """Within the tolerance passes, beyond it fails, and the detail shows the sum."""
    [ok] = behaviour_checks({"negation": 0.92}, {"negation": 0.94}, tolerance=0.03)
    [bad] = behaviour_checks({"negation": 0.90}, {"negation": 0.94}, tolerance=0.03)
    assert ok["check"] == "behaviour: negation" and ok["passed"] and not bad["passed"]
    assert ok["detail"] == "candidate 0.920, needs >= active 0.940 - 0.030 = 0.910"


def test_a_test_kind_and_its_pairs_are_checked():
    """A behaviour test of an unknown kind, or with unpaired texts, is refused."""
    with pytest.raises(ValueError):
        BehaviourTest("x", "other", ("a",), expected=(1,))
    with pytest.raises(ValueError):
        BehaviourTest("x", "label", ("a", "b"), expected=(1,))
