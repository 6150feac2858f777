import logging

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from modeling.config import PROFILES
from modeling.data import DataSourceError
from modeling.tuning import SEARCH_SPACE, TuningError
from reviews.worker.tuning import TuneRequest, run_study


class Command(BaseCommand):
    help = ("Search a training recipe with Optuna (TPE, median pruning on per-epoch validation accuracy) at the "
            "profile's training budget; the study lives in the project's database and resumes where it stopped. "
            "The best trial is registered as a version (profile 'tuned') that staff may activate.")

    def add_arguments(self, parser):
        parser.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                            help="the recipe to start from, and its training budget per trial (default: quick)")
        parser.add_argument("--trials", type=int, default=20, help="trials in all, completed or pruned (default: 20)")
        parser.add_argument("--budget", type=float, metavar="MINUTES",
                            help="stop starting trials after this many minutes (the trial under way ends first)")
        parser.add_argument("--study", default="", help="study name (default: tune-<profile>); an existing one resumes")
        parser.add_argument("--space", metavar="FILE",
                            help=f"JSON search space (default: {', '.join(SEARCH_SPACE)}; see docs/models.md)")
        parser.add_argument("--storage", help="SQLAlchemy URL of the study's database (default: the project's)")
        parser.add_argument("--data", help="data source (default: SENTIMENT_DATA_SOURCE)")
        parser.add_argument("--seed", type=int, default=0, help="the sampler's seed")
        parser.add_argument("--heartbeat", type=int, default=60, metavar="SECONDS",
                            help="trial heartbeat; a trial silent for twice this long is failed and tried again")
        parser.add_argument("--pictures", metavar="FOLDER", help="write history.svg and importances.svg here")
        parser.add_argument("--no-register", action="store_true", help="search only; register nothing")
        parser.add_argument("--queue", action="store_true",
                            help="queue the study as a training run for the worker (under the training lease) "
                                 "instead of running it here; --profile, --trials, --budget and --study go with it")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def handle(self, *args, **o):
        logging.getLogger("modeling").setLevel(logging.INFO)
        logging.getLogger("reviews").setLevel(logging.INFO)
        if o["trials"] < 1:
            raise CommandError("--trials must be at least 1")
        if o["heartbeat"] < 1:
            raise CommandError("--heartbeat must be at least 1 second")
        if o["queue"]:
            return self._queue(o)
        request = TuneRequest(profile=o["profile"], trials=o["trials"], budget_minutes=o["budget"], name=o["study"],
                              space=o["space"], storage=o["storage"], data_source=o["data"], seed=o["seed"],
                              heartbeat_seconds=o["heartbeat"], pictures=o["pictures"], register=not o["no_register"])
        self.stdout.write(f"study {request.study_name()}: {request.trials} trials from profile {request.profile}")
        try:
            _, report, row = run_study(request, show_progress=not o["quiet"])
        except (TuningError, DataSourceError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        trials = ", ".join(f"{n} {state}" for state, n in sorted(report["trials"].items()))
        self.stdout.write(f"trials: {trials}; this run {report['seconds']:.0f} s")
        for entry in report["history"]:
            value = "" if entry["value"] is None else f" {entry['value']:.4f}"
            self.stdout.write(f"  trial {entry['trial']}: {entry['state']}{value}")
        if report["best_trial"] is None:
            self.stdout.write("no trial completed")
            return
        self.stdout.write(f"best: trial {report['best_trial']}, validation {report['best_validation']:.4f}, "
                          f"{report['best_params']}")
        if report["importances"]:
            self.stdout.write("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in report["importances"].items()))
        if row is not None:
            test = row.metrics.get("test", {})
            interval = (test.get("intervals") or {}).get("accuracy")
            said = f"; test {test['accuracy']:.4f}" if "accuracy" in test else ""
            if said and interval:
                said += f" (95% interval {interval[0]:.4f} to {interval[1]:.4f})"
            self.stdout.write(f"registered {row.id} as {row.status}{said}")

    def _queue(self, o) -> None:
        from reviews.models import TrainingRun
        from reviews.services.training import training_run_request

        options = {"trials": o["trials"], **({"budget_minutes": o["budget"]} if o["budget"] else {}),
                   **({"study": o["study"]} if o["study"] else {})}
        run, created = training_run_request(trigger=TrainingRun.Trigger.TUNE, profile=o["profile"], options=options)
        if created:
            self.stdout.write(f"queued training run {run.pk}: a tuning study for the worker ({options})")
        else:
            self.stdout.write(f"training run {run.pk} ({run.trigger}) is already {run.status}: one run at a time")
