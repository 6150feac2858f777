"""Reads that survive a million reviews (issue 22): no DISTINCT over whole rows, days as ranges of
an indexed column, search through PostgreSQL's trigram index, dashboard counts without a join of
every prediction with every flag, and psycopg's pool behind DATABASE_POOL_SIZE."""

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from reviews import selectors
from reviews.models import Feedback, ModelVersion, Prediction, Review
from sentiment_site.env import database_from_url
from tests.reviews.conftest import database_url, postgresql_only

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def predicted(text: str, version: ModelVersion, *, times: int = 1, label: str = "positive") -> Review:
    review = Review.objects.create(text=text)
    for _ in range(times):
        Prediction.objects.create(review=review, model_version=version, label=label, confidence=0.9,
                                  prob_negative=0.1 if label == "positive" else 0.9,
                                  prob_positive=0.9 if label == "positive" else 0.1, latency_ms=1.0)
    return review


@pytest.fixture
def version():
    return ModelVersion.objects.create(id="v-scale", base_model="tiny", created_at=timezone.now())


def test_filters_need_no_distinct(version, staff):
    """A review predicted twice by the version filtered on comes back once, from a query
    without DISTINCT (which would compare every column, the text included, before the LIMIT)."""
    twice = predicted("asked about twice", version, times=2)
    predicted("asked about once", ModelVersion.objects.create(id="v-other", base_model="tiny", created_at=timezone.now()))
    reviews = selectors.review_list(user=staff, model_version=version.id)
    assert [r.pk for r in reviews] == [twice.pk]
    for filters in ({"model_version": version.id}, {"flagged": True}, {"label": "positive"}, {"search": "twice"}):
        assert "DISTINCT" not in str(selectors.review_list(user=staff, **filters).query)


def test_the_model_version_filter_starts_at_the_versions_latest_prediction(version, staff):
    """The filter keeps its meaning (reviews any of whose predictions that version made, newest
    first) with a bound the newest-first walk can start from: no review newer than the version's
    latest prediction (plus an hour). An older review predicted again later by the version is in;
    a version that predicted nothing gives nothing, without a walk at all."""
    newer = ModelVersion.objects.create(id="v-newer", base_model="tiny", created_at=timezone.now())
    old = [predicted(f"old {i}", version) for i in range(3)]
    Review.objects.filter(pk__in=[r.pk for r in old]).update(created_at=timezone.now() - timezone.timedelta(days=40))
    Prediction.objects.filter(review__in=old).update(created_at=timezone.now() - timezone.timedelta(days=40))
    for i in range(3):
        predicted(f"recent {i}", newer)
    again = old[0]
    Prediction.objects.create(review=again, model_version=newer, label="negative", confidence=0.8,
                              prob_negative=0.8, prob_positive=0.2, latency_ms=1.0)

    def listed(version_id):
        return [r.text for r in selectors.review_list(user=staff, model_version=version_id)]

    assert listed(version.id) == ["old 2", "old 1", "old 0"]
    assert listed(newer.id) == ["recent 2", "recent 1", "recent 0", "old 0"]
    sql = str(selectors.review_list(user=staff, model_version=version.id).query)
    assert '"created_at" <=' in sql
    ModelVersion.objects.create(id="v-silent", base_model="tiny", created_at=timezone.now())
    assert listed("v-silent") == [] and listed("v-unknown") == []


def test_days_are_ranges_in_the_site_time_zone(version, staff, settings):
    """created_from / created_to keep their meaning (whole days in TIME_ZONE) as ranges of the
    indexed created_at: 23:30 in New York on 1 March is 04:30 UTC on 2 March and belongs to 1 March."""
    settings.TIME_ZONE = "America/New_York"
    late = predicted("late on the first", version)
    Review.objects.filter(pk=late.pk).update(created_at=datetime(2026, 3, 1, 23, 30, tzinfo=ZoneInfo("America/New_York")))

    def days(**filters):
        return [r.pk for r in selectors.review_list(user=staff, **filters)]

    assert days(created_from=date(2026, 3, 1), created_to=date(2026, 3, 1)) == [late.pk]
    assert days(created_from=date(2026, 3, 2)) == []
    assert days(created_to=date(2026, 2, 28)) == []
    sql = str(selectors.review_list(user=staff, created_from=date(2026, 3, 1)).query).lower()
    assert "date" not in sql.replace("created_at", "")  # no cast of every row's time to a day


@postgresql_only
def test_search_uses_the_trigram_index_on_postgresql(version, staff):
    """The search filter's SQL is the expression the GIN trigram index holds: with sequential and
    plain index scans off (a tiny table is cheaper to read whole, or along created_at), PostgreSQL
    answers it from the trigram index."""
    predicted("A Kubrick film, cold and exact", version)
    query = selectors.review_list(user=staff, search="kubrick").query
    sql, params = query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
        cursor.execute("SET enable_indexscan = on")
    assert "review_text_upper_trgm" in plan, plan


def test_dashboard_counts_flags_per_version_without_labels(version, staff):
    """Per version: its predictions and the flags on them (a moderator's queue label is no flag)."""
    from reviews.services.feedback import feedback_flag

    reviews = [predicted(f"review {i}", version) for i in range(4)]
    for i, review in enumerate(reviews[:2]):
        feedback_flag(prediction=review.predictions.get(), label="negative", session_key=f"s{i}")
    Feedback.objects.create(kind=Feedback.Kind.LABEL, prediction=reviews[2].predictions.get(), predicted_label="positive",
                            corrected_label="positive", reporter="user:1", status=Feedback.Status.APPROVED)
    stats = selectors.dashboard_stats()
    row = next(v for v in stats["versions"] if v["id"] == version.id)
    assert (row["predictions"], row["flags"], row["flag_rate"]) == (4, 2, 0.5)
    assert (stats["pending"], stats["approved"], stats["reviews"]) == (2, 1, 4)


def test_a_pool_size_turns_on_psycopgs_pool():
    """DATABASE_POOL_SIZE: Django's pool option with that many connections at most (and no
    persistent connections beside it); SQLite is untouched."""
    config = database_from_url("postgresql://u@db:5432/site", pool_size=4)
    assert config["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 4, "timeout": 10}
    assert config["CONN_MAX_AGE"] == 0
    assert "pool" not in database_from_url("postgresql://u@db:5432/site").get("OPTIONS", {})
    assert "pool" not in database_from_url("sqlite:////tmp/x.sqlite3", pool_size=4)["OPTIONS"]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_pool_serves_queries_on_postgresql():
    """A process with DATABASE_POOL_SIZE=2 takes its connections from the pool and queries."""
    code = ("from django.db import connection; from reviews.models import Review; "
            "print(connection.pool is not None, connection.pool.max_size, Review.objects.count())")
    env = {**os.environ, "DATABASE_URL": database_url(), "DATABASE_POOL_SIZE": "2"}
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].split() == ["True", "2", "0"]
