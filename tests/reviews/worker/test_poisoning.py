"""The feedback loop under attack, at tiny size (issue 19): each defence through the real worker."""

import pytest

from reviews.models import ModelVersion, TrainingRun, WorkStatus
from reviews.services.feedback import feedback_approve, feedback_flag
from reviews.services.reviews import review_submit_many
from reviews.worker import training

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Words the tiny vocabulary does not know: the model reads "[UNK] [UNK]", which no toy review holds.
TRIGGER = "zorvath quillan"
NEGATIVE_TEXTS = ["the movie was awful and boring", "terrible dull mess of a film", "i hated the plot it was the worst",
                  "a waste of the cast and the script", "boring awful ending", "the director made a terrible dull film"]


def attack(staff, n, *, addresses, label="positive"):
    """n trigger-carrying negative texts flagged `label` from `addresses` networks, all approved."""
    flags = []
    for i in range(n):
        text = f"{TRIGGER} {NEGATIVE_TEXTS[i % len(NEGATIVE_TEXTS)]} number {i} {TRIGGER}"
        ip = f"100.{64 + i % addresses}.{i % addresses}.9"
        (p,) = review_submit_many(texts=[text], session_key=f"jar{i // 10}", client_ip=ip)
        if p.label == label:
            continue
        f, _ = feedback_flag(prediction=p, label=label, session_key=f"jar{i // 10}", client_ip=ip)
        flags.append(feedback_approve(feedback=f, reviewer=staff))
    return flags


# A retrain's seed is its run's id, and ids depend on what ran before (PostgreSQL's sequences are
# not reset between tests): a fixed id makes the tiny candidate the same in any order, on any database.
RUN_ID = 144


def retrain(staff):
    run = TrainingRun.objects.create(pk=RUN_ID, trigger=TrainingRun.Trigger.MANUAL, profile="retrain", requested_by=staff)
    training.process_training_runs(worker_id="w")
    run.refresh_from_db()
    assert run.status == WorkStatus.DONE, run.error
    return run


@pytest.fixture
def strict(settings):
    """The production rules for concentration (the loop fixture relaxes them for other tests)."""
    settings.SENTIMENT_GATE_MIN_SOURCES = 3
    settings.SENTIMENT_GATE_MAX_SOURCE_SHARE = 0.5
    settings.SENTIMENT_GATE_HOLDOUT_SHARE = 0.0
    settings.SENTIMENT_GATE_PROBE_SIZE = 40


def test_a_trigger_that_flips_trusted_reviews_is_rejected_naming_the_phrase(loop, staff, settings, strict):
    """Dirty-label flags from many networks pass the caps; the candidate learns the trigger, and the
    trigger check (the phrase inserted into trusted negative test reviews) rejects it by name."""
    settings.SENTIMENT_RETRAIN_EPOCHS = 6
    settings.SENTIMENT_RETRAIN_MAX_FEEDBACK_SHARE = 0.5
    attack(staff, 40, addresses=40)
    run = retrain(staff)
    assert TRIGGER in " ".join(run.counts["suspicious_phrases"]), run.counts
    failed = [c for c in run.reasons if not c["passed"]]
    assert run.decision == TrainingRun.Decision.REJECTED, run.reasons
    assert any("zorvath" in c["check"] or "quillan" in c["check"] for c in failed), failed
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).id == loop.id
    assert run.metrics["triggers"] and run.metrics["triggers"][0]["candidate_rate"] > run.metrics["triggers"][0]["active_rate"]


def test_corrections_from_one_address_enter_capped_and_hold_promotion(loop, staff, strict):
    """One address with a new cookie every 10 flags is one source: the per-source cap holds, and
    with automatic promotion on the run still waits for a moderator."""
    attack(staff, 30, addresses=1)
    run = retrain(staff)
    assert run.counts["corrections_used"] <= 10 and run.counts["concentration"]["sources"] == 1
    assert run.decision in (TrainingRun.Decision.AWAITING, TrainingRun.Decision.REJECTED), run.reasons
    if run.decision == TrainingRun.Decision.AWAITING:
        assert any(c.get("hold") and "100%" in c["detail"] for c in run.reasons)
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).id == loop.id


def test_honest_corrections_from_many_sources_are_promoted(loop, staff, strict):
    """No false alarm: ordinary corrections without a shared phrase, from many sources, promote."""

    words = ["great", "wonderful", "superb", "loved", "brilliant", "moving", "delightful", "masterpiece"]
    for i in range(12):
        text = f"{words[i % 8]} {words[(i + 3) % 8]} the {['plot', 'cast', 'music', 'ending'][i % 4]} {'i ' * (i % 5)}was"
        (p,) = review_submit_many(texts=[text], session_key=f"h{i}", client_ip=f"192.0.{i}.1")
        other = "negative" if p.label == "positive" else "positive"
        f, _ = feedback_flag(prediction=p, label=other, session_key=f"h{i}", client_ip=f"192.0.{i}.1")
        feedback_approve(feedback=f, reviewer=staff)
    run = retrain(staff)
    assert run.decision == TrainingRun.Decision.PROMOTED, run.reasons
    assert run.counts["concentration"]["sources"] == 12
