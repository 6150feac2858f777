from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from modeling import registry
from reviews import model_store
from reviews.conf import conf
from reviews.management.versions import over_versions
from reviews.models import ModelVersion


class Command(BaseCommand):
    help = ("Upload the registered versions this machine holds to the object store (SENTIMENT_MODEL_STORE=s3://...): "
            "once, when an installation moves from a local folder to a store. Each is verified first; "
            "versions the store has whole already are left alone.")

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", default=None,
                            help="the folder they are in (default: SENTIMENT_MODEL_CACHE)")

    def handle(self, *args, source, **options):
        store = model_store.remote()
        if store is None:
            raise CommandError("SENTIMENT_MODEL_STORE is a folder, not an object store (s3://bucket/prefix)")
        folder = Path(source) if source else model_store.local_root()
        key = conf.signing_key()

        def upload(version):
            if store.has_version(version.id):
                return "in the store already" if options["verbosity"] > 1 else None
            path = folder / version.id
            registry.verify(path, key=key)
            store.put_version(path)
            return f"uploaded to {store.url}"

        over_versions(self, ModelVersion.objects.all(), upload, not_done="not uploaded", failure="could not be uploaded")
