import functools

from django.core.management.base import BaseCommand, CommandError

from modeling import registry
from modeling.config import PROFILES
from modeling.data import DataSourceError
from modeling.evaluate import evaluate, format_metrics
from modeling.serving import Predictor
from reviews.conf import conf
from reviews.data import load
from reviews.models import ModelVersion
from reviews.selectors import model_version_active


class Command(BaseCommand):
    help = ("Evaluate a model version (default: the active one) on a split or another data source; or, with --cv K, "
            "a training recipe by k-fold cross-validation on the training split.")

    def add_arguments(self, parser):
        # Django gives every command --version (its own version); here it names a model version.
        # Options live in the parser's optionals group, which checks conflicts itself.
        parser.conflict_handler = parser._optionals.conflict_handler = "resolve"
        parser.add_argument("--version", help="model version id (default: the active version)")
        parser.add_argument("--split", default="test", help="split of the data source (default: test)")
        parser.add_argument("--data", help="data source (default: SENTIMENT_DATA_SOURCE); a file is an evaluation set")
        parser.add_argument("--cv", type=int, metavar="K", help="cross-validate --profile's recipe in K folds instead")
        parser.add_argument("--profile", choices=sorted(PROFILES), default="quick", help="the recipe --cv trains")
        parser.add_argument("--fit-budget", type=float, metavar="MINUTES",
                            help="--cv: each fold trains on as many reviews as this many minutes take (default: the profile's)")
        parser.add_argument("--train-limit", type=int, help="--cv: at most this many training reviews per fold")
        parser.add_argument("--seed", type=int, default=0, help="--cv: the folds' seed")
        parser.add_argument("--quiet", action="store_true", help="--cv: no progress bars")

    def handle(self, *args, version, split, data, **options):
        if options["cv"] is not None:
            return self._cross_validate(data, options)
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

    def _cross_validate(self, data, o) -> None:
        import dataclasses
        import logging

        from modeling.crossval import FIGURES, cross_validate
        from reviews.worker.training import load_training_data, profile_config, work_dir_for

        logging.getLogger("modeling").setLevel(logging.INFO)
        config = profile_config(o["profile"])
        changes = {}
        if o["fit_budget"] is not None:
            changes["fit_budget_s"] = o["fit_budget"] * 60 or None
        if o["train_limit"] is not None:
            changes["train_limit"] = o["train_limit"]
        config = dataclasses.replace(config, **changes)
        source = data or conf.data.source
        try:
            dataset = load_training_data(source)
            self.stdout.write(f"{o['cv']}-fold cross-validation of profile {o['profile']} on {source} train "
                              f"({len(dataset['train'])} reviews)")
            result = cross_validate(config, dataset, k=o["cv"], seed=o["seed"], show_progress=not o["quiet"],
                                    work_dir=work_dir_for(f"cv-{o['profile']}-{o['cv']}"))
        except (DataSourceError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        for fold in result["folds"]:
            self.stdout.write(f"fold {fold['fold']}: " + ", ".join(f"{name} {fold[name]:.4f}" for name in FIGURES)
                              + f" ({fold['n']} held out, trained on {fold['train_rows']})")
        for name in FIGURES:
            s = result["summary"][name]
            self.stdout.write(f"{name} {s['mean']:.4f} (95% interval {s['low']:.4f} to {s['high']:.4f}; sd {s['sd']:.4f})")
