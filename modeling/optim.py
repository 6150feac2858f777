"""A phase's optimizer and learning-rate schedule."""

from __future__ import annotations

import torch

from modeling.config import TrainConfig
from modeling.encoders import parameter_groups


def adamw(model, config: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters: rate `lr` at the top, times `config.layer_lr_decay` per
    layer further down; `config.weight_decay` on weight matrices only."""
    groups = parameter_groups(model)
    layer_count = sum(1 for name in groups if name.startswith("layer."))
    param_groups = []
    for name, params in groups.items():
        params = [p for p in params if p.requires_grad]
        if not params:
            continue
        # How many layers below the top: the head and the top layer 0, the embeddings below them all.
        if name == "head":
            depth = 0
        else:
            depth = layer_count if name == "embeddings" else layer_count - 1 - int(name.split(".")[1])
        group_lr = lr * (config.layer_lr_decay**depth)
        # No weight decay on biases and LayerNorm weights (1-D tensors).
        decayed = [p for p in params if p.ndim > 1]
        plain = [p for p in params if p.ndim <= 1]
        if decayed:
            param_groups.append({"params": decayed, "lr": group_lr, "weight_decay": config.weight_decay})
        if plain:
            param_groups.append({"params": plain, "lr": group_lr, "weight_decay": 0.0})
    return torch.optim.AdamW(param_groups)


def linear_schedule(optimizer, total_steps: int, warmup_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over the first `warmup_ratio` of the steps, then linear decay to zero."""
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
