"""Is a moderator's label worth more from the "Needs a label" queue? And does triage rank flags?
Plays moderators with ground truth (issue 21). Prints two tables (docs/results.md).

    SENTIMENT_VAR_DIR=/tmp/label-bench .venv/bin/python benchmarks/labelling.py [--seeds 0 1 2 3] [--labels 100]
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
  different people), approved by a moderator;
- none: no labels at all, the control. A retrain moves held-out accuracy by itself (it refits
  the n-gram companion and replays IMDb reviews), so an arm's gain is measured against the
  control's candidate, on the same held-out sentences, as well as against the active model.

Reported per seed and arm: labels given, how many disagreed with the model (the corrections), how
many the retrain learnt (a keyed share is held out for the gate), the held-out accuracy of the
active model and of the candidate with the paired difference and its 95% interval, the gain per 100
labels over the control's candidate, and the retrain's wall time. Each seed draws another pool and
held-out order and another random arm. Then, over the seeds, each arm's mean gain per 100 labels
over the control (95% t interval) and the queue's against random's. Goal: the queue's gain per
label at least 1.5x the random choice's.

The triage table flags stored predictions twice over, each flag from its own address: honest flags
(the model was wrong, flagged with the true label) and wrong ones (the model was right, flagged with
the other label); the worker's triage scores them, and ROC-AUC says how well the score ranks honest
above wrong (goal: at least 0.8), for the score as the site computes it before any flag is decided
(equal weights), for weights fitted on the other half's decisions (2-fold), and for each signal. It
does so on two kinds of text the model has not seen: Rotten Tomatoes sentences (the pool's, another
kind of text than the model learnt) and reviews of the installation's test split (the kind it
learnt), the mean over the seeds with the lowest and highest.
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

ARMS = ("none", "queue", "random", "flags")
LABELLED = ARMS[1:]


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
    parser.add_argument("--heldout", type=int, default=2000, help="held-out sentences the gain is measured on")
    parser.add_argument("--reviews", type=int, default=2000,
                        help="test-split reviews stored as predictions for the triage table's second set")
    parser.add_argument("--flags", type=int, default=100, help="flags of each kind in the triage table")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--seed", type=int, help="one seed (the same as --seeds N)")
    parser.add_argument("--no-triage", action="store_true", help="the arms only")
    parser.add_argument("--no-arms", action="store_true", help="the triage table only")
    parser.add_argument("--quick", action="store_true", help="toy size in a scratch installation; fails if a cell is empty")
    parser.add_argument("--isa", choices=("native", "avx2"), default="native")
    args = parser.parse_args()
    if args.seed is not None:
        args.seeds = [args.seed]
    _cpu.apply_isa(args.isa)
    if args.quick:
        scratch_installation()
        args.labels, args.pool, args.heldout, args.reviews, args.flags = 12, 120, 60, 200, 15
        args.seeds = args.seeds[:1]
    os.environ["SENTIMENT_RETRAIN_AUTO_PROMOTE"] = "false"
    os.environ.setdefault("SENTIMENT_RETRAIN_MIN_CORRECTIONS", "1")
    print(_cpu.describe(args.isa))
    import django

    django.setup()
    if args.quick:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    bench = Bench(args)
    rows, summary, triage = [], [], []
    if not args.no_arms:
        for seed in args.seeds:
            bench.use_seed(seed)
            rows += against_control([bench.arm(name) for name in ARMS])
        print_table(rows, f"Labels from the queue, at random and from users' flags: {args.labels} each, "
                          f"pool {bench.pool_size:,} Rotten Tomatoes sentences, held-out {bench.heldout_size:,}")
        summary = summarize(rows)
        print_table(summary, f"Over {len(args.seeds)} seed(s): gain per 100 labels over the no-label retrain")
        queue_gain, random_gain = (next(r["_mean"] for r in summary if r["arm"] == a) for a in ("queue", "random"))
        ratio = queue_gain / random_gain if random_gain > 0 else None
        print(f"queue gain per label / random's: {'n/a (random gained nothing)' if ratio is None else f'{ratio:.2f}x'}"
              f" over {len(args.seeds)} seed(s) (goal: at least 1.5x)")
    if not args.no_triage:
        per_seed = []
        for seed in args.seeds:
            bench.use_seed(seed)
            per_seed.append({name: bench.triage(texts) for name, texts in bench.flag_sets().items()})
        triage = triage_table(per_seed)
        print_table(triage, f"Triage: {args.flags} honest and {args.flags} wrong flags, each from its own address; "
                            f"ROC-AUC, mean over {len(args.seeds)} seed(s) (lowest-highest)")
    if args.quick and any(v in ("", None) for row in rows + summary + triage for k, v in row.items()
                          if not k.startswith("_")):
        sys.exit("quick check failed: a table cell is empty")


def print_table(rows: list[dict], title: str) -> None:
    columns = [k for k in rows[0] if not k.startswith("_")]
    print(f"\n{title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    sys.stdout.flush()


def against_control(rows: list[dict]) -> list[dict]:
    """One seed's rows with each labelled arm's gain per label over the control's candidate
    (paired, on the same held-out sentences)."""
    from modeling.evaluate import paired_difference

    control = next(r for r in rows if r["arm"] == "none")
    for row in rows:
        if row["arm"] == "none":
            row["over the no-label retrain (95% interval)"], row["gain per 100 labels"] = "—", "—"
            continue
        diff = paired_difference(row["_candidate"], control["_candidate"])
        row["_gain"] = diff["difference"] / max(1, row["labels given"])
        row["over the no-label retrain (95% interval)"] = (f"{100 * diff['difference']:+.2f} points "
                                                          f"({100 * diff['low']:+.2f} to {100 * diff['high']:+.2f})")
        row["gain per 100 labels"] = f"{100 * 100 * row['_gain']:+.2f} points"
        print(f"seed {row['seed']}, {row['arm']}: {row['over the no-label retrain (95% interval)']} over the control",
              flush=True)
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Per labelled arm over the seeds: the mean gain per 100 labels over the control with its 95%
    interval; for the queue, also its gain less random's, seed by seed (the same pool and held-out
    set)."""
    from modeling.crossval import interval

    out = []
    by_arm = {arm: [r for r in rows if r["arm"] == arm] for arm in LABELLED}
    for arm, arm_rows in by_arm.items():
        gains = [100 * 100 * r["_gain"] for r in arm_rows]
        gain = interval(gains)  # with one seed, low = high = the mean
        row = {"arm": arm, "seeds": len(gains), "mistakes found (mean)":
               f"{sum(r['disagreed with the model'] for r in arm_rows) / len(arm_rows):.1f}",
               "gain per 100 labels: mean (95% interval)":
                   f"{gain['mean']:+.2f} ({gain['low']:+.2f} to {gain['high']:+.2f})",
               "per seed": ", ".join(f"{g:+.2f}" for g in gains), "_mean": gain["mean"]}
        if arm == "queue":
            d = interval([q - r for q, r in zip(gains, (100 * 100 * r["_gain"] for r in by_arm["random"]))])
            row["less random's (95% interval)"] = f"{d['mean']:+.2f} ({d['low']:+.2f} to {d['high']:+.2f})"
        else:
            row["less random's (95% interval)"] = "—"
        out.append(row)
    return out


def triage_table(per_seed: list[dict]) -> list[dict]:
    """Rows of scores, a column per flag set: the mean ROC-AUC over the seeds (lowest-highest)."""
    sets = list(per_seed[0])
    table = []
    for name in per_seed[0][sets[0]]["auc"]:
        row = {"score": name}
        for flag_set in sets:
            values = [seed[flag_set]["auc"][name] for seed in per_seed]
            row[flag_set] = f"{sum(values) / len(values):.3f} ({min(values):.3f}-{max(values):.3f})" \
                if len(values) > 1 else f"{values[0]:.3f}"
        table.append(row)
    table.append({"score": "one worker pass over the flags",
                  **{flag_set: ", ".join(f"{seed[flag_set]['seconds']:.1f} s" for seed in per_seed) for flag_set in sets}})
    table.append({"score": "the model's accuracy on the texts (flags drawn from them)",
                  **{flag_set: ", ".join(f"{seed[flag_set]['accuracy']:.3f}" for seed in per_seed) for flag_set in sets}})
    return table


class Bench:
    def __init__(self, args):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Permission

        from reviews.selectors import model_version_active

        self.args = args
        self.active = model_version_active() or (self._toy_model() if args.quick else None)
        if self.active is None:
            sys.exit("no active model: run `manage.py train --profile quick` in this installation first, or use --quick")
        user, _ = get_user_model().objects.get_or_create(username="labelling-benchmark", defaults={"is_staff": True})
        user.user_permissions.add(Permission.objects.get(codename="moderate_feedback"))
        self.moderator = get_user_model().objects.get(pk=user.pk)

    def use_seed(self, seed: int) -> None:
        """This seed's pool of Rotten Tomatoes training sentences and held-out test sentences."""
        from modeling.data import load_reviews

        self.seed = seed
        rt = load_reviews("packaged-rt", seed=0)
        pool = rt["train"].shuffle(seed=seed).select(range(min(self.args.pool, len(rt["train"]))))
        self.pool = list(zip(pool["text"], pool["label"]))
        self.pool_size = len(self.pool)
        heldout = rt["test"].shuffle(seed=seed).select(range(min(self.args.heldout, len(rt["test"]))))
        self.heldout_texts, self.heldout_labels = list(heldout["text"]), list(heldout["label"])
        self.heldout_size = len(self.heldout_texts)
        self.active_correct = None  # the active model's held-out answers, once an arm needs them

    def flag_sets(self) -> dict[str, list[tuple[str, int]]]:
        """The triage table's texts: the pool's sentences, and reviews of the installation's test
        split (never trained on; the gate's own exam, which no flag can teach a candidate)."""
        from reviews.data import load

        test = load()["test"].shuffle(seed=self.seed)
        test = test.select(range(min(self.args.reviews, len(test))))
        return {"Rotten Tomatoes sentences": self.pool,
                "reviews of the test split": list(zip(test["text"], test["label"]))}

    def _toy_model(self):
        import dataclasses

        from modeling.config import PROFILES
        from reviews.worker.training import train_and_register, work_dir_for

        config = dataclasses.replace(PROFILES["quick"], train_limit=300, validation_limit=100, max_length=64)
        _, row = train_and_register(config, profile="quick", work_dir=work_dir_for("labelling-quick"))
        return row

    def reset(self, pool: list[tuple[str, int]]):
        """No reviews, flags, sources or runs; the starting model active; `pool` stored and scored."""
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
        texts = [t for t, _ in pool]
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
        from reviews.models import TrainingRun, WorkStatus
        from reviews.moderation import label_queue
        from reviews.services.feedback import feedback_approve, feedback_flag
        from reviews.services.label_queue import queue_label
        from reviews.services.training import training_run_request
        from reviews.worker import queue, training

        predictions = self.reset(self.pool)
        truth = {p.pk: LABELS[label] for p, (_, label) in zip(predictions, self.pool)}
        wanted = self.args.labels
        if name == "none":
            chosen = []
        elif name == "queue":
            chosen = [item.prediction for item in label_queue(moderator=self.moderator, limit=wanted)]
        elif name == "random":
            chosen = random.Random(self.seed).sample(predictions, min(wanted, len(predictions)))
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
        worker_id, waited = queue.new_worker_id(), time.monotonic()
        while True:
            started = time.monotonic()
            training.process_training_runs(worker_id=worker_id)
            wall = time.monotonic() - started
            run.refresh_from_db()
            if run.status != WorkStatus.PENDING or time.monotonic() - waited > 30 * 60:
                break
            # The training lease is still held by a run killed halfway: it expires.
            print(f"training run {run.pk}: {run.error or 'pending'}; trying again in 30 s", flush=True)
            time.sleep(31)
        if run.status != "done" or run.model_version is None:
            sys.exit(f"training run {run.pk} ended {run.status} {run.decision}: {run.error}")
        candidate = self._correct(run.model_version.path)
        if self.active_correct is None:
            self.active_correct = self._correct(self.active.path)
        diff = paired_difference(candidate, self.active_correct)
        row = {
            "seed": self.seed, "arm": name, "labels given": given, "disagreed with the model": disagreed,
            "learnt by the retrain": run.counts.get("corrections_used", 0),
            "held-out accuracy: active → candidate": f"{self.active_correct.mean():.4f} → {candidate.mean():.4f}",
            "over the active model (95% interval)": f"{100 * diff['difference']:+.2f} points "
                                                    f"({100 * diff['low']:+.2f} to {100 * diff['high']:+.2f})",
            "retrain, wall clock": f"{wall:.0f} s", "_candidate": candidate,
        }
        print(" | ".join(f"{k}: {v}" for k, v in row.items() if not k.startswith("_")), flush=True)
        return row

    def triage(self, pool: list[tuple[str, int]]) -> dict:
        """ROC-AUC of the triage score and of each signal, honest flags against wrong ones, on
        flags drawn from `pool`; the worker pass's time and the model's accuracy on `pool`."""
        from sklearn.metrics import roc_auc_score

        from modeling.config import LABELS
        from modeling.triage import SIGNALS, TriageModel
        from reviews.models import Feedback
        from reviews.services.feedback import feedback_flag
        from reviews.worker.moderation import triage_flags

        predictions = self.reset(pool)
        truth = {p.pk: LABELS[label] for p, (_, label) in zip(predictions, pool)}
        rng = random.Random(self.seed)
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
        auc = {"triage score as the site shows it (equal weights, nothing decided yet)":
               roc_auc_score(honest, [f.triage_score for f in flags])}
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
        auc["weights fitted on the other half's decisions (2-fold)"] = roc_auc_score(honest, fitted)
        for name in SIGNALS:
            values = [s[name] for s in signals]
            auc[f"signal alone: {name}"] = roc_auc_score(honest, values) if len(set(values)) > 1 else 0.5
        accuracy = len(right_model) / max(1, len(predictions))
        print(f"triage, seed {self.seed}, {len(flags)} flags: " + ", ".join(f"{k}: {v:.3f}" for k, v in auc.items()),
              flush=True)
        return {"auc": auc, "seconds": seconds, "accuracy": accuracy}


if __name__ == "__main__":
    main()
    # Everything is printed. Seen once in a toy run (--quick): the interpreter's teardown aborted ("terminate
    # called without an active exception", exit 134) after the last table, likely a native thread
    # of a model loaded in the background still alive. Wait for such a load, then leave without the
    # teardown, so a finished run exits 0.
    from reviews import predictor

    predictor.holder.wait_for_loading(timeout=60)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
