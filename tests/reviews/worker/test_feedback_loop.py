import pytest
from django.db import OperationalError

from modeling import registry
from reviews import predictor
from reviews.worker import queue, training
from reviews.models import Feedback, ModelVersion, TrainingRun, WorkStatus
from reviews.worker.training import maybe_schedule_retrain
from reviews.services.reviews import review_submit
from reviews.services.training import training_run_request
from tests.reviews.conftest import approved_corrections, at_once
from reviews.conf import conf

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_flag_approve_retrain_promote_and_serve_the_new_version(loop, staff, monkeypatch):
    """Approved corrections are trained on, the candidate passes the gate and is promoted, exactly
    the approved corrections not held out are marked used by the run, and the next prediction
    names the new version, no restart."""
    from reviews.services import feedback as feedback_services

    from modeling.cleaning import text_fingerprint

    held = {text_fingerprint(f"the movie was great great wonderful number {i}") for i in (1, 3, 5)}
    monkeypatch.setattr(feedback_services, "is_holdout", lambda text_hash, share, *, key: text_hash in held)
    flags = approved_corrections(staff, 6)
    trainable = sorted(f.pk for f in flags if not f.is_holdout)
    held_out = sorted(f.pk for f in flags if f.is_holdout)
    assert len(trainable) == len(held_out) == 3
    assert review_submit(text="great", session_key="s").model_version_id == loop.id
    run, created = training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=staff)
    assert created and training.process_training_runs(worker_id="w") == 1
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE and run.decision == TrainingRun.Decision.PROMOTED, (run.error, run.reasons)
    new = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    assert new.id != loop.id and run.model_version_id == new.id and new.profile == "retrain"
    assert sorted(run.correction_ids) == trainable
    assert sorted(Feedback.objects.filter(training_run=run).values_list("pk", flat=True)) == trainable
    assert not Feedback.objects.filter(pk__in=held_out, training_run__isnull=False).exists()
    assert run.counts["replay"] == 120 and run.counts["corrections_used"] == 3 and run.counts["holdout"] == 3
    checks = {c["check"] for c in run.reasons}
    assert {"test accuracy vs active", "test accuracy floor", "held-out corrections"} <= checks
    assert {"behaviour: negation", "behaviour: casing"} <= checks
    assert run.metrics["active"]["id"] == loop.id
    predictor.holder.wait_for_loading(5)
    import time

    time.sleep(predictor.ACTIVE_CHECK_SECONDS + 0.1)
    review_submit(text="great", session_key="s")
    predictor.holder.wait_for_loading(20)
    assert review_submit(text="great", session_key="s").model_version_id == new.id


def test_rejected_candidate_is_kept_with_reasons_and_corrections_stay_unused(loop, staff, settings):
    """A candidate failing the gate is stored as rejected with the reasons and both metrics;
    the active model and the corrections are untouched."""
    approved_corrections(staff, 3)
    settings.SENTIMENT_GATE_TOLERANCE = -0.5  # demands 50 points better than the active model
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
    training.process_training_runs(worker_id="w")
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE and run.decision == TrainingRun.Decision.REJECTED
    failed = [c for c in run.reasons if not c["passed"]]
    assert [c["check"] for c in failed] == ["test accuracy vs active"]
    candidate = ModelVersion.objects.get(pk=run.model_version_id)
    assert candidate.status == ModelVersion.Status.REJECTED and "FAILED" in candidate.status_reason
    assert run.metrics["candidate"]["test"]["accuracy"] is not None and run.metrics["active"]["test"]["accuracy"]
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).id == loop.id
    assert not Feedback.objects.filter(training_run__isnull=False).exists()


def test_promotion_can_wait_for_a_staff_click(loop, staff, settings):
    """With automatic promotion off, a passing candidate waits; promoting it activates it."""
    from reviews.services.training import training_run_promote

    settings.SENTIMENT_RETRAIN_AUTO_PROMOTE = False
    approved_corrections(staff, 3)
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
    training.process_training_runs(worker_id="w")
    run.refresh_from_db()
    assert run.decision == TrainingRun.Decision.AWAITING
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).id == loop.id
    training_run_promote(run=run, user=staff)
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).id == run.model_version_id
    assert Feedback.objects.filter(training_run=run).count() == len(run.correction_ids)


def test_two_triggers_at_once_make_exactly_one_run(loop):
    """Several triggers at the same moment create a single open training run."""
    kinds = [TrainingRun.Trigger.MANUAL, TrainingRun.Trigger.SCHEDULE] * 2
    runs = at_once(lambda kind: training_run_request(trigger=kind)[0].pk, [(k,) for k in kinds])
    assert len(set(runs)) == 1
    assert TrainingRun.objects.filter(status__in=[WorkStatus.PENDING, WorkStatus.RUNNING]).count() == 1


def test_lost_database_connection_fails_the_run_and_the_next_schedule_retries(loop, staff, monkeypatch):
    """A database error during training ends the run failed with the reason; the corrections
    stay unused and the next scheduled check queues a new run."""
    approved_corrections(staff, 4)
    real = training.build_version

    def losing_connection(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(training, "build_version", losing_connection)
    run = maybe_schedule_retrain()
    assert run is not None and run.trigger == TrainingRun.Trigger.SCHEDULE
    training.process_training_runs(worker_id="w")
    run.refresh_from_db()
    assert run.status == WorkStatus.FAILED and "server closed the connection" in run.error
    assert not Feedback.objects.filter(training_run__isnull=False).exists()
    monkeypatch.setattr(training, "build_version", real)
    again = maybe_schedule_retrain()
    assert again is not None and again.pk != run.pk
    training.process_training_runs(worker_id="w")
    again.refresh_from_db()
    assert again.status == WorkStatus.DONE, again.error


def test_a_mismatched_test_split_fails_the_run_with_that_reason(loop, settings, tmp_path):
    """If the data's test split is not the one the active model was measured on, the run fails."""
    ModelVersion.objects.filter(pk=loop.pk).update(data={**loop.data, "splits": {"test": {"sha256": "0" * 64}}})
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
    training.process_training_runs(worker_id="w")
    run.refresh_from_db()
    assert run.status == WorkStatus.FAILED and "differs from the one the active model was measured on" in run.error
    assert registry.list_versions(settings.SENTIMENT_MODEL_STORE)[-1].id == loop.id
    assert queue.lease_holder(training.TRAINING_LEASE) is None


def test_a_second_retrain_reuses_the_frozen_layer_cache(loop, staff, settings):
    """With the bottom layer frozen, the replay sample's states are computed by the first run
    and read by the next: the second run computes only rows it has not seen."""
    import json

    settings.SENTIMENT_RETRAIN_TOP_K = 1
    approved_corrections(staff, 4)
    costs = []
    for _ in range(2):
        run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
        training.process_training_runs(worker_id="w")
        run.refresh_from_db()
        assert run.status == WorkStatus.DONE, run.error
        manifest = json.loads((ModelVersion.objects.get(pk=run.model_version_id).path / "manifest.json").read_text())
        costs.append(manifest["training"]["frozen_cache"])
    assert costs[0]["misses"] > 0
    assert costs[1]["hits"] >= settings.SENTIMENT_RETRAIN_REPLAY_SIZE and costs[1]["misses"] == 0


@pytest.mark.parametrize("loop", [{"ngram_companion": True}], indirect=True)
def test_a_retrain_refits_the_active_versions_ngram_companion_on_the_corrections(loop, staff):
    """An active version served with an n-gram companion: the candidate keeps the parent's
    regularisation, refits the companion on the whole training split plus the corrections used,
    chooses its weight again, and is served (and gated) as transformer + companion."""
    import json

    from modeling.ngram import NgramModel

    parent = NgramModel.load(loop.path)
    assert parent is not None
    approved_corrections(staff, 6)
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=staff)
    assert training.process_training_runs(worker_id="w") == 1
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE, run.error
    candidate = ModelVersion.objects.get(pk=run.model_version_id)
    companion = NgramModel.load(candidate.path)
    assert companion is not None and companion.config == parent.config
    manifest = json.loads((candidate.path / "manifest.json").read_text())
    train_rows = loop.data["splits"]["train"]["rows"]
    assert run.counts["feedback_rows"] > 0
    assert manifest["ngram"]["train_rows"] == train_rows + run.counts["feedback_rows"]
    assert 0.0 <= manifest["ngram"]["weight"] <= 1.0
    assert set(manifest["metrics"]["test"]["parts"]) == {"transformer", "ngram", "ngram_weight"}
    registry.verify(candidate.path, key=conf.signing_key())  # the companion's files are checksummed with the weights


def test_a_retrain_from_base_trains_every_layer_from_the_base_encoder(loop, staff, settings, tmp_path):
    """With SENTIMENT_RETRAIN_FROM=base the candidate fine-tunes every layer of the installation's
    base encoder, not the active version's weights."""
    import json

    from tests.tiny import make_model

    base = make_model(tmp_path / "another-base", "bert", seed=3)
    settings.SENTIMENT_BASE_MODEL = str(base)
    settings.SENTIMENT_RETRAIN_FROM = "base"
    approved_corrections(staff, 3)
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL)
    training.process_training_runs(worker_id="w")
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE, run.error
    manifest = json.loads((ModelVersion.objects.get(pk=run.model_version_id).path / "manifest.json").read_text())
    assert [phase["trainable"] for phase in manifest["train_config"]["phases"]] == ["all"]
    assert manifest["init_from"] is None and manifest["training"]["init_from"] is None
    assert manifest["base_model"] == manifest["train_config"]["base_model"] == str(base) != loop.base_model
    assert manifest["parent"] == loop.id


def test_a_retrain_while_the_ngram_model_is_active_refits_it_on_the_corrections(loop, staff, settings):
    """While an installation's instant n-gram model is active (its first transformer rejected or
    not trained yet), a retrain refits the n-gram model on every training review plus the
    corrections, with its parent's settings, and gates it like any candidate."""
    from modeling.ngram import NgramModel
    from modeling.pipeline import DataOrigin, build_ngram_version
    from reviews.data import load
    from reviews.services.model_versions import model_version_activate, model_version_register

    data = load()
    built = build_ngram_version(data, DataOrigin(conf.data.source, conf.data.seed), store=conf.site.model_store,
                                key=conf.signing_key(), work_dir=conf.site.cache_dir / "ngram-test")
    instant = model_version_activate(version=model_version_register(version_id=built.id, profile="ngram"))
    assert instant.kind == ModelVersion.Kind.NGRAM
    approved_corrections(staff, 6)
    settings.SENTIMENT_GATE_TOLERANCE = 0.05  # the toy corrections cost the toy test split a review
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=staff)
    assert training.process_training_runs(worker_id="w") == 1
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE and run.decision == TrainingRun.Decision.PROMOTED, (run.error, run.reasons)
    candidate = ModelVersion.objects.get(pk=run.model_version_id)
    assert candidate.kind == ModelVersion.Kind.NGRAM and candidate.status == ModelVersion.Status.ACTIVE
    refitted, parent = NgramModel.load(candidate.path), NgramModel.load(instant.path)
    assert refitted.config == parent.config and refitted.weight == 1.0
    assert refitted.info["train_rows"] == parent.info["train_rows"] + run.counts["feedback_rows"] > parent.info["train_rows"]
    assert {"test accuracy vs active", "behaviour: negation"} <= {c["check"] for c in run.reasons}
    assert run.metrics["active"]["id"] == instant.id
    registry.verify(candidate.path, key=conf.signing_key())


def test_the_gate_compares_both_models_on_the_same_fixed_test_subset(loop, staff, settings):
    """With SENTIMENT_GATE_TEST_SIZE below the test split's size, the candidate is measured on a
    fixed stratified sample of it and compared with the active model on exactly those reviews:
    the active model's stored probabilities when it has them for every row, else measured then."""
    from modeling.evaluate import stored_predictions, stratified_subset
    from reviews.data import load

    settings.SENTIMENT_GATE_TEST_SIZE = 40
    settings.SENTIMENT_GATE_TOLERANCE = 0.2  # the toy corrections may cost the toy test split a little
    test = load()["test"]
    rows = stratified_subset(test["label"], 40, seed=conf.data.seed)
    assert stored_predictions(loop.path, "test", range(len(test))) is not None  # measured on all of it
    approved_corrections(staff, 3)
    run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=staff)
    assert training.process_training_runs(worker_id="w") == 1
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE and run.decision == TrainingRun.Decision.PROMOTED, (run.error, run.reasons)
    candidate = ModelVersion.objects.get(pk=run.model_version_id)
    assert candidate.metrics["test"]["n"] == 40 and candidate.metrics["test"]["of"] == len(test)
    comparison = run.metrics["test_comparison"]
    assert comparison["n"] == 40 and comparison["measured_now"] == []  # the active model's stored answers
    labels = [test["label"][i] for i in rows]
    active_answers = stored_predictions(loop.path, "test", rows).argmax(axis=1)
    assert comparison["active"] == pytest.approx(float((active_answers == labels).mean()))
    assert comparison["candidate"] == candidate.test_accuracy
    (vs_active,) = [c for c in run.reasons if c["check"] == "test accuracy vs active"]
    assert f"on the same 40 of {len(test)} test reviews" in vs_active["detail"]

    # A larger sample than the active model (that candidate) was measured on: it is measured now.
    settings.SENTIMENT_GATE_TEST_SIZE = 60
    approved_corrections(staff, 3)
    second, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=staff)
    assert training.process_training_runs(worker_id="w") == 1
    second.refresh_from_db()
    assert second.status == WorkStatus.DONE, second.error
    assert second.metrics["test_comparison"]["n"] == 60 and second.metrics["test_comparison"]["measured_now"] == ["active"]
