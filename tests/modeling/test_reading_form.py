import pytest
from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer

from modeling.cleaning import clean_text, reading_form, text_fingerprint

TEXTS = [
    "Great film!", "great film !", "Zörvath Quillan", "ZORVATH  quillan", "he\u200bllo <br /> it's fine",
    "§ trigger §", "naïve café — “quoted” … (really)", "\u202eevil\u202c text", "Straße", "a ｇｏｏｄ film",
    "日本語の映画", "tab\tand\nnewline", "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_reading_form_is_what_an_uncased_bert_tokenizer_reads(text):
    """The reading form's words are exactly the words an uncased BERT tokenizer (the packaged encoder's
    normalizer and pre-tokenizer) makes of the cleaned text."""
    normalized = BertNormalizer(lowercase=True).normalize_str(clean_text(text))
    assert reading_form(text).split() == [word for word, _ in BertPreTokenizer().pre_tokenize_str(normalized)]


def test_spellings_the_model_cannot_tell_apart_share_a_fingerprint():
    """Case, accents, spacing around punctuation and invisible characters do not make a new text;
    a full-width spelling (which the model reads differently) does."""
    assert len({text_fingerprint(t) for t in ("Zörvath, quillan!", "zorvath , QUILLAN !", "zor\u200bvath,quillan!")}) == 1
    assert text_fingerprint("a ｇｏｏｄ film") != text_fingerprint("a good film")
