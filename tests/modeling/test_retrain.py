from collections import Counter

import pytest

from modeling.retrain import (
    Correction,
    GateConfig,
    MixConfig,
    assemble_mix,
    concentration,
    gate,
    is_holdout,
    promotion_holds,
)
from tests.tiny import toy_data


@pytest.fixture(scope="module")
def pool():
    return toy_data(sizes=(400, 10, 10))["train"]


def corrections(n, reporters=("a",)):
    return [Correction(i, f"correction text {i}", "positive" if i % 2 else "negative", reporters[i % len(reporters)])
            for i in range(1, n + 1)]


def test_per_source_cap_holds_in_the_mix(pool):
    """No source contributes more corrections than the cap."""
    many = corrections(30, reporters=("alice",)) + [Correction(100 + i, f"bob {i}", "positive", "bob") for i in range(3)]
    mix, counts, used = assemble_mix(pool, many, MixConfig(replay_size=300, max_per_source=5, oversample=2))
    by_reporter = Counter(c.source for c in many if c.id in used)
    assert by_reporter == {"alice": 5, "bob": 3}
    assert counts["corrections_used"] == 8 and counts["feedback_rows"] == 16


def test_feedback_share_cap_holds_in_the_mix(pool):
    """Feedback rows never exceed the configured share of the training mix."""
    mix, counts, used = assemble_mix(pool, corrections(200, reporters=tuple("abcdefghijklmnopqrst")),
                                     MixConfig(replay_size=100, oversample=4, max_feedback_share=0.2, max_per_source=50))
    feedback_rows = sum(1 for t in mix["text"] if t.startswith("correction text"))
    assert feedback_rows == counts["feedback_rows"] and feedback_rows / len(mix) <= 0.2
    assert counts["replay"] == 100 and len(used) <= feedback_rows


def test_oversampling_repeats_each_used_correction(pool):
    """Each used correction appears `oversample` times when the share allows it."""
    mix, counts, used = assemble_mix(pool, corrections(4), MixConfig(replay_size=200, oversample=3, max_per_source=10))
    texts = Counter(t for t in mix["text"] if t.startswith("correction text"))
    assert set(texts.values()) == {3} and len(texts) == 4 and counts["oversample"] == 3


def test_mix_is_deterministic_for_a_seed(pool):
    """The same corrections and seed give the same training set."""
    a = assemble_mix(pool, corrections(6), MixConfig(replay_size=50, seed=3))[0]
    b = assemble_mix(pool, corrections(6), MixConfig(replay_size=50, seed=3))[0]
    assert list(a["text"]) == list(b["text"])


def test_holdout_share_is_deterministic_keyed_and_about_right():
    """About the configured share of texts is held out, always the same ones for one key, and
    other ones under another key: without the secret nobody can tell which."""
    keys = [f"text-{i}" for i in range(2000)]
    held = [k for k in keys if is_holdout(k, 0.2, key=b"secret")]
    assert 0.17 < len(held) / 2000 < 0.23
    assert held == [k for k in keys if is_holdout(k, 0.2, key=b"secret")]
    other = [k for k in keys if is_holdout(k, 0.2, key=b"another secret")]
    assert len(set(held) & set(other)) < len(held) / 2


def test_one_address_with_many_cookies_is_one_source(pool):
    """The issue's attack: 1,000 flags from one client address, a new session every 10, fed
    through the mix. The old rule capped per session (857 entered, the share cap); one source
    now enters max_per_source."""
    flags = [Correction(i, f"attack text {i}", "positive", "client:one-address", network="net:a") for i in range(1000)]
    mix, counts, used = assemble_mix(pool, flags, MixConfig(replay_size=400))
    assert counts["corrections_used"] == len(used) == MixConfig().max_per_source


def test_network_cap_holds_across_sources(pool):
    """Twenty addresses of one /24 count as one network: at most max_per_network enter."""
    flags = [Correction(i, f"attack {i}", "positive", f"client:{i % 20}", network="net:one") for i in range(300)]
    mix, counts, used = assemble_mix(pool, flags, MixConfig(replay_size=300, max_per_source=10, max_per_network=20))
    assert len(used) == 20 and counts["corrections_after_caps"] == 20


def test_trusted_sources_are_not_capped(pool):
    """A moderator's 53 corrections all enter (the issue saw 10 of them used)."""
    flags = [Correction(i, f"moderator text {i}", "positive", "user:7", trusted=True) for i in range(53)]
    mix, counts, used = assemble_mix(pool, flags, MixConfig(replay_size=300, max_per_source=10))
    assert len(used) == 53 and counts["trusted_used"] == 53


def test_duplicate_texts_count_once(pool):
    """One sentence cannot fill every slot: copies of a text (however spelt) are one correction."""
    flags = [Correction(i, f"Same  <b>SENTENCE</b>\u200b{' ' * (i % 3)}", "positive", f"client:{i}", network=f"net:{i}")
             for i in range(40)]
    mix, counts, used = assemble_mix(pool, flags, MixConfig(replay_size=300))
    assert used == [0] and counts["duplicates"] == 39


def test_a_text_corrected_to_both_labels_is_never_trained_on(pool):
    """Conflicting corrections of one text leave it out of the mix entirely."""
    flags = [Correction(1, "contested text", "positive", "client:a"), Correction(2, "contested text", "negative", "user:3"),
             Correction(3, "fine text", "positive", "client:b")]
    mix, counts, used = assemble_mix(pool, flags, MixConfig(replay_size=100))
    assert used == [3] and counts["conflicting_texts"] == 1 and counts["corrections_in_conflict"] == 2
    assert "contested text" not in mix["text"]


def test_concentrated_corrections_hold_automatic_promotion():
    """A run fed mostly by one source waits for a moderator; a spread-out one does not."""
    config = GateConfig()
    few = [Correction(i, f"t{i}", "positive", "client:x" if i < 8 else f"client:{i}", network=f"net:{i}") for i in range(10)]
    holds = promotion_holds({"concentration": concentration(few)}, [], config)
    assert holds and "80%" in holds[0]["detail"]
    spread = [Correction(i, f"t{i}", "positive", f"client:{i % 10}", network=f"net:{i % 10}") for i in range(30)]
    assert promotion_holds({"concentration": concentration(spread)}, [], config) == []
    trusted = [Correction(i, f"t{i}", "positive", "user:1", trusted=True) for i in range(30)]
    assert promotion_holds({"concentration": concentration(trusted)}, [], config) == []


def test_a_suspected_trigger_holds_automatic_promotion():
    checks = [{"check": 'trigger phrase "zorvath quillan"', "passed": True, "suspected": True, "detail": "+3.0 points"}]
    holds = promotion_holds({}, checks, GateConfig())
    assert len(holds) == 1 and "zorvath quillan" in holds[0]["detail"]


def run_gate(**changes):
    values = dict(candidate_test=0.90, active_test=0.90, best_full_test=0.91, holdout_candidate=0.8,
                  holdout_active=0.8, holdout_n=20, config=GateConfig())
    values.update(changes)
    return gate(**values)


def test_gate_passes_a_candidate_that_is_no_worse():
    """A candidate as good as the active model, above the floor, no worse on holdouts passes:
    doing better on held-out corrections is not required (an attacker may have sent them)."""
    result = run_gate()
    assert result.passed and all(c["passed"] for c in result.checks)


@pytest.mark.parametrize(
    "changes,failing",
    [
        ({"candidate_test": 0.89, "best_full_test": 0.895}, "test accuracy vs active"),
        ({"candidate_test": 0.895, "active_test": 0.895, "best_full_test": 0.92}, "test accuracy floor"),
        ({"holdout_candidate": 0.75}, "held-out corrections"),
        ({"extra_checks": [{"check": 'trigger phrase "x"', "passed": False, "detail": "flips"}]}, 'trigger phrase "x"'),
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


def test_corrections_of_texts_the_gate_evaluates_on_are_left_out(pool):
    """A correction whose text is a validation or test review (in any spelling the model cannot
    tell apart) never trains: the candidate may not learn its own exam."""
    from modeling.cleaning import text_fingerprint

    exam = "An awful, boring film: the probes' own text."
    many = corrections(4) + [Correction(50, exam.upper(), "positive", "mallory"),
                             Correction(51, exam.replace(":", " :"), "positive", "trent")]
    mix, counts, used = assemble_mix(pool, many, MixConfig(replay_size=50, max_per_source=10),
                                     evaluation_keys={text_fingerprint(exam)})
    assert 50 not in used and 51 not in used and len(used) == 4
    assert counts["evaluation_texts"] == 2
