from django.core.management.base import BaseCommand, CommandError

from reviews.models import TrainingRun
from reviews.services.training import training_run_request
from reviews.worker import queue, training


class Command(BaseCommand):
    help = (
        "Retrain on IMDb replay plus approved corrections, gate the candidate, promote it if it passes. "
        "Without --force it runs only when enough corrections wait (as the schedule does)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="retrain even with few or no new corrections")
        parser.add_argument("--queue", action="store_true", dest="only_queue", help="only queue the run for the worker")
        parser.add_argument("--device", choices=["cpu", "cuda"], default="",
                            help="with --force: only a worker that trains on this device may run it")

    def handle(self, *args, force, only_queue, device, **options):
        if force:
            run, created = training_run_request(trigger=TrainingRun.Trigger.MANUAL, device=device)
        else:
            run = training.maybe_schedule_retrain()
            created = run is not None
            if run is None:
                self.stdout.write("not enough approved corrections waiting; use --force to retrain anyway")
                return
        self.stdout.write(f"training run {run.pk} {'queued' if created else 'already queued or running'}")
        if only_queue:
            return
        worker_id = queue.new_worker_id()
        training.process_training_runs(worker_id=worker_id)
        run.refresh_from_db()
        if run.status == "failed":
            raise CommandError(f"training run {run.pk} failed: {run.error}")
        self.stdout.write(f"training run {run.pk}: {run.status}; decision {run.decision or '-'}")
        for check in run.reasons:
            mark = "HOLD" if check.get("hold") else "ok  " if check["passed"] else "FAIL"
            self.stdout.write(f"  {mark} {check['check']}: {check['detail']}")
        if run.log:
            self.stdout.write(run.log)
