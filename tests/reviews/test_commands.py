import pytest
from django.core.management import CommandError, call_command


def test_dataset_stats_prints_rows_and_lengths(tmp_path, capsys):
    """dataset_stats prints per-split rows, label balance, HTML rows and length figures."""
    path = tmp_path / "r.csv"
    path.write_text('text,label\n"Good<br />film",1\n"Bad film indeed",0\n')
    call_command("dataset_stats", "--data", f"csv:{path}", "--no-tokens")
    out = capsys.readouterr().out
    assert "test" in out and "      2         1         1          1" in out
    assert "words" in out and "chars" in out


def test_dataset_stats_reports_bad_source_as_command_error():
    """An unknown source is a CommandError with the reason, not a traceback."""
    with pytest.raises(CommandError, match="unknown data source"):
        call_command("dataset_stats", "--data", "nope", "--no-tokens")


@pytest.mark.django_db
def test_ensure_superuser_creates_then_updates(monkeypatch):
    """ensure_superuser creates a staff superuser from the environment and is idempotent."""
    from django.contrib.auth import get_user_model

    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "pw-123-long")
    call_command("ensure_superuser")
    call_command("ensure_superuser")
    user = get_user_model().objects.get(username="boss")
    assert user.is_staff and user.is_superuser and user.check_password("pw-123-long")


@pytest.mark.django_db
def test_evaluate_prints_one_metric_per_line_then_the_confusion_matrix(active_model, tmp_path, capsys):
    """evaluate (active version, a CSV evaluation set) prints `name value` lines and the matrix."""
    path = tmp_path / "eval.csv"
    path.write_text("text,label\ngreat superb film,1\nawful boring mess,0\nloved it,positive\nworst waste,negative\n")
    call_command("evaluate", "--data", f"csv:{path}")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"version {active_model.id} on csv:")
    names = [line.split()[0] for line in lines[1:7]]
    assert names == ["n", "accuracy", "precision", "recall", "f1", "roc_auc"]
    assert float(lines[2].split()[1]) >= 0.0 and "confusion matrix (rows: true, columns: predicted)" in lines


@pytest.mark.django_db
def test_evaluate_without_a_model_is_a_clear_error(db):
    """Before any model exists evaluate says how to train one."""
    with pytest.raises(CommandError, match="manage.py train"):
        call_command("evaluate")


@pytest.mark.slow
@pytest.mark.django_db
def test_train_command_trains_registers_and_prints_metrics(settings, tmp_path, monkeypatch, capsys):
    """train --profile quick (a tiny recipe here) trains, registers the first version as active,
    and prints its metrics."""
    from modeling import config as modeling_config
    from modeling.config import Phase
    from reviews.models import ModelVersion
    from tests.reviews.conftest import tiny_installation
    from tests.tiny import tiny_config

    base = tiny_installation(settings, tmp_path)
    monkeypatch.setitem(modeling_config.PROFILES, "quick", tiny_config(str(base), phases=(Phase("all", 3, 2e-3),)))
    call_command("train", "--profile", "quick", "--quiet", "--epochs", "2", "--fit-budget", "10")
    out = capsys.readouterr().out
    version = ModelVersion.objects.get()
    assert version.status == ModelVersion.Status.ACTIVE and f"registered {version.id} as active" in out
    assert "-- test" in out and "accuracy " in out and version.train_config["phases"][0]["epochs"] == 2
    assert version.train_config["fit_budget_s"] == 600.0


def test_installation_data_keeps_the_rotten_tomatoes_split(settings):
    """SENTIMENT_DATA_SPLIT sizes the IMDb splits; packaged-rt keeps its fixed 2,000-sentence test part."""
    from reviews.data import load

    settings.SENTIMENT_DATA_SPLIT = (1000, 200, 300)
    assert len(load("packaged-rt")["test"]) == 2000
    assert {k: len(v) for k, v in load("packaged").items()} == {"train": 1000, "validation": 200, "test": 300}


@pytest.mark.slow
@pytest.mark.django_db
def test_evaluate_cross_validates_a_recipe_and_resumes(settings, tmp_path, monkeypatch, capsys):
    """evaluate --cv 3: three folds of the training split, each held out once, scored as served;
    mean and 95% interval per figure. Run again: the finished folds are read back, not trained."""
    from modeling import config as modeling_config
    from modeling import crossval
    from modeling.config import Phase
    from tests.reviews.conftest import tiny_installation
    from tests.tiny import tiny_config

    base = tiny_installation(settings, tmp_path)
    monkeypatch.setitem(modeling_config.PROFILES, "quick",
                        tiny_config(str(base), phases=(Phase("all", 2, 2e-3),), ngram_companion=True))
    call_command("evaluate", "--cv", "3", "--quiet")
    out = capsys.readouterr().out
    folds = [line for line in out.splitlines() if line.startswith("fold ")]
    assert len(folds) == 3 and "3-fold cross-validation of profile quick" in out
    held = sum(int(line.split("(")[1].split()[0]) for line in folds)
    accuracy = next(line for line in out.splitlines() if line.startswith("accuracy "))
    low, high = float(accuracy.split("interval ")[1].split()[0]), float(accuracy.split(" to ")[1].rstrip(";").split(";")[0])
    assert low <= float(accuracy.split()[1]) <= high and held == 240  # every training review held out once

    monkeypatch.setattr(crossval, "train", lambda *a, **k: pytest.fail("a finished fold was trained again"))
    call_command("evaluate", "--cv", "3", "--quiet")
    assert sum(line.startswith("fold ") for line in capsys.readouterr().out.splitlines()) == 3
    with pytest.raises(CommandError, match="at least 2 folds"):
        call_command("evaluate", "--cv", "1")
