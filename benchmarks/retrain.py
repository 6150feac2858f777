"""What does one turn of the feedback loop cost? Prints one table (README: The feedback loop).

    SENTIMENT_VAR_DIR=/tmp/loop-bench .venv/bin/python benchmarks/retrain.py [--corrections 100] [--runs 2] [--isa avx2]

Run it on an installation with an active model (it writes reviews, flags and a training run into
that installation's database: use a scratch SENTIMENT_VAR_DIR). It plays the people: Rotten
Tomatoes sentences from the packaged data (another kind of text than the IMDb reviews the model
was trained on) that the active model gets wrong are submitted, flagged with their true label, and
approved by a staff account until the wanted number of *training* corrections wait (the holdout
share comes on top). Then it times a forced retrain, exactly what the worker runs, and does it
again with new corrections: the first run fills the frozen-layer cache with the replay sample, the
second reads it. It prints counts, durations and the gate's decisions, a column per run.

The gate compares the candidate with the active model on a fixed sample of the test split
(SENTIMENT_GATE_TEST_SIZE). After each timed run, untimed, both models are compared on the whole
test split too, and the table says whether that test check decides the same. Run it alone on the
machine: it measures time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import _bootstrap  # noqa: F401  (sets up paths and settings first)
import _cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corrections", type=int, default=100, help="approved training corrections per run")
    parser.add_argument("--runs", type=int, default=2, help="retrains in a row (the first fills the frozen-layer cache)")
    parser.add_argument("--isa", choices=("native", "avx2"), default="native")
    args = parser.parse_args()
    _cpu.apply_isa(args.isa)
    print(_cpu.describe(args.isa))

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    import numpy as np

    from modeling.config import LABELS
    from modeling.data import load_reviews
    from modeling.evaluate import paired_difference, stored_predictions
    from reviews.conf import conf
    from reviews.data import load
    from reviews.worker import queue, training
    from reviews.models import Feedback, TrainingRun
    from reviews.selectors import model_version_active
    from reviews.services.feedback import feedback_approve, feedback_flag
    from reviews.services.reviews import review_submit_many
    from reviews.services.training import training_run_request

    if model_version_active() is None:
        sys.exit("no active model: run `manage.py train --profile quick` in this installation first")
    staff, _ = get_user_model().objects.get_or_create(username="loop-benchmark", defaults={"is_staff": True})
    # In a fixed random order: the split is stored sorted by label, and people flag both kinds.
    sentences = load_reviews("packaged-rt", seed=0)["train"].shuffle(seed=0)

    waiting = lambda: Feedback.objects.filter(status="approved", is_holdout=False, training_run__isnull=True).count()
    state = {"cursor": 0}

    def collect(wanted: int) -> float:
        """Classify sentences, flag and approve the wrong ones until `wanted` corrections wait."""
        started, people = time.monotonic(), 25
        while waiting() < wanted and state["cursor"] < len(sentences):
            cursor = state["cursor"]
            batch = sentences.select(range(cursor, min(cursor + 64, len(sentences))))
            state["cursor"] += len(batch)
            predictions = review_submit_many(texts=list(batch["text"]), session_key="loop-benchmark")
            for i, (prediction, truth) in enumerate(zip(predictions, batch["label"])):
                if prediction.label != LABELS[truth] and waiting() < wanted:
                    # Several people, as in life; the per-person cap applies to them.
                    flag, _ = feedback_flag(prediction=prediction, label=LABELS[truth], session_key=f"person-{(cursor + i) % people}")
                    feedback_approve(feedback=flag, reviewer=staff)
        return time.monotonic() - started

    def on_the_whole_test_split(candidate, active) -> dict:
        """Both models on every test review: stored probabilities where there are, else measured."""
        test = load(active.data.get("source"), seed=active.data.get("seed"))["test"]
        labels, answered = np.asarray(test["label"]), {}
        for name, version in (("candidate", candidate), ("active", active)):
            proba = stored_predictions(version.path, "test", range(len(test)))
            if proba is None:
                proba = training._predictor(version.path).predict_proba(list(test["text"]))
            answered[name] = proba.argmax(axis=1) == labels
        return paired_difference(answered["candidate"], answered["active"])

    def described(comparison: dict, passed: bool) -> str:
        return (f"{'passed' if passed else 'FAILED'}: {100 * comparison['difference']:+.2f} points "
                f"(95% interval {100 * comparison['low']:+.2f} to {100 * comparison['high']:+.2f}) on {comparison['n']:,}")

    tolerance = conf.gate_config().tolerance
    columns = []
    for _ in range(args.runs):
        active = model_version_active()
        collect(args.corrections)
        run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=staff)
        started = time.monotonic()
        training.process_training_runs(worker_id=queue.new_worker_id())
        wall_s = time.monotonic() - started
        run.refresh_from_db()
        if run.status != "done":
            sys.exit(f"training run {run.pk} ended {run.status}: {run.error}")
        manifest = json.loads((run.model_version.path / "manifest.json").read_text())
        cache = manifest["training"].get("frozen_cache") or {}
        candidate = run.metrics["candidate"]
        sample = run.metrics["test_comparison"]
        (sample_check,) = [c for c in run.reasons if c["check"] == "test accuracy vs active"]
        whole = on_the_whole_test_split(run.model_version, active)
        whole_passed = whole["candidate"] >= whole["active"] - tolerance
        columns.append({
            "active model": f"{active.id} ({active.profile})",
            "training mix": f"{run.counts['replay']} replay + {run.counts['corrections_used']} corrections × {run.counts['oversample']} "
                            f"= {run.counts['rows']} rows ({run.counts['feedback_share']:.0%} feedback)",
            "schedule": f"top {manifest['train_config']['phases'][0]['top_k']} layers + head, 1 epoch, max_length {manifest['train_config']['max_length']}",
            "frozen-layer cache": f"{cache.get('hits', 0)} rows read, {cache.get('misses', 0)} computed",
            "training (incl. cache)": f"{manifest['training']['duration_s']:.0f} s",
            "evaluation of the candidate on the test sample": f"{manifest['metrics']['test']['seconds']:.0f} s "
                                                              f"({sample['n']:,} of {sample['of']:,} reviews)",
            "the active model on the same sample": "measured now" if sample["measured_now"] else "its stored answers",
            "whole run, wall clock": f"{wall_s:.0f} s",
            "test accuracy on the sample: active → candidate": f"{sample['active']:.4f} → {sample['candidate']:.4f}",
            "test check on the sample (the gate's)": described(sample, sample_check["passed"]),
            "test check on the whole split (untimed)": described(whole, whole_passed),
            "the same decision": "yes" if whole_passed == sample_check["passed"] else "NO",
            "held-out corrections: active → candidate":
                f"{run.metrics['active']['holdout_accuracy'] or 0:.3f} → {candidate['holdout_accuracy'] or 0:.3f} (on {run.counts['holdout']})",
            "gate": "; ".join(f"{c['check']}: {'ok' if c['passed'] else 'FAILED'}{' (skipped)' if c.get('skipped') else ''}"
                              for c in run.reasons),
            "decision": run.decision,
        })

    print(f"{state['cursor']} Rotten Tomatoes sentences classified to find the corrections")
    print("| what | " + " | ".join(f"run {i + 1}" for i in range(len(columns))) + " |")
    print("|---|" + "---|" * len(columns))
    for name in columns[0]:
        print(f"| {name} | " + " | ".join(c[name] for c in columns) + " |")

if __name__ == "__main__":
    main()
