import logging
import signal
import threading

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from reviews import jobs, work
from reviews.retraining import maybe_schedule_retrain

log = logging.getLogger("reviews.worker")


class Command(BaseCommand):
    help = "Run the background worker: requested work (first model, training runs) and scheduled jobs."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="do what is pending now, then exit")

    def handle(self, *args, once, **options):
        worker_id = work.new_worker_id()
        started_at = timezone.now()
        stop = threading.Event()
        if once:
            jobs.heartbeat(worker_id=worker_id, started_at=started_at, doing="once")
            explained = jobs.process_explanations(worker_id=worker_id, stop=stop)
            done = jobs.process_training_runs(worker_id=worker_id, stop=stop)
            explained += jobs.process_explanations(worker_id=worker_id, stop=stop)
            self.stdout.write(f"processed {done} training run(s) and {explained} explanation(s)")
            return

        # APScheduler in its own process, never inside web processes. Each job has its own
        # thread, so a long training run does not hold up quick requested work.
        executor = ThreadPoolExecutor(4)
        scheduler = BlockingScheduler(executors={"default": executor}, timezone="UTC")
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
        scheduler.add_job(jobs.scheduled(jobs.heartbeat), "interval", seconds=5, id="heartbeat", next_run_time=timezone.now(),
                          kwargs={"worker_id": worker_id, "started_at": started_at}, **common)
        scheduler.add_job(jobs.scheduled(jobs.process_training_runs), "interval", seconds=5, id="training-runs", next_run_time=timezone.now(),
                          kwargs={"worker_id": worker_id, "stop": stop}, **common)

        # Explanations are asked for by people waiting on a page: polled every second.
        scheduler.add_job(jobs.scheduled(jobs.process_explanations), "interval", seconds=1, id="explanations", next_run_time=timezone.now(),
                          kwargs={"worker_id": worker_id, "stop": stop}, **common)

        # The active version's explainer is loaded (and compiled) ahead of the first request.
        scheduler.add_job(jobs.scheduled(jobs.prepare_explainer), "interval", seconds=30, id="explainer", next_run_time=timezone.now(),
                          **common)

        # The feedback loop's check: a retrain when enough approved corrections wait.
        scheduler.add_job(jobs.scheduled(maybe_schedule_retrain), CronTrigger.from_crontab(settings.SENTIMENT_RETRAIN_CRON, timezone="UTC"),
                          id="retrain-check", **common)

        def shutdown(signum, frame):
            # Ctrl-C reaches every process of the group and `serve` then sends SIGTERM too: once is enough.
            if stop.is_set():
                return
            log.info("worker %s stopping (signal %d); a running training goes back to the queue and resumes "
                     "from its checkpoint", worker_id, signum)
            stop.set()
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        log.info("worker %s started (stale after %ss)", worker_id, settings.SENTIMENT_STALE_SECONDS)
        scheduler.start()
        # start() returns once shut down; let running jobs notice `stop` and hand their rows back.
        executor.shutdown(wait=True)
        log.info("worker %s stopped", worker_id)
