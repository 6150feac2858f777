"""A search over a training recipe with Optuna (`manage.py tune`).

Each trial trains the recipe of `--profile` with the parameters the sampler suggests (TPE) on the
same data and the same training budget as the profile (its `fit_budget_s`: as many reviews as that
many seconds of training take here), and scores it by validation accuracy as it would be served
(with its n-gram companion, whose regularisation and weight are chosen on validation inside each
trial, from models fitted once per study). After each epoch the trial reports its validation
accuracy (the transformer's) and a median pruner stops it when it is behind the trials before it
at that epoch. The test split is never looked at here.

The study lives in a database (Optuna's RDB storage: the project's own by default), so an
interrupted study resumes where it stopped and several processes can share it: trials record a
heartbeat, a trial whose process died is failed once its heartbeat is stale and tried again with
the same parameters, and the retry resumes from that trial's last checkpoint (its folder is named
by its parameters). The search space is SEARCH_SPACE, or a JSON file of the same shape.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

from datasets import DatasetDict

from modeling.config import Phase, TrainConfig
from modeling.pipeline import companion_candidates, served_validation_accuracy
from modeling.train import Progress, TrainingInterrupted, train

log = logging.getLogger(__name__)

# name: {"low", "high"[, "log"]} (ints when both bounds are ints) or {"choices": [...]}.
SEARCH_SPACE: dict[str, dict] = {
    "lr": {"low": 1e-5, "high": 2e-4, "log": True},
    "epochs": {"low": 1, "high": 3},
    "schedule": {"choices": ["all", "top_k"]},
    "top_k": {"low": 1, "high": 6},  # layers unfrozen when the schedule is top_k
    "max_length": {"choices": [128, 192, 256, 320, 384]},
    "truncation": {"choices": ["head", "head_tail"]},
    "head_fraction": {"low": 0.1, "high": 0.5},  # with head_tail
    "batch_size": {"choices": [8, 16, 32]},
    "warmup_ratio": {"low": 0.0, "high": 0.2},
    "weight_decay": {"low": 0.0, "high": 0.1},
}
# What each name sets when it is not in the space: the profile's own value.
CONFIG_FIELDS = ("max_length", "truncation", "head_fraction", "batch_size", "warmup_ratio", "weight_decay")


class TuningError(ValueError):
    pass


def load_space(path: str | Path | None) -> dict[str, dict]:
    """SEARCH_SPACE, or the one in a JSON file (checked: known names, well-formed ranges)."""
    if path is None:
        return dict(SEARCH_SPACE)
    try:
        space = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise TuningError(f"search space {path}: {exc}") from None
    if not isinstance(space, dict) or not space:
        raise TuningError(f"search space {path}: a JSON object of parameters is needed")
    for name, spec in space.items():
        if name not in SEARCH_SPACE:
            raise TuningError(f"search space {path}: unknown parameter {name!r} (known: {', '.join(SEARCH_SPACE)})")
        choices_ok = isinstance(spec, dict) and isinstance(spec.get("choices"), list) and spec["choices"]
        range_ok = (isinstance(spec, dict) and isinstance(spec.get("low"), (int, float))
                    and isinstance(spec.get("high"), (int, float)) and spec["low"] <= spec["high"])
        if not (choices_ok or range_ok):
            raise TuningError(f"search space {path}: {name} needs low <= high, or a non-empty list of choices")
    return space


def _suggest(trial, space: dict, name: str, default):
    spec = space.get(name)
    if spec is None:
        return default
    if "choices" in spec:
        return trial.suggest_categorical(name, spec["choices"])
    if isinstance(spec["low"], int) and isinstance(spec["high"], int):
        return trial.suggest_int(name, spec["low"], spec["high"], log=bool(spec.get("log")))
    return trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))


def suggest_config(trial, base: TrainConfig, space: dict) -> TrainConfig:
    """The recipe a trial trains: `base` with the suggested values (one phase of `schedule`)."""
    last = base.phases[-1]
    schedule = _suggest(trial, space, "schedule", last.trainable if last.trainable != "head" else "all")
    top_k = _suggest(trial, space, "top_k", last.top_k) if schedule == "top_k" else last.top_k
    phase = Phase(schedule, _suggest(trial, space, "epochs", last.epochs), _suggest(trial, space, "lr", last.lr), top_k)
    values = {}
    for name in CONFIG_FIELDS:
        if name == "head_fraction" and values.get("truncation", base.truncation) != "head_tail":
            continue
        values[name] = _suggest(trial, space, name, getattr(base, name))
    return replace(base, phases=(phase,), **values)


def recipe_config(base: TrainConfig, params: dict) -> TrainConfig:
    """The recipe a trial with these parameters (a study's best_params) trains from `base`."""
    import optuna

    unknown = sorted(set(params) - set(SEARCH_SPACE))
    if unknown:
        raise TuningError(f"unknown parameter {unknown[0]!r} (known: {', '.join(SEARCH_SPACE)})")
    return suggest_config(optuna.trial.FixedTrial(params), base, {name: {"choices": [v]} for name, v in params.items()})


def trial_folder(root: Path, params: dict) -> Path:
    """A trial's folder, named by its parameters: a retried trial finds its predecessor's checkpoint."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return root / f"trial-{digest}"


@dataclass
class Study:
    """A study being run: where its trials work, and what they train on."""

    study: object  # optuna.Study
    base: TrainConfig
    space: dict
    data: DatasetDict
    root: Path
    device: str = "auto"
    show_progress: bool = False
    progress: Progress | None = None  # each training event, with the trial's number
    # The companion's candidate n-gram models, fitted on the first trial that needs them.
    fitted: list | None = field(default=None, init=False, repr=False)

    def objective(self, trial) -> float:
        import optuna

        config = suggest_config(trial, self.base, self.space)
        folder = trial_folder(self.root, trial.params)
        trial.set_user_attr("work_dir", str(folder))
        started = time.monotonic()

        def report(event: dict) -> None:
            if self.progress is not None:
                self.progress({**event, "trial": trial.number})
            if event.get("kind") == "epoch":
                step = 100 * (event["phase"] - 1) + event["epoch"] - 1
                trial.report(event["validation_accuracy"], step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"validation {event['validation_accuracy']:.4f} at epoch {event['epoch']}")

        try:
            model_dir = train(config, self.data, work_dir=folder, resume=True, device=self.device, progress=report,
                              show_progress=self.show_progress)
            value = served_validation_accuracy(config, self.data, model_dir, candidates=self._candidates(),
                                               show_progress=self.show_progress)
        except optuna.TrialPruned:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        except (TrainingInterrupted, KeyboardInterrupt):
            # Stopped from outside (a worker stopping, Ctrl-C): the same parameters go first when
            # the study resumes, and continue from the folder's checkpoint.
            self.study.enqueue_trial(trial.params)
            raise
        trial.set_user_attr("train_seconds", round(time.monotonic() - started, 1))
        trial.set_user_attr("config", config.to_dict())
        log.info("trial %d: validation %.4f served (%s)", trial.number, value, trial.params)
        return value

    def _candidates(self):
        if self.base.ngram_companion and self.fitted is None:
            self.fitted = companion_candidates(self.data)
        return self.fitted

    def keep_the_best(self, study, frozen) -> None:
        """After each trial: keep the folder of the best trial so far, delete the other completed trials' folders."""
        import optuna

        if frozen.state != optuna.trial.TrialState.COMPLETE:
            return
        keep = study.best_trial.user_attrs.get("work_dir")
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            folder = trial.user_attrs.get("work_dir")
            if folder and folder != keep:  # (two trials of the same parameters share a folder)
                shutil.rmtree(folder, ignore_errors=True)


def summary(study, *, seconds: float | None = None) -> dict:
    """What a tuned version's manifest records of its study: trials by state, the best trial,
    every trial's value (the history), and the parameters' importances (Optuna's default
    evaluator, PED-ANOVA in Optuna 5) when at least two trials completed."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    states = {}
    for t in trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    importances = None
    if len(complete) >= 2:
        try:
            importances = {k: round(float(v), 4) for k, v in optuna.importance.get_param_importances(study).items()}
        except (RuntimeError, ValueError) as exc:  # e.g. every trial had the same parameters
            log.info("parameter importances not computed: %s", exc)
    best = study.best_trial if complete else None
    return {
        "study": study.study_name,
        "trials": states,
        "best_trial": best.number if best else None,
        "best_validation": best.value if best else None,
        "best_params": best.params if best else None,
        "history": [{"trial": t.number, "state": t.state.name.lower(), "value": t.value,
                     "seconds": t.user_attrs.get("train_seconds")} for t in trials],
        "importances": importances,
        "seconds": round(seconds, 1) if seconds is not None else None,
    }


def write_pictures(study, folder: str | Path) -> list[Path]:
    """The optimisation history and the parameter importances as SVG files (Optuna's matplotlib
    plots): what docs/ shows for a study. Importances need two completed trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as plots

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    drawings = [("history.svg", plots.plot_optimization_history)]
    if len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))) >= 2:
        drawings.append(("importances.svg", plots.plot_param_importances))
    for name, draw in drawings:
        with warnings.catch_warnings():  # the matplotlib plots are marked experimental (Optuna 5.1)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            axes = draw(study)
        axes.figure.set_size_inches(7, 4)
        axes.figure.tight_layout()
        axes.figure.savefig(folder / name, format="svg")
        plt.close(axes.figure)
        written.append(folder / name)
    return written
