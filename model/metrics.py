"""Classification metrics from labels and predictions: plain numpy, so they can be checked by hand.

Conventions (the same as scikit-learn's): a class never predicted has precision 0, a class absent
from the labels has recall 0, and F1 is 0 where precision + recall is 0. Macro F1 averages the
classes equally (disgust counts as much as happy), over the classes that occur in the labels or
the predictions (scikit-learn's ``labels=None``): a class absent from both says nothing about the
reader, and counting it as F1 0 would score a perfect reader of a small subset below 1. Weighted
F1 weights the classes by their support.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from classpulse.emotions import EMOTIONS


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray,
                     n_classes: int = len(EMOTIONS)) -> np.ndarray:
    """``cm[i, j]`` = how many faces of true class i were predicted as class j."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.shape[0]} labels but {predictions.shape[0]} predictions")
    flat = labels * n_classes + predictions
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def classification_report(labels: np.ndarray, predictions: np.ndarray,
                          classes: tuple[str, ...] = EMOTIONS) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro and weighted F1, confusion matrix."""
    cm = confusion_matrix(labels, predictions, len(classes))
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    n = int(cm.sum())
    occurring = (support > 0) | (predicted > 0)
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1[occurring].mean()) if n else 0.0,
        "weighted_f1": float((f1 * support).sum() / n) if n else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(classes)
        },
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as a fixed-width table for the terminal."""
    lines = [f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}"]
    for name, row in report["per_class"].items():
        lines.append(f"{name:<10} {row['precision']:>9.3f} {row['recall']:>7.3f} "
                     f"{row['f1']:>6.3f} {row['support']:>8d}")
    lines.append("")
    lines.append(f"accuracy    {report['accuracy']:.4f}  (n={report['n']})")
    lines.append(f"macro F1    {report['macro_f1']:.4f}")
    lines.append(f"weighted F1 {report['weighted_f1']:.4f}")
    return "\n".join(lines)
