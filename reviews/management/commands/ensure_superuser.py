import os

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction


class Command(BaseCommand):
    help = (
        "Create or update a staff superuser without prompts, from DJANGO_SUPERUSER_USERNAME "
        "(default admin), DJANGO_SUPERUSER_PASSWORD (required, checked by the password validators) "
        "and DJANGO_SUPERUSER_EMAIL. An existing account that is not a superuser is promoted only with --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true",
                            help="promote an existing account that is not a superuser (and set its password)")

    def handle(self, *args, force=False, **options):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin").strip()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        if not username:
            raise CommandError("DJANGO_SUPERUSER_USERNAME is empty")
        if not password:
            raise CommandError("set DJANGO_SUPERUSER_PASSWORD (and optionally DJANGO_SUPERUSER_USERNAME, _EMAIL)")
        user_model = get_user_model()
        with transaction.atomic():
            user = user_model.objects.select_for_update().filter(**{user_model.USERNAME_FIELD: username}).first()
            created = user is None
            if created:
                user = user_model(**{user_model.USERNAME_FIELD: username})
            elif not user.is_superuser and not force:
                # Someone else's account (a member, or staff with limited permissions) would
                # silently gain every power and a password its owner does not know.
                kind = "a staff account" if user.is_staff else "an account"
                raise CommandError(f"{username!r} is {kind} that is not a superuser; "
                                   "to make it one (and replace its password) add --force")
            user.email = email or user.email
            try:
                validate_password(password, user)
            except ValidationError as exc:
                problems = " ".join(exc.messages)
                raise CommandError(f"DJANGO_SUPERUSER_PASSWORD is refused by the password validators: {problems}") from None
            user.is_staff = user.is_superuser = user.is_active = True
            user.set_password(password)
            user.save()
        self.stdout.write(f"{'created' if created else 'updated'} superuser {username}")
