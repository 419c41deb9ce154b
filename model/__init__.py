"""Emotion model: MTCNN face detection, face preprocessing, the VGG16 emotion classifier.

Public API (what the consumers use)::

    from model import FaceDetector, EmotionClassifier, DetectorConfig, Detections, crop_faces
    from model import head_pose  # the readability gate's pose estimate from the landmarks
    from model import detection_scale  # how far FaceDetector shrinks a frame (bench gate)
    from model import val_accuracy  # the weights' val accuracy, read without torch (dashboard)
    from model import check_weights_path  # the weights file, refused in one line (consumers)
    from model import pick_device  # the torch device for a name, refused in one line (consumers)

Names are imported lazily so that ``classpulse --help`` (which imports ``model.cli``) does not load
torch; type checkers read them from the ``TYPE_CHECKING`` imports, which never run.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # "X as X": re-exported (PEP 484), as __getattr__ does at run time
    from model.card import val_accuracy as val_accuracy
    from model.classifier import EmotionClassifier as EmotionClassifier
    from model.detector import Detections as Detections
    from model.detector import DetectorConfig as DetectorConfig
    from model.detector import FaceDetector as FaceDetector
    from model.detector import crop_faces as crop_faces
    from model.detector import detection_scale as detection_scale
    from model.device import pick_device as pick_device
    from model.pose import head_pose as head_pose
    from model.weights_io import check_weights_path as check_weights_path

_EXPORTS = {
    "FaceDetector": "model.detector",
    "DetectorConfig": "model.detector",
    "Detections": "model.detector",
    "crop_faces": "model.detector",
    "EmotionClassifier": "model.classifier",
    "head_pose": "model.pose",
    "detection_scale": "model.detector",
    "val_accuracy": "model.card",
    "check_weights_path": "model.weights_io",
    "pick_device": "model.device",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
