"""Classification metrics for any `predict_proba` on any labelled split (scikit-learn)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score

from modeling.config import LABELS

Metrics = dict
# The figures printed one per line by `manage.py evaluate`, in this order.
HEADLINE = ("accuracy", "precision", "recall", "f1", "roc_auc")


def metrics_from_proba(labels: Sequence[int], proba: np.ndarray) -> Metrics:
    """Accuracy, binary precision/recall/F1 (positive class), per-class figures, confusion
    matrix (rows = true, columns = predicted, in LABELS order) and ROC-AUC."""
    y = np.asarray(labels, dtype=int)
    proba = np.asarray(proba, dtype=float)
    if len(y) == 0:
        raise ValueError("cannot evaluate on an empty set")
    if proba.shape != (len(y), len(LABELS)):
        raise ValueError(f"probabilities have shape {proba.shape}, expected {(len(y), len(LABELS))}")
    pred = proba.argmax(axis=1)
    ids = list(range(len(LABELS)))
    p, r, f, support = precision_recall_fscore_support(y, pred, labels=ids, zero_division=0)
    bp, br, bf, _ = precision_recall_fscore_support(y, pred, average="binary", pos_label=1, zero_division=0)
    both_classes = len(np.unique(y)) == len(LABELS)
    return {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(bp),
        "recall": float(br),
        "f1": float(bf),
        "roc_auc": float(roc_auc_score(y, proba[:, 1])) if both_classes else None,
        "per_class": {
            label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
            for i, label in enumerate(LABELS)
        },
        "confusion_matrix": confusion_matrix(y, pred, labels=ids).tolist(),
    }


def evaluate(predict_proba: Callable[[list[str]], np.ndarray], dataset) -> Metrics:
    """Metrics of `predict_proba` (e.g. `Predictor.predict_proba`) on a dataset with text and label."""
    texts = list(dataset["text"])
    return metrics_from_proba(list(dataset["label"]), predict_proba(texts))


def format_metrics(metrics: Metrics) -> list[str]:
    """Lines `name value`, then the confusion matrix, as `manage.py evaluate` prints them."""
    lines = [f"n {metrics['n']}"]
    for name in HEADLINE:
        value = metrics.get(name)
        lines.append(f"{name} {'n/a' if value is None else f'{value:.4f}'}")
    for label, figures in metrics["per_class"].items():
        for name in ("precision", "recall", "f1"):
            lines.append(f"{label}_{name} {figures[name]:.4f}")
    parts = metrics.get("parts")
    if parts:
        lines.append(f"accuracy of the parts: transformer {parts['transformer']:.4f}, n-gram {parts['ngram']:.4f} "
                     f"(served: {1 - parts['ngram_weight']:.2f} / {parts['ngram_weight']:.2f})")
    width = max(len(label) for label in LABELS)
    lines.append("confusion matrix (rows: true, columns: predicted)")
    lines.append(" " * (width + 2) + " ".join(f"{label:>{width}}" for label in LABELS))
    for label, row in zip(LABELS, metrics["confusion_matrix"]):
        lines.append(f"{label:>{width}}  " + " ".join(f"{count:>{width}}" for count in row))
    return lines
