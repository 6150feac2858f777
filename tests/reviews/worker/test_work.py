from datetime import timedelta

import pytest
from django.utils import timezone

from reviews.worker import queue
from reviews.models import Explanation, Lease, ModelVersion, Prediction, Review, WorkStatus
from tests.reviews.conftest import at_once


def make_runs(n):
    """n pending rows of requested work (explanations: any number may be pending at once)."""
    version = ModelVersion.objects.create(id="v-test", base_model="tiny", created_at=timezone.now())
    rows = []
    for i in range(n):
        review = Review.objects.create(text=f"review {i}")
        prediction = Prediction.objects.create(review=review, model_version=version, label="positive", confidence=0.9,
                                               prob_negative=0.1, prob_positive=0.9, latency_ms=1.0)
        rows.append(Explanation.objects.create(prediction=prediction, model_version=version))
    return rows


@pytest.mark.django_db(transaction=True)
def test_two_claimers_never_get_the_same_row():
    """Four threads claiming 20 rows concurrently each get distinct rows, and all rows are claimed."""
    make_runs(20)
    def claim_all(name):
        mine = []
        while (row := queue.claim_next(Explanation, worker_id=name)) is not None:
            mine.append(row.pk)
        return mine

    claimed = [pk for mine in at_once(claim_all, [(f"w{i}",) for i in range(4)]) for pk in mine]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 20
    assert Explanation.objects.filter(status=WorkStatus.RUNNING).count() == 20


@pytest.mark.django_db
def test_stale_claim_is_requeued_and_fails_after_max_attempts():
    """A row whose claimant stopped beating goes back to pending, and fails after too many tries."""
    (run,) = make_runs(1)
    claimed = queue.claim_next(Explanation, worker_id="dead")
    Explanation.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert queue.requeue_stale(Explanation, stale_after=timedelta(seconds=60), max_attempts=2) == 1
    run.refresh_from_db()
    assert run.status == WorkStatus.PENDING and run.claimed_by == "" and claimed.attempts == 1
    queue.claim_next(Explanation, worker_id="dead-again")
    Explanation.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    queue.requeue_stale(Explanation, stale_after=timedelta(seconds=60), max_attempts=2)
    run.refresh_from_db()
    assert run.status == WorkStatus.FAILED and "stopped responding" in run.error


@pytest.mark.django_db
def test_a_live_claim_is_not_requeued():
    """A row whose worker beats recently stays claimed."""
    make_runs(1)
    row = queue.claim_next(Explanation, worker_id="alive")
    assert queue.beat(row)
    assert queue.requeue_stale(Explanation, stale_after=timedelta(seconds=60), max_attempts=3) == 0


@pytest.mark.django_db
def test_failing_row_is_marked_failed_and_the_next_still_runs():
    """A handler that raises marks its row failed with the error; the next row is still done."""
    first, second = make_runs(2)

    def handler(row):
        if row.pk == first.pk:
            raise RuntimeError("boom: disk full")
        return {"result": {"ok": True}}

    results = []
    while (row := queue.claim_next(Explanation, worker_id="w")) is not None:
        results.append(queue.run_claimed(row, handler))
    first.refresh_from_db()
    second.refresh_from_db()
    assert results == [False, True]
    assert first.status == WorkStatus.FAILED and "boom: disk full" in first.error
    assert second.status == WorkStatus.DONE and second.result == {"ok": True}


@pytest.mark.django_db
def test_pending_row_not_before_the_future_is_not_claimed():
    """A row released with a delay is not claimed before its time."""
    (run,) = make_runs(1)
    row = queue.claim_next(Explanation, worker_id="w")
    queue.release(row, delay=timedelta(minutes=5), reason="busy")
    assert queue.claim_next(Explanation, worker_id="w2") is None
    run.refresh_from_db()
    assert run.status == WorkStatus.PENDING and run.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_lease_has_one_holder_among_contenders():
    """Of several threads taking the same lease at once exactly one gets it."""
    names = [f"w{i}" for i in range(4)]
    won = at_once(lambda name: queue.lease_acquire("training", holder=name, ttl=timedelta(seconds=60)), [(n,) for n in names])
    winners = [name for name, ok in zip(names, won) if ok]
    assert len(winners) == 1
    assert queue.lease_holder("training") == winners[0]


@pytest.mark.django_db
def test_expired_lease_is_taken_over_and_renewal_fails_for_the_old_holder():
    """An expired lease goes to the next contender; the old holder can no longer renew it."""
    assert queue.lease_acquire("training", holder="a", ttl=timedelta(seconds=60))
    assert not queue.lease_acquire("training", holder="b", ttl=timedelta(seconds=60))
    Lease.objects.filter(name="training").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert queue.lease_acquire("training", holder="b", ttl=timedelta(seconds=60))
    assert not queue.lease_renew("training", holder="a", ttl=timedelta(seconds=60))
    queue.lease_release("training", holder="b")
    assert queue.lease_holder("training") is None
