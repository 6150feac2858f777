"""What does one turn of the feedback loop cost? Prints one table (README: The feedback loop).

    SENTIMENT_VAR_DIR=/tmp/loop-bench .venv/bin/python benchmarks/retrain.py [--corrections 100] [--runs 2]

Run it on an installation with an active model (it writes reviews, flags and a training run into
that installation's database: use a scratch SENTIMENT_VAR_DIR). It plays the people: Rotten
Tomatoes sentences from the packaged data (another kind of text than the IMDb reviews the model
was trained on) that the active model gets wrong are submitted, flagged with their true label, and
approved by a staff account until the wanted number of *training* corrections wait (the holdout
share comes on top). Then it times a forced retrain, exactly what the worker runs, and does it
again with new corrections: the first run fills the frozen-layer cache with the replay sample, the
second reads it. It prints counts, durations and the gate's decisions, a column per run. Run it
alone on the machine: it measures time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import _bootstrap  # noqa: F401  (sets up paths and settings first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corrections", type=int, default=100, help="approved training corrections per run")
    parser.add_argument("--runs", type=int, default=2, help="retrains in a row (the first fills the frozen-layer cache)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from modeling.config import LABELS
    from modeling.data import load_reviews
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
        columns.append({
            "active model": f"{active.id} ({active.profile})",
            "training mix": f"{run.counts['replay']} replay + {run.counts['corrections_used']} corrections × {run.counts['oversample']} "
                            f"= {run.counts['rows']} rows ({run.counts['feedback_share']:.0%} feedback)",
            "schedule": f"top {manifest['train_config']['phases'][0]['top_k']} layers + head, 1 epoch, max_length {manifest['train_config']['max_length']}",
            "frozen-layer cache": f"{cache.get('hits', 0)} rows read, {cache.get('misses', 0)} computed",
            "training (incl. cache)": f"{manifest['training']['duration_s']:.0f} s",
            "evaluation on the test split": f"{manifest['metrics']['test']['seconds']:.0f} s",
            "whole run, wall clock": f"{wall_s:.0f} s",
            "test accuracy: active → candidate": f"{run.metrics['active']['test']['accuracy']:.4f} → {candidate['test']['accuracy']:.4f}",
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
