from collections import Counter

import pytest

from modeling.retrain import Correction, GateConfig, MixConfig, assemble_mix, gate, is_holdout
from tests.tiny import toy_data


@pytest.fixture(scope="module")
def pool():
    return toy_data(sizes=(400, 10, 10))["train"]


def corrections(n, reporters=("a",)):
    return [Correction(i, f"correction text {i}", "positive" if i % 2 else "negative", reporters[i % len(reporters)])
            for i in range(1, n + 1)]


def test_per_person_cap_holds_in_the_mix(pool):
    """No reporter contributes more corrections than the cap."""
    many = corrections(30, reporters=("alice",)) + [Correction(100 + i, f"bob {i}", "positive", "bob") for i in range(3)]
    mix, counts, used = assemble_mix(pool, many, MixConfig(replay_size=300, max_per_person=5, oversample=2))
    by_reporter = Counter(c.reporter for c in many if c.id in used)
    assert by_reporter == {"alice": 5, "bob": 3}
    assert counts["corrections_used"] == 8 and counts["feedback_rows"] == 16


def test_feedback_share_cap_holds_in_the_mix(pool):
    """Feedback rows never exceed the configured share of the training mix."""
    mix, counts, used = assemble_mix(pool, corrections(200, reporters=tuple("abcdefghijklmnopqrst")),
                                     MixConfig(replay_size=100, oversample=4, max_feedback_share=0.2, max_per_person=50))
    feedback_rows = sum(1 for t in mix["text"] if t.startswith("correction text"))
    assert feedback_rows == counts["feedback_rows"] and feedback_rows / len(mix) <= 0.2
    assert counts["replay"] == 100 and len(used) <= feedback_rows


def test_oversampling_repeats_each_used_correction(pool):
    """Each used correction appears `oversample` times when the share allows it."""
    mix, counts, used = assemble_mix(pool, corrections(4), MixConfig(replay_size=200, oversample=3, max_per_person=10))
    texts = Counter(t for t in mix["text"] if t.startswith("correction text"))
    assert set(texts.values()) == {3} and len(texts) == 4 and counts["oversample"] == 3


def test_mix_is_deterministic_for_a_seed(pool):
    """The same corrections and seed give the same training set."""
    a = assemble_mix(pool, corrections(6), MixConfig(replay_size=50, seed=3))[0]
    b = assemble_mix(pool, corrections(6), MixConfig(replay_size=50, seed=3))[0]
    assert list(a["text"]) == list(b["text"])


def test_holdout_share_is_deterministic_and_about_right():
    """About the configured share of ids is held out, always the same ids."""
    held = [i for i in range(1, 2001) if is_holdout(i, 0.2)]
    assert 0.17 < len(held) / 2000 < 0.23
    assert held == [i for i in range(1, 2001) if is_holdout(i, 0.2)]


def run_gate(**changes):
    values = dict(candidate_test=0.90, active_test=0.90, best_full_test=0.91, holdout_candidate=0.8,
                  holdout_active=0.2, holdout_n=20, config=GateConfig())
    values.update(changes)
    return gate(**values)


def test_gate_passes_a_candidate_that_is_no_worse():
    """A candidate as good as the active model, above the floor, better on holdouts passes."""
    result = run_gate()
    assert result.passed and all(c["passed"] for c in result.checks)


@pytest.mark.parametrize(
    "changes,failing",
    [
        ({"candidate_test": 0.89, "best_full_test": 0.895}, "test accuracy vs active"),
        ({"candidate_test": 0.895, "active_test": 0.895, "best_full_test": 0.92}, "test accuracy floor"),
        ({"holdout_candidate": 0.22}, "held-out corrections"),
    ],
)
def test_gate_rejects_each_rule_with_its_reason(changes, failing):
    """Each rule on its own rejects the candidate, and says which and why."""
    result = run_gate(**changes)
    assert not result.passed
    assert [c["check"] for c in result.checks if not c["passed"]] == [failing]
    assert all(c["detail"] for c in result.checks)


def test_gate_skips_the_holdout_check_with_too_few_and_says_so():
    """With fewer held-out corrections than the minimum the check is skipped, visibly."""
    result = run_gate(holdout_n=3, holdout_candidate=0.0)
    check = next(c for c in result.checks if c["check"] == "held-out corrections")
    assert result.passed and check.get("skipped") and "3 held-out" in check["detail"]
