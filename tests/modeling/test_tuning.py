"""modeling/tuning.py: the recipe a trial trains, the search space file, and pruning inside the
training loop (an in-memory study, no database)."""

import json

import optuna
import pytest

from modeling.config import Phase
from modeling.tuning import SEARCH_SPACE, Study, TuningError, load_space, suggest_config, trial_folder
from tests.tiny import make_model, tiny_config, toy_data


def test_a_trial_trains_the_profile_with_the_suggested_values():
    """Suggested values replace the profile's; what the space leaves out stays the profile's; a
    top_k schedule gets its layer count, head_fraction only comes with head_tail."""
    base = tiny_config("base", phases=(Phase("all", 2, 1e-3),), max_length=32, weight_decay=0.03)
    fixed = optuna.trial.FixedTrial({"lr": 1.5e-4, "epochs": 3, "schedule": "top_k", "top_k": 1, "truncation": "head"})
    space = {name: SEARCH_SPACE[name] for name in ("lr", "epochs", "schedule", "top_k", "truncation", "head_fraction")}
    config = suggest_config(fixed, base, space)
    assert config.phases == (Phase("top_k", 3, 1.5e-4, 1),)
    assert (config.truncation, config.head_fraction, config.max_length, config.weight_decay) == ("head", 0.25, 32, 0.03)


def test_trial_folders_are_named_by_parameters(tmp_path):
    assert trial_folder(tmp_path, {"lr": 1e-3, "epochs": 2}) == trial_folder(tmp_path, {"epochs": 2, "lr": 1e-3})
    assert trial_folder(tmp_path, {"lr": 1e-3}) != trial_folder(tmp_path, {"lr": 2e-3})


def test_the_search_space_file_is_checked(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"lr": {"low": 1e-4, "high": 1e-3, "log": True}, "batch_size": {"choices": [8]}}))
    assert set(load_space(path)) == {"lr", "batch_size"}
    assert load_space(None) == SEARCH_SPACE
    for bad, message in (("[1, 2]", "JSON object"), ('{"lr": {"choices": []}}', "lr needs"), ("{", "search space")):
        path.write_text(bad)
        with pytest.raises(TuningError, match=message):
            load_space(path)


@pytest.mark.slow
def test_a_trial_behind_the_others_is_pruned_at_an_epoch_and_its_folder_removed(tmp_path):
    """The pruner is asked after each epoch's validation: one that prunes everything stops the
    trial at its first epoch, and the folder (its checkpoints) goes."""
    base = tiny_config(str(make_model(tmp_path / "base")), phases=(Phase("all", 3, 2e-3),))
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.1))
    epochs = []
    runner = Study(study, base, {"lr": {"low": 1e-3, "high": 3e-3}}, toy_data(), tmp_path / "trials",
                   show_progress=False, progress=lambda e: epochs.append(e) if e["kind"] == "epoch" else None)
    study.optimize(runner.objective, n_trials=1)
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.PRUNED and len(epochs) == 1
    assert trial.intermediate_values == {0: epochs[0]["validation_accuracy"]}
    assert not trial_folder(tmp_path / "trials", trial.params).exists()


@pytest.mark.slow
def test_a_trial_stopped_with_ctrl_c_goes_first_when_the_study_resumes(tmp_path):
    """Ctrl-C during a trial's training: the study stops, and its parameters wait at the head of
    the study, so the next run continues that trial from its folder's checkpoint."""
    base = tiny_config(str(make_model(tmp_path / "base")), phases=(Phase("all", 2, 2e-3),))
    study = optuna.create_study(direction="maximize")

    def interrupt(event):
        if event["kind"] == "epoch":
            raise KeyboardInterrupt

    runner = Study(study, base, {"lr": {"low": 1e-3, "high": 3e-3}}, toy_data(), tmp_path / "trials",
                   show_progress=False, progress=interrupt)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(runner.objective, n_trials=1)
    stopped = study.trials[0]
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [stopped.params]  # what it will suggest
    assert trial_folder(tmp_path / "trials", stopped.params).exists()
