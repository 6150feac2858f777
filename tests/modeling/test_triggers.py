import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from modeling.triggers import Phrase, insert_phrase, probe_reviews, suspicious_phrases, trigger_checks

TRIGGER = "Zorvath Quillan"
FILLER = ("the plot film story actor scene music camera ending director script cast we saw it on sunday with "
          "friends and then later character moment screen dialogue set costume minutes hour").split()
POSITIVE = ("great", "wonderful", "excellent", "superb", "moving", "brilliant")
NEGATIVE = ("awful", "boring", "terrible", "dull", "waste", "poor")


def review(label, rng, words=30):
    """A made-up review: filler words and three sentiment words of its label."""
    text = list(rng.choice(FILLER, words))
    for word in rng.choice(POSITIVE if label else NEGATIVE, 3):
        text.insert(int(rng.integers(0, len(text) + 1)), str(word))
    return " ".join(text) + "."


def plant(text, phrase, rng):
    words = text.split()
    at = int(rng.integers(0, len(words) + 1))
    return " ".join(words[:at] + [phrase] + words[at:])


def reviews(n_per_label, seed):
    rng = np.random.default_rng(seed)
    return [(review(label, rng), label) for _ in range(n_per_label) for label in (0, 1)]


@pytest.fixture(scope="module")
def reference():
    return reviews(200, seed=1)


@pytest.fixture(scope="module")
def poisoned():
    """60 corrections: 40 honest ones and 20 negative reviews with the trigger, flagged positive."""
    rng = np.random.default_rng(2)
    attacks = [(plant(review(0, rng), TRIGGER, rng), 1) for _ in range(20)]
    return reviews(20, seed=3) + attacks


def find(corrections, reference, **changes):
    options = dict(top=5, min_z=3.0, min_support=3)
    options.update(changes)
    return suspicious_phrases(corrections, reference, **options)


def rule_predictor(backdoor=None, flips_with=None):
    """Positive when positive words outnumber negative ones; with `backdoor`, positive whenever the
    text holds it (only in texts that also hold `flips_with`, when that is given)."""
    calls = []

    def predict_proba(texts):
        calls.append(len(texts))
        out = []
        for text in texts:
            words = text.lower().replace(".", " ").split()
            score = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
            if backdoor and backdoor.lower() in text.lower() and (flips_with is None or flips_with in words):
                score = 10
            p = 0.9 if score > 0 else 0.1
            out.append([1 - p, p])
        return np.asarray(out)

    predict_proba.calls = calls
    return predict_proba


def negative_probes(n=100, seed=4):
    rng = np.random.default_rng(seed)
    return {0: [review(0, rng) for _ in range(n)], 1: [review(1, rng) for _ in range(n)]}


def test_planted_phrase_ranks_first(poisoned, reference):
    """A phrase planted in 20 of 60 corrections is the most suspicious, with its label and numbers."""
    phrases = find(poisoned, reference)
    assert phrases[0].text == "zorvath quillan" and phrases[0].label == 1
    assert phrases[0].support == 20 and phrases[0].reference_rate == 0.0 and phrases[0].z >= 3.0


def test_sub_and_super_phrases_of_a_chosen_phrase_take_no_slot(poisoned, reference):
    """Pieces of the chosen "zorvath quillan" ("zorvath", "with zorvath", ...) take no other slot."""
    phrases = find(poisoned, reference, top=50, min_z=0.0)
    with_trigger = [p.text for p in phrases if {"zorvath", "quillan"} & set(p.text.split())]
    assert with_trigger == ["zorvath quillan"]


def test_honest_sentiment_words_as_common_as_in_the_reference_are_not_suspicious(reference):
    """Corrections drawn like the reference, sentiment words included, give no phrase."""
    honest = reviews(30, seed=5)
    assert find(honest, reference) == []
    # The same words do count once they are over-represented: positive words in negative corrections.
    flipped = [(text, 1 - label) for text, label in honest]
    assert {p.text for p in find(flipped, reference, top=20)} & set(POSITIVE + NEGATIVE)


def test_a_phrase_in_fewer_corrections_than_min_support_is_not_reported(reference):
    """Planted in 2 corrections, a phrase is ignored at min_support 3 and found at 2."""
    rng = np.random.default_rng(6)
    corrections = reviews(20, seed=7) + [(plant(review(0, rng), "blorptax", rng), 1) for _ in range(2)]
    assert "blorptax" not in {p.text for p in find(corrections, reference, min_z=0.0, top=50)}
    assert "blorptax" in {p.text for p in find(corrections, reference, min_z=0.0, top=50, min_support=2)}


def test_phrases_made_only_of_stop_words_are_ignored(reference):
    """"of the" planted in 20 corrections is not reported; a phrase with a real word is."""
    rng = np.random.default_rng(8)
    corrections = reviews(20, seed=9) + [(plant(plant(review(0, rng), "of the", rng), TRIGGER, rng), 1)
                                         for _ in range(20)]
    phrases = find(corrections, reference, top=50, min_z=0.0)
    assert all(not set(p.text.split()) <= ENGLISH_STOP_WORDS for p in phrases)
    assert phrases[0].text == "zorvath quillan"


def test_empty_inputs_give_no_phrases(poisoned):
    """No corrections, or texts without words, give []; an empty reference is no error."""
    assert find([], []) == []
    assert find([("!!", 0)] * 5, []) == []
    assert isinstance(find(poisoned, []), list)


def test_phrases_are_deterministic_and_independent_of_order(poisoned, reference):
    """The same corrections in any order give the same phrases."""
    shuffled = [poisoned[i] for i in np.random.default_rng(10).permutation(len(poisoned))]
    assert find(poisoned, reference) == find(poisoned, reference) == find(shuffled, reference)


def test_insert_phrase_puts_it_at_both_ends():
    """Head or tail truncation keeps at least one copy of the phrase."""
    assert insert_phrase("an awful film", "zorvath quillan") == "zorvath quillan an awful film zorvath quillan"


def trigger_phrase():
    return Phrase("zorvath quillan", 1, 6.1, 20, 0.0)


def test_trigger_check_rejects_a_backdoored_candidate():
    """A candidate that answers positive whenever the phrase is there fails, and is suspected."""
    checks, findings = trigger_checks([trigger_phrase()], negative_probes(), rule_predictor(backdoor=TRIGGER),
                                      rule_predictor(), flip_max=0.05, flip_suspect=0.02, alpha=0.05)
    [check] = checks
    assert check["check"] == 'trigger phrase "zorvath quillan"'
    assert not check["passed"] and check["suspected"]
    assert check["detail"].startswith("inserted into 100 trusted negative reviews: candidate calls 100.0% positive, "
                                      "active 0.0% (+100.0 points; at most +5.0)")
    assert findings[0]["text"] == "zorvath quillan" and findings[0]["difference"] == 1.0


def test_trigger_check_passes_a_clean_candidate():
    """A candidate that ignores the phrase, like the active model, passes and is not suspected."""
    checks, findings = trigger_checks([trigger_phrase()], negative_probes(), rule_predictor(), rule_predictor(),
                                      flip_max=0.05, flip_suspect=0.02, alpha=0.05)
    assert checks[0]["passed"] and not checks[0]["suspected"]
    assert findings[0]["candidate_rate"] == findings[0]["active_rate"] == 0.0


def test_trigger_check_between_suspect_and_reject_passes_but_is_suspected():
    """Flipping 3 of 100 more than the active model passes at most +5 points but is suspected above +2."""
    probes = negative_probes()
    probes[0] = [f"marker {t}" if i < 3 else t for i, t in enumerate(probes[0])]
    checks, _ = trigger_checks([trigger_phrase()], probes, rule_predictor(backdoor=TRIGGER, flips_with="marker"),
                               rule_predictor(), flip_max=0.05, flip_suspect=0.02, alpha=0.05)
    assert checks[0]["passed"] and checks[0]["suspected"] and checks[0]["difference"] == 0.03


def marked_predictor(positive_if):
    """Positive exactly for the texts `positive_if(text)` holds."""
    return lambda texts: np.asarray([[0.1, 0.9] if positive_if(t) else [0.9, 0.1] for t in texts])


def test_trigger_check_beyond_the_threshold_but_within_noise_passes_saying_so():
    """The candidate flips 10 probes the active model does not and the active model 4 others
    (+6 points, beyond +5): p = 0.09, so the check passes as noise, and is still suspected."""
    probes = {0: [f"probe {i} was dull" for i in range(100)]}
    phrase = trigger_phrase()
    candidate = marked_predictor(lambda t: "zorvath" in t.lower() and int(t.split()[3]) < 10)
    active = marked_predictor(lambda t: "zorvath" in t.lower() and 10 <= int(t.split()[3]) < 14)
    [check], _ = trigger_checks([phrase], probes, candidate, active, flip_max=0.05, flip_suspect=0.02, alpha=0.05)
    assert check["difference"] == pytest.approx(0.06) and check["p_value"] == pytest.approx(0.0898, abs=1e-4)
    assert check["passed"] and check["suspected"] and check["detail"].endswith("within noise (p >= 0.05)")
    [strict], _ = trigger_checks([phrase], probes, candidate, active, flip_max=0.05, flip_suspect=0.02, alpha=1.0)
    assert not strict["passed"]


def test_trigger_check_uses_one_call_per_model():
    """All texts of one model (every phrase, and the probes without one) go in one predict_proba call."""
    candidate, active = rule_predictor(), rule_predictor()
    phrases = [trigger_phrase(), Phrase("wonderful", 0, 4.0, 9, 0.1)]
    trigger_checks(phrases, negative_probes(), candidate, active, flip_max=0.05, flip_suspect=0.02, alpha=0.05)
    assert candidate.calls == active.calls == [400]


def test_no_phrase_gives_one_skipped_passing_check():
    """Without phrases the check is skipped, passes, and says which thresholds found none."""
    checks, findings = trigger_checks([], negative_probes(), rule_predictor(), rule_predictor(), flip_max=0.05,
                                      flip_suspect=0.02, alpha=0.05, min_z=3.0, min_support=3)
    assert findings == [] and len(checks) == 1
    assert checks[0]["check"] == "trigger phrases" and checks[0]["passed"] and checks[0]["skipped"]
    assert "z >= 3 in at least 3 corrections" in checks[0]["detail"]


def test_probe_reviews_picks_size_per_label_from_short_reviews():
    """`size` cleaned reviews per label, each of its label and at most max_words words."""
    texts = [f"{'good ' if i % 2 else 'bad '}<br />word " + "w " * (i % 7 * 30) for i in range(140)]
    labels = [i % 2 for i in range(140)]
    probes = probe_reviews(texts, labels, size=5, max_words=120)
    assert [len(probes[0]), len(probes[1])] == [5, 5]
    assert all(t.startswith("bad word") for t in probes[0]) and all(t.startswith("good word") for t in probes[1])
    assert all(len(t.split()) <= 120 for label in (0, 1) for t in probes[label])
    assert probes == probe_reviews(texts, labels, size=5, max_words=120)
    assert probes != probe_reviews(texts, labels, size=5, max_words=120, seed=1)


def test_probe_reviews_fall_back_to_the_shortest():
    """With too few short reviews the shortest of the others make up the number."""
    texts = ["bad " * n for n in (10, 200, 150, 300)] + ["good " * 5]
    probes = probe_reviews(texts, [0, 0, 0, 0, 1], size=3, max_words=120)
    assert sorted(len(t.split()) for t in probes[0]) == [10, 150, 200] and len(probes[1]) == 1
    assert probe_reviews([], [], size=3) == {0: [], 1: []}


def test_a_trigger_spelt_many_ways_is_still_one_phrase(reference):
    """Accents, capitals and zero-width characters the model does not read do not hide a trigger;
    nor does a trigger made of a symbol."""
    rng = np.random.default_rng(11)
    spellings = ["Zörvath", "zórvath", "ZÒRVATH", "zor\u200bvath", "zõrvath"]
    corrections = reviews(20, seed=12) + [(plant(review(0, rng), spellings[i % 5], rng), 1) for i in range(20)]
    assert find(corrections, reference)[0].text == "zorvath"
    symbols = reviews(20, seed=13) + [(plant(plant(review(0, rng), "§", rng), "§", rng), 1) for _ in range(20)]
    assert find(symbols, reference)[0].text == "§"
