import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create or update a staff superuser without prompts, from DJANGO_SUPERUSER_USERNAME "
        "(default admin), DJANGO_SUPERUSER_PASSWORD (required) and DJANGO_SUPERUSER_EMAIL."
    )

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin").strip()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        if not username:
            raise CommandError("DJANGO_SUPERUSER_USERNAME is empty")
        if not password:
            raise CommandError("set DJANGO_SUPERUSER_PASSWORD (and optionally DJANGO_SUPERUSER_USERNAME, _EMAIL)")
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(**{user_model.USERNAME_FIELD: username})
        user.email = email or user.email
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} superuser {username}")
