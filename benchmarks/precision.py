"""What bf16 autocast buys and costs on this machine. Prints one table (README: Models).

    .venv/bin/python benchmarks/precision.py [--version ID] [--steps 6] [--max-length 256]

- speed: training steps (batches of 16 real training reviews, full fine-tuning, AdamW) and
  forward passes (batches of 64) of the base encoder in fp32 and in bf16, measured in the same
  run, interleaved, after a warm-up; the ratio is what `SENTIMENT_PRECISION=auto` gains;
- quality (with --version, or the active version): the version's accuracy on the validation split
  served in fp32 and in bf16, how often the two agree on the label, and their largest probability
  difference.
Run it alone on the machine: it measures time. bf16 is only fast where the CPU computes it
natively (AVX512-BF16 or AMX); elsewhere `auto` keeps fp32 and this script shows why.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import _bootstrap  # noqa: F401  (sets up paths and settings first)
import numpy as np


def timed(func, repeats: int) -> float:
    """Median seconds of `func()` over `repeats` runs, after one warm-up run."""
    func()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", help="model version for the quality rows (default: the active one, if any)")
    parser.add_argument("--steps", type=int, default=6, help="timed repeats per measurement")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="2 repeats, 64 tokens, 200 validation reviews")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.max_length = 2, 64

    import django

    django.setup()
    import torch
    from django.conf import settings
    from django.db import DatabaseError

    from modeling import precision
    from modeling.encoders import encode, load_classifier, load_tokenizer, pad_batch
    from modeling.serving import Predictor
    from reviews.conf import conf
    from reviews.data import load
    from reviews.models import ModelVersion
    from reviews.selectors import model_version_active

    if settings.SENTIMENT_TORCH_THREADS:
        torch.set_num_threads(settings.SENTIMENT_TORCH_THREADS)
    native = precision.cpu_has_native_bf16()
    print(f"CPU computes bf16 natively: {'yes' if native else 'no'}; SENTIMENT_PRECISION=auto means "
          f"{precision.resolve('auto', 'cpu')} here; torch threads {torch.get_num_threads()}")

    try:
        version = ModelVersion.objects.get(pk=args.version) if args.version else model_version_active()
    except DatabaseError as exc:  # an installation not migrated yet: the speed rows still run
        if args.version:
            sys.exit(f"cannot read model versions: {exc} (run manage.py migrate)")
        print(f"no model versions to read ({exc}); quality rows skipped")
        version = None
    data = load(version.data.get("source") if version else None)
    base = settings.SENTIMENT_BASE_MODEL
    tokenizer = load_tokenizer(base)
    model = load_classifier(base, num_labels=2)
    sample = data["train"].select(range(64))
    texts = list(sample["text"])
    labels = torch.as_tensor(list(sample["label"])[:16])
    ids, mask = pad_batch(encode(tokenizer, texts, max_length=args.max_length), tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def train_step(mode: str):
        def step():
            with precision.autocast("cpu", mode):
                logits = model(input_ids=ids[:16], attention_mask=mask[:16]).logits
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return step

    def forward(mode: str):
        def run():
            with torch.inference_mode(), precision.autocast("cpu", mode):
                model(input_ids=ids, attention_mask=mask)
        return run

    rows = []
    for name, make in (("training step, 16 reviews", train_step), ("forward pass, 64 reviews", forward)):
        model.train(make is train_step)
        seconds = {}
        for mode in ("fp32", "bf16", "fp32", "bf16"):  # interleaved: drift on a shared machine hits both
            seconds.setdefault(mode, []).append(timed(make(mode), args.steps))
        fp32, bf16 = min(seconds["fp32"]), min(seconds["bf16"])
        rows.append(f"| {name} at {ids.shape[1]} tokens | {fp32:.2f} s | {bf16:.2f} s | {fp32 / bf16:.2f}x |")
    print("| measurement | fp32 | bf16 | bf16 speed-up |")
    print("|---|---|---|---|")
    print("\n".join(rows))

    if version is None:
        print("no model version: quality rows skipped (train one, or pass --version)")
        return
    validation = data["validation"]
    if args.quick:
        validation = validation.select(range(min(200, len(validation))))
    gold = np.asarray(validation["label"])
    probas = {}
    for mode in ("fp32", "bf16"):
        started = time.perf_counter()
        probas[mode] = Predictor(version.path, key=conf.signing_key(), batch_size=64, precision=mode, backend="torch").predict_proba(list(validation["text"]))
        probas[f"{mode}_s"] = time.perf_counter() - started
    agree = float((probas["fp32"].argmax(1) == probas["bf16"].argmax(1)).mean())
    print(f"\nversion {version.id} served on {len(gold)} validation reviews:")
    print("| served in | accuracy | seconds | labels equal to fp32's | largest probability difference |")
    print("|---|---|---|---|---|")
    for mode in ("fp32", "bf16"):
        accuracy = float((probas[mode].argmax(1) == gold).mean())
        difference = float(np.abs(probas[mode] - probas["fp32"]).max())
        print(f"| {mode} | {accuracy:.4f} | {probas[f'{mode}_s']:.0f} | {agree if mode == 'bf16' else 1.0:.4f} | {difference:.4f} |")


if __name__ == "__main__":
    main()
