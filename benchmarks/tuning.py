"""A tuned recipe against the hand-chosen one at the same training budget (issue 23).

    SENTIMENT_VAR_DIR=<installation> .venv/bin/python benchmarks/tuning.py --profile quick --trials 8 --budget 50

1. The hand-chosen profile is trained and registered as `manage.py train --profile P` does
   (skipped with --baseline VERSION, or when a version of that profile from this benchmark exists).
2. A study (`manage.py tune`'s, named bench-P) searches the recipe at the profile's training
   budget for --trials trials or --budget minutes, whichever ends first, and registers its best.
3. Both versions on the same test reviews (every one of the split): accuracy with its 95%
   bootstrap interval, precision, recall, F1, the paired difference with its interval and the
   exact McNemar test; their validation accuracy as served; training time; the study's wall time.

The study lives in the installation's database: stopped, the command run again resumes it.
Run it alone on the machine: the training budget is turned into a number of reviews from the
speed measured before each training, so anything else running changes what is trained.
"""

from __future__ import annotations

import argparse
import os
import time

import _bootstrap  # noqa: F401  (paths and settings first)
import _cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--budget", type=float, default=50.0, help="minutes after which no new trial starts")
    parser.add_argument("--baseline", help="a registered version of the hand-chosen profile (default: train it)")
    parser.add_argument("--pictures", help="folder for the study's history.svg and importances.svg")
    args = parser.parse_args()
    print(_cpu.describe("native"))
    import django

    django.setup()
    from django.core.management import call_command

    from reviews.data import load
    from reviews.models import ModelVersion
    from reviews.worker.training import compare_on_test, profile_config, train_and_register, work_dir_for
    from reviews.worker.tuning import TuneRequest, run_study

    call_command("migrate", verbosity=0, interactive=False)
    baseline = ModelVersion.objects.filter(pk=args.baseline).first() if args.baseline else (
        ModelVersion.objects.filter(profile=f"bench-{args.profile}").order_by("-created_at").first())
    if baseline is None:
        started = time.monotonic()
        _, baseline = train_and_register(profile_config(args.profile), profile=f"bench-{args.profile}",
                                         work_dir=work_dir_for(f"bench-{args.profile}"), resume=True)
        print(f"hand-chosen {args.profile}: {baseline.id} in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    study, report, tuned = run_study(TuneRequest(profile=args.profile, trials=args.trials, budget_minutes=args.budget,
                                                 name=f"bench-{args.profile}", pictures=args.pictures))
    print(f"study: {report['trials']} in {time.monotonic() - started:.0f} s (this run)", flush=True)
    test = load()["test"]
    comparison = compare_on_test(tuned, baseline, test, list(range(len(test))))

    def row(name, version):
        test_m, val = version.metrics["test"], version.metrics.get("validation", {})
        low, high = test_m["intervals"]["accuracy"]
        manifest_training = version.train_config
        return (f"| {name} | `{version.id}` | {val.get('accuracy', float('nan')):.4f} | {test_m['accuracy']:.4f} "
                f"({low:.4f}-{high:.4f}) | {test_m['precision']:.4f} | {test_m['recall']:.4f} | {test_m['f1']:.4f} | "
                f"{manifest_training['max_length']} tokens, lr {manifest_training['phases'][-1]['lr']:.2g}, "
                f"{manifest_training['phases'][-1]['epochs']} epoch(s), batch {manifest_training['batch_size']} |")

    print(f"\n{_cpu.describe('native')}; {os.cpu_count()} cores\n")
    print("| recipe | version | validation (served) | test accuracy (95% interval) | precision | recall | F1 | recipe |")
    print("|---|---|---|---|---|---|---|---|")
    print(row(f"hand-chosen `{args.profile}`", baseline))
    print(row(f"tuned (best of study bench-{args.profile})", tuned))
    print(f"\npaired on the same {comparison['n']:,} test reviews: tuned - hand-chosen = "
          f"{100 * comparison['difference']:+.2f} points (95% interval {100 * comparison['low']:+.2f} to "
          f"{100 * comparison['high']:+.2f}); McNemar p = {comparison['p_value']:.3g} "
          f"({'significant' if comparison['significant'] else 'not significant'} at 5%)")
    print(f"study: trials {report['trials']}, best trial {report['best_trial']} {report['best_params']}, "
          f"importances {report['importances']}")
    seconds = [h["seconds"] for h in report["history"] if h.get("seconds")]
    print(f"trial training time: {sum(seconds) / 60:.1f} min in all over {len(seconds)} trials with a time")


if __name__ == "__main__":
    main()
