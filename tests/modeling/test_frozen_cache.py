import numpy as np
import pytest
import torch

from modeling.config import Phase
from modeling.encoders import encode, load_classifier, load_tokenizer
from modeling.frozen_cache import FrozenCache, frozen_weights_hash
from modeling.train import train
from tests.tiny import make_model, tiny_config

pytestmark = pytest.mark.slow


def weights(model_dir):
    return {name: p.detach().clone() for name, p in load_classifier(str(model_dir)).named_parameters()}


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_cached_top_k_training_matches_the_full_forward(kind, toy, tmp_path):
    """Without dropout, training the top layer on cached states gives the weights a full forward
    gives (up to fp16 storage), and the frozen layers stay bit-identical."""
    base = make_model(tmp_path / "base", kind, layers=3, dropout=0.0)
    config = tiny_config(str(base), phases=(Phase("top_k", 2, 5e-3, top_k=1),))
    plain = weights(train(config, toy, work_dir=tmp_path / "plain", show_progress=False))
    cache = FrozenCache(tmp_path / "cache")
    cached = weights(train(config, toy, work_dir=tmp_path / "cached", show_progress=False, frozen_cache=cache))
    before = weights(base)
    layer = "transformer.layer" if kind == "distilbert" else "encoder.layer"
    for name in plain:
        assert torch.allclose(plain[name], cached[name], atol=1e-2), name
        if ".embeddings." in name or any(f"{layer}.{i}." in name for i in (0, 1)):
            assert torch.equal(cached[name], before[name]), name
    assert any(not torch.equal(cached[n], before[n]) for n in cached if f"{layer}.2." in n)
    assert cache.misses == len(toy["train"]) and cache.hits == 0  # computed once for both epochs


def test_rows_are_computed_once_and_reused_across_runs(tiny_bert, toy, tmp_path):
    """A second run over the same data reads every row from the cache and computes none."""
    config = tiny_config(str(tiny_bert), phases=(Phase("top_k", 1, 5e-3, top_k=1),))
    first = FrozenCache(tmp_path / "cache")
    train(config, toy, work_dir=tmp_path / "a", show_progress=False, frozen_cache=first)
    second = FrozenCache(tmp_path / "cache")
    train(config, toy, work_dir=tmp_path / "b", show_progress=False, frozen_cache=second)
    assert first.misses == len(toy["train"]) and second.misses == 0 and second.hits == len(toy["train"])


def test_the_key_changes_with_weights_length_and_frozen_layers(tiny_bert, tmp_path):
    """Other frozen weights, another frozen-layer count or other token ids make other rows."""
    model = load_classifier(str(tiny_bert))
    tokenizer = load_tokenizer(str(tiny_bert))
    cache = FrozenCache(tmp_path / "cache")
    long_ids = encode(tokenizer, ["great film " * 20], max_length=32)
    short_ids = encode(tokenizer, ["great film " * 20], max_length=16)
    cache.states(model, long_ids, frozen=1, pad_id=0, device="cpu")
    cache.states(model, short_ids, frozen=1, pad_id=0, device="cpu")
    cache.states(model, long_ids, frozen=2, pad_id=0, device="cpu")
    h1 = frozen_weights_hash(model, 1)
    with torch.no_grad():
        model.base_model.embeddings.word_embeddings.weight[5, 0] += 1.0
    assert frozen_weights_hash(model, 1) != h1
    cache.states(model, long_ids, frozen=1, pad_id=0, device="cpu")
    assert cache.misses == 4 and cache.hits == 0


def test_size_limit_evicts_least_recently_used_rows(tiny_bert, tmp_path):
    """Past its size limit the cache deletes the rows used longest ago."""
    model = load_classifier(str(tiny_bert))
    tokenizer = load_tokenizer(str(tiny_bert))
    cache = FrozenCache(tmp_path / "cache", max_bytes=10**9)
    texts = [f"great film number {'the ' * i}" for i in range(10)]
    states = cache.states(model, encode(tokenizer, texts, max_length=32), frozen=1, pad_id=0, device="cpu")
    assert len(states) == 10 and states[0].dtype == np.float16
    one_row = cache.size() // 10
    cache.max_bytes = one_row * 4
    assert cache.evict() >= 5 and cache.size() <= one_row * 4
