from django.core.management.base import BaseCommand, CommandError

from modeling import onnx_runtime, registry
from reviews import model_store
from reviews.conf import conf
from reviews.management.versions import over_versions
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
        key = conf.signing_key()

        def export(version):
            if version.kind == ModelVersion.Kind.NGRAM:
                return "an n-gram model; it has no transformer to export" if versions else None
            manifest = registry.verify(version.path, key=key)
            if onnx_runtime.files(version.path, manifest) and not versions:
                return None
            entry = {}

            def add(folder):
                entry.update(onnx_runtime.export(folder))
                return {"onnx": entry}

            registry.extend(version.path, key=key, add=add)
            model_store.publish(version.id)  # with an object store, every machine gets the export
            kept = ", ".join(entry["files"]) or f"nothing ({entry.get('error', 'the exports disagreed with PyTorch')})"
            return f"exported {kept} in {entry['seconds']:.0f} s"

        over_versions(self, rows, export, not_done="not exported", failure="could not be exported")
