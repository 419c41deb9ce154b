"""``classpulse model evaluate``: score weights on a FER2013 split, through the inference path.

Evaluation goes through ``EmotionClassifier`` (fused batch norms, the same ``prepare_faces``), so
the numbers describe exactly what the consumers run, not the training-time network.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from classpulse.emotions import EMOTIONS
from classpulse.settings import Settings
from model.classifier import EmotionClassifier
from model.data import load_split
from model.metrics import classification_report, format_report
from model.preprocess import prepare_faces

log = logging.getLogger(__name__)


def evaluate_weights(data: Path, split: str = "val", weights: str | Path | None = None,
                     device: str = "auto", tta: bool = False, batch_size: int = 256,
                     precision: str = "auto") -> dict[str, Any]:
    """The classification report of ``weights`` on ``split`` of ``data``."""
    clf = EmotionClassifier(weights, device=device, precision=precision, max_batch=batch_size)
    faces = load_split(Path(data), split, clf.preprocessing.size)
    x = prepare_faces(list(faces.images), clf.preprocessing)
    probs = clf.predict_tensor(x, tta=tta)
    report = classification_report(faces.labels, probs.argmax(axis=1))
    report.update({
        "split": split,
        "data": str(data),
        "weights": str(weights) if weights else "shipped",
        "tta": tta,
        "device": clf.device.type,
        "precision": clf.precision,
        "mean_log_loss": _log_loss(probs, faces.labels),
    })
    return report


def _log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    if len(labels) == 0:
        return 0.0
    p = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(p, 1e-7, 1.0)).mean())


def evaluate_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the report; write the JSON and the confusion-matrix PNG when asked."""
    report = evaluate_weights(Path(args.data), args.split, settings.model_weights,
                              settings.device, args.tta, args.batch_size, args.precision)
    print(format_report(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        from model.plots import plot_confusion

        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        title = (f"{args.split}: accuracy {report['accuracy']:.3f}, "
                 f"macro F1 {report['macro_f1']:.3f}")
        plot_confusion(np.asarray(report["confusion_matrix"]), EMOTIONS, Path(args.plot), title)
        print(f"wrote {args.plot}")
    return 0
