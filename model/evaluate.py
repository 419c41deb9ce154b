"""``classpulse model evaluate``: score weights on a FER2013 split, through the inference path.

Evaluation goes through ``EmotionClassifier`` (fused batch norms, the same ``prepare_faces``, the
same precision choice), so the numbers describe the network the consumers run, not the
training-time one. Two things the consumers do besides are opt-in here, so that the plain report
stays comparable with the published single-view numbers: flip TTA (``--tta``; the consumers' is
``model.classifier.DEFAULT_TTA``) and the readability gate's minimum confidence. ``--class-level``,
which measures the dashboard's shares, does both unless told otherwise (``--no-tta``).
``--ten-crop`` replaces the flip (its ten views hold the mirror images), so it is refused beside
``--tta``/``--no-tta``, and the class-level output says when its numbers come from ten-crop.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from classpulse.settings import Settings
from model.class_level import (
    SEED,
    SPLITS,
    check_halves,
    class_level_errors,
    format_class_level,
    small_halves_warning,
)
from model.classifier import DEFAULT_TTA, EmotionClassifier
from model.data import load_split, split_label
from model.metrics import classification_report, format_report
from model.paths import check_output_file
from model.pose import view_warp
from model.preprocess import classroom_view, prepare_faces, shrink_faces

log = logging.getLogger(__name__)


TEN_CROP = 42 / 48  # the crop's side as a share of the face's: the published 42 px of 48


def ten_crop_views(x: torch.Tensor) -> list[torch.Tensor]:
    """Ten views of prepared faces (N, 1, S, S): the four corner and the centre squares of
    ``TEN_CROP`` of the side (42 px at 48; in proportion at any other ``--size``, so the zoom is
    always 1.14x, inside the training augmentation's range), enlarged back to S, and their mirror
    images; the published VGG-on-FER2013 results average these at test time."""
    side = x.shape[-1]
    crop = round(side * TEN_CROP)
    m = side - crop
    corners = [(0, 0), (0, m), (m, 0), (m, m), (m // 2, m // 2)]
    views = [F.interpolate(x[..., t:t + crop, left:left + crop], size=(side, side),
                           mode="bilinear", align_corners=False) for t, left in corners]
    return views + [torch.flip(v, dims=[3]) for v in views]


def evaluate_weights(data: Path, split: str | None = None, weights: str | Path | None = None,
                     device: str = "auto", tta: bool | None = None, batch_size: int = 256,
                     precision: str = "auto", face_size: int | None = None,
                     view: tuple[float, float, float] = (0.0, 0.0, 0.0),
                     ten_crop: bool = False, class_level: bool = False,
                     tilt: float | None = None,
                     min_confidence: float = Settings.gate_min_confidence,
                     splits: int = SPLITS, seed: int = SEED) -> dict[str, Any]:
    """The classification report of ``weights`` on ``split`` of ``data``.

    ``split`` None reads val, or the split a split folder is named after (``split_label``, which
    also refuses a ``split`` contradicting that name); the report's ``split`` names the faces
    read: the split, or the path of a source that holds one unnamed split.

    ``view`` (pitch, yaw, roll in degrees) first turns every face as a camera above the class or
    beside it would see it (``model.pose.view_warp``); ``face_size`` then shrinks it to that many
    pixels a side, the size classroom CCTV records faces at, so the report says what the network
    does with that view and that little detail. ``tilt`` warps every face as the training
    augmentation's camera above the class does (``classroom_view``), after any shrinking.
    ``ten_crop`` averages ``ten_crop_views`` (10x the work); ``class_level`` adds the error of
    per-minute emotion shares (``model.class_level``), counting only faces whose top probability
    reaches ``min_confidence``, as the consumers' gate does, over ``splits`` random splits into
    halves drawn from ``seed``; of faces made small, turned or tilted, also corrected with a
    confusion fitted at full size (one more pass of the classifier), as one shipped with the
    weights would be. ``tta`` None means: flip TTA as the consumers run it
    (``DEFAULT_TTA``) with ``class_level``, none without it; with ``ten_crop`` it must be None
    (ten-crop holds the mirror images: a flip on or off beside it contradicts it). The report also
    holds the top probabilities' curve (``confidence``), which the gate's threshold is chosen
    from.
    """
    if ten_crop and tta is not None:
        raise UsageError(f"--ten-crop averages ten views, the mirror images among them, in place "
                         f"of flip TTA, so --{'' if tta else 'no-'}tta contradicts it; give one "
                         "of --ten-crop and --tta/--no-tta")
    if tta is None:
        tta = DEFAULT_TTA and class_level and not ten_crop
    split, label = split_label(Path(data), split)
    clf = EmotionClassifier(weights, device=device, precision=precision, max_batch=batch_size)
    faces = load_split(Path(data), split, clf.preprocessing.size)
    source = f"{split} of {data}" if label == split else label
    if class_level:
        check_halves(faces.labels, source)
    images = view_warp(list(faces.images), *view)
    if face_size is not None:
        images = shrink_faces(images, face_size)
    x = prepare_faces(images, clf.preprocessing)
    if tilt:
        x = classroom_view(x, tilt)
    probs = _probabilities(clf, x, tta, ten_crop)
    report = classification_report(faces.labels, probs.argmax(axis=1))
    if class_level:
        shifted = face_size is not None or bool(tilt) or any(view)
        full_size = (_probabilities(clf, prepare_faces(list(faces.images), clf.preprocessing),
                                    tta, ten_crop) if shifted else None)
        report["class_level"] = class_level_errors(faces.labels, probs, min_confidence,
                                                   splits=splits, seed=seed,
                                                   full_size_probs=full_size)
        report["class_level_min_confidence"] = min_confidence
        report["class_level_reading"] = (
            "read with ten-crop (--ten-crop), NOT the consumers' flip TTA" if ten_crop
            else "read with flip TTA, as the consumers read faces" if tta
            else "read without flip TTA (the consumers use it)")
        report["class_level_warning"] = small_halves_warning(faces.labels, source)
    report.update({
        "split": label,
        "data": str(data),
        "weights": str(weights) if weights else "shipped",
        "tta": "ten-crop" if ten_crop else tta,
        "face_size": face_size,
        "view": dict(zip(("pitch", "yaw", "roll"), view, strict=True)),
        "tilt": tilt,
        "confidence": confidence_curve(probs, faces.labels),
        "device": clf.device.type,
        "precision": clf.precision,
        "mean_log_loss": _log_loss(probs, faces.labels),
    })
    return report


def _probabilities(clf: EmotionClassifier, x: torch.Tensor, tta: bool, ten_crop: bool
                   ) -> np.ndarray:
    if ten_crop:
        return np.mean([clf.predict_tensor(v) for v in ten_crop_views(x)], axis=0)
    return clf.predict_tensor(x, tta=tta)


def confidence_curve(probs: np.ndarray, labels: np.ndarray,
                     thresholds: tuple[float, ...] = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)
                     ) -> list[dict[str, float]]:
    """Per top-probability threshold: the share of faces at or above it (``kept``), their
    accuracy, and how far the predicted mix of the kept faces is from the mix of all faces (the
    largest change of any emotion's share, in points)."""
    if len(labels) == 0:
        return []
    top, pred = probs.max(axis=1), probs.argmax(axis=1)
    mix = np.bincount(pred, minlength=len(EMOTIONS)) / len(pred)
    out = []
    for t in thresholds:
        kept = top >= t
        n = int(kept.sum())
        kept_mix = np.bincount(pred[kept], minlength=len(EMOTIONS)) / max(n, 1)
        out.append({"threshold": t, "kept": n / len(labels),
                    "accuracy": float((pred[kept] == labels[kept]).mean()) if n else 0.0,
                    "mix_shift": float(np.abs(kept_mix - mix).max() * 100) if n else 0.0})
    return out


def _log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    if len(labels) == 0:
        return 0.0
    p = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(p, 1e-7, 1.0)).mean())


def evaluate_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the report; write the JSON and the confusion-matrix PNG when asked (both paths
    checked first, so a wrong one stops the command before the evaluation, not after it)."""
    if args.json:
        check_output_file(args.json, "--json", ".json")
    if args.plot:
        from model.plots import check_figure_path

        check_output_file(args.plot, "--plot", ".png")
        check_figure_path(args.plot, "--plot")
    simulation = {"--splits": args.splits, "--seed": args.seed}
    given = [flag for flag, value in simulation.items() if value is not None]
    if given and not args.class_level:
        raise UsageError(f"{' and '.join(given)} set the --class-level simulation; add "
                         f"--class-level or drop {' and '.join(given)}")
    report = evaluate_weights(Path(args.data), args.split, settings.model_weights,
                              settings.device, args.tta, args.batch_size, args.precision,
                              args.face_size, (args.pitch, args.yaw, args.roll),
                              ten_crop=args.ten_crop, class_level=args.class_level,
                              tilt=args.tilt, min_confidence=settings.gate_min_confidence,
                              splits=SPLITS if args.splits is None else args.splits,
                              seed=SEED if args.seed is None else args.seed)
    if report["tta"] is True:
        print("flip TTA on: each face averaged with its mirror, as the consumers run it")
    if args.pitch or args.yaw or args.roll:
        print(f"every face turned first: pitch {args.pitch:g}, yaw {args.yaw:g}, roll "
              f"{args.roll:g} degrees (seen from above / aside / tilted)")
    if args.face_size:
        print(f"every face shrunk to {args.face_size}x{args.face_size} px first, then enlarged "
              f"by the preprocessing, as a classroom-sized face is")
    print(format_report(report))
    print("top probability >=  kept  accuracy  mix shift (points)")
    for row in report["confidence"]:
        print(f"{row['threshold']:18.2f}  {row['kept']:.3f}  {row['accuracy']:.4f}  "
              f"{row['mix_shift']:.1f}")
    if args.class_level:
        print(format_class_level(report["class_level"], report["class_level_min_confidence"],
                                 report["class_level_reading"], report["class_level_warning"]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        from model.plots import plot_confusion

        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        seen = (f" at {args.face_size} px" if args.face_size else "") + (
            f", tilted {args.tilt}" if args.tilt else "")
        title = (f"{report['split']}{seen}: accuracy {report['accuracy']:.3f}, "
                 f"macro F1 {report['macro_f1']:.3f}")
        plot_confusion(np.asarray(report["confusion_matrix"]), EMOTIONS, Path(args.plot), title)
        print(f"wrote {args.plot}")
    return 0
