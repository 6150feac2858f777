import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reviews.conf import conf
from reviews.worker import queue, scheduler

log = logging.getLogger("reviews.worker")


class Command(BaseCommand):
    help = ("Run the background worker: requested work (first model, training runs, explanations) and "
            "scheduled jobs, of the queues it takes.")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="do what is pending now, then exit")
        parser.add_argument("--queues", default=None,
                            help=f"comma-separated, of {', '.join(queue.QUEUES)} (default: SENTIMENT_WORKER_QUEUES)")
        parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                            help="the device it trains on (default: SENTIMENT_WORKER_DEVICE)")

    def handle(self, *args, once, queues, device, **options):
        try:
            queues = queue.parse_queues(queues if queues is not None else conf.worker.queues)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        device = queue.training_device(device or conf.worker.device) if "training" in queues else ""
        worker_id = queue.new_worker_id()
        started_at = timezone.now()
        stop = threading.Event()
        if {"training", "maintenance"} & set(queues):
            scheduler.clean_store()
        if once:
            done, explained = scheduler.run_once(worker_id=worker_id, started_at=started_at, stop=stop,
                                                 queues=queues, device=device)
            self.stdout.write(f"processed {done} training run(s) and {explained} explanation(s)")
            return

        schedule, executor = scheduler.build(worker_id=worker_id, started_at=started_at, stop=stop,
                                             queues=queues, device=device)

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
        log.info("worker %s started: queues %s%s (stale after %ss)", worker_id, ",".join(queues),
                 f", trains on {device}" if device else "", conf.worker.stale_seconds)
        schedule.start()
        # start() returns once shut down; let running jobs notice `stop` and hand their rows back.
        executor.shutdown(wait=True)
        log.info("worker %s stopped", worker_id)
