"""A clearly labelled synthetic classroom, for the demo when no webcam is present and for tests.

Real face photographs (the 100 faces of the LFW subset that scikit-image ships as sample data, so
nothing is downloaded) are seated in rows. Every ``scene_s`` seconds the seating changes: other
faces, empty seats, mirrored faces, lighting, so the emotion mix and the face count move on the
dashboard. Every frame carries a "SYNTHETIC" banner. Two views:

- ``demo``: a friendly demo, faces 34-50 px looking at the camera;
- ``cctv``: what a real classroom camera high on the front wall records: 640x352, about sixteen
  students in four rows, faces 10-16 px wide, most heads bowed over their desks (seen from above:
  hair, a foreshortened forehead and eyes, no mouth), a few looking up. Faces this small and this
  turned are what the consumer must refuse to read rather than misread.

:meth:`SyntheticClassroom.render_with_truth` also returns where every face is (and whether its head
is bowed), so tests can score the detector and the readability gate against truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 352
VIEWS = ("demo", "cctv")
ROWS = ((38, 34), (128, 42), (226, 50))  # demo view: (top y, face width) per row
SEATS_PER_ROW = 6
# cctv view, back row first: (top y of the heads, face width in px, seats, left and right edge)
CCTV_ROWS = ((62, 10, 5, 150, 490), (112, 12, 4, 120, 520), (174, 14, 4, 90, 550),
             (248, 16, 4, 60, 580))
CCTV_BOWED = 0.75  # share of students whose head is bowed over the desk in a scene
BANNERS = {
    "demo": "SYNTHETIC DEMO CLASSROOM - faces: scikit-image LFW sample",
    "cctv": "SYNTHETIC CCTV CLASSROOM - faces: scikit-image LFW sample",
}
# multipliers that tint the grey LFW faces, light to dark skin
SKIN_TONES = np.array([(1.0, 0.86, 0.75), (0.95, 0.78, 0.62), (0.8, 0.6, 0.45),
                       (0.6, 0.42, 0.3), (0.42, 0.29, 0.2)], np.float32)
HAIR = np.array([(30, 25, 20), (70, 50, 30), (110, 80, 50), (20, 20, 20), (150, 120, 80)],
                np.uint8)


@dataclass(frozen=True)
class Seat:
    """Ground truth for one rendered face (never used by the product, only to score it)."""

    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels: the face, or the visible head
    face_px: int  # the face's width in pixels
    bowed: bool  # head bowed over the desk: seen from above, no readable expression


def _load_faces() -> np.ndarray:
    """The 100 real LFW face crops shipped in scikit-image's data folder, as uint8 (100, 25, 25)."""
    from skimage import data

    return (data.lfw_subset()[:100] * 255).round().astype(np.uint8)


class SyntheticClassroom:
    """Renders the synthetic classroom at any moment; the scene depends only on time and seed."""

    def __init__(self, seed: int = 0, scene_s: float = 20.0, view: str = "demo") -> None:
        if view not in VIEWS:
            raise ValueError(f"synthetic classroom view {view!r} is not one of {', '.join(VIEWS)}")
        self.seed = seed
        self.scene_s = scene_s
        self.view = view
        self.faces = _load_faces()
        self.background = self._background()

    def _background(self) -> np.ndarray:
        img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        if self.view == "demo":
            img[:] = (188, 180, 168)
            cv2.rectangle(img, (200, 4), (440, 28), (60, 80, 60), -1)  # blackboard
            for top, size in ROWS:  # a desk in front of each row
                y = top + int(size * 1.3)
                cv2.rectangle(img, (10, y), (WIDTH - 10, y + size // 3), (120, 90, 60), -1)
            return img
        # floor seen from above, darker at the back; a desk in front of each row
        ramp = np.linspace(120, 165, HEIGHT, dtype=np.float32)[:, None, None]
        img[:] = np.clip(ramp * np.array([1.0, 0.97, 0.9], np.float32), 0, 255).astype(np.uint8)
        for top, size, _, left, right in CCTV_ROWS:
            y = top + int(size * 2.2)
            cv2.rectangle(img, (left - size, y), (right + size, y + size), (150, 120, 85), -1)
        return img

    def render(self, t: float) -> np.ndarray:
        """The frame at ``t`` seconds (RGB uint8, 640x352)."""
        return self.render_with_truth(t)[0]

    def render_with_truth(self, t: float) -> tuple[np.ndarray, list[Seat]]:
        """The frame at ``t`` and where its faces are."""
        scene = int(t // self.scene_s)
        rng = np.random.default_rng((self.seed, scene))
        frame = self.background.copy()
        if self.view == "demo":
            seats = self._demo_scene(frame, rng)
        else:
            seats = self._cctv_scene(frame, rng)
            noise = rng.normal(0.0, 3.0, frame.shape).astype(np.float32)  # sensor noise
            frame = np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        cv2.rectangle(frame, (0, HEIGHT - 20), (WIDTH, HEIGHT), (0, 0, 0), -1)
        cv2.putText(frame, BANNERS[self.view], (8, HEIGHT - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    (255, 255, 255), 1, cv2.LINE_AA)
        return frame, seats

    # --- demo view --------------------------------------------------------------------------
    def _demo_scene(self, frame: np.ndarray, rng: np.random.Generator) -> list[Seat]:
        light = rng.uniform(0.8, 1.15)
        seats = []
        for top, size in ROWS:
            for col in range(SEATS_PER_ROW):
                if rng.random() < 0.2:
                    continue  # an empty seat
                face = self.faces[rng.integers(len(self.faces))]
                if rng.random() < 0.5:
                    face = face[:, ::-1]
                x = 24 + col * (WIDTH - 48) // SEATS_PER_ROW + int(rng.integers(0, 20))
                seats.append(self._seat(frame, face, x, top, size, light))
        return seats

    @staticmethod
    def _seat(frame: np.ndarray, face: np.ndarray, x: int, y: int, size: int,
              light: float) -> Seat:
        padded = cv2.copyMakeBorder(np.ascontiguousarray(face), 6, 10, 6, 6,
                                    cv2.BORDER_REPLICATE)
        height = int(size * padded.shape[0] / padded.shape[1])
        tile = cv2.resize(padded, (size, height), interpolation=cv2.INTER_CUBIC)
        tile = np.clip(tile.astype(np.float32) * light, 0, 255).astype(np.uint8)
        frame[y:y + height, x:x + size] = tile[..., None]
        scale = size / padded.shape[1]  # the 25 px face sits inside the padded tile
        inner = round(face.shape[1] * scale)
        x1, y1 = x + round(6 * scale), y + round(6 * scale)
        return Seat((x1, y1, x1 + inner, y1 + inner), inner, bowed=False)

    # --- cctv view --------------------------------------------------------------------------
    def _cctv_scene(self, frame: np.ndarray, rng: np.random.Generator) -> list[Seat]:
        light = rng.uniform(0.85, 1.1)
        seats = []
        for top, size, count, left, right in CCTV_ROWS:
            step = (right - left) / count
            for col in range(count):
                if rng.random() < 0.1:
                    continue  # an empty seat
                x = int(left + col * step + rng.integers(0, max(1, int(step) - 2 * size)))
                y = top + int(rng.integers(-2, 3))
                face = self.faces[rng.integers(len(self.faces))]
                if rng.random() < 0.5:
                    face = face[:, ::-1]
                tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * light
                hair = HAIR[rng.integers(len(HAIR))]
                bowed = bool(rng.random() < CCTV_BOWED)
                pitch = float(rng.uniform(25, 65)) if bowed else 0.0
                seats.append(_student(frame, face, x, y, size, tone, hair, pitch))
        return seats


def _student(frame: np.ndarray, face: np.ndarray, x: int, y: int, size: int, tone: np.ndarray,
             hair: np.ndarray, pitch_deg: float) -> Seat:
    """Draw one student seen from a camera above: shoulders, hair, and the face at ``pitch_deg``
    below looking straight at the camera (0: looking up at it). A bowed face is foreshortened
    and loses its lower part under the head's own curve, so mostly hair, forehead and eyes remain;
    the returned box covers the visible head."""
    shoulders = (int(hair[0]) // 2 + 60, 70, 90 + int(hair[2]) // 3)
    cx = x + size // 2
    body_top = y + int(size * 1.1)
    cv2.ellipse(frame, (cx, body_top + size // 2), (int(size * 1.1), size // 2 + 2), 0, 180, 360,
                shoulders, -1)
    cv2.rectangle(frame, (cx - int(size * 1.1), body_top + size // 2),
                  (cx + int(size * 1.1), body_top + size), shoulders, -1)
    visible = 1.0 - pitch_deg / 150  # share of the face (from the top) still in view
    crop = face[: max(4, round(face.shape[0] * visible))]
    foreshortened = np.cos(np.radians(0.8 * pitch_deg))
    height = max(3, round(size * crop.shape[0] / face.shape[1] * foreshortened))
    tile = cv2.resize(crop, (size, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    rgb = np.clip(tile[..., None] * tone[None, None, :], 0, 255).astype(np.uint8)
    # hair: the crown above the face, much larger from above when the head is bowed
    crown = max(2, round(size * (0.35 + 0.35 * np.sin(np.radians(pitch_deg)))))
    face_top = y + crown
    head = (int(hair[0]), int(hair[1]), int(hair[2]))
    cv2.ellipse(frame, (cx, face_top + height // 2 - crown // 2),
                (size // 2 + 1, (crown + height) // 2 + 1), 0, 0, 360, head, -1)
    frame[face_top:face_top + height, x:x + size] = rgb
    if pitch_deg:
        return Seat((x, y, x + size, face_top + height), size, bowed=True)
    return Seat((x, face_top, x + size, face_top + height), size, bowed=False)


def synthetic_frames(seed: int = 0, fps: float = 5.0, view: str = "demo",
                     clock: Callable[[], float] = time.time) -> Iterator[np.ndarray]:
    """A live, endless stream of the synthetic classroom at about ``fps`` frames per second."""
    room = SyntheticClassroom(seed, view=view)
    while True:
        yield room.render(clock())
        time.sleep(1.0 / fps)
