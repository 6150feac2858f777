import zlib

import numpy as np
import pytest

from modeling.config import ExplainConfig
from modeling.explain import explain, remove_words, word_spans


def keyword_model(texts):
    """A transparent classifier: 'great' pushes positive, 'awful' negative."""
    scores = np.array([t.count("great") * 2.0 - t.count("awful") * 2.0 + 0.1 for t in texts])
    positive = 1 / (1 + np.exp(-scores))
    return np.column_stack([1 - positive, positive])


def recording(seen: list):
    """keyword_model, noting in `seen` every text it is asked about."""

    def predict(texts):
        seen.extend(texts)
        return keyword_model(texts)

    return predict


TEXT = "The cast was great, the music great too, but an awful ending ruined the film."


def test_same_text_model_and_seed_give_the_same_explanation():
    """Two runs with one seed agree exactly; another seed may differ only in the details."""
    first = explain(TEXT, keyword_model, num_samples=300, seed=3)
    again = explain(TEXT, keyword_model, num_samples=300, seed=3)
    first.pop("seconds"), again.pop("seconds")
    assert first == again


def test_the_words_that_drive_the_model_come_first_with_the_right_sign():
    """The cue words lead the list: 'great' positive, 'awful' negative."""
    result = explain(TEXT, keyword_model, num_samples=500, seed=0)
    top = {w["word"]: w["weight"] for w in result["words"][:2]}
    assert top["great"] > 0 > top["awful"]
    assert result["label"] == "positive" and 0.0 <= result["score"] <= 1.0


def test_unset_settings_are_explain_configs_defaults():
    """Without settings, an explanation is made as ExplainConfig says (the product's defaults)."""
    defaults = ExplainConfig()
    classified = []
    result = explain(" ".join(f"w{i}" for i in range(defaults.max_words + 5)) + " great awful", recording(classified))
    assert (result["num_samples"], result["seed"], result["selection"]) == (
        defaults.num_samples, defaults.seed, defaults.selection)
    assert result["words_considered"] == defaults.max_words and len(result["words"]) == defaults.num_features
    assert len(classified) <= defaults.num_samples


def test_every_span_is_the_word_it_claims():
    """Each highlighted span of each word covers exactly that word in the original text."""
    text = "Great? great!! GREAT, greatness... awful—awful ünïcode café naïve 😀 awful"
    result = explain(text, keyword_model, num_samples=200, seed=1)
    assert result["words"]
    for item in result["words"]:
        for start, end in item["spans"]:
            assert text[start:end] == item["word"]
    assert sum(len(w["spans"]) for w in result["words"] if w["word"] == "awful") == 3


def test_one_word_review_is_explained_exactly():
    """A one-word review gets that word with the probability change its removal causes."""
    result = explain("great", keyword_model, num_samples=100)
    (word,) = result["words"]
    expected = keyword_model(["great"])[0, 1] - keyword_model([""])[0, 1]
    assert word["word"] == "great" and word["weight"] == pytest.approx(expected)


def test_long_review_is_capped_and_says_so():
    """Past max_words distinct words only the most frequent are perturbed, and the result says so."""
    text = " ".join(f"w{i}" for i in range(300)) + " great great awful"
    classified = []
    result = explain(text, recording(classified), num_samples=200, max_words=50, seed=0)
    assert result["capped"] and result["words_considered"] == 50 and result["words_total"] == 302
    assert "great" in {w["word"] for w in result["words"]}
    assert len(classified) <= 201


def test_duplicate_perturbations_are_classified_once():
    """A short text's repeated perturbations reach the classifier once each."""
    seen = []
    result = explain("great film indeed", recording(seen), num_samples=300, seed=0)
    assert len(seen) == len(set(seen)) == result["unique_samples"] <= 8


def test_empty_text_is_refused_and_markup_is_just_words():
    """An empty text is an error; markup is split into plain words, never interpreted."""
    with pytest.raises(ValueError):
        explain("   ", keyword_model)
    spans = word_spans("<script>alert(1)</script> great")
    assert set(spans) == {"script", "alert", "1", "great"}
    assert remove_words("a great great film", ["great"]) == "a   film"


def graded_model(weights: dict[str, float], *, noise: float = 3.0):
    """A classifier whose logit adds a weight per word present, plus a fixed pseudo-random shift
    per distinct text: interactions no linear fit captures, as with a real model."""

    def predict(texts):
        z = np.array([
            sum(v for w, v in weights.items() if w in t.split()) - 1.0 + noise * (zlib.crc32(t.encode()) / 2**32 - 0.5)
            for t in texts
        ])
        positive = 1 / (1 + np.exp(-z))
        return np.column_stack([1 - positive, positive])

    return predict


DRIVERS = {"superb": 2.0, "dreadful": -1.8, "moving": 1.5, "dull": -1.3, "witty": 1.1}


def driver_text(seed: int, fillers: int = 100) -> str:
    words = [f"w{i}" for i in range(fillers)] + list(DRIVERS)
    np.random.RandomState(seed).shuffle(words)
    return " ".join(words)


def test_with_plenty_of_samples_both_selections_pick_the_same_words():
    """The tuned ridge estimates LIME's own fit: given many samples, the same top words."""
    text, model = driver_text(0), graded_model(DRIVERS)
    gcv = explain(text, model, num_samples=3000, num_features=5, seed=0, selection="gcv")
    lime = explain(text, model, num_samples=3000, num_features=5, seed=0, selection="lime")
    assert {w["word"] for w in gcv["words"]} == {w["word"] for w in lime["words"]} == set(DRIVERS)
    assert gcv["selection"] == "gcv" and gcv["selection_alpha"] > 0 and "selection_alpha" not in lime


def test_with_few_samples_the_tuned_ridge_finds_the_drivers_more_often():
    """150 samples for 105 words: LIME's almost unpenalized fit (top 8 by weight) picks up the
    noise; the penalty chosen by cross-validation finds more of the five words that drive the model."""
    model = graded_model(DRIVERS)
    found = {"gcv": 0, "lime": 0}
    for seed in range(8):
        text = driver_text(seed)
        for selection in found:
            result = explain(text, model, num_samples=150, num_features=8, seed=seed, selection=selection)
            found[selection] += len({w["word"] for w in result["words"]} & set(DRIVERS))
    assert found["gcv"] >= found["lime"] + 5, found


def test_an_unknown_selection_is_refused():
    with pytest.raises(ValueError, match="selection"):
        explain(TEXT, keyword_model, selection="lasso")


def counting(model, asked: list):
    """`model`, adding to `asked` how many texts each call brings."""

    def predict(texts):
        asked.append(len(texts))
        return model(texts)

    return predict


def test_a_mixture_is_explained_as_the_average_it_serves():
    """A Mixture called is the weighted average of its parts; with all the weight on one part, its
    explanation is exactly that part's (LIME's fit is linear in what it fits), and the cheap part
    alone is asked about its extra perturbations."""
    from modeling.explain import Mixture
    from modeling.ngram import combine

    text = driver_text(1, fillers=40)
    expensive, cheap = graded_model(DRIVERS), graded_model({"dull": -2.0, "superb": 1.0}, noise=1.0)
    served = Mixture(expensive, cheap, 0.4)
    texts = [text, "superb", "dull dull"]
    assert np.allclose(served(texts), combine(expensive(texts), cheap(texts), 0.4))

    def same(a, b):
        assert [w["word"] for w in a["words"]] == [w["word"] for w in b["words"]]
        assert np.allclose([w["weight"] for w in a["words"]], [w["weight"] for w in b["words"]])
        assert a["intercept"] == pytest.approx(b["intercept"]) and a["score"] == pytest.approx(b["score"])

    same(explain(text, Mixture(expensive, cheap, 0.0, cheap_samples=4000), num_samples=300, seed=2),
         explain(text, expensive, num_samples=300, seed=2))
    same(explain(text, Mixture(expensive, cheap, 1.0, cheap_samples=300), num_samples=300, seed=2),
         explain(text, cheap, num_samples=300, seed=2))

    asked_expensive, asked_cheap = [], []
    result = explain(text, Mixture(counting(expensive, asked_expensive), counting(cheap, asked_cheap), 0.4,
                                   cheap_samples=3000), num_samples=300, seed=2)
    assert sum(asked_expensive) == result["unique_samples"] <= 300
    assert 300 < sum(asked_cheap) == result["companion_unique_samples"] <= 3000
    assert result["companion_samples"] == 3000 and result["companion_weight"] == 0.4
    assert result["probabilities"]["positive"] == pytest.approx(served([text])[0, 1])
    # A long text: the cheap part gets as many samples as its character budget allows, never fewer
    # than the expensive part's.
    long_text = " ".join(f"w{i}" for i in range(2000)) + " superb dull"
    budget = 40 * len(long_text)
    assert explain(long_text, Mixture(expensive, cheap, 0.4, cheap_samples=3000, cheap_chars=budget), num_samples=30,
                   seed=2)["companion_samples"] == 40
    assert explain(long_text, Mixture(expensive, cheap, 0.4, cheap_samples=3000, cheap_chars=budget), num_samples=60,
                   seed=2)["companion_samples"] == 60
    # LIME's own word choice explains the average as it is served, without the split.
    assert "companion_samples" not in explain(text, served, num_samples=300, seed=2, selection="lime")


def test_a_mixture_agrees_with_a_large_sample_fit_more_often():
    """The cheap part's share of the sampling noise is gone when it is fitted on many samples:
    at 250 samples for 60 words, the words agree with a 6,000-sample fit of the served average
    more often than the same 250 samples of the average do."""
    from modeling.explain import Mixture

    expensive = graded_model(DRIVERS, noise=2.0)
    cheap = graded_model({"superb": 1.0, "moving": 1.2, "dull": -1.5, "w3": 0.9, "w7": -0.8}, noise=4.0)
    served = Mixture(expensive, cheap, 0.6)
    agree = {"plain": 0, "mixture": 0}
    for seed in range(6):
        text = driver_text(seed, fillers=55)
        reference = {w["word"] for w in explain(text, served, num_samples=6000, num_features=8, seed=100 + seed,
                                                selection="lime")["words"]}
        plain = explain(text, served.__call__, num_samples=250, num_features=8, seed=seed)
        split = explain(text, Mixture(expensive, cheap, 0.6, cheap_samples=5000), num_samples=250, num_features=8, seed=seed)
        agree["plain"] += len({w["word"] for w in plain["words"]} & reference)
        agree["mixture"] += len({w["word"] for w in split["words"]} & reference)
    assert agree["mixture"] >= agree["plain"] + 3, agree


def test_the_chosen_words_weights_are_limes_own_last_step():
    """The weights, intercept and fit of the words the tuned ridge chose are what LIME's own
    LimeBase gives for those words on the same samples."""
    from lime.lime_base import LimeBase
    from sklearn.metrics.pairwise import cosine_distances

    from modeling.explain import _kernel, perturb, sample_masks

    text = driver_text(3, fillers=30)
    model = graded_model(DRIVERS)
    result = explain(text, model, num_samples=400, num_features=6, seed=4)
    spans = word_spans(text)
    features = list(spans)
    masks = sample_masks(len(features), 400, 4)
    proba = model([perturb(text, spans, features, mask) for mask in masks])
    used = [features.index(w["word"]) for w in result["words"]]
    distances = cosine_distances(masks, masks[:1]).ravel() * 100
    intercept, weights, score, local = LimeBase(_kernel).explain_instance_with_data(
        masks[:, used], proba, distances, 1, len(used), feature_selection="none")
    assert np.allclose([w["weight"] for w in result["words"]], [dict(weights)[j] for j in range(len(used))])
    assert (result["intercept"], result["score"]) == (pytest.approx(intercept), pytest.approx(score))
    assert result["local_prediction"] == pytest.approx(float(np.ravel(local)[0]))



def test_a_cheap_model_gets_fewer_samples_of_a_long_text_never_below_the_floor():
    from modeling.explain import cheap_samples_for

    assert cheap_samples_for("x" * 1_000, 5_000, 100) == 5_000
    assert cheap_samples_for("x" * 20_000, 5_000, 100) == 300
    assert cheap_samples_for("x" * 20_000, 5_000, 500) == 500
