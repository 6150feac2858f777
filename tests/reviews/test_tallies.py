"""reviews/tallies.py: the dashboard's counts kept by the worker up to a row id, plus the rows
since, exact whether or not a tally exists; the "Needs a label" count while it is recent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviews import selectors, tallies
from reviews.models import Feedback, ModelVersion, Prediction, Review, Tally
from reviews.services.feedback import feedback_flag

pytestmark = pytest.mark.django_db


def predicted(text, version, *, ago: timedelta = timedelta(0)):
    review = Review.objects.create(text=text)
    prediction = Prediction.objects.create(review=review, model_version=version, label="positive", confidence=0.9,
                                           prob_negative=0.1, prob_positive=0.9, latency_ms=1.0)
    if ago:
        Review.objects.filter(pk=review.pk).update(created_at=timezone.now() - ago)
        Prediction.objects.filter(pk=prediction.pk).update(created_at=timezone.now() - ago)
    return prediction


@pytest.fixture
def versions():
    return [ModelVersion.objects.create(id=f"v-{i}", base_model="tiny", created_at=timezone.now()) for i in (1, 2)]


def full_counts():
    """What the dashboard showed before tallies: every row counted now."""
    return {"reviews": {"": Review.objects.count()},
            "predictions": {v: Prediction.objects.filter(model_version_id=v).count()
                            for v in ModelVersion.objects.values_list("id", flat=True)},
            "flags": {v: Feedback.objects.filter(kind="flag", prediction__model_version_id=v).count()
                      for v in ModelVersion.objects.values_list("id", flat=True)}}


def shown(counts):
    """tally_counts() without the totals and the zero rows, to compare with full_counts()."""
    return {"reviews": {"": counts["reviews"].get("", 0)},
            **{c: {v: counts[c].get(v, 0) for v in ModelVersion.objects.values_list("id", flat=True)}
               for c in ("predictions", "flags")}}


def test_counts_are_exact_before_during_and_after_a_tally(versions):
    """No tally: everything counted. A refresh counts the settled rows (older than SETTLE_SECONDS)
    and stops at the newest of them; rows after it, new rows, and new flags on old predictions
    are added live; a deletion shows at the next refresh."""
    old = [predicted(f"old {i}", versions[0], ago=timedelta(hours=2)) for i in range(4)]
    predicted("fresh", versions[1])
    feedback_flag(prediction=old[0], label="negative", session_key="s0")
    assert shown(tallies.tally_counts()) == full_counts()

    counted = tallies.tallies_refresh()
    kept = {(t.counter, t.key): (t.value, t.up_to) for t in Tally.objects.all()}
    assert kept[("predictions", "v-1")] == (4, old[-1].pk)  # the fresh one is past up_to
    assert kept[("reviews", "")][0] == 4 and counted == 4 + 4 + 0  # the flag is minutes old: not settled

    for i in range(2):
        predicted(f"new {i}", versions[1])
    feedback_flag(prediction=old[1], label="negative", session_key="s1")
    assert shown(tallies.tally_counts()) == full_counts()
    assert selectors.dashboard_stats()["reviews"] == 7

    Review.objects.filter(pk=old[3].review_id).delete()
    assert tallies.tally_counts()["predictions"]["v-1"] == 4  # until the next refresh
    tallies.tallies_refresh()
    assert shown(tallies.tally_counts()) == full_counts()


def test_the_retention_job_refreshes_the_tallies(versions):
    """Reviews deleted for age leave the dashboard's counts at once."""
    from reviews.services.retention import retention_run

    predicted("ancient", versions[0], ago=timedelta(days=400))
    predicted("recent", versions[0], ago=timedelta(hours=1))
    tallies.tallies_refresh()
    assert retention_run(days=365)["reviews"] == 1
    assert tallies.tally_counts()["predictions"]["v-1"] == 1


def test_the_queue_count_is_the_workers_while_recent(monkeypatch):
    """The dashboard takes the worker's count of "Needs a label" if it is recent, and counts itself
    when it is older than QUEUE_FRESH_SECONDS (a worker stopped)."""
    from reviews import moderation

    size = {"now": 5}
    monkeypatch.setattr(moderation, "label_queue_size", lambda moderator=None: size["now"])
    assert tallies.queue_size_recent() == 5  # nothing recorded yet
    assert tallies.queue_size_record() == 5
    size["now"] = 3
    assert tallies.queue_size_recent() == 5
    Tally.objects.filter(counter="queue").update(
        counted_at=timezone.now() - timedelta(seconds=tallies.QUEUE_FRESH_SECONDS + 1))
    assert tallies.queue_size_recent() == 3
