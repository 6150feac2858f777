"""How long a fresh installation takes to answer: what `make run` does once its packages are
installed, in a new installation folder (SQLite and a model store under a temporary
SENTIMENT_VAR_DIR), timed from the start to the site classifying with its first model.

    .venv/bin/python benchmarks/first_run.py [--isa native|avx2] [--keep]

Steps, as the Makefile's `run`: `python -m sentiment_site.install` (the secret key), `manage.py
migrate`, `manage.py ensure_model` (queues the first models), then `manage.py serve` (gunicorn and
the worker, which fits the n-gram model and then trains the `quick` transformer). Prints the
seconds to each point: the first model (the n-gram model) answering in both web processes, the
first transformer answering in both, and each version's build. Run it alone on the machine: it
measures time.
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
        database = folder / "var" / "db.sqlite3"
        with _server.serve(env, worker=True, ready_timeout=args.timeout) as base:
            client = _server.Client(base)
            kinds = _answering_kinds(client, database)
            marks.append((f"first model ({', '.join(sorted(kinds))}) answering in both web processes",
                          time.monotonic() - started))
            while kinds != {"transformer"} and time.monotonic() - started < args.timeout:
                run = _query(database, "SELECT status, decision FROM reviews_trainingrun ORDER BY id LIMIT 1")
                if run and run[0] in ("done", "failed") and run[1] != "promoted":
                    print(f"the first training run ended {run[0]} ({run[1] or 'no decision'}): no transformer answers")
                    break
                time.sleep(2)
                kinds = _answering_kinds(client, database)
            if kinds == {"transformer"}:
                marks.append(("first transformer answering in both web processes", time.monotonic() - started))
        print(f"installation folder: {folder}" + ("" if args.keep else " (removed)"))
        print("| point | seconds from the start | minutes |")
        print("|---|---|---|")
        for name, seconds in marks:
            print(f"| {name} | {seconds:.0f} | {seconds / 60:.1f} |")
        run = _query(database, "SELECT claimed_at, finished_at, decision FROM reviews_trainingrun ORDER BY id LIMIT 1")
        if run is not None:
            print(f"training run: {run[0]} to {run[1]}, decision {run[2] or '-'}")
        for version_id, kind, status in sqlite3.connect(database).execute(
                "SELECT id, kind, status FROM reviews_modelversion ORDER BY created_at"):
            path = folder / "var" / "models" / version_id / "manifest.json"
            manifest = json.loads(path.read_text()) if path.exists() else {}
            test = manifest.get("metrics", {}).get("test", {})
            parts = test.get("parts")
            training = manifest.get("training", {})
            fitted = (f" at {training['fitted']['rows_per_s']} rows/s, fitted to {training['fitted']['budget_s']:.0f} s"
                      if training.get("fitted") else "")
            print(f"{kind} version {version_id} ({status}): build {manifest.get('build_seconds')} s"
                  + (f" (training {training.get('duration_s', '?')} s on {training.get('train_rows', '?')} reviews"
                     f"{fitted}, ONNX export {(manifest.get('onnx') or {}).get('seconds', '?')} s)" if kind == "transformer" else "")
                  + f", test accuracy {test.get('accuracy', '?')} on {test.get('n', '?')} reviews"
                  + (f" (transformer alone {parts['transformer']:.4f}, n-gram weight {parts['ngram_weight']})" if parts else ""))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def _query(database: Path, sql: str, *params):
    connection = sqlite3.connect(database, timeout=30)
    try:
        return connection.execute(sql, params).fetchone()
    finally:
        connection.close()


def _answering_kinds(client: _server.Client, database: Path) -> set[str]:
    """The kinds of the versions that answered 8 predictions (the two web processes share them)."""
    answered = {client.call("POST", "/api/v1/predict", {"text": "warm up"})[1].get("model_version") for _ in range(8)}
    return {(_query(database, "SELECT kind FROM reviews_modelversion WHERE id = ?", v) or ("?",))[0] for v in answered}


if __name__ == "__main__":
    main()
