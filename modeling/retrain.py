"""The feedback loop's two pure pieces: the training mix for a retrain, and the quality gate."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import numpy as np
from datasets import Dataset, concatenate_datasets

from modeling.config import LABEL2ID, GateConfig, MixConfig, Phase, RetrainSchedule, TrainConfig
from modeling.cleaning import FEATURES, clean_text, text_fingerprint


@dataclass(frozen=True)
class Correction:
    """An approved flag: the review's text, the label staff agreed with, and who is speaking:
    its source (a user, or an anonymous client), the client's network, the text's key (one
    text, one vote) and whether the source is trusted (not capped)."""

    id: int
    text: str
    label: str
    source: str
    network: str = ""
    text_hash: str = ""
    trusted: bool = False

    @property
    def key(self) -> str:
        return self.text_hash or text_fingerprint(self.text)


def retrain_config(parent: TrainConfig | None, schedule: RetrainSchedule, *, base_model: str, seed: int) -> TrainConfig:
    """The candidate's training configuration: the active version's recipe (tokenization,
    n-gram companion, precision, ...) with the loop's schedule over the whole training mix."""
    parent = parent or TrainConfig()
    phase = Phase("all" if schedule.from_base else "top_k", schedule.epochs, schedule.lr, schedule.top_k)
    return replace(parent, base_model=base_model if schedule.from_base else parent.base_model, phases=(phase,),
                   train_limit=None, seed=seed)


def is_holdout(text_hash: str, share: float, *, key: bytes) -> bool:
    """Whether an approved correction is set aside as evaluation data: an HMAC of its text's key
    under a secret `key`, so nobody without the secret can tell (or choose) which texts are held
    out, and every copy of one text lands on the same side."""
    digest = hmac.new(key, f"holdout:{text_hash}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def find_conflicts(corrections: list[Correction]) -> set[str]:
    """Text keys corrected to both labels: staff must decide, and no side is trained on."""
    labels = defaultdict(set)
    for c in corrections:
        labels[c.key].add(c.label)
    return {key for key, seen in labels.items() if len(seen) > 1}


def one_vote_per_text(corrections: list[Correction]) -> list[Correction]:
    """One correction per text key: a trusted one first, else the earliest."""
    chosen: dict[str, Correction] = {}
    for c in sorted(corrections, key=lambda c: (not c.trusted, c.id)):
        chosen.setdefault(c.key, c)
    return sorted(chosen.values(), key=lambda c: c.id)


def cap_per_source(corrections: list[Correction], *, per_source: int, per_network: int) -> list[Correction]:
    """At most `per_source` corrections from one untrusted source and `per_network` from one
    network (their earliest, by id); trusted sources are not capped."""
    kept, sources, networks = [], defaultdict(int), defaultdict(int)
    for c in sorted(corrections, key=lambda c: c.id):
        if not c.trusted:
            if sources[c.source] >= per_source or (c.network and networks[c.network] >= per_network):
                continue
            sources[c.source] += 1
            if c.network:
                networks[c.network] += 1
        kept.append(c)
    return kept


def concentration(corrections: list[Correction]) -> dict:
    """How concentrated the untrusted corrections are: their count, distinct sources and
    networks, and the largest share one source or one network gave."""
    untrusted = [c for c in corrections if not c.trusted]
    if not untrusted:
        return {"untrusted": 0, "sources": 0, "networks": 0, "top_source_share": 0.0, "top_network_share": 0.0}
    by_source = Counter(c.source for c in untrusted)
    by_network = Counter(c.network or c.source for c in untrusted)
    n = len(untrusted)
    return {"untrusted": n, "sources": len(by_source), "networks": len(by_network),
            "top_source_share": round(by_source.most_common(1)[0][1] / n, 4),
            "top_network_share": round(by_network.most_common(1)[0][1] / n, 4)}


def replay_sample(replay_pool: Dataset, config: MixConfig) -> Dataset:
    """The replay reviews of a retrain: a fixed sample (`replay_seed`) of the training split."""
    replay_n = min(config.replay_size, len(replay_pool))
    rows = np.random.default_rng(config.replay_seed).choice(len(replay_pool), replay_n, replace=False)
    return replay_pool.select(sorted(rows.tolist()))


def assemble_mix(replay_pool: Dataset, corrections: list[Correction], config: MixConfig, *,
                 evaluation_keys: frozenset[str] | set[str] = frozenset()) -> tuple[Dataset, dict, list[int]]:
    """A replay sample of `replay_pool` (a training split; never validation or test) plus the
    corrections: texts the gate evaluates on (`evaluation_keys`, text keys of the validation and
    test splits: a correction may not teach the candidate its own exam) and texts corrected to
    both labels left out, one vote per text, the per-source and per-network caps, then the
    feedback share, each correction oversampled.

    Returns the shuffled training set, the counts, and the ids of the corrections used.
    """
    rng = np.random.default_rng(config.seed)
    replay = replay_sample(replay_pool, config)
    replay_n = len(replay)
    admissible = [c for c in corrections if c.key not in evaluation_keys]
    conflicts = find_conflicts(admissible)
    agreed = [c for c in admissible if c.key not in conflicts]
    unique = one_vote_per_text(agreed)
    capped = cap_per_source(unique, per_source=config.max_per_source, per_network=config.max_per_network)
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
        "evaluation_texts": len(corrections) - len(admissible),
        "conflicting_texts": len(conflicts),
        "corrections_in_conflict": len(admissible) - len(agreed),
        "duplicates": len(agreed) - len(unique),
        "corrections_after_caps": len(capped),
        "trusted_used": sum(c.trusted for c in used),
        "corrections_used": len(used),
        "oversample": factor,
        "feedback_rows": len(feedback),
        "feedback_share": round(len(feedback) / max(1, len(mix)), 4),
        "rows": len(mix),
        "concentration": concentration(used),
    }
    return mix, counts, [c.id for c in used]


def promotion_holds(counts: dict, checks: list[dict], config: GateConfig) -> list[dict]:
    """Why a candidate that passed the gate must still wait for a moderator, even with automatic
    promotion on: its untrusted corrections come mostly from few sources or networks, or a check
    raised a suspected trigger. Each hold is a record like a check's."""
    holds = []
    spread = counts.get("concentration") or {}
    if spread.get("untrusted"):
        top = max(spread["top_source_share"], spread["top_network_share"])
        if top > config.max_source_share:
            holds.append({"check": "automatic promotion", "hold": True, "passed": True,
                          "detail": f"one source or network gave {top:.0%} of the {spread['untrusted']} untrusted "
                                    f"corrections used (more than {config.max_source_share:.0%})"})
        if spread["sources"] < config.min_sources:
            holds.append({"check": "automatic promotion", "hold": True, "passed": True,
                          "detail": f"the untrusted corrections used come from {spread['sources']} source(s), "
                                    f"fewer than {config.min_sources}"})
    for check in checks:
        if check.get("suspected") and check.get("passed"):
            holds.append({"check": "automatic promotion", "hold": True, "passed": True,
                          "detail": f"suspected trigger: {check['check']} ({check['detail']})"})
    return holds


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
    extra_checks: list[dict] = (),
    test_note: str = "",
) -> GateResult:
    """Promote only if every applicable check holds; each check says what it compared.
    `extra_checks` are the trigger and behaviour checks (modeling.triggers, modeling.behaviour);
    `test_note` says on which test reviews the two accuracies were measured."""
    checks = []
    if active_test is not None:
        need = active_test - config.tolerance
        note = f" ({test_note})" if test_note else ""
        checks.append({"check": "test accuracy vs active", "passed": candidate_test >= need,
                       "detail": f"candidate {candidate_test:.4f}, needs >= active {active_test:.4f} - {config.tolerance:.4f} = {need:.4f}{note}"})
    if best_full_test is not None:
        floor = best_full_test - config.floor_margin
        checks.append({"check": "test accuracy floor", "passed": candidate_test >= floor,
                       "detail": f"candidate {candidate_test:.4f}, needs >= best full model {best_full_test:.4f} - {config.floor_margin:.4f} = {floor:.4f}"})
    else:
        checks.append({"check": "test accuracy floor", "passed": True, "skipped": True,
                       "detail": "no full-profile model yet; floor not applied"})
    if holdout_n >= config.holdout_min and holdout_candidate is not None and holdout_active is not None:
        # "No worse than the active model": a held-out correction may come from an attacker too,
        # so doing *better* on them is no evidence; the trusted checks decide that.
        need = holdout_active - config.holdout_tolerance
        checks.append({"check": "held-out corrections", "passed": holdout_candidate >= need,
                       "detail": f"candidate {holdout_candidate:.4f} on {holdout_n}, needs >= active {holdout_active:.4f} - {config.holdout_tolerance:.4f} = {need:.4f}"})
    else:
        checks.append({"check": "held-out corrections", "passed": True, "skipped": True,
                       "detail": f"skipped: {holdout_n} held-out correction(s), at least {config.holdout_min} needed"})
    checks.extend(extra_checks)
    return GateResult(passed=all(c["passed"] for c in checks), checks=checks)
