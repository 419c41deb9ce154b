"""Emotion model: MTCNN face detection, face preprocessing, the VGG16 emotion classifier.

Public API (what the consumers use)::

    from model import FaceDetector, EmotionClassifier, DetectorConfig, Detections, crop_faces
    from model import head_pose  # the readability gate's pose estimate from the landmarks
    from model import detection_scale  # how far FaceDetector shrinks a frame (bench gate)
    from model import val_accuracy  # the weights' val accuracy, read without torch (dashboard)

Names are imported lazily so that ``classpulse --help`` (which imports ``model.cli``) does not load
torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "FaceDetector": "model.detector",
    "DetectorConfig": "model.detector",
    "Detections": "model.detector",
    "crop_faces": "model.detector",
    "EmotionClassifier": "model.classifier",
    "head_pose": "model.pose",
    "detection_scale": "model.detector",
    "val_accuracy": "model.card",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
