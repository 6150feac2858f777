"""The feedback loop's two pure pieces: the training mix for a retrain, and the quality gate."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np
from datasets import Dataset, concatenate_datasets

from modeling.config import LABEL2ID, GateConfig, MixConfig, Phase, RetrainSchedule, TrainConfig
from modeling.cleaning import FEATURES, clean_text


@dataclass(frozen=True)
class Correction:
    """An approved flag: the review's text, the label staff agreed with, who flagged it."""

    id: int
    text: str
    label: str
    reporter: str


def retrain_config(parent: TrainConfig | None, schedule: RetrainSchedule, *, base_model: str, seed: int) -> TrainConfig:
    """The candidate's training configuration: the active version's recipe (tokenization,
    n-gram companion, precision, ...) with the loop's schedule over the whole training mix."""
    parent = parent or TrainConfig()
    phase = Phase("all" if schedule.from_base else "top_k", schedule.epochs, schedule.lr, schedule.top_k)
    return replace(parent, base_model=base_model if schedule.from_base else parent.base_model, phases=(phase,),
                   train_limit=None, seed=seed)


def is_holdout(correction_id: int, share: float) -> bool:
    """Whether an approved correction is set aside as evaluation data: a fixed, deterministic
    share of ids (a hash, so it does not depend on approval order)."""
    digest = hashlib.sha256(f"holdout:{correction_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def cap_per_person(corrections: list[Correction], limit: int) -> list[Correction]:
    """At most `limit` corrections from one reporter (their earliest, by id)."""
    kept, seen = [], defaultdict(int)
    for c in sorted(corrections, key=lambda c: c.id):
        if seen[c.reporter] < limit:
            seen[c.reporter] += 1
            kept.append(c)
    return kept


def assemble_mix(replay_pool: Dataset, corrections: list[Correction], config: MixConfig) -> tuple[Dataset, dict, list[int]]:
    """A replay sample of `replay_pool` (a training split; never validation or test) plus the
    corrections, oversampled, with the feedback share and per-person caps applied.

    Returns the shuffled training set, the counts, and the ids of the corrections used.
    """
    rng = np.random.default_rng(config.seed)
    replay_n = min(config.replay_size, len(replay_pool))
    replay_rows = np.random.default_rng(config.replay_seed).choice(len(replay_pool), replay_n, replace=False)
    replay = replay_pool.select(sorted(replay_rows.tolist()))
    capped = cap_per_person(corrections, config.max_per_person)
    # Feedback rows may make up at most max_feedback_share of the mix.
    share = min(max(config.max_feedback_share, 0.0), 0.95)
    max_feedback_rows = int(share / (1 - share) * replay_n) if share > 0 else 0
    used = capped
    if len(used) > max_feedback_rows:
        order = rng.permutation(len(used))[:max_feedback_rows]
        used = [used[i] for i in sorted(order)]
    factor = max(1, min(config.oversample, max_feedback_rows // len(used))) if used else 0
    texts = [clean_text(c.text) for c in used for _ in range(factor)]
    labels = [LABEL2ID[c.label] for c in used for _ in range(factor)]
    feedback = Dataset.from_dict({"text": texts, "label": labels}, features=FEATURES)
    mix = concatenate_datasets([replay, feedback]).shuffle(seed=config.seed) if len(feedback) else replay
    counts = {
        "replay": replay_n,
        "corrections_available": len(corrections),
        "corrections_after_person_cap": len(capped),
        "corrections_used": len(used),
        "oversample": factor,
        "feedback_rows": len(feedback),
        "feedback_share": round(len(feedback) / max(1, len(mix)), 4),
        "rows": len(mix),
    }
    return mix, counts, [c.id for c in used]


@dataclass
class GateResult:
    passed: bool
    checks: list[dict] = field(default_factory=list)


def gate(
    *,
    candidate_test: float,
    active_test: float | None,
    best_full_test: float | None,
    holdout_candidate: float | None,
    holdout_active: float | None,
    holdout_n: int,
    config: GateConfig,
) -> GateResult:
    """Promote only if every applicable check holds; each check says what it compared."""
    checks = []
    if active_test is not None:
        need = active_test - config.tolerance
        checks.append({"check": "test accuracy vs active", "passed": candidate_test >= need,
                       "detail": f"candidate {candidate_test:.4f}, needs >= active {active_test:.4f} - {config.tolerance:.4f} = {need:.4f}"})
    if best_full_test is not None:
        floor = best_full_test - config.floor_margin
        checks.append({"check": "test accuracy floor", "passed": candidate_test >= floor,
                       "detail": f"candidate {candidate_test:.4f}, needs >= best full model {best_full_test:.4f} - {config.floor_margin:.4f} = {floor:.4f}"})
    else:
        checks.append({"check": "test accuracy floor", "passed": True, "skipped": True,
                       "detail": "no full-profile model yet; floor not applied"})
    if holdout_n >= config.holdout_min and holdout_candidate is not None and holdout_active is not None:
        need = holdout_active + config.holdout_margin
        checks.append({"check": "held-out corrections", "passed": holdout_candidate >= need,
                       "detail": f"candidate {holdout_candidate:.4f} on {holdout_n}, needs >= active {holdout_active:.4f} + {config.holdout_margin:.4f} = {need:.4f}"})
    else:
        checks.append({"check": "held-out corrections", "passed": True, "skipped": True,
                       "detail": f"skipped: {holdout_n} held-out correction(s), at least {config.holdout_min} needed"})
    return GateResult(passed=all(c["passed"] for c in checks), checks=checks)
