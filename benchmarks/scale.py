"""PostgreSQL at a million reviews (issue 22): load reviews with predictions, flags and queue
scores into a scratch PostgreSQL database, then time the pages people open through the whole web
stack (Django's test client: middleware, view, queries, template) and print p50 / p95 per page.

    .venv/bin/python benchmarks/scale.py                      # 1,000,000 reviews (loads once)
    .venv/bin/python benchmarks/scale.py --reuse              # measure again on the loaded data
    .venv/bin/python benchmarks/scale.py --quick              # 3,000 reviews (CI: every page answers)

The database (`--database`, default sentiment_scale) lives on the server of DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/postgres) and is dropped and loaded again unless
`--reuse` finds it loaded with as many reviews. With `--reuse`, the project's migrations run first:
loading with one version of the code and measuring with the next measures "before" and "after" on
the same rows (the migration's own time, e.g. building an index, is printed).

The data: texts cycled from the packaged IMDb reviews and Rotten Tomatoes sentences; created over
the last 365 days; 40% by 2,000 signed-in users, the rest by 100,000 anonymous sessions; four model
versions, each active for a quarter of the year; one prediction per review (as the site makes);
3% of predictions flagged (older flags decided by a moderator, the last two weeks' pending); the
active version's other predictions scored for the "Needs a label" queue. Rows are written with COPY, not through the ORM
(a million ORM saves would take an hour and measure nothing this benchmark is about). Before
measuring, it counts the dashboard's tallies as a running worker keeps them (reviews.tallies).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

import _bootstrap  # noqa: F401  (sets up paths and settings first)
import _cpu

VERSIONS = ["scale-v1", "scale-v2", "scale-v3", "scale-v4"]
USERS = 2000
SESSIONS = 100_000


def server_url() -> str:
    return os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def admin_execute(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def loaded_reviews() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('reviews_review') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute("SELECT count(*) FROM reviews_review")
        return cursor.fetchone()[0]


def texts_pool() -> list[str]:
    """The packaged reviews' texts (the CSV reader yields (where, text, row))."""
    from modeling.data import _read_csv, packaged_csv_path

    texts = [text for _, text, _ in _read_csv(packaged_csv_path())]
    mean = sum(map(len, texts)) / len(texts)
    if mean < 200:  # IMDb reviews and Rotten Tomatoes sentences average several hundred characters
        sys.exit(f"the packaged texts average {mean:.0f} characters: not reviews")
    return texts


def copy_rows(cursor, table: str, columns: list[str], rows) -> int:
    """COPY `rows` (tuples) into `table`; psycopg escapes each value."""
    n = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def load(n_reviews: int, *, seed: int) -> dict:
    """Write the benchmark's rows; returns counts and seconds."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from reviews.identity import session_hash
    from reviews.services.feedback import text_key

    rng = random.Random(seed)
    started = time.monotonic()
    texts = texts_pool()
    keys = [text_key(t) for t in texts[:n_reviews]]  # the texts used (all of them from 33,530 reviews on)
    now = datetime.now(timezone.utc)
    start = now - timedelta(days=365)
    User = get_user_model()
    staff = User.objects.create_superuser("scale-staff", "staff@example.com", "scale-staff-password-0")
    User.objects.bulk_create([User(username=f"user{i}", password="!") for i in range(USERS)], batch_size=1000)
    user_ids = list(User.objects.exclude(pk=staff.pk).values_list("pk", flat=True))
    sessions = [session_hash(f"session-{i}") for i in range(SESSIONS)]
    raw = connection.connection
    with raw.cursor() as cur:
        for i, vid in enumerate(VERSIONS):
            status = "active" if i == len(VERSIONS) - 1 else "retired"
            cur.execute(
                "INSERT INTO reviews_modelversion (id, kind, base_model, profile, status, metrics, data, train_config,"
                " status_reason, awaiting_seal, created_at, registered_at, activated_at) VALUES"
                " (%s, 'transformer', 'all-MiniLM-L6-v2', 'quick', %s, %s, '{}', '{}', '', false, %s, %s, %s)",
                [vid, status, '{"test": {"accuracy": 0.9}}', start + timedelta(days=91 * i),
                 start + timedelta(days=91 * i), start + timedelta(days=91 * i)])
        cur.execute("SELECT coalesce(max(id), 0) FROM reviews_review")
        first_id = cur.fetchone()[0] + 1
        step = timedelta(days=365) / n_reviews

        def reviews():
            for i in range(n_reviews):
                signed_in = rng.random() < 0.4
                yield (first_id + i, texts[i % len(texts)], start + step * i,
                       rng.choice(user_ids) if signed_in else None,
                       "" if signed_in else rng.choice(sessions), "", "web")

        counts = {"reviews": copy_rows(cur, "reviews_review",
                                       ["id", "text", "created_at", "user_id", "session_key", "client_hash", "source"],
                                       reviews())}
        predictions, flags, scores = [], [], []
        for i in range(n_reviews):
            pid, at = first_id + i, start + step * i
            version = VERSIONS[min(len(VERSIONS) - 1, int(len(VERSIONS) * i / n_reviews))]
            p = rng.betavariate(0.6, 0.6)
            label = "positive" if p >= 0.5 else "negative"
            predictions.append((pid, first_id + i, version, label, max(p, 1 - p), 1 - p, p, 40.0, at))
            if rng.random() < 0.03:
                status = "pending" if now - at < timedelta(days=14) else rng.choice(["approved", "approved", "rejected"])
                other = "negative" if label == "positive" else "positive"
                flags.append((pid, label, other, f"user:{user_ids[pid % len(user_ids)]}", f"client:{pid % 5000:060x}",
                              f"net:{pid % 700}", keys[i % len(texts)], status, at + timedelta(minutes=5)))
            elif version == VERSIONS[-1]:
                scores.append((pid, version, p, abs(2 * p - 1), keys[i % len(texts)], at))
        counts["predictions"] = copy_rows(cur, "reviews_prediction",
                                          ["id", "review_id", "model_version_id", "label", "confidence", "prob_negative",
                                           "prob_positive", "latency_ms", "created_at"], predictions)
        counts["flags"] = copy_rows(
            cur, "reviews_feedback",
            ["prediction_id", "predicted_label", "corrected_label", "reporter", "source", "network", "text_hash",
             "status", "created_at", "kind", "comment", "session_key", "client_hash", "trusted", "review_note",
             "is_holdout", "triage"],
            ((*row, "flag", "", "", "", False, "", False, "{}") for row in flags))
        counts["queue_scores"] = copy_rows(cur, "reviews_queuescore",
                                           ["prediction_id", "model_version_id", "prob_positive", "margin", "text_hash",
                                            "scored_at"], scores)
        # Decided flags carry their moderator's decision (what the dashboard's agreement reads).
        cur.execute("UPDATE reviews_feedback SET reviewed_by_id = %s, reviewed_at = created_at + interval '1 day' "
                    "WHERE status <> 'pending'", [staff.pk])
        cur.execute("INSERT INTO reviews_moderationdecision (feedback_id, moderator_id, label, approves, at) "
                    "SELECT id, %s, CASE WHEN status = 'approved' THEN corrected_label ELSE predicted_label END, "
                    "status = 'approved', reviewed_at FROM reviews_feedback WHERE status <> 'pending'", [staff.pk])
        counts["decisions"] = cur.rowcount
        for table in ("reviews_review", "reviews_prediction", "reviews_feedback", "reviews_queuescore"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    raw.commit()
    with raw.cursor() as cur:
        raw.autocommit = True
        cur.execute("VACUUM ANALYZE")
    counts["seconds"] = round(time.monotonic() - started, 1)
    return counts


def timed(client, url: str, *, repeat: int) -> tuple[float, float, int]:
    """p50 and p95 of `repeat` GETs of `url` in ms (after one unmeasured), and the status."""
    response = client.get(url)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], response.status_code


def pages(n_reviews: int) -> list[tuple[str, str, str]]:
    """(what, who, url) for every page measured."""
    from reviews.models import Review

    rng = random.Random(1)
    last = Review.objects.order_by("-id").values_list("id", flat=True).first()
    review = rng.randint(max(1, last - n_reviews + 1), last)
    week_to = datetime.now(timezone.utc).date() - timedelta(days=30)
    week_from = week_to - timedelta(days=6)
    return [
        ("history list, first page", "staff", "/history/"),
        ("history list, page 50", "staff", "/history/?page=50"),
        ("history list, a signed-in user's", "user", "/history/"),
        ("history, flagged only", "staff", "/history/?flagged=yes"),
        ("history, one model version", "staff", f"/history/?model_version={VERSIONS[1]}"),
        ("history, latest label negative", "staff", "/history/?label=negative"),
        ("search, a rare word", "staff", "/history/?q=Kubrick"),
        ("search, a common word", "staff", "/history/?q=wonderful"),
        ("API list, one week", "staff", f"/api/v1/reviews?created_from={week_from}&created_to={week_to}"),
        ("API search, a rare word", "staff", "/api/v1/reviews?search=Kubrick"),
        ("a review page", "staff", f"/reviews/{review}/"),
        ("dashboard", "staff", "/dashboard/"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=1_000_000)
    parser.add_argument("--database", default="sentiment_scale")
    parser.add_argument("--reuse", action="store_true", help="keep the database when it holds as many reviews")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="3,000 reviews, 3 requests a page; fails on an error page")
    parser.add_argument("--load-only", action="store_true", help="load the rows, measure nothing (then --reuse)")
    args = parser.parse_args()
    if args.quick:
        args.reviews, args.repeat = 3000, 3
    url = server_url()
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("scale.py measures PostgreSQL: DATABASE_URL must name a PostgreSQL server")
    scale_url = with_database(url, args.database)
    if not args.reuse:
        admin_execute(url, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)', f'CREATE DATABASE "{args.database}"')
    else:
        try:
            admin_execute(url, f'CREATE DATABASE "{args.database}"')
        except Exception:  # noqa: BLE001  (it exists: reuse it)
            pass
    os.environ.update({"DATABASE_URL": scale_url, "DJANGO_ALLOWED_HOSTS": "testserver",
                       "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "scale-benchmark-" + "x" * 40})
    print(_cpu.describe("native"))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    t0 = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    print(f"migrations: {time.monotonic() - t0:.1f} s")
    call_command("collectstatic", verbosity=0, interactive=False)  # pages are rendered as in production (debug off)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(cursor.fetchone()[0].split(",")[0])
    have = loaded_reviews()
    if have != args.reviews:
        if have:
            sys.exit(f"{args.database} holds {have} reviews, not {args.reviews}: run without --reuse")
        print(f"loaded: {load(args.reviews, seed=args.seed)}")
    else:
        print(f"reusing {have} reviews in {args.database}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"database size: {cursor.fetchone()[0]}")
    if args.load_only:
        return
    try:  # what a running worker keeps (reviews.tallies); absent from code older than the tallies
        from reviews.tallies import queue_size_record, tallies_refresh
    except ImportError:
        pass
    else:
        t0 = time.monotonic()
        tallies_refresh()
        queue_size_record()
        print(f"the worker's tallies counted in {time.monotonic() - t0:.1f} s")
    User = get_user_model()
    clients = {"staff": Client(), "user": Client()}
    clients["staff"].force_login(User.objects.get(username="scale-staff"))
    clients["user"].force_login(User.objects.get(username="user7"))
    print(f"\n{args.repeat} timed requests a page (after one untimed), one client, in ms\n")
    print("| page | who | URL | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    failed = []
    for what, who, page in pages(args.reviews):
        p50, p95, status = timed(clients[who], page, repeat=args.repeat)
        if status != 200:
            failed.append(f"{page}: {status}")
        print(f"| {what} | {who} | `{page}` | {p50:.0f} | {p95:.0f} |", flush=True)
    if failed:
        sys.exit("pages that did not answer 200: " + ", ".join(failed))


if __name__ == "__main__":
    main()
