import logging
import signal
import threading

from django.core.management.base import BaseCommand
from django.utils import timezone

from reviews.conf import conf
from reviews.worker import queue, scheduler

log = logging.getLogger("reviews.worker")


class Command(BaseCommand):
    help = "Run the background worker: requested work (first model, training runs) and scheduled jobs."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="do what is pending now, then exit")

    def handle(self, *args, once, **options):
        worker_id = queue.new_worker_id()
        started_at = timezone.now()
        stop = threading.Event()
        scheduler.clean_store()
        if once:
            done, explained = scheduler.run_once(worker_id=worker_id, started_at=started_at, stop=stop)
            self.stdout.write(f"processed {done} training run(s) and {explained} explanation(s)")
            return

        schedule, executor = scheduler.build(worker_id=worker_id, started_at=started_at, stop=stop)

        def shutdown(signum, frame):
            # Ctrl-C reaches every process of the group and `serve` then sends SIGTERM too: once is enough.
            if stop.is_set():
                return
            log.info("worker %s stopping (signal %d); a running training goes back to the queue and resumes "
                     "from its checkpoint", worker_id, signum)
            stop.set()
            schedule.shutdown(wait=False)

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        log.info("worker %s started (stale after %ss)", worker_id, conf.worker.stale_seconds)
        schedule.start()
        # start() returns once shut down; let running jobs notice `stop` and hand their rows back.
        executor.shutdown(wait=True)
        log.info("worker %s stopped", worker_id)
