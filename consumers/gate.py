"""The readability gate: read an expression only from a face the classifier can read.

FER2013 accuracy (48 px, frontal, studio faces) does not carry over to a 12 px face seen from
above: on real classroom CCTV the shipped classifier called a quietly writing class 43% sad and
19% angry (issue 17). So every face the detector finds is judged before its expression counts:

1. **too small** (``refused_small``): the face (the detector's box, its longer side) is narrower
   than ``gate_min_face_px`` in the pixels the consumer decoded (the detector's boxes are already
   in those pixels, whatever side it detected at). The classifier reads those pixels and nothing
   finer: a frame the producer shrank has lost the detail for good, so the size that matters is
   the size in the frame on the wire, not in the camera's original picture;
2. **turned away, bowed or cut off** (``refused_turned``): the head pose that
   ``model.pose.head_pose`` estimates from the five landmarks is past ``gate_max_pitch`` /
   ``gate_max_yaw`` / ``gate_max_roll``, or a landmark lies outside the frame (a face cut by the
   picture's edge: the classifier would read half a face, cropped off its centre);
3. **uncertain** (``refused_uncertain``): the detector scored the face under
   ``gate_min_face_score`` (its last stage lets through 0.6 to find small faces, and under 0.9
   that admits hands, jackets, the back or top of a head, and faces half hidden by a hand or a
   phone: model/README.md), or the classifier's top probability is under
   ``gate_min_confidence``.

All but the classifier's confidence run before classification, so refused faces also cost no
classifier time. Each
threshold was measured on FER2013's val faces shrunk, turned and scored (model/README.md, "The
readability gate"); the defaults live in ``classpulse.settings``. A refused face still counts as a
face in view, with its reason, and adds nothing to the emotion counts, probability sums or
engagement.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from classpulse.emotions import EMOTIONS
from classpulse.settings import Settings


class Verdict(IntEnum):
    """What the gate decided for one face; refusals in ``emotion_minutes``' column order."""

    SMALL = 0
    TURNED = 1
    UNCERTAIN = 2
    READ = 3


REFUSALS = (Verdict.SMALL, Verdict.TURNED, Verdict.UNCERTAIN)


@dataclass(frozen=True)
class GateConfig:
    """The gate's thresholds (``Settings.gate_*``)."""

    min_face_px: float
    max_pitch: float
    max_yaw: float
    max_roll: float
    min_confidence: float
    min_face_score: float = 0.0
    refuse_cut: bool = True  # a face with a landmark outside the frame (judge_detection)

    @classmethod
    def from_settings(cls, settings: Settings) -> GateConfig:
        return cls(settings.gate_min_face_px, settings.gate_max_pitch, settings.gate_max_yaw,
                   settings.gate_max_roll, settings.gate_min_confidence,
                   settings.gate_min_face_score)

    @classmethod
    def open(cls) -> GateConfig:
        """A gate that reads every face: what the consumer did before, for comparisons."""
        return cls(0.0, 90.0, 90.0, 180.0, 0.0, 0.0, refuse_cut=False)


@dataclass(frozen=True)
class FrameReading:
    """One frame's faces as the aggregates need them: the read faces' (faces x 7) probabilities
    and the refused faces counted per reason (``REFUSALS`` order)."""

    probs: np.ndarray
    refused: tuple[int, int, int] = (0, 0, 0)

    @property
    def faces(self) -> int:
        return len(self.probs) + sum(self.refused)

    @staticmethod
    def empty() -> FrameReading:
        return FrameReading(np.zeros((0, len(EMOTIONS)), np.float32))


def judge_geometry(boxes: np.ndarray, pose: np.ndarray, config: GateConfig) -> np.ndarray:
    """Per face, SMALL, TURNED or READ from its (N, 4) box and (N, 3) pitch/yaw/roll degrees.

    Size comes first: a face too small to read has landmarks too coarse to judge its pose. The
    comparisons are written so that a NaN (a size or an angle that could not be computed) refuses.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    pose = np.asarray(pose, np.float64).reshape(-1, 3)
    turned = ~((pose[:, 0] <= config.max_pitch) & (pose[:, 1] <= config.max_yaw)
               & (np.abs(pose[:, 2]) <= config.max_roll))
    verdict = np.full(len(boxes), int(Verdict.READ), np.int64)
    verdict[turned] = Verdict.TURNED
    verdict[~(side >= config.min_face_px)] = Verdict.SMALL
    return verdict


def judge_detection(scores: np.ndarray, landmarks: np.ndarray, frame_size: tuple[int, int],
                    config: GateConfig) -> np.ndarray:
    """Per face, TURNED, UNCERTAIN or READ from how the detector found it: TURNED when one of
    its (N, 5, 2) landmarks lies outside the frame (``frame_size`` is height, width) and
    ``config.refuse_cut``, UNCERTAIN when its score is under ``config.min_face_score``. A NaN
    refuses."""
    scores = np.asarray(scores, np.float64).reshape(-1)
    marks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    height, width = frame_size
    inside = ((marks[..., 0] >= 0) & (marks[..., 0] <= width)
              & (marks[..., 1] >= 0) & (marks[..., 1] <= height)).all(axis=1)
    verdict = np.full(len(scores), int(Verdict.READ), np.int64)
    verdict[~(scores >= config.min_face_score)] = Verdict.UNCERTAIN
    if config.refuse_cut:
        verdict[~inside] = Verdict.TURNED
    return verdict


def judge_confidence(probs: np.ndarray, config: GateConfig) -> np.ndarray:
    """Per classified face, UNCERTAIN or READ from its top probability.

    A row that is not all finite (a network overflowing in fp16 gives NaN) is UNCERTAIN: its
    argmax would be "angry" and its NaN would stay in the minute's sums for good.
    """
    probs = np.asarray(probs, np.float64).reshape(len(probs), len(EMOTIONS))
    top = probs.max(axis=1, initial=-np.inf)
    readable = np.isfinite(probs).all(axis=1) & (top >= config.min_confidence)
    return np.where(readable, int(Verdict.READ), int(Verdict.UNCERTAIN))


def reading(verdicts: np.ndarray, probs: np.ndarray) -> FrameReading:
    """A frame's reading from every face's final verdict and the probabilities of its READ
    faces (in face order)."""
    counts = np.bincount(np.asarray(verdicts, np.int64), minlength=len(Verdict))
    refused = tuple(int(counts[v]) for v in REFUSALS)
    return FrameReading(np.asarray(probs, np.float32).reshape(-1, len(EMOTIONS)), refused)
