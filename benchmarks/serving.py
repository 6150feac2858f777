"""Serving speed on this CPU: the Hugging Face `pipeline` against the project's paths (PyTorch and
ONNX Runtime, fp32 and int8) on the same model and the same texts, in one run; then single-review
latency under concurrent clients through the real web stack (`manage.py serve`: gunicorn, the
API, the database). Prints markdown tables (docs/results.md#serving).

    .venv/bin/python benchmarks/serving.py [--version ID] [--reviews 256] [--rounds 3]
        [--accuracy-reviews 2000] [--clients 1,4,8] [--isa native|avx2] [--quick]

- throughput: `--reviews` test reviews at the version's token window (128 for `quick`), batches
  of 32, each path `--rounds` times, interleaved; reviews/s and the ratio to the pipeline measured
  in the same round (median over rounds). The transformer alone on every path (the pipeline has
  no n-gram companion);
- accuracy: each path on `--accuracy-reviews` test reviews, and the change against PyTorch fp32;
- latency: for each backend, `manage.py serve --no-worker` on a free port, N clients each posting
  one review at a time to /api/v1/predict for `--seconds`; p50 / p95 latency and reviews/s.

`--isa avx2` measures the AVX2 case on a CPU that has more: it runs again with oneDNN and MKL
capped at AVX2 (ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS), under which the project treats the
CPU as one without native bf16 (modeling/precision.py), as on a real AVX2 machine.
ONNX Runtime's kernels (MLAS) choose their instruction set from the CPU and cannot be capped, so
its rows in that case are this CPU's own, and the table says so. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

import _bootstrap  # noqa: F401  (sets up paths and settings first)
import _cpu
import _server
import numpy as np

def throughput(paths: dict, texts: list[str], rounds: int) -> dict[str, dict]:
    """Seconds per path per round, interleaved; the first call of each path is a warm-up."""
    for run in paths.values():
        run(texts[:32])
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, run in paths.items():
            started = time.perf_counter()
            run(texts)
            seconds[name].append(time.perf_counter() - started)
    base = seconds["pipeline"]
    return {name: {"reviews_s": len(texts) / statistics.median(s),
                   "ratio": statistics.median([b / x for b, x in zip(base, s)])} for name, s in seconds.items()}


def latency(backend: str, clients: list[int], texts: list[str], seconds: float, env: dict) -> list[dict]:
    """`manage.py serve --no-worker` with `backend`; per client count, p50/p95 latency and reviews/s."""
    rows = []
    with _server.serve({**env, "SENTIMENT_BACKEND": backend}, worker=False) as base:
        for n in clients:
            times: list[float] = []
            stop = time.monotonic() + seconds

            def client(offset: int) -> None:
                i, own = offset, _server.Client(base)
                while time.monotonic() < stop:
                    started = time.perf_counter()
                    status, _ = own.call("POST", "/api/v1/predict", {"text": texts[i % len(texts)]})
                    if status != 200:
                        raise RuntimeError(f"POST /api/v1/predict answered {status}")
                    times.append(time.perf_counter() - started)
                    i += n

            threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
            began = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - began
            rows.append({"clients": n, "requests": len(times), "p50": float(np.percentile(times, 50)),
                         "p95": float(np.percentile(times, 95)), "reviews_s": len(times) / elapsed})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", help="model version (default: the active one)")
    parser.add_argument("--reviews", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--accuracy-reviews", type=int, default=2000)
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=20.0, help="per client count in the latency part")
    parser.add_argument("--isa", choices=("native", "avx2"), default="native")
    parser.add_argument("--no-latency", action="store_true", help="skip the web-stack part")
    parser.add_argument("--quick", action="store_true", help="toy size: 32 reviews, 1 round, 64 for accuracy, 3 s")
    args = parser.parse_args()
    if args.quick:
        args.reviews, args.rounds, args.accuracy_reviews, args.seconds, args.clients = 32, 1, 64, 3.0, "1,2"
    _cpu.apply_isa(args.isa)
    print(_cpu.describe(args.isa))

    import django

    django.setup()
    import torch
    from transformers import pipeline

    from modeling import onnx_runtime, registry
    from modeling.config import ServingConfig
    from modeling.serving import Predictor, choose_backend
    from reviews.conf import conf
    from reviews.data import load
    from reviews.models import ModelVersion
    from reviews.selectors import model_version_active

    version = ModelVersion.objects.get(pk=args.version) if args.version else model_version_active()
    if version is None:
        sys.exit("no active model version: train one (manage.py train) or pass --version")
    key = conf.signing_key()
    manifest = registry.verify(version.path, key=key)
    exported = onnx_runtime.files(version.path, manifest)
    if not exported:
        sys.exit(f"version {version.id} has no ONNX export (built before ONNX Runtime was used): "
                 "train a new one, or run manage.py export_onnx")
    threads = conf.serving.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    test = load(version.data.get("source"))["test"]
    texts = list(test["text"][: args.reviews])
    window = int(manifest["inference"]["max_length"])
    print(f"version {version.id}: {window} tokens ({manifest['inference'].get('truncation')}), "
          f"{len(texts)} test reviews, batches of {args.batch_size}, {threads} threads, {args.rounds} rounds")

    predictors = {
        "torch fp32": Predictor(version.path, key=key, backend="torch", precision="fp32", batch_size=args.batch_size, threads=threads),
        "ONNX Runtime fp32": Predictor(version.path, key=key, backend="onnx", precision="fp32", batch_size=args.batch_size, threads=threads),
        "ONNX Runtime int8": Predictor(version.path, key=key, backend="onnx", precision="int8", batch_size=args.batch_size, threads=threads),
    }
    auto = Predictor(version.path, key=key, batch_size=args.batch_size, threads=threads)
    if auto.backend == "torch" and auto.precision != "fp32":
        predictors[f"torch {auto.precision}"] = auto
    hf = pipeline("text-classification", model=str(version.path), tokenizer=str(version.path), device=-1,
                  truncation=True, max_length=window, top_k=None)
    paths = {"pipeline": lambda batch: hf(batch, batch_size=args.batch_size)}
    paths.update({name: p.transformer_proba for name, p in predictors.items()})
    speed = throughput(paths, texts, args.rounds)

    accuracy_texts = list(test["text"][: args.accuracy_reviews])
    gold = np.asarray(test["label"][: args.accuracy_reviews])
    labels = {name: p.transformer_proba(accuracy_texts).argmax(1) for name, p in predictors.items()}
    hf_out = hf(accuracy_texts, batch_size=args.batch_size)
    id_of = {hf.model.config.id2label[i]: i for i in hf.model.config.id2label}
    labels["pipeline"] = np.asarray([id_of[max(out, key=lambda r: r["score"])["label"]] for out in hf_out])
    reference = labels["torch fp32"]
    print(f"\nSERVING_AUTO: backend {auto.backend}, precision {auto.precision}")
    print(f"\n| path | reviews/s | x the pipeline | accuracy ({len(gold)} test reviews) | change vs torch fp32 (points) | labels equal to torch fp32 |")
    print("|---|---|---|---|---|---|")
    for name in paths:
        acc = float((labels[name] == gold).mean())
        change = 100 * (acc - float((reference == gold).mean()))
        auto_mark = " (auto)" if name == f"{'ONNX Runtime' if auto.backend == 'onnx' else 'torch'} {auto.precision}" else ""
        print(f"| {name}{auto_mark} | {speed[name]['reviews_s']:.1f} | {speed[name]['ratio']:.2f}x | {acc:.4f} | "
              f"{change:+.2f} | {float((labels[name] == reference).mean()):.4f} |")

    if args.no_latency:
        return
    clients = [int(c) for c in args.clients.split(",")]
    single = list(test["text"][args.reviews: args.reviews + 200])
    print(f"\nThrough the web stack (manage.py serve --no-worker: {conf.web.workers} gunicorn workers x "
          f"{conf.web.threads} threads), one review per POST /api/v1/predict, {args.seconds:.0f} s per row:")
    print("| what answers | clients | requests | p50 ms | p95 ms | reviews/s |")
    print("|---|---|---|---|---|---|")
    cpu = torch.device("cpu")
    for backend in ("torch", "onnx"):
        runtime, precision = choose_backend(ServingConfig(precision=conf.serving.precision, backend=backend), exported, cpu)
        for row in latency(backend, clients, single, args.seconds, dict(os.environ)):
            print(f"| {'ONNX Runtime' if runtime == 'onnx' else 'PyTorch'} {precision} | {row['clients']} | "
                  f"{row['requests']} | {1000 * row['p50']:.0f} | {1000 * row['p95']:.0f} | {row['reviews_s']:.1f} |")


if __name__ == "__main__":
    main()
