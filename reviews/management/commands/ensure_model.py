from django.core.management import call_command
from django.core.management.base import BaseCommand

from reviews.models import ModelVersion


class Command(BaseCommand):
    help = "Train and register the quick model when no model version exists yet (first run)."

    def add_arguments(self, parser):
        parser.add_argument("--profile", default="quick")

    def handle(self, *args, profile, **options):
        if ModelVersion.objects.exists():
            self.stdout.write("a model version exists; nothing to train")
            return
        self.stdout.write(f"no model yet: training the {profile} profile (minutes on a laptop CPU)")
        call_command("train", profile=profile, resume=True, stdout=self.stdout, stderr=self.stderr)
