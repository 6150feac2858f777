"""Is a moderator's label worth more from the "Needs a label" queue? And does triage rank flags?
Plays moderators with ground truth (issue 21). Prints two tables (docs/results.md).

    SENTIMENT_VAR_DIR=/tmp/label-bench .venv/bin/python benchmarks/labelling.py [--labels 100] [--pool 2000]
    .venv/bin/python benchmarks/labelling.py --quick        # toy size, a scratch installation (CI)

Run it on a scratch installation with an active model (it writes reviews, labels, flags and
training runs into that installation's database, and sets the starting model active again before
each arm). The pool is Rotten Tomatoes sentences (short, another kind of text than the IMDb reviews
the model learnt), stored as predictions through the site's own service; the held-out set is the
Rotten Tomatoes test split, which no arm labels. Each arm gives the same number of labels, with
the true label, and then forces a retrain exactly as the worker runs it (automatic promotion off:
the candidate is measured whatever the gate says):

- queue: the first items of the "Needs a label" queue (the worker's scores; near-duplicates
  collapsed), labelled through the queue's service;
- random: as many predictions of the pool drawn at random, labelled the same way;
- flags: what users flag (predictions the model got wrong, flagged with the true label by
  different people), approved by a moderator.

Reported per arm: labels given, how many disagreed with the model (the corrections), how many the
retrain learnt (a keyed share is held out for the gate), the held-out accuracy of the active model
and of the candidate with the paired difference and its 95% interval, the gain per 100 labels, and
the retrain's wall time. Goal: the queue's gain per label at least 1.5x the random choice's.

The triage table flags pool sentences twice over, each flag from its own address: honest flags
(the model was wrong, flagged with the true label) and wrong ones (the model was right, flagged with
the other label); the worker's triage scores them, and ROC-AUC says how well the score ranks honest
above wrong (goal: at least 0.8), for the score as the site computes it before any flag is decided
(equal weights), for weights fitted on the other half's decisions (2-fold), and for each signal.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401  (sets up paths and settings first)
import _cpu

ARMS = ("queue", "random", "flags")


def scratch_installation() -> Path:
    var = Path(tempfile.mkdtemp(prefix="labelling-"))
    os.environ.update({
        "SENTIMENT_VAR_DIR": str(var), "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
        "SENTIMENT_DATA_SPLIT": "1500,100,200", "SENTIMENT_RETRAIN_REPLAY_SIZE": "200",
        "SENTIMENT_GATE_PROBE_SIZE": "30",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "labelling-quick-" + "x" * 40,
    })
    return var


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, default=100, help="labels per arm")
    parser.add_argument("--pool", type=int, default=2000, help="Rotten Tomatoes sentences stored as predictions")
    parser.add_argument("--heldout", type=int, default=1066, help="held-out sentences the gain is measured on")
    parser.add_argument("--flags", type=int, default=100, help="flags of each kind in the triage table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="toy size in a scratch installation; fails if a cell is empty")
    parser.add_argument("--isa", choices=("native", "avx2"), default="native")
    args = parser.parse_args()
    _cpu.apply_isa(args.isa)
    if args.quick:
        scratch_installation()
        args.labels, args.pool, args.heldout, args.flags = 12, 120, 60, 15
    os.environ["SENTIMENT_RETRAIN_AUTO_PROMOTE"] = "false"
    os.environ.setdefault("SENTIMENT_RETRAIN_MIN_CORRECTIONS", "1")
    print(_cpu.describe(args.isa))
    import django

    django.setup()
    if args.quick:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    bench = Bench(args)
    rows = [bench.arm(name) for name in ARMS]
    print_table(rows, f"Labels from the queue, at random and from users' flags: {args.labels} each, "
                      f"pool {args.pool:,} Rotten Tomatoes sentences, held-out {bench.heldout_size:,}")
    queue_gain, random_gain = (next(r["_gain"] for r in rows if r["arm"] == a) for a in ("queue", "random"))
    ratio = queue_gain / random_gain if random_gain > 0 else None
    print(f"queue gain per label / random's: {'n/a (random gained nothing)' if ratio is None else f'{ratio:.2f}x'}"
          f" (goal: at least 1.5x)")
    triage = bench.triage()
    print_table(triage, f"Triage: {args.flags} honest and {args.flags} wrong flags, each from its own address")
    if args.quick and any(v in ("", None) for row in rows + triage for k, v in row.items() if not k.startswith("_")):
        sys.exit("quick check failed: a table cell is empty")


def print_table(rows: list[dict], title: str) -> None:
    columns = [k for k in rows[0] if not k.startswith("_")]
    print(f"\n{title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


class Bench:
    def __init__(self, args):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Permission

        from modeling.data import load_reviews
        from reviews.selectors import model_version_active

        self.args = args
        self.active = model_version_active() or (self._toy_model() if args.quick else None)
        if self.active is None:
            sys.exit("no active model: run `manage.py train --profile quick` in this installation first, or use --quick")
        user, _ = get_user_model().objects.get_or_create(username="labelling-benchmark", defaults={"is_staff": True})
        user.user_permissions.add(Permission.objects.get(codename="moderate_feedback"))
        self.moderator = get_user_model().objects.get(pk=user.pk)
        rt = load_reviews("packaged-rt", seed=0)
        pool = rt["train"].shuffle(seed=args.seed).select(range(min(args.pool, len(rt["train"]))))
        self.pool = list(zip(pool["text"], pool["label"]))
        heldout = rt["test"].shuffle(seed=args.seed).select(range(min(args.heldout, len(rt["test"]))))
        self.heldout_texts, self.heldout_labels = list(heldout["text"]), list(heldout["label"])
        self.heldout_size = len(self.heldout_texts)
        self.active_correct = self._correct(self.active.path)

    def _toy_model(self):
        import dataclasses

        from modeling.config import PROFILES
        from reviews.worker.training import train_and_register, work_dir_for

        config = dataclasses.replace(PROFILES["quick"], train_limit=300, validation_limit=100, max_length=64)
        _, row = train_and_register(config, profile="quick", work_dir=work_dir_for("labelling-quick"))
        return row

    def reset(self):
        """No reviews, flags, sources or runs; the starting model active; the pool stored and scored."""
        from reviews import predictor
        from reviews.models import FeedbackSource, ModelVersion, QueueScore, Review, TrainingRun
        from reviews.services.model_versions import make_active
        from reviews.services.reviews import review_submit_many
        from reviews.worker.moderation import score_queue

        Review.objects.all().delete()
        FeedbackSource.objects.all().delete()
        TrainingRun.objects.all().delete()
        QueueScore.objects.all().delete()
        if ModelVersion.objects.get(pk=self.active.pk).status != ModelVersion.Status.ACTIVE:
            make_active(version=self.active, user=None)
        predictor.reset()
        texts = [t for t, _ in self.pool]
        predictions = []
        for start in range(0, len(texts), 64):
            predictions += review_submit_many(texts=texts[start:start + 64], session_key="labelling-pool")
        while score_queue():
            pass
        return predictions

    def _correct(self, path):
        import numpy as np

        from modeling.serving import Predictor
        from reviews.conf import conf

        predictor = Predictor(path, key=conf.signing_key(), threads=conf.serving.threads,
                              precision=conf.serving.precision, backend=conf.serving.backend)
        return predictor.predict_proba(self.heldout_texts).argmax(1) == np.asarray(self.heldout_labels)

    def arm(self, name: str) -> dict:
        from modeling.config import LABELS
        from modeling.evaluate import paired_difference
        from reviews.models import TrainingRun
        from reviews.moderation import label_queue
        from reviews.services.feedback import feedback_approve, feedback_flag
        from reviews.services.label_queue import queue_label
        from reviews.services.training import training_run_request
        from reviews.worker import queue, training

        predictions = self.reset()
        truth = {p.pk: LABELS[label] for p, (_, label) in zip(predictions, self.pool)}
        wanted = self.args.labels
        if name == "queue":
            chosen = [item.prediction for item in label_queue(moderator=self.moderator, limit=wanted)]
        elif name == "random":
            chosen = random.Random(self.args.seed).sample(predictions, min(wanted, len(predictions)))
        else:
            chosen = [p for p in predictions if p.label != truth[p.pk]][:wanted]
        given = disagreed = 0
        for i, p in enumerate(chosen):
            if name == "flags":
                flag, _ = feedback_flag(prediction=p, label=truth[p.pk], session_key=f"user-{i}",
                                        client_ip=f"10.{i // 250}.{i % 250}.7")
                feedback_approve(feedback=flag, reviewer=self.moderator)
            else:
                queue_label(prediction=p, label=truth[p.pk], moderator=self.moderator)
            given += 1
            disagreed += p.label != truth[p.pk]
        run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=self.moderator)
        started = time.monotonic()
        training.process_training_runs(worker_id=queue.new_worker_id())
        wall = time.monotonic() - started
        run.refresh_from_db()
        if run.status != "done" or run.model_version is None:
            sys.exit(f"training run {run.pk} ended {run.status} {run.decision}: {run.error}")
        candidate = self._correct(run.model_version.path)
        diff = paired_difference(candidate, self.active_correct)
        gain = diff["difference"] / given if given else 0.0
        return {
            "arm": name, "labels given": given, "disagreed with the model": disagreed,
            "learnt by the retrain": run.counts.get("corrections_used", 0),
            "held-out accuracy: active → candidate": f"{self.active_correct.mean():.4f} → {candidate.mean():.4f}",
            "difference (95% interval)": f"{100 * diff['difference']:+.2f} points "
                                         f"({100 * diff['low']:+.2f} to {100 * diff['high']:+.2f})",
            "gain per 100 labels": f"{100 * 100 * gain:+.2f} points",
            "retrain, wall clock": f"{wall:.0f} s", "_gain": gain,
        }

    def triage(self) -> list[dict]:
        from sklearn.metrics import roc_auc_score

        from modeling.config import LABELS
        from modeling.triage import SIGNALS, TriageModel
        from reviews.models import Feedback
        from reviews.services.feedback import feedback_flag
        from reviews.worker.moderation import triage_flags

        predictions = self.reset()
        truth = {p.pk: LABELS[label] for p, (_, label) in zip(predictions, self.pool)}
        rng = random.Random(self.args.seed)
        wrong_model = [p for p in predictions if p.label != truth[p.pk]]
        right_model = [p for p in predictions if p.label == truth[p.pk]]
        n = min(self.args.flags, len(wrong_model), len(right_model))
        honest_ids = set()
        for i, p in enumerate(rng.sample(wrong_model, n) + rng.sample(right_model, n)):
            other = "negative" if p.label == "positive" else "positive"
            flag, _ = feedback_flag(prediction=p, label=other, session_key=f"flagger-{i}",
                                    client_ip=f"10.{100 + i // 250}.{i % 250}.9")
            if i < n:
                honest_ids.add(flag.pk)
        started = time.monotonic()
        triage_flags()
        seconds = time.monotonic() - started
        flags = list(Feedback.objects.filter(kind=Feedback.Kind.FLAG).order_by("pk"))
        honest = [f.pk in honest_ids for f in flags]
        rows = [{"score": "triage score as the site shows it (equal weights, nothing decided yet)",
                 "ROC-AUC": f"{roc_auc_score(honest, [f.triage_score for f in flags]):.3f}",
                 "flags": len(flags), "worker pass": f"{seconds:.1f} s"}]
        # Weights fitted on one half's decisions, scored on the other (and back).
        signals = [f.triage["signals"] for f in flags]
        order = list(range(len(flags)))
        rng.shuffle(order)
        halves = order[::2], order[1::2]
        fitted = [0.0] * len(flags)
        for fit_on, score_on in (halves, halves[::-1]):
            model = TriageModel.fit([signals[i] for i in fit_on], [honest[i] for i in fit_on])
            for i in score_on:
                fitted[i] = model.score(signals[i])
        rows.append({"score": "weights fitted on the other half's decisions (2-fold)",
                     "ROC-AUC": f"{roc_auc_score(honest, fitted):.3f}", "flags": len(flags), "worker pass": "—"})
        for name in SIGNALS:
            values = [s[name] for s in signals]
            auc = roc_auc_score(honest, values) if len(set(values)) > 1 else 0.5
            rows.append({"score": f"signal alone: {name}", "ROC-AUC": f"{auc:.3f}", "flags": len(flags),
                         "worker pass": "—"})
        return rows


if __name__ == "__main__":
    main()
