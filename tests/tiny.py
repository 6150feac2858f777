"""Tiny offline models and a small separable review set, for fast tests."""

from __future__ import annotations

import random
from pathlib import Path

from datasets import DatasetDict

from modeling.config import Phase, TrainConfig
from modeling.data import FEATURES

POSITIVE = ["great", "wonderful", "superb", "loved", "brilliant", "moving", "delightful", "masterpiece"]
NEGATIVE = ["awful", "boring", "terrible", "hated", "dull", "mess", "worst", "waste"]
NEUTRAL = ["the", "movie", "film", "plot", "actor", "scene", "story", "was", "a", "it", "and", "director",
           "music", "ending", "cast", "script", "camera", "i", "this", "of"]
# The signing key of the stores the modeling tests write (the application derives its own).
KEY = b"tests-signing-key"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIALS + POSITIVE + NEGATIVE + NEUTRAL + ["!", ".", ","]


def make_tokenizer(folder: Path):
    from transformers import BertTokenizer

    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(VOCAB)})
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(folder)
    return tokenizer


def make_model(folder: Path, kind: str = "bert", *, layers: int = 2, seed: int = 0, dropout: float = 0.1) -> Path:
    """A randomly initialised 2-layer encoder saved with its tokenizer (`from_pretrained`-able)."""
    import torch
    from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "bert":
        config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=dropout,
                            attention_probs_dropout_prob=dropout, classifier_dropout=dropout)
        model = BertModel(config)
    elif kind == "distilbert":
        config = DistilBertConfig(vocab_size=len(VOCAB), dim=32, n_layers=layers, n_heads=2, hidden_dim=64,
                                  max_position_embeddings=128, dropout=dropout, attention_dropout=dropout,
                                  seq_classif_dropout=dropout)
        model = DistilBertModel(config)
    else:
        raise ValueError(kind)
    model.save_pretrained(folder)
    make_tokenizer(folder)
    return folder


def review(rng: random.Random, label: int) -> str:
    words = [rng.choice(NEUTRAL) for _ in range(rng.randint(4, 24))]
    cue = POSITIVE if label else NEGATIVE
    for _ in range(rng.randint(1, 3)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(cue))
    return " ".join(words)


def toy_data(seed: int = 0, sizes=(240, 60, 100)) -> DatasetDict:
    from datasets import Dataset

    rng = random.Random(seed)
    parts = {}
    for name, size in zip(("train", "validation", "test"), sizes):
        labels = [i % 2 for i in range(size)]
        texts = [review(rng, lab) for lab in labels]
        parts[name] = Dataset.from_dict({"text": texts, "label": labels}, features=FEATURES)
    return DatasetDict(parts)


def tiny_config(base_model: str, *, phases=(Phase("all", 6, 2e-3),), **changes) -> TrainConfig:
    values = dict(base_model=base_model, phases=phases, max_length=32, batch_size=16, eval_batch_size=64,
                  warmup_ratio=0.1, patience=10, seed=0, checkpoint_every_s=1e9, precision="fp32")
    values.update(changes)
    return TrainConfig(**values)


def write_aclimdb(root: Path, data: DatasetDict | None = None) -> Path:
    """The toy data in the aclImdb folder layout (train/ and test/, pos/ and neg/)."""
    data = data or toy_data()
    for split in ("train", "test"):
        rows = list(data[split]) + (list(data["validation"]) if split == "train" else [])
        for i, row in enumerate(rows):
            folder = root / split / ("pos" if row["label"] else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_{8 if row['label'] else 2}.txt").write_text(row["text"])
    return root
