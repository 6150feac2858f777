import pytest
from django.core.management import call_command
from django.urls import reverse

from modeling import config as modeling_config
from modeling.config import Phase
from reviews import predictor
from reviews.models import ModelVersion, TrainingRun, WorkStatus
from tests.tiny import make_model, tiny_config, write_aclimdb


@pytest.fixture
def tiny_installation(settings, tmp_path, monkeypatch):
    """An installation whose 'quick' profile trains a tiny model on toy data in seconds."""
    base = make_model(tmp_path / "base", "bert")
    settings.SENTIMENT_BASE_MODEL = str(base)
    settings.SENTIMENT_DATA_SOURCE = f"aclimdb:{write_aclimdb(tmp_path / 'acl')}"
    settings.SENTIMENT_MODEL_STORE = tmp_path / "store"
    settings.SENTIMENT_CACHE_DIR = tmp_path / "cache"
    # As the real one: served averaged with the instant n-gram model.
    monkeypatch.setitem(modeling_config.PROFILES, "quick",
                        tiny_config(str(base), phases=(Phase("all", 3, 2e-3),), ngram_companion=True))
    settings.SENTIMENT_DATA_SPLIT = (18000, 60, 5000)
    predictor.reset()
    yield
    predictor.reset()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_first_run_queues_the_quick_model_and_the_worker_trains_and_activates_it(tiny_installation, client, monkeypatch,
                                                                                  settings):
    """ensure_model queues one first-run training; the home page shows it; the worker first fits
    the n-gram model, which answers (and is explained) while the transformer trains, then trains
    the transformer with it as companion, measures it on the gate's test sample, compares it
    there with the n-gram model and activates it."""
    settings.SENTIMENT_GATE_TEST_SIZE = 40  # of the toy test split's 100
    settings.SENTIMENT_EXPLAIN_COMPANION_SAMPLES = 400
    settings.SENTIMENT_EXPLAIN_NUM_SAMPLES_WITH_COMPANION = 50
    from reviews.services.explanations import explanation_request
    from reviews.worker import training
    from reviews.worker.explanations import compute_explanation

    call_command("ensure_model")
    call_command("ensure_model")
    run = TrainingRun.objects.get()
    assert run.trigger == TrainingRun.Trigger.FIRST_RUN and run.status == WorkStatus.PENDING
    page = client.get(reverse("home"))
    assert b"first model is being prepared" in page.content and b"Training run" in page.content
    assert b"No worker is running" in page.content

    meanwhile = {}

    def while_the_transformer_trains(stage, details):
        if stage != "instant":
            return
        instant = ModelVersion.objects.get()
        assert instant.kind == ModelVersion.Kind.NGRAM and instant.status == ModelVersion.Status.ACTIVE
        assert instant.test_accuracy is not None
        page = client.get(reverse("home"))
        meanwhile["page"] = page.content.decode()
        response = client.post(reverse("home"), {"text": "great superb film"}, follow=True)
        prediction = response.context["review"].latest_prediction
        meanwhile["prediction"] = (prediction.model_version_id, prediction.label)
        explanation, _ = explanation_request(prediction=prediction)
        meanwhile["explanation"] = compute_explanation(explanation)["result"]

    monkeypatch.setattr(training, "observers", [while_the_transformer_trains])
    call_command("runworker", "--once")
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE, run.error
    instant = ModelVersion.objects.get(kind=ModelVersion.Kind.NGRAM)
    assert meanwhile["prediction"] == (instant.id, "positive")
    assert "Answering with the n-gram model" in meanwhile["page"] and "first transformer is being trained" in meanwhile["page"]
    assert meanwhile["explanation"]["settings"]["backend"] == "ngram"
    assert meanwhile["explanation"]["num_samples"] == 400  # an n-gram model alone: it costs next to nothing
    assert {w["word"] for w in meanwhile["explanation"]["words"]} & {"great", "superb"}
    version = ModelVersion.objects.get(kind=ModelVersion.Kind.TRANSFORMER)
    assert run.model_version == version and version.status == ModelVersion.Status.ACTIVE
    assert run.decision == TrainingRun.Decision.PROMOTED and run.progress["kind"] == "done"
    assert [c["check"] for c in run.reasons if not c.get("skipped")] == ["test accuracy vs active"]
    assert run.metrics["active"]["id"] == instant.id
    assert version.metrics["test"]["n"] == 40 and "validation" not in version.metrics
    assert run.metrics["test_comparison"]["n"] == 40 and run.metrics["test_comparison"]["measured_now"] == []
    assert instant.metrics["test"]["n"] == 100  # the n-gram model, measured on all of it in no time
    instant.refresh_from_db()
    assert instant.status == ModelVersion.Status.RETIRED
    from modeling.ngram import NgramModel

    companion = NgramModel.load(version.path)  # the n-gram model, reused, its weight chosen again
    assert companion is not None and companion.info["train_rows"] == NgramModel.load(instant.path).info["train_rows"]
    predictor.reset()
    response = client.post(reverse("home"), {"text": "great superb film"}, follow=True)
    assert response.status_code == 200
    # Explained as it is served: the transformer on 50 perturbed texts, its companion's part on 400.
    explanation, _ = explanation_request(prediction=response.context["review"].latest_prediction)
    explained = compute_explanation(explanation)["result"]
    assert explained["settings"]["backend"] != "ngram" and explained["num_samples"] == 50
    assert (explained["companion_weight"], explained["companion_samples"]) == (companion.weight, 400)
    from reviews.worker.explanations import process_explanations

    process_explanations(worker_id="w")  # stored, the review's page says how it was explained
    page = client.get(reverse("review-detail", args=[explanation.prediction.review_id])).content.decode()
    assert "50 perturbed versions of the text" in page and "400 for its n-gram companion" in page
    assert b"first transformer is being trained" not in client.get(reverse("home")).content
    call_command("ensure_model")
    assert TrainingRun.objects.count() == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_first_transformer_worse_than_the_ngram_model_leaves_it_serving(tiny_installation, settings, monkeypatch, client):
    """The first transformer replaces the n-gram model only through the gate: one that scores
    below it on the test split is rejected, with the reason, and the n-gram model keeps answering."""
    base = settings.SENTIMENT_BASE_MODEL
    monkeypatch.setitem(modeling_config.PROFILES, "quick", tiny_config(base, phases=(Phase("all", 1, 1e-5),)))
    call_command("ensure_model")
    call_command("runworker", "--once")
    run = TrainingRun.objects.get()
    assert run.status == WorkStatus.DONE, run.error
    assert run.decision == TrainingRun.Decision.REJECTED
    (failed,) = [c for c in run.reasons if not c["passed"]]
    assert failed["check"] == "test accuracy vs active"
    transformer = ModelVersion.objects.get(kind=ModelVersion.Kind.TRANSFORMER)
    assert transformer.status == ModelVersion.Status.REJECTED
    active = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    assert active.kind == ModelVersion.Kind.NGRAM
    assert b"Answering with the n-gram model" in client.get(reverse("home")).content
    response = client.post(reverse("home"), {"text": "great superb film"}, follow=True)
    assert response.context["review"].latest_prediction.model_version_id == active.id


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_stopping_worker_hands_the_run_back_and_it_resumes(tiny_installation, settings, monkeypatch):
    """When the worker stops mid-training, the run goes back to pending with its checkpoint kept
    (not failed), and the next worker continues from that checkpoint: no step is done twice."""
    import threading

    from reviews.worker import queue, training

    steps, per_epoch = [], set()  # (phase, epoch, step) of every optimizer step in order; steps an epoch

    stop = threading.Event()

    def record(stage, details):
        if stage == "instant":
            stop.set()  # the n-gram model is active; the worker is shutting down: training stops at its next step
        if stage == "step":
            steps.append((details["phase"], details["epoch"], details["step"]))
            per_epoch.add(details["steps"])

    monkeypatch.setattr(training, "observers", [record])
    run = training.request_first_model()
    claimed = queue.claim_next(TrainingRun, worker_id="w1")
    assert training.run_training(claimed, worker_id="w1", stop=stop) is False
    run.refresh_from_db()
    assert run.status == WorkStatus.PENDING and "interrupted" in run.error and run.attempts == 0
    assert (settings.SENTIMENT_CACHE_DIR / "training" / f"run-{run.pk}" / "checkpoint.pt").exists()
    assert queue.lease_holder(training.TRAINING_LEASE) is None
    assert steps == [(1, 1, 1)]  # one step done and checkpointed before it stopped
    assert training.process_training_runs(worker_id="w2") == 1
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE
    assert ModelVersion.objects.get(kind=ModelVersion.Kind.TRANSFORMER).status == ModelVersion.Status.ACTIVE
    assert ModelVersion.objects.filter(kind=ModelVersion.Kind.NGRAM).count() == 1  # not fitted again
    assert steps[1] == (1, 1, 2)  # the second worker's first step follows the checkpoint's
    (steps_per_epoch,) = per_epoch
    assert len(set(steps)) == len(steps) == 3 * steps_per_epoch  # every step of the 3 epochs, none twice


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_exports_the_version_and_onnx_runtime_serves_it(tiny_installation, settings, client):
    """With the export on (the default outside the suite), the worker's version carries its ONNX
    files, sealed; with SENTIMENT_BACKEND=onnx the site answers through ONNX Runtime."""
    settings.SENTIMENT_ONNX_EXPORT = True
    settings.SENTIMENT_BACKEND = "onnx"
    settings.SENTIMENT_PRECISION = "int8"
    call_command("ensure_model")
    call_command("runworker", "--once")
    run = TrainingRun.objects.get()
    assert run.status == WorkStatus.DONE, run.error
    version = ModelVersion.objects.get(kind=ModelVersion.Kind.TRANSFORMER)
    from modeling import registry
    from reviews.conf import conf

    manifest = registry.verify(version.path, key=conf.signing_key())
    assert set(manifest["onnx"]["files"]) == {"fp32", "int8"}
    response = client.post(reverse("home"), {"text": "great superb film"})
    assert response.status_code == 302
    served = predictor.current_predictor()
    assert (served.version_id, served.backend, served.precision) == (version.id, "onnx", "int8")
