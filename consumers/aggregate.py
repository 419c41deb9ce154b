"""Per-(camera, minute, classroom) aggregation in event time, and rejection counts.

Only counts and sums leave this module: every face counts in ``faces``; a face the readability gate
read (consumers/gate.py) also contributes one to the count of its top emotion, its seven
probabilities to the probability sums, and its engagement (top probability times the weight of that
emotion, DESIGN's concentration index) to ``engagement_sum``; a refused face adds one to the count
of its reason. Nothing about an individual face is kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from classpulse.db.writes import MinuteRow
from classpulse.emotions import EMOTIONS
from consumers.gate import REFUSALS, FrameReading

MINUTE_MS = 60_000


def minute_of(ms: int) -> datetime:
    """The UTC minute that contains ``ms`` (milliseconds since the epoch)."""
    return datetime.fromtimestamp((ms // MINUTE_MS) * MINUTE_MS / 1000, tz=timezone.utc)


def face_engagement(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-face engagement: top probability times the weight of the top emotion."""
    if len(probs) == 0:
        return np.zeros(0, dtype=np.float64)
    top = probs.argmax(axis=1)
    return probs.max(axis=1).astype(np.float64) * weights[top]


@dataclass
class _Bucket:
    frames: int = 0
    frames_with_faces: int = 0
    faces: int = 0
    faces_read: int = 0
    frames_with_read_faces: int = 0
    refused: np.ndarray = field(default_factory=lambda: np.zeros(len(REFUSALS), dtype=np.int64))
    n: np.ndarray = field(default_factory=lambda: np.zeros(len(EMOTIONS), dtype=np.int64))
    p: np.ndarray = field(default_factory=lambda: np.zeros(len(EMOTIONS), dtype=np.float64))
    engagement_sum: float = 0.0


class MinuteAggregator:
    """Accumulates frames into (camera, minute, classroom) buckets until the sink drains them (a
    camera moved to another classroom within a minute fills one bucket per classroom)."""

    def __init__(self, engagement_weights: Sequence[float]) -> None:
        self.weights = np.zeros(len(EMOTIONS))
        self.set_weights(engagement_weights)
        self._buckets: dict[tuple[str, datetime, str], _Bucket] = {}
        self._rejections: Counter[tuple[datetime, str, str]] = Counter()

    def set_weights(self, engagement_weights: Sequence[float]) -> None:
        """Score the faces counted from now on with these weights (EMOTIONS order)."""
        weights = np.asarray(engagement_weights, dtype=np.float64)
        if weights.shape != (len(EMOTIONS),):
            raise ValueError(f"need {len(EMOTIONS)} engagement weights, got {weights.shape}")
        self.weights = weights

    def add_frame(self, camera: str, classroom: str, captured_at_ms: int,
                  frame: FrameReading) -> None:
        """One frame: its read faces' (faces x 7) probabilities and its refused faces."""
        key = (camera, minute_of(captured_at_ms), classroom)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
        bucket.frames += 1
        if frame.faces:
            bucket.frames_with_faces += 1
            bucket.faces += frame.faces
            bucket.refused += np.asarray(frame.refused, dtype=np.int64)
        probs = frame.probs
        if len(probs):
            bucket.frames_with_read_faces += 1
            bucket.faces_read += len(probs)
            bucket.n += np.bincount(probs.argmax(axis=1), minlength=len(EMOTIONS))
            bucket.p += probs.sum(axis=0, dtype=np.float64)
            bucket.engagement_sum += float(face_engagement(probs, self.weights).sum())

    def add_rejection(self, at_ms: int, camera: str | None, reason: str, count: int = 1) -> None:
        self._rejections[(minute_of(at_ms), camera or "unknown", reason)] += count

    def empty(self) -> bool:
        return not self._buckets and not self._rejections

    def rows(self) -> list[MinuteRow]:
        return [
            MinuteRow(camera_id=camera, classroom_id=classroom, minute_start=minute,
                      frames=b.frames, frames_with_faces=b.frames_with_faces, faces=b.faces,
                      n=tuple(int(x) for x in b.n), p=tuple(float(x) for x in b.p),
                      engagement_sum=b.engagement_sum, faces_read=b.faces_read,
                      frames_with_read_faces=b.frames_with_read_faces,
                      refused=(int(b.refused[0]), int(b.refused[1]), int(b.refused[2])))
            for (camera, minute, classroom), b in sorted(self._buckets.items())
        ]

    def rejections(self) -> list[tuple[datetime, str, str, int]]:
        return [(m, cam, reason, n) for (m, cam, reason), n in sorted(self._rejections.items())]

    def clear(self) -> None:
        self._buckets.clear()
        self._rejections.clear()
