import functools

from django.core.management.base import BaseCommand, CommandError

from modeling import registry
from modeling.data import DataSourceError
from modeling.evaluate import evaluate, format_metrics
from modeling.serving import Predictor
from reviews.conf import conf
from reviews.data import load
from reviews.models import ModelVersion
from reviews.selectors import model_version_active


class Command(BaseCommand):
    help = "Evaluate a model version (default: the active one) on a split or another data source."

    def add_arguments(self, parser):
        # Django gives every command --version (its own version); here it names a model version.
        # Options live in the parser's optionals group, which checks conflicts itself.
        parser.conflict_handler = parser._optionals.conflict_handler = "resolve"
        parser.add_argument("--version", help="model version id (default: the active version)")
        parser.add_argument("--split", default="test", help="split of the data source (default: test)")
        parser.add_argument("--data", help="data source (default: SENTIMENT_DATA_SOURCE); a file is an evaluation set")

    def handle(self, *args, version, split, data, **options):
        if version:
            row = ModelVersion.objects.filter(pk=version).first()
            if row is None:
                raise CommandError(f"no registered model version {version}")
        else:
            row = model_version_active()
            if row is None:
                raise CommandError("no active model version; train one with `manage.py train`")
        source = data or conf.data.source
        try:
            dataset = load(source)
        except DataSourceError as exc:
            raise CommandError(str(exc)) from None
        if split not in dataset:
            raise CommandError(f"data source {source} has no split {split!r} (it has: {', '.join(dataset)})")
        try:
            predictor = Predictor(row.path, key=conf.signing_key(), threads=conf.serving.threads,
                                  precision=conf.serving.precision, backend=conf.serving.backend)
        except registry.RegistryError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"version {row.id} on {source} {split} ({len(dataset[split])} reviews)")
        proba = functools.partial(predictor.predict_proba, desc=f"evaluating on {split}")
        for line in format_metrics(evaluate(proba, dataset[split])):
            self.stdout.write(line)
