from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reviews.services.accounts import api_token_issue


class Command(BaseCommand):
    help = "Print USERNAME's API token, creating it when the user has none (send it as 'Authorization: Token KEY')."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="replace the token; the old one stops working")

    def handle(self, *args, username, rotate, **options):
        user_model = get_user_model()
        user = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"no user {username!r} (create one with `make superuser` or in the admin)")
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; its token would be refused")
        self.stdout.write(api_token_issue(user=user, rotate=rotate).key)
