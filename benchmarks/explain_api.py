"""Explanations as a user gets them, through the API of a running site (`manage.py serve`: web
processes and the worker) on this installation's active version.

    .venv/bin/python benchmarks/explain_api.py [--reviews 5] [--warm-up 40] [--isa native|avx2]

For each of the test reviews nearest the median length: POST /api/v1/predict (stored), then POST
/api/v1/predictions/{id}/explanation and GET it every 0.1 s until it is done. Prints, per review,
the seconds from that POST to the result and the worker's own computing time (the rest is the
worker's 1-second polling and the requests). Before timing, one explanation is asked and the
worker is given `--warm-up` seconds to load (and, where it compiles, compile) its explainer, as
it does after it starts. Run it alone on the machine: it measures time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import _bootstrap  # noqa: F401  (sets up paths and settings first)
import _cpu
import _server


def explain_through_api(client: _server.Client, text: str) -> tuple[float, dict]:
    status, body = client.call("POST", "/api/v1/predict", {"text": text, "store": True})
    if status != 200:
        raise RuntimeError(f"POST /api/v1/predict answered {status}: {body}")
    path = f"/api/v1/predictions/{body['results'][0]['prediction_id']}/explanation"
    started = time.perf_counter()
    status, body = client.call("POST", path)
    while status == 202:
        time.sleep(0.1)
        status, body = client.call("GET", path)
    if status != 200 or body.get("status") != "done":
        raise RuntimeError(f"the explanation ended {status}: {body}")
    return time.perf_counter() - started, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=5)
    parser.add_argument("--warm-up", type=float, default=40.0)
    parser.add_argument("--isa", choices=("native", "avx2"), default="native")
    args = parser.parse_args()
    _cpu.apply_isa(args.isa)
    print(_cpu.describe(args.isa))

    import django

    django.setup()
    from explain import pick_reviews
    from reviews.conf import conf
    from reviews.data import load
    from reviews.worker.explanations import explain_precision
    from reviews.selectors import model_version_active

    version = model_version_active()
    if version is None:
        sys.exit("no active model version: train one first (manage.py train --profile quick)")
    texts = pick_reviews(list(load(version.data.get("source"))["test"]["text"]), args.reviews + 1)
    with _server.serve(dict(os.environ), worker=True) as base:
        client = _server.Client(base)
        explain_through_api(client, texts[-1])
        time.sleep(args.warm_up)
        rows = [explain_through_api(client, text) for text in texts[: args.reviews]]
    words = statistics.median(len(t.split()) for t in texts[: args.reviews])
    print(f"version {version.id}; {args.reviews} test reviews near the median length ({words:.0f} words)")
    print(f"perturbations classified at {explain_precision()} (SENTIMENT_EXPLAIN_PRECISION="
          f"{conf.explain.precision}, SENTIMENT_BACKEND={conf.serving.backend})")
    print("| review | words | POST to result, s | computing, s | samples |")
    print("|---|---|---|---|---|")
    for i, (text, (seconds, body)) in enumerate(zip(texts, rows), start=1):
        result = body["result"]
        print(f"| {i} | {len(text.split())} | {seconds:.2f} | {result['seconds']:.2f} | {result['num_samples']} |")
    print(f"p50: {statistics.median(s for s, _ in rows):.2f} s from the POST, "
          f"{statistics.median(b['result']['seconds'] for _, b in rows):.2f} s computing")


if __name__ == "__main__":
    main()
