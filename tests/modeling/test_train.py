import numpy as np
import pytest
import torch

from modeling.config import Phase
from modeling.encoders import load_classifier, load_tokenizer, parameter_groups, transformer_layers
from modeling.serving import Predictor
from modeling.sampling import length_batches
from modeling.train import TrainingInterrupted, train, training_summary
from tests.tiny import tiny_config

pytestmark = pytest.mark.slow


def accuracy(model_dir, data, config):
    predictor = Predictor(model_dir, verify=False, inference={"max_length": config.max_length})
    proba = predictor.predict_proba(list(data["text"]))
    return float((proba.argmax(1) == np.asarray(data["label"])).mean())


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("kind", ["tiny_bert", "tiny_distilbert"])
def test_training_learns_a_separable_fixture(kind, request, toy, tmp_path):
    """A tiny BERT / DistilBERT goes from chance to at least 95% held-out accuracy."""
    base = request.getfixturevalue(kind)
    config = tiny_config(str(base))
    before = tmp_path / "before"
    torch.manual_seed(config.seed)
    load_classifier(str(base)).save_pretrained(before)
    load_tokenizer(str(base)).save_pretrained(before)
    assert accuracy(before, toy["test"], config) <= 0.65
    model_dir = train(config, toy, work_dir=tmp_path / "run", show_progress=False)
    assert accuracy(model_dir, toy["test"], config) >= 0.95


def test_layers_are_found_the_same_way_for_bert_and_distilbert(tiny_bert, tiny_distilbert):
    """One mechanism finds both models' transformer blocks and groups every parameter."""
    for base in (tiny_bert, tiny_distilbert):
        model = load_classifier(str(base))
        assert len(transformer_layers(model)) == 2
        groups = parameter_groups(model)
        assert set(groups) == {"embeddings", "layer.0", "layer.1", "head"}
        assert sum(len(v) for v in groups.values()) == len(list(model.parameters()))


def test_head_phase_leaves_the_encoder_bit_identical(tiny_bert, toy, tmp_path):
    """Training the head alone changes the head and no encoder parameter."""
    config = tiny_config(str(tiny_bert), phases=(Phase("head", 2, 1e-2),))
    torch.manual_seed(config.seed)
    before = snapshot(load_classifier(str(tiny_bert)))
    after = snapshot(load_classifier(str(train(config, toy, work_dir=tmp_path, show_progress=False))))
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith(("classifier", "bert.pooler")) for name in changed)


def test_top_k_phase_changes_only_the_top_layers_and_head(tiny_bert, toy, tmp_path):
    """With top_k=1 the last layer and head change; embeddings and the first layer do not."""
    config = tiny_config(str(tiny_bert), phases=(Phase("top_k", 2, 1e-2, top_k=1),))
    torch.manual_seed(config.seed)
    before = snapshot(load_classifier(str(tiny_bert)))
    after = snapshot(load_classifier(str(train(config, toy, work_dir=tmp_path, show_progress=False))))
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert any(name.startswith("bert.encoder.layer.1.") for name in changed)
    assert not any(name.startswith(("bert.embeddings", "bert.encoder.layer.0.")) for name in changed)


def test_resume_after_interruption_matches_an_uninterrupted_run(tiny_bert, toy, tmp_path):
    """Stopping mid-epoch and resuming from the checkpoint ends with identical weights."""
    phases = (Phase("head", 1, 1e-2), Phase("all", 2, 2e-3))
    config = tiny_config(str(tiny_bert), phases=phases, checkpoint_every_s=0.0)
    straight = snapshot(load_classifier(str(train(config, toy, work_dir=tmp_path / "a", show_progress=False))))

    def stop_in_second_phase(event):
        if event["kind"] == "step" and event["phase"] == 2 and event["epoch"] == 2 and event["step"] == 5:
            raise TrainingInterrupted("simulated kill")

    with pytest.raises(TrainingInterrupted):
        train(config, toy, work_dir=tmp_path / "b", progress=stop_in_second_phase, show_progress=False)
    resumed = snapshot(load_classifier(str(train(config, toy, work_dir=tmp_path / "b", resume=True, show_progress=False))))
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)


def test_resume_refuses_a_checkpoint_of_another_config(tiny_bert, toy, tmp_path):
    """A checkpoint written by another configuration is not silently reused."""
    train(tiny_config(str(tiny_bert), phases=(Phase("head", 1, 1e-2),)), toy, work_dir=tmp_path, show_progress=False)
    with pytest.raises(ValueError, match="different training configuration"):
        train(tiny_config(str(tiny_bert), phases=(Phase("head", 1, 5e-3),)), toy, work_dir=tmp_path, resume=True,
              show_progress=False)


def test_time_budget_stops_training_and_keeps_a_model(tiny_bert, toy, tmp_path):
    """A tiny budget ends training long before its 50 epochs and still writes the best model."""
    # Patience as long as the phase: only the budget can end it early.
    config = tiny_config(str(tiny_bert), phases=(Phase("all", 50, 1e-3),), budget_s=0.5, patience=50)
    model_dir = train(config, toy, work_dir=tmp_path, show_progress=False)
    history = training_summary(model_dir)["history"]
    assert len(history) < 50 and history[-1]["elapsed_s"] >= config.budget_s
    assert (model_dir / "config.json").exists()


def test_length_batches_cover_every_row_once_and_are_seeded():
    """Length-bucketed batches hold every row exactly once, in a seed-determined order."""
    lengths = [5, 50, 7, 300, 9, 11, 2, 80] * 10
    batches = length_batches(lengths, 4, seed=1)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert length_batches(lengths, 4, seed=1) == batches != length_batches(lengths, 4, seed=2)


def test_rows_within_a_budget_are_bounded_by_what_there_is_and_the_minimum():
    from modeling.train import _rows_within_budget

    config = tiny_config("unused", phases=(Phase("all", 2, 1e-3),), fit_budget_s=100.0, fit_min_rows=50)
    assert _rows_within_budget(config, 3.0, 6000) == 150  # 3 rows/s for 100 s, two epochs
    assert _rows_within_budget(config, 1000.0, 6000) == 6000  # a fast machine: all there are
    assert _rows_within_budget(config, 0.1, 6000) == 50  # a very slow one: the minimum
    assert _rows_within_budget(config, 0.1, 30) == 30  # ... unless there are fewer
    assert _rows_within_budget(config, float("inf"), 6000) == 6000  # too few rows to time: all


def test_the_fit_budget_probe_predicts_an_epochs_speed_with_its_length_batches(tiny_bert, monkeypatch):
    """Reviews of very different lengths: an epoch pads each batch only to its own longest row
    (length_batches), so the probe, timing a few random batches, must convert what it timed to
    the padding an epoch has. On a clock that advances with the padded tokens a pass computes,
    its rows a second are those of an epoch (it once reported those of its random batches:
    2-5x too few on such data, and a budgeted run trained on too few rows)."""
    from datasets import Dataset

    from modeling import train as training_module
    from modeling.encoders import load_classifier, load_tokenizer
    from modeling.train import _rows_per_second, _tokenized

    texts = [("great " if i % 2 else "awful ") * (2 if i % 4 < 2 else 60) for i in range(256)]
    split = Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(256)]})
    config = tiny_config(str(tiny_bert), batch_size=8, max_length=64)
    tokenizer, model = load_tokenizer(str(tiny_bert)), load_classifier(str(tiny_bert))
    clock = {"now": 0.0}
    forward = model.forward

    def counted(*args, **kwargs):
        clock["now"] += kwargs["input_ids"].numel() * 1e-6  # one microsecond per padded token
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", counted)
    monkeypatch.setattr(training_module.time, "perf_counter", lambda: clock["now"])
    rows = list(range(len(texts)))
    lengths = [len(s) for s in _tokenized(config, tokenizer, split, rows)[0]]
    batches = length_batches(lengths, config.batch_size, config.seed * 1000)
    epoch_rows_per_s = len(rows) / (sum(len(b) * max(lengths[i] for i in b) for b in batches) * 1e-6)
    measured = _rows_per_second(config, model, tokenizer, split, rows, torch.device("cpu"), "fp32")
    assert measured == pytest.approx(epoch_rows_per_s, rel=0.02)


def test_fit_budget_trains_on_the_rows_the_measured_speed_allows_and_a_resume_keeps_them(tiny_bert, toy, tmp_path,
                                                                                         monkeypatch):
    """With fit_budget_s, the rows come from the measured training speed (measured once: a resumed
    run keeps them), and measuring changes nothing: the result is the run with that train_limit."""
    from modeling import train as training_module

    measured = []

    def probe(*args, **kwargs):
        measured.append(real_probe(*args, **kwargs))  # really measured, then fixed for the arithmetic
        return 40.0

    real_probe = training_module._rows_per_second
    monkeypatch.setattr(training_module, "_rows_per_second", probe)
    phases = (Phase("all", 2, 2e-3),)
    fitted = tiny_config(str(tiny_bert), phases=phases, fit_budget_s=2.0, fit_min_rows=10, checkpoint_every_s=0.0)
    limited = tiny_config(str(tiny_bert), phases=phases, train_limit=40, checkpoint_every_s=0.0)
    straight = snapshot(load_classifier(str(train(limited, toy, work_dir=tmp_path / "a", show_progress=False))))

    def stop(event):
        if event["kind"] == "step" and event["epoch"] == 2 and event["step"] == 1:
            raise TrainingInterrupted("simulated kill")

    with pytest.raises(TrainingInterrupted):
        train(fitted, toy, work_dir=tmp_path / "b", progress=stop, show_progress=False)
    model_dir = train(fitted, toy, work_dir=tmp_path / "b", resume=True, show_progress=False)
    assert len(measured) == 1 and measured[0] > 0  # not measured again on resume
    summary = training_summary(model_dir)
    assert summary["train_rows"] == 40 and summary["fitted"] == {"budget_s": 2.0, "rows_per_s": 40.0}
    resumed = snapshot(load_classifier(str(model_dir)))
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)
