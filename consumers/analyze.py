"""Faces and emotions for a batch of frames: hand all frames to the detector in one call (batched on
CUDA, two at a time on a CPU), judge every face with the readability gate, classify the faces it
lets through all at once, and refuse the uncertain ones. Crops exist only inside this call; what
comes out is one :class:`FrameReading` per frame."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from classpulse.emotions import EMOTIONS
from classpulse.settings import Settings
from consumers.gate import (
    FrameReading,
    GateConfig,
    Verdict,
    judge_confidence,
    judge_detection,
    judge_geometry,
    reading,
)

if TYPE_CHECKING:
    from model import DetectorConfig


class FaceBoxes(Protocol):
    """One frame's faces as the detector gives them (``model.Detections``)."""

    @property
    def boxes(self) -> np.ndarray: ...  # (N, 4) x1 y1 x2 y2 in the frame's pixels

    @property
    def scores(self) -> np.ndarray: ...  # (N,) the detector's probability that it is a face

    @property
    def landmarks(self) -> np.ndarray: ...  # (N, 5, 2) eyes, nose, mouth corners

    def __len__(self) -> int: ...


class Detector(Protocol):
    def detect(self, frames: list[np.ndarray]) -> Sequence[FaceBoxes]: ...


class CropMargin(Protocol):
    """What the analyser reads of a classifier's preprocessing (``model.EmotionClassifier``'s
    ``Preprocessing``): the margin its weights were trained with."""

    @property
    def margin(self) -> float: ...  # the box's longer side added on each side, as a fraction


class Classifier(Protocol):
    """The emotion classifier as the analyser uses it: faces are cropped as its weights were
    trained (``preprocessing.margin``), then classified."""

    @property
    def preprocessing(self) -> CropMargin: ...

    def predict(self, faces: Sequence[np.ndarray]) -> np.ndarray: ...


def detector_config(settings: Settings) -> DetectorConfig:
    """The consumers' detector: never shrink a frame so far that a face the gate would read is
    lost; ``GATE_MIN_FACE_PX=0`` turns the size check off, and then ``max_side`` alone decides."""
    from model import DetectorConfig

    return DetectorConfig(keep_face_px=settings.gate_min_face_px or None)


class FrameAnalyzer:
    """Joins the model package's detector and classifier (its public API only) and the gate."""

    def __init__(self, detector: Detector, classifier: Classifier, gate: GateConfig) -> None:
        self.detector = detector
        self.classifier = classifier
        self.gate = gate

    @classmethod
    def load(cls, settings: Settings) -> FrameAnalyzer:
        from model import EmotionClassifier, FaceDetector

        classifier = EmotionClassifier(weights=settings.model_weights, device=settings.device)
        detector = FaceDetector(detector_config(settings), device=settings.device)
        return cls(detector, classifier, GateConfig.from_settings(settings))

    def analyze(self, frames: Sequence[np.ndarray]) -> list[FrameReading]:
        """For each RGB frame, the probabilities of its read faces and its refusals."""
        if not frames:
            return []
        return self.read(frames, self.detector.detect(list(frames)))

    def read(self, frames: Sequence[np.ndarray], detections: Sequence[FaceBoxes]
             ) -> list[FrameReading]:
        """The gate and the classifier on faces already found (one ``FaceBoxes`` per frame)."""
        from model import crop_faces, head_pose

        verdicts: list[np.ndarray] = []
        crops: list[np.ndarray] = []
        for frame, found in zip(frames, detections, strict=True):
            verdict = judge_geometry(found.boxes, head_pose(found.landmarks), self.gate)
            seen = judge_detection(found.scores, found.landmarks, frame.shape[:2], self.gate)
            verdict = np.where(verdict == Verdict.READ, seen, verdict)
            verdicts.append(verdict)
            passed = verdict == Verdict.READ
            if passed.any():
                crops.extend(crop_faces(frame, found.boxes[passed],
                                        self.classifier.preprocessing.margin))
        if crops:
            probs = np.asarray(self.classifier.predict(crops), dtype=np.float32)
        else:
            probs = np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        confident = judge_confidence(probs, self.gate)
        out: list[FrameReading] = []
        start = 0
        for verdict in verdicts:
            passed = np.flatnonzero(verdict == Verdict.READ)
            mine = slice(start, start + len(passed))
            start += len(passed)
            verdict = verdict.copy()
            verdict[passed] = confident[mine]
            kept = probs[mine][confident[mine] == Verdict.READ]
            out.append(reading(verdict, kept))
        return out

