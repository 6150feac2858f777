"""How long a fresh installation takes to answer: what `make run` does once its packages are
installed, in a new installation folder (SQLite and a model store under a temporary
SENTIMENT_VAR_DIR), timed from the start to the site classifying with its first model.

    .venv/bin/python benchmarks/first_run.py [--isa native|avx2] [--keep]

Steps, as the Makefile's `run`: `python -m sentiment_site.install` (the secret key), `manage.py
migrate`, `manage.py ensure_model` (queues the first model), then `manage.py serve` (gunicorn and
the worker, which trains the `quick` profile). Prints the seconds to each point: the site up, the
first model active and answering in both web processes, and the training run's own span and
stages. The first model today is the `quick` transformer, so "first useful model" and "first
transformer" are the same point. Run it alone on the machine: it measures time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap
import _cpu
import _server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--isa", choices=("native", "avx2"), default="native")
    parser.add_argument("--keep", action="store_true", help="keep the installation folder (its path is printed)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    args = parser.parse_args()
    _cpu.apply_isa(args.isa)
    print(_cpu.describe(args.isa))

    folder = Path(tempfile.mkdtemp(prefix="first-run-"))
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DJANGO_SECRET_KEY")}
    env["SENTIMENT_VAR_DIR"] = str(folder / "var")
    marks: list[tuple[str, float]] = []
    started = time.monotonic()

    def step(*command: str) -> None:
        subprocess.run([sys.executable, *command], cwd=_bootstrap.ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)

    try:
        step("-m", "sentiment_site.install")
        step("manage.py", "migrate", "--noinput")
        step("manage.py", "ensure_model")
        marks.append(("migrated, first model queued", time.monotonic() - started))
        with _server.serve(env, worker=True, ready_timeout=args.timeout):
            marks.append(("first model active, both web processes answering", time.monotonic() - started))
        print(f"installation folder: {folder}" + ("" if args.keep else " (removed)"))
        print("| point | seconds from the start | minutes |")
        print("|---|---|---|")
        for name, seconds in marks:
            print(f"| {name} | {seconds:.0f} | {seconds / 60:.1f} |")
        run = sqlite3.connect(folder / "var" / "db.sqlite3").execute(
            "SELECT claimed_at, finished_at, model_version_id FROM reviews_trainingrun ORDER BY id LIMIT 1").fetchone()
        if run is not None:
            version = folder / "var" / "models" / run[2] / "manifest.json"
            manifest = json.loads(version.read_text()) if version.exists() else {}
            training = manifest.get("training", {})
            print(f"training run: {run[0]} to {run[1]}; version {run[2]}: build {manifest.get('build_seconds')} s "
                  f"(training {training.get('duration_s', '?')} s, ONNX export {(manifest.get('onnx') or {}).get('seconds', '?')} s), "
                  f"test accuracy {manifest.get('metrics', {}).get('test', {}).get('accuracy', '?')}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
