import re

import numpy as np
import pytest

from modeling.behaviour import SLOTS, BehaviourTest, behaviour_checks, behaviour_suite, scores, suite_outcomes

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
    got = scores(suite_outcomes(suite, predictor))
    assert got["negation"] == got["names and titles"] == got["casing"] == 1.0
    unique = {t for test in suite for t in (*test.texts, *test.originals)}
    assert predictor.calls == [len(unique)]


def test_run_suite_scores_invariance_against_the_original(probes):
    """A predictor that calls every shouted text positive agrees with itself on half the casing variants of negatives."""
    got = scores(suite_outcomes(behaviour_suite(probes, per_test=40), rule_predictor(shouting=True)))
    assert got["casing"] == pytest.approx(0.75)
    assert got["punctuation"] == 1.0


def test_behaviour_checks_fail_a_candidate_that_ignores_negation(probes):
    """Against an active model that handles negation, a bag-of-words candidate fails the negation check only."""
    suite = behaviour_suite(probes)
    active, candidate = suite_outcomes(suite, rule_predictor()), suite_outcomes(suite, rule_predictor(negation=False))
    assert scores(candidate)["negation"] < 0.5
    checks = behaviour_checks(candidate, active, tolerance=0.03, alpha=0.05)
    assert [c["check"] for c in checks if not c["passed"]] == ["behaviour: negation"]


def test_behaviour_checks_pass_a_candidate_equal_to_the_active(probes):
    """The same outcomes pass every check."""
    outcomes = suite_outcomes(behaviour_suite(probes), rule_predictor(negation=False))
    checks = behaviour_checks(outcomes, dict(outcomes), tolerance=0.03, alpha=0.05)
    assert len(checks) == 4 and all(c["passed"] for c in checks)


def outcomes(right: int, wrong: int) -> np.ndarray:
    return np.asarray([True] * right + [False] * wrong)


def test_behaviour_check_detail_and_tolerance():
    """Within the tolerance passes, beyond it with a significant paired drop fails; the detail shows both."""
    active = {"negation": outcomes(47, 3)}
    [ok] = behaviour_checks({"negation": outcomes(46, 4)}, active, tolerance=0.03, alpha=0.05)
    [bad] = behaviour_checks({"negation": outcomes(40, 10)}, active, tolerance=0.03, alpha=0.05)
    assert ok["check"] == "behaviour: negation" and ok["passed"] and not bad["passed"]
    assert ok["detail"] == "candidate 0.920, active 0.940 (at most 0.030 lower) on 50 texts: 1 worse, 0 better; McNemar p = 0.5"
    assert (bad["worse"], bad["better"]) == (7, 0) and bad["detail"].endswith("a significant drop (p < 0.05)")


def test_a_drop_of_a_few_sentences_is_noise_not_harm():
    """3 of 50 sentences lost (6 points, beyond a 0.05 tolerance) is no evidence (p = 0.125): it
    passes, saying so; the same drop is a failure when the test is switched off (alpha 1.0)."""
    active = {"negation": outcomes(45, 5)}
    candidate = {"negation": outcomes(42, 8)}
    [check] = behaviour_checks(candidate, active, tolerance=0.05, alpha=0.05)
    assert check["passed"] and check["p_value"] == 0.125 and check["detail"].endswith("within noise (p >= 0.05)")
    [strict] = behaviour_checks(candidate, active, tolerance=0.05, alpha=1.0)
    assert not strict["passed"]


def test_the_paired_test_counts_only_items_the_models_answer_differently():
    """Same score, different items: 5 worse and 5 better is no drop at all."""
    active = {"negation": np.asarray([True] * 5 + [False] * 5 + [True] * 40)}
    candidate = {"negation": np.asarray([False] * 5 + [True] * 5 + [True] * 40)}
    [check] = behaviour_checks(candidate, active, tolerance=0.0, alpha=0.05)
    assert check["passed"] and (check["worse"], check["better"]) == (5, 5)


def test_a_test_kind_and_its_pairs_are_checked():
    """A behaviour test of an unknown kind, or with unpaired texts, is refused."""
    with pytest.raises(ValueError):
        BehaviourTest("x", "other", ("a",), expected=(1,))
    with pytest.raises(ValueError):
        BehaviourTest("x", "label", ("a", "b"), expected=(1,))
