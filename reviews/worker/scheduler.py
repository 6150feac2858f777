"""The worker's schedule (APScheduler, in the worker process only, never in web processes).

Each job has its own thread, so a long training run does not hold up quick requested work. A
worker takes the queues it is given (SENTIMENT_WORKER_QUEUES, `runworker --queues`), each a set
of jobs; the heartbeat (every 5 s) runs on every worker:

- training: training runs every 5 s, those that ask for no device or for this worker's;
- explanations: requested explanations every second (people wait on a page), the active
  explainer prepared every 30 s;
- maintenance: the "Needs a label" queue scored and counted and the pending flags' triage scored
  every 30 s, the dashboard's tallies counted every 10 minutes (reviews.tallies), the retrain
  check on SENTIMENT_RETRAIN_CRON, and the retention job daily (expired sessions and rate
  counters, reviews past SENTIMENT_RETENTION_DAYS).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.db import close_old_connections
from django.utils import timezone

from modeling import registry
from reviews import tallies
from reviews.conf import conf
from reviews.worker import explanations, moderation, queue, training

log = logging.getLogger("reviews.worker")
THREADS = 4


def scheduled(job):
    """Wrap a job for the scheduler's threads: fresh database connections around each run (a
    long-lived worker must not keep a connection the database has dropped), and its log lines.

    Most ticks find nothing to do: they log at DEBUG only. A run that did work (returned a
    positive count, or what it made) is one INFO line with its start and length; one that
    raised is one ERROR line with its name, worker and traceback (the next tick tries again)."""
    name = job.__name__

    def run(**kwargs):
        close_old_connections()
        started_at, started = timezone.now(), time.monotonic()
        context = f" (worker {kwargs['worker_id']})" if "worker_id" in kwargs else ""
        log.debug("job %s started%s", name, context)
        try:
            result = job(**kwargs)
        except Exception:
            log.exception("job %s failed%s, started at %s", name, context, started_at.strftime("%H:%M:%S"))
            return None
        finally:
            close_old_connections()
        seconds = time.monotonic() - started
        if result:
            log.info("job %s started at %s, done in %.1f s: %s", name, started_at.strftime("%H:%M:%S"), seconds, result)
        else:
            log.debug("job %s: nothing to do (%.2f s)", name, seconds)
        return result

    run.__name__ = name
    return run


def run_once(*, worker_id: str, started_at, stop: threading.Event, queues=queue.QUEUES,
             device: str = "") -> tuple[int, int]:
    """Everything pending now on these queues, then return: (training runs, explanations) handled."""
    queue.heartbeat(worker_id=worker_id, started_at=started_at, doing="once", queues=queues, device=device)
    done = explained = 0
    if "explanations" in queues:
        explained += explanations.process_explanations(worker_id=worker_id, stop=stop)
    if "training" in queues:
        done = training.process_training_runs(worker_id=worker_id, stop=stop, device=device or None)
    if "explanations" in queues:
        explained += explanations.process_explanations(worker_id=worker_id, stop=stop)
    if "maintenance" in queues:
        moderation.score_queue()
        moderation.triage_flags()
        tallies.tallies_refresh()
    return done, explained


def clean_store() -> None:
    """Temporary folders left in the model store by a save that was killed midway."""
    from reviews.model_store import local_root

    for path in registry.remove_stale_temporaries(local_root()):
        log.info("removed %s, left by an interrupted save", path)


def label_queue() -> int:
    """Score the "Needs a label" queue, then count it for the dashboard (reviews.tallies)."""
    scored = moderation.score_queue()
    tallies.queue_size_record()
    return scored


def retention() -> str:
    """The daily retention job (reviews.services.retention): what it deleted, "" for nothing."""
    from reviews.services.retention import retention_run

    done = retention_run(days=conf.worker.retention_days)
    names = {"rate_counters": "expired rate counter(s)", "reviews": "review(s) past the retention period"}
    return ", ".join(f"{count} {names[kind]}" for kind, count in done.items() if count)


def build(*, worker_id: str, started_at, stop: threading.Event, queues=queue.QUEUES, device: str = ""):
    """The scheduler with the jobs of `queues` added, and its executor (to wait for running jobs)."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    executor = ThreadPoolExecutor(THREADS)
    scheduler = BlockingScheduler(executors={"default": executor}, timezone="UTC")
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
    now = timezone.now()

    def every(seconds: int, job, job_id: str, **kwargs):
        scheduler.add_job(scheduled(job), "interval", seconds=seconds, id=job_id, next_run_time=now,
                          kwargs=kwargs, **common)

    every(5, queue.heartbeat, "heartbeat", worker_id=worker_id, started_at=started_at, queues=queues, device=device)
    if "training" in queues:
        every(5, training.process_training_runs, "training-runs", worker_id=worker_id, stop=stop, device=device or None)
    if "explanations" in queues:
        every(1, explanations.process_explanations, "explanations", worker_id=worker_id, stop=stop)
        every(30, explanations.prepare_explainer, "explainer")
    if "maintenance" in queues:
        every(30, label_queue, "label-queue")
        every(30, moderation.triage_flags, "triage")
        every(tallies.REFRESH_SECONDS, tallies.tallies_refresh, "tallies")
        # Daily, first a minute after the start (a worker restarted every day still runs it).
        scheduler.add_job(scheduled(retention), "interval", days=1, id="retention",
                          next_run_time=now + timedelta(minutes=1), **common)
        scheduler.add_job(scheduled(training.maybe_schedule_retrain),
                          CronTrigger.from_crontab(conf.retrain.cron, timezone="UTC"), id="retrain-check", **common)
    return scheduler, executor
