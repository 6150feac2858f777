from django.core.management.base import BaseCommand, CommandError

from modeling import onnx_runtime, registry
from reviews import model_store
from reviews.conf import conf
from reviews.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Export model versions built before ONNX Runtime was used (or whose export failed) to ONNX, fp32 and "
        "int8, and seal the files with each version, so SENTIMENT_BACKEND=auto can serve them with ONNX Runtime. "
        "New versions are exported when they are built (SENTIMENT_ONNX_EXPORT)."
    )

    def add_arguments(self, parser):
        parser.add_argument("versions", nargs="*", metavar="VERSION", help="version ids (default: every version without an export)")

    def handle(self, *args, versions, **options):
        if not onnx_runtime.available():
            raise CommandError("onnxruntime is not installed (pip install -r requirements.txt)")
        rows = ModelVersion.objects.filter(pk__in=versions) if versions else ModelVersion.objects.all()
        missing = sorted(set(versions) - set(rows.values_list("pk", flat=True)))
        if missing:
            raise CommandError(f"no such version: {', '.join(missing)}")
        key, failed = conf.signing_key(), 0
        for version in rows.order_by("created_at"):
            if version.kind == ModelVersion.Kind.NGRAM:
                if versions:
                    self.stdout.write(f"{version.id}: an n-gram model; it has no transformer to export")
                continue
            try:
                manifest = registry.verify(version.path, key=key)
                if onnx_runtime.files(version.path, manifest) and not versions:
                    continue
                entry = {}

                def add(folder):
                    entry.update(onnx_runtime.export(folder))
                    return {"onnx": entry}

                registry.extend(version.path, key=key, add=add)
                model_store.publish(version.id)  # with an object store, every machine gets the export
            except registry.RegistryError as exc:
                failed += 1
                self.stderr.write(f"{version.id}: not exported: {exc}")
                continue
            kept = ", ".join(entry["files"]) or f"nothing ({entry.get('error', 'the exports disagreed with PyTorch')})"
            self.stdout.write(f"{version.id}: exported {kept} in {entry['seconds']:.0f} s")
        if failed:
            raise CommandError(f"{failed} version(s) could not be exported")
