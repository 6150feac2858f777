import dataclasses
import logging
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from modeling.config import PROFILES, Phase
from modeling.data import DataSourceError
from modeling.evaluate import format_metrics
from reviews.conf import conf
from reviews.worker.training import train_and_register, work_dir_for
from reviews.models import ModelVersion


def parse_phases(text: str) -> tuple[Phase, ...]:
    """'head:1:1e-3,top_k:2:5e-5:2' -> phases (trainable:epochs:lr[:top_k])."""
    phases = []
    for part in text.split(","):
        bits = part.strip().split(":")
        if len(bits) not in (3, 4):
            raise CommandError(f"--phases item {part!r} is not trainable:epochs:lr[:top_k]")
        try:
            phases.append(Phase(bits[0], int(bits[1]), float(bits[2]), *( [int(bits[3])] if len(bits) == 4 else [])))
        except ValueError as exc:
            raise CommandError(f"--phases item {part!r}: {exc}") from None
    return tuple(phases)


class Command(BaseCommand):
    help = "Fine-tune a model, evaluate it on the validation and test splits, and register it."

    def add_arguments(self, parser):
        parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
        parser.add_argument("--base-model", help="hub id or folder (default: SENTIMENT_BASE_MODEL)")
        parser.add_argument("--data", help="data source (default: SENTIMENT_DATA_SOURCE)")
        parser.add_argument("--seed", type=int, help="training seed (the data split uses SENTIMENT_DATA_SEED)")
        parser.add_argument("--phases", help="e.g. head:1:1e-3,top_k:2:5e-5:2 (trainable:epochs:lr[:top_k])")
        parser.add_argument("--schedule", choices=["full", "two-phase", "head"], help="shortcut for --phases")
        parser.add_argument("--top-k", type=int, help="layers unfrozen in the top_k phase")
        parser.add_argument("--epochs", type=int, help="epochs of every phase")
        parser.add_argument("--lr", type=float, help="learning rate of the last phase")
        parser.add_argument("--max-length", type=int)
        parser.add_argument("--truncation", choices=["head", "head_tail"])
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--train-limit", type=int, help="use at most this many training reviews")
        parser.add_argument("--budget", type=float, help="wall-clock budget in minutes (best epoch kept)")
        parser.add_argument("--fit-budget", type=float, metavar="MINUTES",
                            help="train on as many reviews as this many minutes of training take on this machine "
                                 "(measured before the first step); 0 = every review --train-limit allows")
        parser.add_argument("--init-from", help="continue from this registered version id")
        parser.add_argument("--work-dir", help="checkpoint folder (default: under the cache folder, per profile)")
        parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --work-dir")
        parser.add_argument("--no-register", action="store_true", help="save to the store but do not register")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def handle(self, *args, **o):
        logging.getLogger("modeling").setLevel(logging.INFO)
        config = PROFILES[o["profile"]]
        base_model = o["base_model"] or conf.data.base_model
        changes = {"base_model": base_model}
        phases = config.phases
        if o["schedule"] == "full":
            phases = (Phase("all", phases[-1].epochs, phases[-1].lr),)
        elif o["schedule"] == "two-phase":
            phases = (Phase("head", 1, 1e-3), Phase("top_k", phases[-1].epochs, phases[-1].lr, top_k=2))
        elif o["schedule"] == "head":
            phases = (Phase("head", phases[-1].epochs, 1e-3),)
        if o["phases"]:
            phases = parse_phases(o["phases"])
        if o["top_k"] is not None:
            phases = tuple(dataclasses.replace(p, top_k=o["top_k"]) for p in phases)
        if o["epochs"] is not None:
            phases = tuple(dataclasses.replace(p, epochs=o["epochs"]) for p in phases)
        if o["lr"] is not None:
            phases = phases[:-1] + (dataclasses.replace(phases[-1], lr=o["lr"]),)
        changes["phases"] = phases
        for option, field in (("seed", "seed"), ("max_length", "max_length"), ("truncation", "truncation"),
                              ("batch_size", "batch_size"), ("train_limit", "train_limit")):
            if o[option] is not None:
                changes[field] = o[option]
        if o["budget"] is not None:
            changes["budget_s"] = o["budget"] * 60
        if o["fit_budget"] is not None:
            changes["fit_budget_s"] = o["fit_budget"] * 60 or None
        try:
            config = dataclasses.replace(config, **changes)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

        init_from = None
        if o["init_from"]:
            try:
                init_from = ModelVersion.objects.get(pk=o["init_from"]).path
            except ModelVersion.DoesNotExist:
                raise CommandError(f"no registered model version {o['init_from']}") from None

        source = o["data"] or conf.data.source
        work_dir = Path(o["work_dir"]) if o["work_dir"] else work_dir_for(o["profile"])
        self.stdout.write(f"training profile {o['profile']} on {source} from {init_from or base_model}; checkpoints in {work_dir}")
        try:
            version, row = train_and_register(
                config, profile=o["profile"], data_source=source, init_from=init_from, work_dir=work_dir,
                resume=o["resume"], show_progress=not o["quiet"], register=not o["no_register"],
            )
        except (DataSourceError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"saved version {version.id} in {version.path}")
        summary = version.manifest["training"]
        self.stdout.write(f"training took {summary['duration_s']:.0f} s; build with evaluation {version.manifest['build_seconds']:.0f} s")
        for split, metrics in version.metrics.items():
            self.stdout.write(f"-- {split}")
            for line in format_metrics(metrics):
                self.stdout.write(line)
        if row is not None:
            self.stdout.write(f"registered {row.id} as {row.status}")
