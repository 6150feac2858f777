import numpy as np
import pytest

from modeling.explain import explain, remove_words, word_spans


def keyword_model(texts):
    """A transparent classifier: 'great' pushes positive, 'awful' negative."""
    scores = np.array([t.count("great") * 2.0 - t.count("awful") * 2.0 + 0.1 for t in texts])
    positive = 1 / (1 + np.exp(-scores))
    return np.column_stack([1 - positive, positive])


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
    calls = []

    def counting(texts):
        calls.append(len(texts))
        return keyword_model(texts)

    result = explain(text, counting, num_samples=200, max_words=50, seed=0)
    assert result["capped"] and result["words_considered"] == 50 and result["words_total"] == 302
    assert "great" in {w["word"] for w in result["words"]}
    assert sum(calls) <= 201


def test_duplicate_perturbations_are_classified_once():
    """A short text's repeated perturbations reach the classifier once each."""
    seen = []

    def recording(texts):
        seen.extend(texts)
        return keyword_model(texts)

    result = explain("great film indeed", recording, num_samples=300, seed=0)
    assert len(seen) == len(set(seen)) == result["unique_samples"] <= 8


def test_empty_text_is_refused_and_markup_is_just_words():
    """An empty text is an error; markup is split into plain words, never interpreted."""
    with pytest.raises(ValueError):
        explain("   ", keyword_model)
    spans = word_spans("<script>alert(1)</script> great")
    assert set(spans) == {"script", "alert", "1", "great"}
    assert remove_words("a great great film", ["great"]) == "a   film"
