"""The worker's daily retention job: expired sessions and rate counters, and reviews older than
SENTIMENT_RETENTION_DAYS (when set) except the ones the feedback loop still needs."""

import logging
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from reviews.models import Explanation, Feedback, Prediction, RateCounter, Review, TrainingRun
from reviews.services.feedback import feedback_approve, feedback_flag, feedback_reject
from reviews.services.retention import retention_run
from reviews.services.reviews import review_submit
from reviews.worker import scheduler

pytestmark = pytest.mark.django_db


def aged(text: str, days: int, *, flag: str | None = None, staff=None) -> Review:
    """A review `days` old, flagged and decided as `flag` says (None: not flagged)."""
    prediction = review_submit(text=text, session_key=f"visitor-{text}")
    if flag:
        other = "negative" if prediction.label == "positive" else "positive"
        feedback, _ = feedback_flag(prediction=prediction, label=other, session_key=f"visitor-{text}")
        if flag == "approved":
            feedback_approve(feedback=feedback, reviewer=staff)
        elif flag == "rejected":
            feedback_reject(feedback=feedback, reviewer=staff)
    Review.objects.filter(pk=prediction.review_id).update(created_at=timezone.now() - timedelta(days=days))
    return Review.objects.get(pk=prediction.review_id)


def test_old_reviews_go_with_their_predictions_flags_and_explanations(active_model, staff, settings):
    """Past the retention period a review goes, unless an approved or pending flag keeps it."""
    settings.SENTIMENT_RETENTION_DAYS = 30
    plain = aged("old and unflagged", 40)
    rejected = aged("old with a rejected flag", 40, flag="rejected", staff=staff)
    Explanation.objects.create(prediction=plain.predictions.get(), model_version_id=active_model.id)
    kept = {aged("old with an approved flag", 40, flag="approved", staff=staff).pk,
            aged("old with a pending flag", 40, flag="pending").pk,
            aged("recent", 10).pk}
    used = aged("old, approved and trained on", 40, flag="approved", staff=staff)
    run = TrainingRun.objects.create(trigger=TrainingRun.Trigger.MANUAL, profile="retrain", status="done")
    Feedback.objects.filter(prediction__review=used).update(training_run=run)
    kept.add(used.pk)

    done = retention_run(days=30)
    assert done["reviews"] == 2
    assert set(Review.objects.values_list("pk", flat=True)) == kept
    assert not Prediction.objects.filter(review_id__in=[plain.pk, rejected.pk]).exists()
    assert not Feedback.objects.filter(prediction__review_id=rejected.pk).exists() and not Explanation.objects.exists()


def test_zero_days_keeps_every_review(active_model):
    """SENTIMENT_RETENTION_DAYS=0 (the default) deletes no review, however old."""
    aged("ten years old", 3650)
    assert retention_run(days=0)["reviews"] == 0 and Review.objects.count() == 1


def test_expired_sessions_and_rate_counters_go_live_ones_stay(db):
    """Expired sessions (clearsessions) and rate-limit counters whose window is over are deleted."""
    now = timezone.now()
    RateCounter.objects.create(key="rl:old", count=3, expires_at=now - timedelta(hours=1))
    RateCounter.objects.create(key="rl:live", count=3, expires_at=now + timedelta(minutes=1))
    for key, expires in (("expired", now - timedelta(days=1)), ("live", now + timedelta(days=1))):
        session = SessionStore()
        session["who"] = key
        session.create()
        Session.objects.filter(session_key=session.session_key).update(expire_date=expires)
    done = retention_run(days=0)
    assert done["rate_counters"] == 1 and list(RateCounter.objects.values_list("key", flat=True)) == ["rl:live"]
    assert [SessionStore(s.session_key).load()["who"] for s in Session.objects.all()] == ["live"]


def test_the_worker_runs_retention_daily(settings):
    """The worker's schedule has a daily retention job reading SENTIMENT_RETENTION_DAYS."""
    import threading

    schedule, _ = scheduler.build(worker_id="w", started_at=timezone.now(), stop=threading.Event())
    job = schedule.get_job("retention")
    assert job is not None and job.trigger.interval == timedelta(days=1)


def test_the_retention_job_logs_only_when_it_deleted_something(active_model, settings, caplog, monkeypatch):
    """Nothing expired: no INFO line; reviews deleted: one INFO line that says how many."""
    settings.SENTIMENT_RETENTION_DAYS = 30
    # The job would close the connection that holds the test's transaction.
    monkeypatch.setattr(scheduler, "close_old_connections", lambda: None)
    job = scheduler.scheduled(scheduler.retention)

    def worker_lines():
        return [r for r in caplog.records if r.name == "reviews.worker" and r.levelno >= logging.INFO]

    with caplog.at_level(logging.INFO):
        job()
    assert not worker_lines()
    aged("old", 40)
    with caplog.at_level(logging.INFO):
        job()
    [record] = worker_lines()
    assert "retention" in record.getMessage() and "1 review" in record.getMessage()
