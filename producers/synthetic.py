"""A clearly labelled synthetic classroom for the demo, when no webcam is present.

Real face photographs (the 100 faces of the LFW subset that scikit-image ships as sample data, so
nothing is downloaded) are seated in rows at classroom-CCTV sizes (30-50 px). Every ``scene_s``
seconds the seating changes: other faces, empty seats, mirrored faces, lighting, so the emotion mix
and the face count move on the dashboard. Every frame carries a "SYNTHETIC DEMO" banner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 352
ROWS = ((38, 34), (128, 42), (226, 50))  # (top y, face width) per row: far rows look smaller
SEATS_PER_ROW = 6
BANNER = "SYNTHETIC DEMO CLASSROOM - faces: scikit-image LFW sample"


def _load_faces() -> np.ndarray:
    """The 100 real LFW face crops shipped in scikit-image's data folder, as uint8 (100, 25, 25)."""
    from skimage import data

    return (data.lfw_subset()[:100] * 255).round().astype(np.uint8)


class SyntheticClassroom:
    """Renders the synthetic classroom at any moment; the scene depends only on time and seed."""

    def __init__(self, seed: int = 0, scene_s: float = 20.0) -> None:
        self.seed = seed
        self.scene_s = scene_s
        self.faces = _load_faces()
        self.background = self._background()

    @staticmethod
    def _background() -> np.ndarray:
        img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        img[:] = (188, 180, 168)
        cv2.rectangle(img, (200, 4), (440, 28), (60, 80, 60), -1)  # blackboard
        for top, size in ROWS:  # a desk in front of each row
            y = top + int(size * 1.3)
            cv2.rectangle(img, (10, y), (WIDTH - 10, y + size // 3), (120, 90, 60), -1)
        return img

    def render(self, t: float) -> np.ndarray:
        scene = int(t // self.scene_s)
        rng = np.random.default_rng((self.seed, scene))
        frame = self.background.copy()
        light = rng.uniform(0.8, 1.15)
        for top, size in ROWS:
            for col in range(SEATS_PER_ROW):
                if rng.random() < 0.2:
                    continue  # an empty seat
                face = self.faces[rng.integers(len(self.faces))]
                if rng.random() < 0.5:
                    face = face[:, ::-1]
                x = 24 + col * (WIDTH - 48) // SEATS_PER_ROW + int(rng.integers(0, 20))
                self._seat(frame, face, x, top, size, light)
        cv2.rectangle(frame, (0, HEIGHT - 20), (WIDTH, HEIGHT), (0, 0, 0), -1)
        cv2.putText(frame, BANNER, (8, HEIGHT - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    (255, 255, 255), 1, cv2.LINE_AA)
        return frame

    @staticmethod
    def _seat(frame: np.ndarray, face: np.ndarray, x: int, y: int, size: int,
              light: float) -> None:
        padded = cv2.copyMakeBorder(np.ascontiguousarray(face), 6, 10, 6, 6,
                                    cv2.BORDER_REPLICATE)
        height = int(size * padded.shape[0] / padded.shape[1])
        tile = cv2.resize(padded, (size, height), interpolation=cv2.INTER_CUBIC)
        tile = np.clip(tile.astype(np.float32) * light, 0, 255).astype(np.uint8)
        frame[y:y + height, x:x + size] = tile[..., None]


def synthetic_frames(seed: int = 0, fps: float = 5.0,
                     clock: Callable[[], float] = time.time) -> Iterator[np.ndarray]:
    """A live, endless stream of the synthetic classroom at about ``fps`` frames per second."""
    room = SyntheticClassroom(seed)
    while True:
        yield room.render(clock())
        time.sleep(1.0 / fps)
