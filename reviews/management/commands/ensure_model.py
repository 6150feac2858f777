from django.core.management import call_command
from django.core.management.base import BaseCommand

from reviews.worker.training import request_first_model
from reviews.models import ModelVersion


class Command(BaseCommand):
    help = (
        "First run: when no model version exists, queue the quick model for the worker (default) "
        "or, with --now, train it in this process before returning."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", action="store_true", help="train here and now instead of queueing it")

    def handle(self, *args, now, **options):
        if ModelVersion.objects.exists():
            self.stdout.write("a model version exists; nothing to do")
            return
        if now:
            self.stdout.write("no model yet: training the quick profile (minutes on a laptop CPU)")
            call_command("train", profile="quick", resume=True, stdout=self.stdout, stderr=self.stderr)
            return
        run = request_first_model()
        self.stdout.write(f"no model yet: the worker trains the quick profile (training run {run.pk}); the site shows its progress")
