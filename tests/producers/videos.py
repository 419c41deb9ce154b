"""Video files the producer tests read, written with OpenCV into a test's folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def cut_video(folder: Path, kept: float, frames: int = 60) -> Path:
    """A 10 fps MJPG video of ``frames`` frames of seeded noise (each frame's JPEG about the same
    size), cut to its first ``kept`` share of bytes: a copy not finished, whose container still
    announces every frame."""
    full = folder / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    noise = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(noise.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    cut = folder / "cut.avi"
    cut.write_bytes(full.read_bytes()[:int(full.stat().st_size * kept)])
    return cut
