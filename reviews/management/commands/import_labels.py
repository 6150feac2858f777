from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reviews.services.label_import import LabelFileError, labels_import, read_label_file
from reviews.services.reviews import NoActiveModel


class Command(BaseCommand):
    help = (
        "Bring labelled texts in as trusted corrections: a CSV with a header naming 'text' and 'label' (negative "
        "or positive). Every row is checked first; a file with a bad row imports nothing and gets one error per "
        "bad row. Each text is classified by the active model; where it disagrees, the label becomes a correction "
        "flagged and approved by --user. Running it again skips what it imported before."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file")
        parser.add_argument("--user", required=True, help="the moderator (a staff username) the corrections are from")
        parser.add_argument("--note", default="", help="kept with each approval (default: the file's name)")

    def handle(self, *args, file: str, user: str, note: str, **options):
        try:
            moderator = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {user!r}") from None
        try:
            rows = read_label_file(file)
        except FileNotFoundError:
            raise CommandError(f"no file {file}") from None
        except LabelFileError as exc:
            raise CommandError(f"nothing imported:\n{exc}") from None
        try:
            report = labels_import(rows=rows, user=moderator, note=note or f"imported from {file}")
        except PermissionError as exc:
            raise CommandError(str(exc)) from None
        except NoActiveModel:
            raise CommandError("no model is active yet: the texts are classified first (wait for the first model)") from None
        self.stdout.write(f"{report.rows} row(s): {report.corrections} correction(s) approved, {report.agreed} the "
                          f"model already agreed with, {report.already} imported before")
