"""Faces and emotions for a batch of frames: detect on all frames at once, classify all faces at
once. Crops exist only inside this call; what comes out is one probability matrix per frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from classpulse.emotions import EMOTIONS


class FrameAnalyzer:
    """Joins the model package's detector and classifier (its public API only)."""

    def __init__(self, detector: object, classifier: object) -> None:
        self.detector = detector
        self.classifier = classifier

    @classmethod
    def load(cls, device: str = "auto", weights: str | None = None) -> FrameAnalyzer:
        from model import EmotionClassifier, FaceDetector

        return cls(FaceDetector(device=device), EmotionClassifier(weights=weights, device=device))

    def analyze(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """For each RGB frame, a (faces x 7) float32 array of emotion probabilities."""
        from model import crop_faces

        if not frames:
            return []
        detections = self.detector.detect(list(frames))  # type: ignore[attr-defined]
        crops: list[np.ndarray] = []
        counts: list[int] = []
        for frame, found in zip(frames, detections, strict=True):
            faces = crop_faces(frame, found)
            crops.extend(faces)
            counts.append(len(faces))
        if crops:
            probs = np.asarray(self.classifier.predict(crops), dtype=np.float32)  # type: ignore[attr-defined]
        else:
            probs = np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        bounds = np.cumsum([0, *counts])
        return [probs[bounds[i]:bounds[i + 1]] for i in range(len(frames))]
