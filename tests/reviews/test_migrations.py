"""Data migrations on an installation that already has rows."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from modeling.cleaning import text_fingerprint

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("reviews", "0008_hash_session_keys")]
AFTER = [("reviews", "0010_backfill_feedback_sources")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_flags_from_before_sources_get_a_source_a_key_and_a_record_each():
    """Every old flag, past the first batch of 500, gets its source (user, else the kept client
    hash, else the session reporter) and its text key; each source's record counts its flags."""
    old = migrate(BEFORE)
    try:
        User = old.get_model("auth", "User")
        ModelVersion, Review = old.get_model("reviews", "ModelVersion"), old.get_model("reviews", "Review")
        Prediction, Feedback = old.get_model("reviews", "Prediction"), old.get_model("reviews", "Feedback")
        user = User.objects.create(username="old-user")
        version = ModelVersion.objects.create(id="old", base_model="tiny", created_at=timezone.now())
        reviews = Review.objects.bulk_create([Review(text=f"Old review {i}!") for i in range(520)])
        predictions = Prediction.objects.bulk_create([
            Prediction(review=r, model_version=version, label="negative", confidence=0.9, prob_negative=0.9,
                       prob_positive=0.1, latency_ms=1.0) for r in reviews])
        Feedback.objects.bulk_create([
            Feedback(prediction=p, predicted_label="negative", corrected_label="positive",
                     user=user if i == 0 else None, client_hash="c0ffee" if i == 1 else "",
                     reporter=f"session:{i % 7}", status="approved" if i % 2 else "pending")
            for i, p in enumerate(predictions)])
        new = migrate(AFTER)
        Feedback, FeedbackSource = new.get_model("reviews", "Feedback"), new.get_model("reviews", "FeedbackSource")
        assert not Feedback.objects.filter(source="").exists() and not Feedback.objects.filter(text_hash="").exists()
        first, second = Feedback.objects.order_by("pk")[:2]
        assert (first.source, second.source) == (f"user:{user.pk}", "client:c0ffee")
        assert first.text_hash == text_fingerprint("old review 0 !")
        assert sum(FeedbackSource.objects.values_list("flags", flat=True)) == 520
    finally:
        migrate(executor_leaf())


def executor_leaf():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
