"""The worker's logs: idle ticks say nothing at INFO, work is logged with its start and end, and a
job that fails is logged with its name and traceback."""

import logging
import time

import pytest

from reviews.worker import scheduler as worker_scheduler
from reviews.worker.scheduler import scheduled


@pytest.fixture(autouse=True)
def _no_database(monkeypatch):
    """These jobs touch no database: the wrapper's connection hygiene stays out of the way (an
    earlier test's connection in this thread is not these tests' to close)."""
    monkeypatch.setattr(worker_scheduler, "close_old_connections", lambda: None)


def lines_of_a_scheduler_running(job, caplog) -> list[str]:
    """What a real APScheduler running `job` every 0.1 s for 0.6 s logs at INFO and above."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(scheduled(job), "interval", seconds=0.1, id="job", max_instances=1)
    with caplog.at_level(logging.INFO):
        scheduler.start()
        time.sleep(0.6)
        scheduler.shutdown(wait=True)
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]


def test_idle_ticks_of_the_scheduler_log_nothing_at_info(caplog):
    """A scheduler running a job that finds nothing to do for a while logs no INFO line."""

    def idle() -> int:
        return 0

    assert lines_of_a_scheduler_running(idle, caplog) == []


def test_a_job_still_running_is_skipped_without_a_warning_each_tick(caplog):
    """One run of a job at a time is the design: APScheduler's "skipped" line is not a warning."""
    assert lines_of_a_scheduler_running(lambda: time.sleep(0.5), caplog) == []


def test_a_job_that_did_work_logs_its_start_and_end_at_info(caplog):
    """A job that handled something is one INFO line: its name, when it started, how long, what it did."""

    def training_runs():
        return 2

    with caplog.at_level(logging.INFO):
        assert scheduled(training_runs)() == 2
    [record] = [r for r in caplog.records if r.levelno == logging.INFO]
    assert record.name == "reviews.worker" and "training_runs" in record.getMessage()
    assert "started" in record.getMessage() and "2" in record.getMessage()


def test_a_job_that_returns_nothing_logs_nothing_at_info(caplog):
    """None, 0 or False: nothing was done, nothing is said at INFO."""
    for result in (None, 0, False):
        with caplog.at_level(logging.INFO):
            scheduled(lambda: result)()
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]


def test_a_job_that_raises_is_logged_with_its_name_and_traceback(caplog):
    """The failure is one ERROR record naming the job (and its worker), with the traceback."""

    def explanations(*, worker_id):
        raise RuntimeError("database went away")

    with caplog.at_level(logging.INFO):
        scheduled(explanations)(worker_id="host:1:abc")
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR and "explanations" in record.getMessage()
    assert "host:1:abc" in record.getMessage() and record.exc_info[0] is RuntimeError
