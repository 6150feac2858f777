import os

from django.core.management.base import BaseCommand, CommandError

from modeling import registry
from reviews.conf import conf
from reviews.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Seal the registered model versions with this installation's signing key: versions of the "
        "old unsealed format (after their old checks pass) or, with --old-key-env, versions sealed "
        "with a previous key (key rotation). Versions already sealed with the current key are left."
    )

    def add_arguments(self, parser):
        parser.add_argument("--old-key-env", metavar="NAME",
                            help="environment variable holding the previous signing key (key rotation)")

    def handle(self, *args, old_key_env, **options):
        key = conf.signing_key()
        old_key = None
        if old_key_env:
            old_key = os.environ.get(old_key_env, "").encode()
            if not old_key:
                raise CommandError(f"{old_key_env} is not set")
        failed = 0
        for version in ModelVersion.objects.order_by("created_at"):
            try:
                if old_key is not None and registry.read_manifest(version.path).get("seal"):
                    registry.reseal(version.path, old_key=old_key, key=key)
                    said = "re-sealed with the new key"
                else:
                    said = "sealed" if registry.seal_existing(version.path, key=key) else "already sealed"
            except registry.RegistryError as exc:
                failed += 1
                self.stderr.write(f"{version.id}: NOT sealed: {exc}")
                continue
            if said != "already sealed" or options["verbosity"] > 1:
                self.stdout.write(f"{version.id}: {said}")
        if failed:
            raise CommandError(f"{failed} version(s) could not be sealed; they will not be loaded")
