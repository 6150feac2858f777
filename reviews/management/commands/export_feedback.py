from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reviews.models import Feedback
from reviews.services.feedback_export import FORMATS, STREAMED, export_feedback, export_lines


class Command(BaseCommand):
    help = (
        "Write the flags (the corrections people made) to a file: text, predicted and corrected label, status, "
        "source (a keyed hash), model version, timestamps, held out or not. --format hf writes a Hugging Face "
        "dataset folder that datasets.load_from_disk reads back."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=FORMATS, default="csv")
        parser.add_argument("--output", "-o", help="file (or, for hf, folder) to create; - or none: standard output "
                                                   "(csv and jsonl only)")
        parser.add_argument("--status", choices=[s.value for s in Feedback.Status], help="only flags with this status")

    def handle(self, *args, format: str, output: str | None, status: str | None, **options):
        if output in (None, "-"):
            if format not in STREAMED:
                raise CommandError(f"--format {format} writes a file: give --output PATH")
            self.stdout.ending = ""
            for line in export_lines(format, status=status):
                self.stdout.write(line)
            return
        try:
            count = export_feedback(Path(output), fmt=format, status=status)
        except FileExistsError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"wrote {count} flag(s) to {output} ({format})")
