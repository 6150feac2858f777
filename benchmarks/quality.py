"""How good is the served model, and what does training it cost? Prints tables (README: Model quality).

    .venv/bin/python benchmarks/quality.py [--version ID] [--train retrain,quick,full] [--quick]

By default it trains nothing new: it evaluates a registered version (the active one unless
--version says otherwise), its parts alone when it has an n-gram companion, and a TF-IDF (1-2
grams) + logistic regression baseline fitted in the same run on the same training split, on the
test split and on the Rotten Tomatoes test sentences of the packaged data (short sentences, another
kind of text; no recipe here trains on them).

--train also times training runs, each with the frozen-layer cache off, cold (filled by the run)
and warm (filled by the run before), where the schedule has frozen layers:
  retrain   what the feedback loop runs on the version: its replay sample plus 100 corrections
            (Rotten Tomatoes training sentences with their labels), top layers only, 1 epoch;
  PROFILE   a `manage.py train` profile from scratch (full takes over an hour and a half here).

--quick is the same script at toy size (a small model trained on the spot when no version is
given, a few hundred reviews per split): minutes, so CI runs it to keep the script working; it
checks that every cell of the tables is filled, not what the figures are.
Run it alone on the machine: it measures time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _bootstrap import RESULTS

# Reported by the original project (DistilBERT, head then top layers, on a GPU; official IMDb test).
ORIGINAL = {"accuracy": 0.8816, "precision": 0.886, "recall": 0.875, "f1": 0.881}


def tfidf_baseline(train_texts, train_labels):
    """TF-IDF of words and word pairs + logistic regression: the linear baseline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from modeling.data import clean_text

    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, preprocessor=lambda t: clean_text(t).lower()),
        LogisticRegression(C=4.0, solver="liblinear", max_iter=1000),
    )
    return pipeline.fit(list(train_texts), list(train_labels))


def quality_rows(predictor, baseline, baseline_fit_s: float, splits: dict, version_label: str) -> list[dict]:
    """One row per model: metrics on each evaluation split and the seconds it took."""
    from modeling.evaluate import metrics_from_proba
    from modeling.ngram import combine

    served = f"served: {version_label}"
    alone = "its transformer alone"
    companion = f"its n-gram companion alone (weight {predictor.ngram.weight:.2f})" if predictor.ngram is not None else None
    baseline_name = "TF-IDF 1-2 grams + logistic regression (fitted in this run)"
    probas: dict[str, dict] = defaultdict(dict)  # model -> split -> probabilities; served first
    seconds: dict[str, float] = defaultdict(float)  # part of the served model -> evaluation time
    for split, data in splits.items():
        texts = list(data["text"])
        started = time.monotonic()
        transformer = predictor.transformer_proba(texts, desc=f"{split}: transformer")
        seconds["transformer"] += time.monotonic() - started
        probas[served][split] = transformer
        if companion is not None:
            started = time.monotonic()
            ngram = predictor.ngram.predict_proba(texts)
            seconds["ngram"] += time.monotonic() - started
            probas[served][split] = combine(transformer, ngram, predictor.ngram.weight)
            probas[alone][split] = transformer
            probas[companion][split] = ngram
        probas[baseline_name][split] = baseline.predict_proba(texts)
    costs = {
        served: f"{seconds['transformer'] + seconds['ngram']:.0f} s to evaluate",
        alone: f"{seconds['transformer']:.0f} s to evaluate",
        companion: f"{seconds['ngram']:.1f} s to evaluate",
        baseline_name: f"{baseline_fit_s:.0f} s to fit",
    }
    rows = []
    for name, by_split in probas.items():
        row = {"model": name, "cost": costs[name]}
        for split, proba in by_split.items():
            metrics = metrics_from_proba(list(splits[split]["label"]), proba)
            row[split] = {k: metrics[k] for k in ("n", "accuracy", "precision", "recall", "f1")}
        rows.append(row)
    return rows


def retrain_mix(data, rt_train, *, replay: int, corrections: int):
    from modeling.config import LABELS
    from modeling.retrain import Correction, MixConfig, assemble_mix
    from modeling.sampling import sample_indices

    picked = rt_train.select(sample_indices(list(rt_train["label"]), corrections, 0))
    found = [Correction(i, t, LABELS[y], f"person-{i % 25}") for i, (t, y) in enumerate(zip(picked["text"], picked["label"]))]
    mix, counts, _ = assemble_mix(data["train"], found, MixConfig(replay_size=replay, max_per_source=corrections))
    return mix, counts


def time_training(name, config, data, *, init_from, cache_modes, cache_root: Path, threads: int) -> list[dict]:
    """Train `config` once per cache mode (off / cold / warm) and time it."""
    from modeling.frozen_cache import FrozenCache
    from modeling.train import train, training_summary

    frozen = any(p.trainable == "top_k" for p in config.phases)
    modes = [m for m in cache_modes if frozen or m == "off"] or ["off"]
    rows = []
    runs = [m for m in ("off", "cold", "warm") if m in modes]
    if "warm" in runs and "cold" not in runs:
        runs.insert(runs.index("warm"), "fill")  # a warm cache needs a run that fills it; not reported
    for mode in runs:
        with tempfile.TemporaryDirectory() as work:
            started = time.monotonic()
            cache = None if mode == "off" else FrozenCache(cache_root / name, max_bytes=8 * 1024**3)
            model_dir = train(config, data, work_dir=work, init_from=init_from, threads=threads, show_progress=False,
                              frozen_cache=cache)
            wall = time.monotonic() - started
            summary = training_summary(model_dir)
        if mode == "fill":
            continue
        rows_seen = summary["train_rows"] * config.epochs
        hits = summary["frozen_cache"] or {}
        rows.append({
            "run": name, "cache": mode if frozen else "n/a (no frozen layers)",
            "train rows × epochs": f"{summary['train_rows']} × {config.epochs}",
            "wall s": round(wall, 1), "reviews/s": round(rows_seen / wall, 1),
            "cache rows read / computed": f"{hits.get('hits', 0)} / {hits.get('misses', 0)}" if mode != "off" else "-",
            "validation accuracy": round(summary["best_validation_accuracy"], 4),
        })
        print(f"  {name}, cache {mode}: {wall:.0f} s", file=sys.stderr, flush=True)
    return rows


def quick_version(store: Path, data) -> Path:
    """A small version trained on the spot (the --quick run without a version)."""
    from modeling.config import PROFILES
    from modeling.pipeline import BuildOptions, DataOrigin, build_version
    from reviews.conf import conf

    config = dataclasses.replace(PROFILES["quick"], train_limit=300, validation_limit=200, max_length=64,
                                 ngram_companion=True)
    return build_version(config, data, DataOrigin("packaged", 0), store=store, key=conf.signing_key(), work_dir=store / "work",
                         extra_manifest={"profile": "quick, toy size"},
                         options=BuildOptions(eval_splits=(), show_progress=False)).path


def fmt(metrics: dict | None, keys=("accuracy", "precision", "recall", "f1")) -> list[str]:
    return [f"{metrics[k]:.4f}" if metrics else "" for k in keys]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", help="registered model version id (default: the active one)")
    parser.add_argument("--train", default="", help="comma-separated: retrain and/or profile names to time")
    parser.add_argument("--cache", default="off,cold,warm", help="cache modes to time (off, cold, warm)")
    parser.add_argument("--quick", action="store_true", help="toy sizes, minutes; fails if a table cell is empty")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from modeling.config import PROFILES, TrainConfig
    from modeling.data import load_reviews
    from modeling.retrain import retrain_config
    from modeling.serving import Predictor
    from modeling.sampling import sample_indices
    from reviews.data import load
    from reviews.conf import conf

    scratch = Path(tempfile.mkdtemp(prefix="quality-"))
    threads = settings.SENTIMENT_TORCH_THREADS
    if args.version or not args.quick:
        from reviews.models import ModelVersion
        from reviews.selectors import model_version_active

        row = ModelVersion.objects.get(pk=args.version) if args.version else model_version_active()
        if row is None:
            sys.exit("no active model version: train one first (manage.py train --profile quick), or use --quick")
        path, data = row.path, load(row.data.get("source"), seed=row.data.get("seed"))
    else:
        data = load_reviews("packaged")
        path = quick_version(scratch / "store", data)
    predictor = Predictor(path, key=conf.signing_key(), batch_size=64, threads=threads, precision=settings.SENTIMENT_PRECISION)
    manifest = predictor.manifest
    rt = load_reviews("packaged-rt")
    train_rows = data["train"]
    splits = {"test": data["test"], "rotten_tomatoes": rt["test"]}
    if args.quick:
        # Stratified samples: the splits are stored sorted by label.
        train_rows = train_rows.select(sample_indices(list(train_rows["label"]), 2_000, 0))
        splits = {name: split.select(sample_indices(list(split["label"]), 300, 0)) for name, split in splits.items()}

    started = time.monotonic()
    baseline = tfidf_baseline(train_rows["text"], train_rows["label"])
    baseline_fit_s = time.monotonic() - started
    label = f"{manifest['id']} ({manifest.get('profile', '?')})"
    rows = quality_rows(predictor, baseline, baseline_fit_s, splits, label)
    rows.append({"model": "original project, reported (DistilBERT on a GPU, official IMDb test)", "test": ORIGINAL,
                 "rotten_tomatoes": None, "cost": "-"})

    training = manifest.get("training") or {}
    config = TrainConfig.from_dict(manifest["train_config"]) if manifest.get("train_config") else None
    cost_line = ""
    if training and config:
        seen = training["train_rows"] * config.epochs
        cost_line = (f"training of {manifest['id']}: {training['train_rows']} reviews × {config.epochs} epoch(s) in "
                     f"{training['duration_s'] / 60:.1f} min ({seen / training['duration_s']:.1f} reviews/s, "
                     f"{training.get('device', '?')}, frozen-layer cache {training.get('frozen_cache')})")

    timing = []
    requested = [n for n in args.train.split(",") if n]
    for name in requested:
        if name == "retrain":
            mix, _ = retrain_mix(data, rt["train"], replay=200 if args.quick else settings.SENTIMENT_RETRAIN_REPLAY_SIZE,
                                      corrections=20 if args.quick else 100)
            # Exactly what the loop runs (reviews.retraining), from the same settings.
            schedule = conf.retrain_schedule()
            candidate = retrain_config(config, schedule, base_model=settings.SENTIMENT_BASE_MODEL, seed=0)
            timing += time_training("retrain", dataclasses.replace(candidate, checkpoint_every_s=1e9),
                                    {"train": mix, "validation": data["validation"]}, init_from=None if schedule.from_base else path,
                                    cache_modes=args.cache.split(","), cache_root=scratch / "cache", threads=threads)
        elif name in PROFILES:
            profile = PROFILES[name]
            if args.quick:
                profile = dataclasses.replace(profile, train_limit=300, validation_limit=200, max_length=64)
            profile = dataclasses.replace(profile, base_model=settings.SENTIMENT_BASE_MODEL)
            timing += time_training(name, profile, data, init_from=None, cache_modes=args.cache.split(","),
                                    cache_root=scratch / "cache", threads=threads)
        else:
            sys.exit(f"--train: unknown run {name!r} (retrain or one of {', '.join(PROFILES)})")

    n = {split: len(s) for split, s in splits.items()}
    print(f"data: {manifest['data']['source']}, {len(train_rows)} training reviews; test {n['test']} reviews; "
          f"Rotten Tomatoes test {n['rotten_tomatoes']} sentences")
    print("| model | test accuracy | precision | recall | F1 | Rotten Tomatoes accuracy | cost |")
    print("|---|---|---|---|---|---|---|")
    lines = []
    for r in rows:
        cells = [r["model"], *fmt(r.get("test")), fmt(r.get("rotten_tomatoes"), ("accuracy",))[0] or "n/a", r["cost"]]
        lines.append(cells)
        print("| " + " | ".join(cells) + " |")
    if cost_line:
        print(cost_line)
    if timing:
        print()
        keys = list(timing[0])
        print("| " + " | ".join(keys) + " |")
        print("|" + "---|" * len(keys))
        for t in timing:
            print("| " + " | ".join(str(t[k]) for k in keys) + " |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quality.json").write_text(json.dumps({"rows": rows, "training": timing, "cost": cost_line}, indent=2, default=str))

    if args.quick:
        empty = [(cells[0], i) for cells in lines for i, cell in enumerate(cells) if cell == ""]
        expected_models = 5 if predictor.ngram is not None else 3
        untimed = [name for name in requested if not any(t["run"] == name for t in timing)]
        blank = [t for t in timing if any(v in ("", None) for v in t.values())]
        if empty or len(lines) != expected_models or untimed or blank:
            sys.exit(f"incomplete tables: empty cells {empty}, {len(lines)} of {expected_models} model rows, "
                     f"runs without timings {untimed}, timing rows with blanks {blank}")
        print("quick check: the tables are complete")


if __name__ == "__main__":
    main()
