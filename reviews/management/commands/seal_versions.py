import os

from django.core.management.base import BaseCommand, CommandError

from modeling import registry
from reviews import model_store
from reviews.conf import conf
from reviews.management.versions import over_versions
from reviews.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Seal model versions with this installation's signing key: once, the versions registered before "
        "sealing existed (after their old checks pass); or, to rotate the key, every version sealed with the "
        "previous one. Versions already sealed with the current key are checked and left as they are."
    )

    def add_arguments(self, parser):
        old = parser.add_mutually_exclusive_group()
        old.add_argument("--old-key-env", metavar="NAME",
                         help="environment variable holding the previous SENTIMENT_MODEL_SIGNING_KEY")
        old.add_argument("--old-secret-key-env", metavar="NAME",
                         help="environment variable holding the previous DJANGO_SECRET_KEY (when the signing "
                              "key was derived from it)")

    def handle(self, *args, old_key_env, old_secret_key_env, **options):
        key, old_key = conf.signing_key(), self.old_key(old_key_env, old_secret_key_env)

        def seal(version):
            said = self.seal(version, key=key, old_key=old_key)
            return said or ("sealed with the current key" if options["verbosity"] > 1 else None)

        over_versions(self, ModelVersion.objects.all(), seal, not_done="NOT sealed, it will not be loaded",
                      failure="could not be sealed")

    @staticmethod
    def old_key(key_env: str | None, secret_env: str | None) -> bytes | None:
        name = key_env or secret_env
        if name is None:
            return None
        value = os.environ.get(name, "")
        if not value:
            raise CommandError(f"{name} is not set")
        return value.encode() if key_env else conf.signing_key(secret=value)

    @staticmethod
    def seal(version: ModelVersion, *, key: bytes, old_key: bytes | None) -> str:
        """What was done ('' when nothing needed doing). With an object store, the store's copy
        is the one sealed (fetched, verified under the key that sealed it) and uploaded again."""
        if model_store.remote() is not None and old_key is not None:
            try:
                path = model_store.fetch_sealed_with(version.id, key=old_key)
            except registry.VerificationError:
                path = model_store.fetch_sealed_with(version.id, key=key)  # sealed with the new key already
        else:
            path = version.path
        manifest = registry.read_manifest(path)
        if version.awaiting_seal and not manifest.get("seal"):
            registry.seal_existing(path, key=key)
            said = "sealed (registered before sealing existed)"
        elif old_key is not None and manifest.get("seal", {}).get("key_id") == registry.key_id(old_key):
            registry.reseal(path, old_key=old_key, key=key)
            said = "re-sealed with the new key"
        else:
            registry.verify(path, key=key)
            said = ""
        if said:
            model_store.publish(version.id)
        if version.awaiting_seal:
            ModelVersion.objects.filter(pk=version.pk).update(awaiting_seal=False)
        return said
