"""Frozen configuration dataclasses and the one ordered list of labels."""

from __future__ import annotations

from dataclasses import dataclass

# Index i of a probability vector is the probability of LABELS[i], everywhere.
LABELS: tuple[str, ...] = ("negative", "positive")
LABEL2ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}

# How an explanation chooses its top words (modeling/explain.py): a ridge fit with a penalty tuned
# by generalized cross-validation, or LIME's own choice.
EXPLAIN_SELECTIONS: tuple[str, ...] = ("gcv", "lime")

# What a version holds: a fine-tuned transformer (its n-gram companion beside it, if it has one), or
# an n-gram model alone (modeling/ngram.py: an installation's instant first model, fitted in
# seconds while the first transformer trains). The manifest's `kind`; absent means a transformer.
TRANSFORMER, NGRAM = "transformer", "ngram"
VERSION_KINDS: tuple[str, ...] = (TRANSFORMER, NGRAM)

PACKAGED_ENCODER = "all-MiniLM-L6-v2"
DEFAULT_DATA_SOURCE = "packaged"
DEFAULT_SEED = 42


@dataclass(frozen=True)
class SplitSizes:
    """Sizes of the deterministic stratified split of a source that has no official split."""

    train: int = 18_000
    validation: int = 2_000
    test: int = 5_000


@dataclass(frozen=True)
class Phase:
    """One stage of fine-tuning: which parameters train, for how many epochs, at which rate.

    trainable: "head" (encoder frozen), "top_k" (head plus the top `top_k` transformer layers),
    or "all" (full fine-tuning).
    """

    trainable: str = "all"
    epochs: int = 1
    lr: float = 5e-5
    top_k: int = 2

    def __post_init__(self):
        if self.trainable not in ("head", "top_k", "all"):
            raise ValueError(f"phase trainable must be head, top_k or all, not {self.trainable!r}")
        if self.epochs < 1 or self.lr <= 0 or self.top_k < 1:
            raise ValueError("phase epochs and top_k must be at least 1 and lr positive")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is trained; recorded whole in the version's manifest."""

    base_model: str = PACKAGED_ENCODER
    phases: tuple[Phase, ...] = (Phase("all", 1, 5e-5),)
    max_length: int = 256
    # "head" keeps the first tokens; "head_tail" keeps the first `head_fraction` and the rest
    # from the end of long reviews, where verdicts tend to be.
    truncation: str = "head_tail"
    head_fraction: float = 0.25
    batch_size: int = 16
    eval_batch_size: int = 64
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    # Learning rate multiplier per layer below the top (1.0 = same rate everywhere).
    layer_lr_decay: float = 1.0
    # Stop a phase after this many epochs without a better validation accuracy.
    patience: int = 1
    seed: int = DEFAULT_SEED
    # Use at most this many training reviews (stratified sample by seed); None = all.
    train_limit: int | None = None
    # Use at most this many validation reviews for early stopping; None = all.
    validation_limit: int | None = None
    # Stop training after this many seconds (the best epoch so far is kept); None = no limit.
    budget_s: float | None = None
    # Train on as many rows (at most train_limit, at least fit_min_rows) as every epoch of the
    # phases can go through in this many seconds on this machine, from the measured time of a few
    # training steps before the first (modeling/train.py): the schedule then runs to its end in
    # about that time, on a fast CPU or a slow one. None = the rows train_limit says.
    fit_budget_s: float | None = None
    fit_min_rows: int = 1_000
    # Also save a mid-epoch checkpoint this often, so an interrupted run loses little.
    checkpoint_every_s: float = 600.0
    # Serve the transformer averaged with an n-gram linear model fitted on the same training
    # reviews (modeling/ngram.py), its weight chosen on validation. The transformer alone is
    # what the loop fine-tunes; the linear part is refitted in seconds with it.
    ngram_companion: bool = False
    # Autocast precision of forward passes: "auto" = bf16 where the CPU (or GPU) runs it
    # natively, else fp32 (modeling/precision.py); "fp32", "bf16" or "fp16" (CUDA) to insist.
    precision: str = "auto"

    def __post_init__(self):
        if self.truncation not in ("head", "head_tail"):
            raise ValueError(f"truncation must be head or head_tail, not {self.truncation!r}")
        if not self.phases:
            raise ValueError("at least one training phase is needed")
        if self.max_length < 8:
            raise ValueError("max_length must be at least 8")
        from modeling.precision import PRECISIONS

        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")

    @property
    def epochs(self) -> int:
        return sum(p.epochs for p in self.phases)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        data["phases"] = tuple(Phase(**p) for p in data.get("phases", ()))
        return cls(**data)


@dataclass(frozen=True)
class ServingConfig:
    """How a loaded version answers: texts per forward pass, torch threads, precision, device.

    `max_length` lowers the version's own token window (None = as trained); `precision` is one of
    `SERVING_PRECISIONS` ("auto" = bf16 where the hardware has it natively, modeling/precision.py);
    `backend` is PyTorch, ONNX Runtime or "auto" (modeling/serving.choose_backend).
    """

    batch_size: int = 32
    threads: int = 0
    precision: str = "auto"
    max_length: int | None = None
    device: str = "cpu"
    backend: str = "auto"

    def __post_init__(self):
        if self.batch_size < 1 or self.threads < 0:
            raise ValueError("batch_size must be at least 1 and threads not negative")
        if self.precision not in SERVING_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(SERVING_PRECISIONS)}, not {self.precision!r}")
        if self.backend not in SERVING_BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(SERVING_BACKENDS)}, not {self.backend!r}")


# What a Predictor can run at: autocast ("auto", "fp32", "bf16", "fp16"), every weight in bf16, or
# the version's int8 ONNX export (CPU only); and what runs it (modeling/serving.choose_backend).
SERVING_PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "bf16-weights", "int8")
SERVING_BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class ExplainConfig:
    """How an explanation is computed (modeling/explain.py) and how its perturbed texts are
    classified; the defaults are the ones benchmarks/explain.py chose (docs/explanations.md)."""

    # Perturbed texts the transformer classifies per explanation: alone, and served with its n-gram
    # companion, whose part of the average is fitted on companion_samples of them for next to
    # nothing (modeling/explain.Mixture; gcv only). That takes the companion's share of the noise
    # out: 100 then agree with LIME's 5,000 as well as 500 of the average fitted as one, in a
    # fifth of the transformer's time (docs/results.md, Explanations). An n-gram model alone is
    # explained with companion_samples.
    num_samples: int = 500
    num_samples_with_companion: int = 100
    num_features: int = 10
    max_words: int = 200
    seed: int = 0
    selection: str = "gcv"
    companion_samples: int = 5000
    # Tokens per perturbed text; 0 = the version's own max_length.
    max_length: int = 0
    # "auto" = bf16 weights where the CPU has bf16 natively, else int8.
    precision: str = "auto"
    batch_size: int = 32
    compile: bool = True


@dataclass(frozen=True)
class MixConfig:
    """A retrain's training mix: a replay sample of the training split plus the corrections."""

    replay_size: int = 2_000
    oversample: int = 4
    max_feedback_share: float = 0.3
    # Per run, corrections from one source (a signed-in user, or an anonymous client address) and
    # from one network (/24, /48) of anonymous clients; trusted sources are not capped by either.
    max_per_source: int = 10
    max_per_network: int = 20
    seed: int = 0
    # The replay sample stays the same from run to run, so the frozen-layer cache serves it again
    # and a run's cost grows with the feedback, not with IMDb.
    replay_seed: int = 0


@dataclass(frozen=True)
class RetrainSchedule:
    """How a retrain fine-tunes: the top `top_k` layers continuing from the active model's
    weights (on the frozen-layer cache), or, `from_base`, every layer from the base encoder."""

    from_base: bool = False
    epochs: int = 1
    lr: float = 3e-5
    top_k: int = 2


@dataclass(frozen=True)
class GateConfig:
    """The quality gate a retrain's candidate must pass before it may serve."""

    tolerance: float = 0.005  # 0.5 points below the active model is still acceptable
    floor_margin: float = 0.01  # the floor is the best full model's accuracy minus 1.0 point
    holdout_min: int = 10  # fewer held-out corrections than this: the check is skipped
    # The candidate may score at most this much below the active model on the held-out corrections.
    holdout_tolerance: float = 0.02
    # Share of approved corrections set aside (keyed with a secret) as evaluation data, and how many
    # of one source's count in the held-out check, at most (so no source dominates it).
    holdout_share: float = 0.2
    holdout_per_source: int = 5
    # Trigger check: the phrases most over-represented in the run's corrections against the replay
    # data (log-odds z-score at least trigger_min_z, in at least trigger_min_support corrections)
    # are inserted into trusted reviews of the other label; a candidate that flips more of them
    # than the active model by more than trigger_flip_max is rejected, by more than
    # trigger_flip_suspect it waits for a moderator.
    trigger_phrases: int = 5
    trigger_min_z: float = 3.0
    trigger_min_support: int = 3
    trigger_flip_max: float = 0.05
    trigger_flip_suspect: float = 0.02
    # Test reviews a retrain's candidate is measured on, and compared on with the active model (the
    # same fixed stratified sample every time; 0: the whole test split). docs/results.md shows
    # 2,000 deciding as all 5,000 do, at 40% of the cost.
    test_size: int = 2_000
    # Trusted test reviews per label the trigger and behaviour checks use.
    probe_size: int = 100
    # Behaviour suite (negation, names, punctuation, casing): the candidate may fall this far behind.
    behaviour_tolerance: float = 0.05
    # A behaviour drop or a trigger's extra flips beyond its threshold rejects the candidate only when
    # the paired exact McNemar test on the same items finds it at this level (1.0: the threshold alone).
    significance: float = 0.05
    # Auto-promotion waits for a moderator when one source (or network) gave more than this share of
    # the untrusted corrections used, or fewer than min_sources sources gave them.
    max_source_share: float = 0.5
    min_sources: int = 3


# Named recipes for `manage.py train --profile`. Figures measured on a 2-core CPU are in the README.
PROFILES: dict[str, TrainConfig] = {
    # The first transformer of a new installation, served averaged with the n-gram model fitted on
    # every training review (the instant first model, reused): up to 6,000 reviews, as many as
    # 6 minutes of training take on this machine, so it is active within 10 minutes of the start
    # on a slow CPU too (docs/results.md, The first model of a fresh installation).
    "quick": TrainConfig(
        phases=(Phase("all", 1, 8e-5),),
        max_length=128,
        train_limit=6_000,
        validation_limit=1_000,
        ngram_companion=True,
        fit_budget_s=360.0,
    ),
    # The best recipe measured here: every training review, head+tail 320 tokens, two epochs with
    # linear decay, bf16 autocast (61.8 min on 2 cores), served averaged with the n-gram companion:
    # test 0.9298 (validation 0.9370; the transformer alone 0.9200 on test). See the README.
    # On as many reviews as 90 minutes of training take: all of them where bf16 is native; fewer
    # on a CPU without it (AVX2 alone), so the recipe ends within 100 minutes there too.
    "full": TrainConfig(
        phases=(Phase("all", 2, 5e-5),),
        max_length=320,
        ngram_companion=True,
        fit_budget_s=90 * 60.0,
    ),
    # The original project's schedule: the head alone, then the top two layers unfrozen.
    "original": TrainConfig(
        phases=(Phase("head", 1, 1e-3), Phase("top_k", 2, 5e-5, top_k=2)),
        max_length=256,
        truncation="head",
    ),
}
