"""``FaceDetector``: MTCNN (our batched pipeline on facenet-pytorch's networks) over many frames.

The detecting is ``model.mtcnn.BatchedMTCNN``: with the same settings it finds the same faces as
facenet-pytorch's ``MTCNN.detect`` (boxes, scores and landmarks equal; tests/model/test_mtcnn.py)
2.6-3.0x as fast on a quiet 2-core CPU with two frames at once (1.8-2.1x one at a time; an
AVX2-only CPU gave 1.3-1.7x one at a time; docs/benchmarks.md), and it batches frames on CUDA.

Defaults are chosen for classroom CCTV (640x352 frames, faces 10-16 px seen from above, most
students looking down), and spend part of that speed on small faces:

- ``max_side=640``: frames whose longer side exceeds it are shrunk before detection and the boxes
  mapped back; smaller frames are never enlarged here. A 960-px frame then costs what a CCTV frame
  costs, and the smallest face found scales with the frame: 10 px at 640, 15 px at 960, 30 px at
  1920 wide. So the consumer also sets ``keep_face_px`` to the readability gate's smallest
  readable face (19 px): a frame is never shrunk so far that such a face drops under
  ``min_face_size`` (a 1920-px frame is detected at 1011 px, not 640), or the gate would never
  see faces it could read (docs/benchmarks.md, "The readability gate");
- ``min_face_size=10``: the pyramid starts at 12 / 10, so the frame is enlarged 1.2x and faces of
  10 px are found (MTCNN's own default, 20, cannot see the back rows at all);
- ``thresholds=(0.6, 0.6, 0.6)``: the last two stages 0.1 below MTCNN's defaults, because faces
  turned down toward a desk score lower there, and those are most of a classroom's faces.

Measured on the synthetic CCTV classroom (8 frames, 119 students, 22 of them looking up) against
stock MTCNN's defaults (min face 20, thresholds 0.6/0.7/0.7): 5.0 faces per frame instead of 1.9,
17 of the 22 faces looking up instead of 10, no detection off a student's head (the others are on
bowed heads, which the readability gate must refuse); on the crowd video shrunk to 640x360, 5.1
faces per frame instead of 4.9, at 1.38x stock's frames/s on a quiet 2-core AVX-512 CPU and 1.48x
on an AVX2-only one (0.63x there with the earlier code). The synthetic classroom was timed only
on a loaded machine, whose ratios run high. ``min_face_size=12`` with the same thresholds found
11 of the 22 upward faces; thresholds 0.6/0.7/0.7 with min face 10, 14 of 22.

Boxes, scores and landmarks come back in each frame's own pixels. Frames of equal size go through
the stages together (``batch_frames`` at a time); mixed sizes are grouped by size. On a CPU two
batches are detected at once (``frame_workers``): one frame's pipeline leaves a second core idle
much of the time (small convolutions, NMS, Python between the stages), and a second frame fills
it. A frame's faces do not depend on which thread detected it, or with how many others.

No alignment of crops by the eye landmarks: FER2013's faces (what the classifier learned) are
not aligned either, so rotating live faces upright would move them away from the training data,
and there is no labelled set of real classroom faces to show it helps.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from model.device import pick_device
from model.mtcnn import BatchedMTCNN
from model.preprocess import DEFAULT_MARGIN, crop_face

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorConfig:
    """MTCNN settings; the module docstring says why these defaults (MTCNN's own: min face 20,
    thresholds 0.6/0.7/0.7, no shrinking)."""

    min_face_size: int = 10
    thresholds: tuple[float, float, float] = (0.6, 0.6, 0.6)
    factor: float = 0.709  # pyramid step between scales
    max_side: int = 640  # shrink larger frames to this longer side before detecting
    # ...but never so far that a face this wide (px, in the frame) falls under min_face_size:
    # the consumer passes the readability gate's smallest readable face, so every face it could
    # read is still found (None: max_side alone decides)
    keep_face_px: float | None = None
    min_score: float = 0.0  # drop faces scored below this after the last stage
    # frames per batch through the stages; None: 1 on a CPU (faster there, docs/benchmarks.md),
    # 32 on CUDA
    batch_frames: int | None = None
    # batches detected at once, each in its own thread; None: 2 on a CPU with two or more torch
    # threads (1.3-1.6x one worker's frames/s on 2 cores, docs/benchmarks.md; 3 was not
    # faster there), 1 on CUDA (its frames are batched instead)
    frame_workers: int | None = None

    def __post_init__(self) -> None:
        if self.min_face_size < 4:
            raise ValueError(f"min_face_size {self.min_face_size} is below 4 px")
        if not all(0.0 < t < 1.0 for t in self.thresholds) or len(self.thresholds) != 3:
            raise ValueError(f"thresholds {self.thresholds} must be three values in (0, 1)")
        if not 0.3 <= self.factor < 1.0:
            raise ValueError(f"factor {self.factor} must be in [0.3, 1)")
        if self.max_side < 64:
            raise ValueError(f"max_side {self.max_side} is below 64 px")
        if self.keep_face_px is not None and self.keep_face_px <= 0:
            raise ValueError(f"keep_face_px {self.keep_face_px} must be positive")
        if self.batch_frames is not None and self.batch_frames < 1:
            raise ValueError(f"batch_frames {self.batch_frames} must be at least 1")
        if self.frame_workers is not None and self.frame_workers < 1:
            raise ValueError(f"frame_workers {self.frame_workers} must be at least 1")


@dataclass(frozen=True)
class Detections:
    """Faces of one frame: ``boxes`` (N, 4) x1 y1 x2 y2, ``scores`` (N,), ``landmarks`` (N, 5, 2).

    Landmarks are (x, y) of the left eye, right eye, nose, left and right mouth corner; all
    float32 in the frame's own pixels.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                          np.zeros((0, 5, 2), np.float32))


class FaceDetector:
    """MTCNN over batches of RGB uint8 frames (``model.mtcnn.BatchedMTCNN``)."""

    def __init__(self, config: DetectorConfig | None = None, device: str = "auto") -> None:
        self.config = config or DetectorConfig()
        self.device = pick_device(device)
        self._mtcnn = BatchedMTCNN(self.config.min_face_size, self.config.thresholds,
                                   self.config.factor).to(self.device)
        self.workers = self.config.frame_workers or (
            2 if self.device.type == "cpu" and torch.get_num_threads() > 1 else 1)
        # threads kept for the detector's life rather than made per call
        self._pool = (ThreadPoolExecutor(self.workers, thread_name_prefix="face-detector")
                      if self.workers > 1 else None)
        log.info("face detector device=%s config=%s workers=%d", self.device, self.config,
                 self.workers)

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        """One ``Detections`` per frame, in order."""
        for i, frame in enumerate(frames):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frame {i} must be an RGB uint8 HxWx3 array, got "
                                 f"{frame.dtype} {frame.shape}")
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, frame in enumerate(frames):
            groups[frame.shape[:2]].append(i)
        step = self.config.batch_frames or (32 if self.device.type == "cuda" else 1)
        chunks = [idx[start:start + step] for idx in groups.values()
                  for start in range(0, len(idx), step)]

        def detect_chunk(chunk: list[int]) -> list[Detections]:
            size = frames[chunk[0]].shape[:2]
            scale = detection_scale(self.config, size)
            batch = np.stack([_shrink(frames[i], scale) for i in chunk])
            return self._detect_batch(batch, scale, size)

        found = (self._pool.map(detect_chunk, chunks) if self._pool and len(chunks) > 1
                 else map(detect_chunk, chunks))
        results: list[Detections] = [Detections.empty()] * len(frames)
        for chunk, detections in zip(chunks, found, strict=True):
            for i, det in zip(chunk, detections, strict=True):
                results[i] = det
        return results

    def _detect_batch(self, batch: np.ndarray, scale: float, size: tuple[int, int]
                      ) -> list[Detections]:
        images = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2)
        faces = self._mtcnn(images)
        # the only host copy: box, score, landmarks, frame index per face
        found = torch.cat([faces.boxes, faces.scores[:, None], faces.landmarks.flatten(1),
                           faces.frame[:, None].to(faces.boxes.dtype)], dim=1).cpu().numpy()
        bounds = np.searchsorted(found[:, 15], np.arange(len(batch) + 1) - 0.5)
        return [to_frame_pixels(found[a:b, :4], found[a:b, 4], found[a:b, 5:15],
                                batch.shape[1:3], size, self.config.min_score)
                for a, b in itertools.pairwise(bounds)]


def detection_scale(config: DetectorConfig, size: tuple[int, int]) -> float:
    """How much a frame of ``size`` (h, w) is shrunk before detecting (1: not at all)."""
    scale = config.max_side / max(size)
    if config.keep_face_px is not None:
        scale = max(scale, config.min_face_size / config.keep_face_px)
    return min(1.0, scale)


def to_frame_pixels(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray,
                    shrunk: tuple[int, ...], size: tuple[int, int], min_score: float
                    ) -> Detections:
    """Faces found on the frame shrunk to ``shrunk`` (h, w), in the frame's own pixels (``size``):
    boxes clipped to it, faces scored under ``min_score`` or left under 2 px a side dropped.

    Each axis by its own scale, the shrunk size having been rounded. MTCNN's boxes count pixels
    from 1 (``x1`` is the first pixel's number, ``x2`` the last's): the first pixel's left edge is
    ``x1 - 1`` from 0, so the box's left and top map as ``(x1 - 1) / scale + 1``. Dividing ``x1``
    alone moved them ``1 / scale - 1`` px in (about 1 px at 1080p), which narrowed every box, and
    the gate's size check with it, by the frame's size rather than the face's."""
    h, w = size
    scale = np.array([shrunk[1] / w, shrunk[0] / h] * 2, np.float32)
    b = np.array(boxes, np.float32).reshape(-1, 4)  # a copy: changed in place below
    b[:, :2] -= 1
    b /= scale
    b[:, :2] += 1
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    s = np.asarray(scores, np.float32).reshape(-1)
    lm = np.asarray(landmarks, np.float32).reshape(-1, 5, 2) / scale[:2]
    # under 2 px a side once clipped: a box regressed past the frame's corner, no face (the
    # smallest found is 4 px); kept, crop_face's rounded square could miss the frame (a 1-px box
    # at a corner does) and the consumer lost the whole frame (GATE_MIN_FACE_PX=0, where no size
    # check refuses it first)
    keep = (s >= min_score) & (b[:, 2] - b[:, 0] >= 2) & (b[:, 3] - b[:, 1] >= 2)
    return Detections(b[keep], s[keep], lm[keep])


def _shrink(frame: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return frame
    h, w = frame.shape[:2]
    size = (max(round(w * scale), 1), max(round(h * scale), 1))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def crop_faces(frame: np.ndarray, faces: Detections | np.ndarray,
               margin: float = DEFAULT_MARGIN) -> list[np.ndarray]:
    """The frame's faces (detections, or just their (N, 4) boxes) as square RGB crops with the
    margin the classifier was trained for."""
    boxes = faces.boxes if isinstance(faces, Detections) else faces
    return [crop_face(frame, box, margin) for box in boxes]


def frames_from_video(path: str, limit: int | None = None) -> list[np.ndarray]:
    """Decode a video file into RGB frames (benchmarks and tests)."""
    cap = cv2.VideoCapture(path)
    frames: list[np.ndarray] = []
    try:
        while limit is None or len(frames) < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return frames


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as RGB uint8."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
