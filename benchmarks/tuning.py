"""A tuned recipe against the hand-chosen one at the same training budget (issue 23).

    SENTIMENT_VAR_DIR=<installation> .venv/bin/python benchmarks/tuning.py --profile quick --trials 8 --budget 50

1. The hand-chosen profile is trained and registered as `manage.py train --profile P` does
   (skipped with --baseline VERSION, or when a version of that profile from this benchmark exists).
2. A study (`manage.py tune`'s, named bench-P) searches the recipe at the profile's training
   budget for --trials trials or --budget minutes, whichever ends first, and registers its best.
3. Both versions on the same test reviews (every one of the split): accuracy with its 95%
   bootstrap interval, precision, recall, F1, the paired difference with its interval and the
   exact McNemar test; their validation accuracy as served; training time; the study's wall time.

With --fit-budget M both recipes train for M minutes instead of the profile's own budget. With
--recipe (a study's best parameters, as JSON) step 2 trains that recipe at the budget instead of
running a study: a recipe tuned at a small budget, tried at a larger one.

    .venv/bin/python benchmarks/tuning.py --profile full --fit-budget 35 \
        --recipe '{"schedule": "top_k", "top_k": 3, "epochs": 3, "lr": 6.1e-5, "max_length": 128}'

The study lives in the installation's database: stopped, the command run again resumes it.
Run it alone on the machine: the training budget is turned into a number of reviews from the
speed measured before each training, so anything else running changes what is trained.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

import _bootstrap  # noqa: F401  (paths and settings first)
import _cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--budget", type=float, default=50.0, help="minutes after which no new trial starts")
    parser.add_argument("--baseline", help="a registered version of the hand-chosen profile (default: train it)")
    parser.add_argument("--pictures", help="folder for the study's history.svg and importances.svg")
    parser.add_argument("--fit-budget", type=float, metavar="MINUTES",
                        help="minutes of training for every model (default: the profile's own)")
    parser.add_argument("--recipe", help="a study's best parameters as JSON: trained instead of a study")
    args = parser.parse_args()
    recipe = json.loads(args.recipe) if args.recipe else None
    print(_cpu.describe("native"))
    import django

    django.setup()
    from django.core.management import call_command

    from reviews.data import load
    from reviews.models import ModelVersion
    from reviews.worker.training import compare_on_test, profile_config, train_and_register, work_dir_for
    from modeling import registry
    from modeling.tuning import recipe_config
    from reviews import model_store
    from reviews.worker.tuning import TuneRequest, run_study

    call_command("migrate", verbosity=0, interactive=False)
    base = profile_config(args.profile)
    name = f"bench-{args.profile}"
    if args.fit_budget:
        base = replace(base, fit_budget_s=args.fit_budget * 60)
        name += f"-{args.fit_budget:g}min"
    baseline = ModelVersion.objects.filter(pk=args.baseline).first() if args.baseline else (
        ModelVersion.objects.filter(profile=name).order_by("-created_at").first())
    if baseline is None:
        started = time.monotonic()
        _, baseline = train_and_register(base, profile=name, work_dir=work_dir_for(name), resume=True)
        print(f"hand-chosen {args.profile}: {baseline.id} in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    report = None
    if recipe is not None:
        tuned = ModelVersion.objects.filter(profile=f"{name}-recipe").order_by("-created_at").first()
        if tuned is None:
            config = recipe_config(base, recipe)
            _, tuned = train_and_register(config, profile=f"{name}-recipe", work_dir=work_dir_for(f"{name}-recipe"),
                                          resume=True, extra_manifest={"recipe": recipe})
        print(f"recipe {recipe}: {tuned.id} in {time.monotonic() - started:.0f} s", flush=True)
    else:
        _, report, tuned = run_study(TuneRequest(profile=args.profile, trials=args.trials, budget_minutes=args.budget,
                                                 name=name, pictures=args.pictures))
        print(f"study: {report['trials']} in {time.monotonic() - started:.0f} s (this run)", flush=True)
    test = load()["test"]
    comparison = compare_on_test(tuned, baseline, test, list(range(len(test))))

    def layers(phase):
        return f"top {phase['top_k']} layers" if phase["trainable"] == "top_k" else f"{phase['trainable']} layers"

    def row(name, version):
        test_m, val = version.metrics["test"], version.metrics.get("validation", {})
        low, high = test_m["intervals"]["accuracy"]
        manifest_training = version.train_config
        return (f"| {name} | `{version.id}` | {val.get('accuracy', float('nan')):.4f} | {test_m['accuracy']:.4f} "
                f"({low:.4f}-{high:.4f}) | {test_m['precision']:.4f} | {test_m['recall']:.4f} | {test_m['f1']:.4f} | "
                f"{layers(manifest_training['phases'][-1])}, "
                f"{manifest_training['max_length']} tokens, lr {manifest_training['phases'][-1]['lr']:.2g}, "
                f"{manifest_training['phases'][-1]['epochs']} epoch(s), batch {manifest_training['batch_size']} |")

    print(f"\n{_cpu.describe('native')}; {os.cpu_count()} cores\n")
    print("| recipe | version | validation (served) | test accuracy (95% interval) | precision | recall | F1 | recipe |")
    print("|---|---|---|---|---|---|---|---|")
    print(row(f"hand-chosen `{args.profile}`", baseline))
    print(row("the given recipe" if recipe is not None else f"tuned (best of study {name})", tuned))
    print(f"\npaired on the same {comparison['n']:,} test reviews: tuned - hand-chosen = "
          f"{100 * comparison['difference']:+.2f} points (95% interval {100 * comparison['low']:+.2f} to "
          f"{100 * comparison['high']:+.2f}); McNemar p = {comparison['p_value']:.3g} "
          f"({'significant' if comparison['significant'] else 'not significant'} at 5%)")
    for label, version in ((f"hand-chosen {args.profile}", baseline), ("tuned", tuned)):
        training = registry.read_manifest(model_store.local_root() / version.id).get("training") or {}
        print(f"{label}: trained on {training.get('train_rows', '?')} reviews, "
              f"training {training.get('duration_s', float('nan')) / 60:.1f} min")
    if report is None:
        return
    print(f"study: trials {report['trials']}, best trial {report['best_trial']} {report['best_params']}, "
          f"importances {report['importances']}")
    seconds = [h["seconds"] for h in report["history"] if h.get("seconds")]
    print(f"trial training time: {sum(seconds) / 60:.1f} min in all over {len(seconds)} trials with a time")


if __name__ == "__main__":
    main()
