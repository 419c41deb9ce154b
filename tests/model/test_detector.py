"""FaceDetector on real photographs: all six faces, boxes in the frame's pixels, batching."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from model import Detections, DetectorConfig, FaceDetector, crop_faces
from model.detector import read_rgb


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


def _matched(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """Every box in ``a`` has a box in ``b`` whose corners are within ``tol`` px."""
    return all(np.abs(b - box).max(axis=1).min() <= tol for box in a)


def test_group_photo_six_faces(detector: FaceDetector, faces_dir: Path) -> None:
    frame = read_rgb(str(faces_dir / "group-6-faces.jpg"))
    (det,) = detector.detect([frame])
    assert isinstance(det, Detections)
    assert len(det) == 6
    assert det.boxes.shape == (6, 4) and det.boxes.dtype == np.float32
    assert det.scores.shape == (6,) and (det.scores > 0.95).all()
    assert det.landmarks.shape == (6, 5, 2)
    h, w = frame.shape[:2]
    assert (det.boxes[:, [0, 2]] <= w).all() and (det.boxes[:, [1, 3]] <= h).all()
    # eyes lie inside their box, above the mouth corners
    inside = ((det.landmarks[..., 0] >= det.boxes[:, None, 0])
              & (det.landmarks[..., 0] <= det.boxes[:, None, 2]))
    assert inside.all()
    assert (det.landmarks[:, :2, 1] < det.landmarks[:, 3:, 1]).all()
    crops = crop_faces(frame, det)
    assert len(crops) == 6
    for crop, box in zip(crops, det.boxes, strict=True):
        side = max(box[2] - box[0], box[3] - box[1]) * 1.3
        assert crop.shape[2] == 3 and abs(crop.shape[0] - side) <= 1.5


def test_portraits_one_face_each(detector: FaceDetector, faces_dir: Path) -> None:
    frames = [read_rgb(str(p)) for p in sorted(faces_dir.glob("portrait-*.jpg"))]
    assert len(frames) == 4
    results = detector.detect(frames)  # mixed sizes: grouped by size internally
    # one confident face each (one portrait also has a 40 px false positive scored 0.75)
    assert [int((r.scores > 0.9).sum()) for r in results] == [1, 1, 1, 1]
    for frame, r in zip(frames, results, strict=True):
        best = r.boxes[r.scores.argmax()]
        assert (best[2] - best[0]) > 0.1 * frame.shape[1]  # the portrait's face, not a speck


def test_batch_equals_single_frames(detector: FaceDetector, faces_dir: Path) -> None:
    frame = read_rgb(str(faces_dir / "group-6-faces.jpg"))
    blank = np.full_like(frame, 128)
    batch = detector.detect([frame, blank, frame[:, ::-1].copy()])
    single = detector.detect([frame])[0]
    assert [len(r) for r in batch[:2]] == [6, 0]
    # the six faces again in the mirror image (where the small-face defaults also find a
    # seventh, confident box)
    w = frame.shape[1]
    mirrored = single.boxes[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [w, 0, w, 0]
    assert len(batch[2]) >= 6 and _matched(mirrored, batch[2].boxes, tol=8.0)  # ~80 px faces
    assert batch[1].boxes.shape == (0, 4) and batch[1].landmarks.shape == (0, 5, 2)
    assert _matched(batch[0].boxes, single.boxes, tol=1.0)
    assert _matched(single.boxes, batch[0].boxes, tol=1.0)


def test_two_frame_workers_give_one_worker_s_faces_to_the_bit(faces_dir: Path) -> None:
    """On a CPU two batches are detected at once by default; each frame keeps its own faces,
    in order, whatever thread took it (mixed sizes and an empty frame included)."""
    import torch

    group = read_rgb(str(faces_dir / "group-6-faces.jpg"))
    portraits = [read_rgb(str(p)) for p in sorted(faces_dir.glob("portrait-*.jpg"))]
    frames = [group, np.full_like(group, 128), *portraits, group[:, ::-1].copy(), group]
    one = FaceDetector(DetectorConfig(frame_workers=1), device="cpu").detect(frames)
    assert FaceDetector(device="cpu").workers == (2 if torch.get_num_threads() > 1 else 1)
    pair = FaceDetector(DetectorConfig(frame_workers=2), device="cpu")
    threads: list[str] = []
    batch = pair._detect_batch

    def noting_thread(*args: object) -> list[Detections]:
        threads.append(threading.current_thread().name)
        return batch(*args)  # type: ignore[arg-type]

    pair._detect_batch = noting_thread  # type: ignore[method-assign]
    two = pair.detect(frames)
    assert len(threads) == len(frames) and {t.split("_")[0] for t in threads} == {"face-detector"}
    assert [len(d) for d in two] == [len(d) for d in one] and len(two[0]) == 6
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.scores, b.scores)
        assert np.array_equal(a.landmarks, b.landmarks)


def test_big_frames_are_shrunk_and_boxes_mapped_back(faces_dir: Path) -> None:
    frame = read_rgb(str(faces_dir / "group-6-faces.jpg"))  # 1200x630
    big = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    # the earlier defaults (min face 14, thresholds 0.6/0.7/0.7): the test is about shrinking
    # and mapping back, not small faces
    detector = FaceDetector(DetectorConfig(max_side=1200, min_face_size=14,
                                           thresholds=(0.6, 0.7, 0.7)), device="cpu")
    (small_det,) = detector.detect([frame])
    (big_det,) = detector.detect([big])  # shrunk to 1200 wide, boxes scaled by 2
    assert len(big_det) == 6
    assert _matched(big_det.boxes, small_det.boxes * 2, tol=8.0)


def test_classroom_sized_faces_are_found(detector: FaceDetector, faces_dir: Path) -> None:
    """The group photo shrunk to 300x158: its faces are 17-23 px, like the smallest a classroom
    camera records (15-40 px), and every one is still found, where the full-size faces are."""
    frame = read_rgb(str(faces_dir / "group-6-faces.jpg"))
    (full,) = detector.detect([frame])
    small = cv2.resize(frame, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    (det,) = detector.detect([small])
    assert len(det) == 6 and (det.scores > 0.9).all()
    sides = det.boxes[:, 2] - det.boxes[:, 0]
    assert (sides >= 14).all() and (sides <= 26).all()
    assert _matched(det.boxes * 4, full.boxes, tol=16.0)  # the same six faces


def test_rejects_non_rgb_frames(detector: FaceDetector) -> None:
    with pytest.raises(ValueError, match="frame 0"):
        detector.detect([np.zeros((10, 10), np.uint8)])
    assert detector.detect([]) == []


def test_a_shrunk_frame_s_boxes_are_the_full_size_boxes(faces_dir: Path) -> None:
    """MTCNN numbers pixels from 1: dividing a box's left and top by the shrink moved them about
    1/scale - 1 px into the face (1 px when detecting 1080p at 960), so every box, and the gate's
    size check, shrank with the frame. Detected at half size, faces keep the full-size corners."""
    from model.detector import frames_from_video

    frames = frames_from_video(str(faces_dir / "crowd-1080p-25fps.mp4"), limit=3)
    settings = {"min_face_size": 20, "thresholds": (0.6, 0.7, 0.7)}
    full = FaceDetector(DetectorConfig(max_side=1920, **settings), device="cpu").detect(frames)
    half = FaceDetector(DetectorConfig(max_side=960, **settings), device="cpu").detect(frames)
    offsets = []
    for a, b in zip(full, half, strict=True):
        for box in a.boxes[(a.boxes[:, 2] - a.boxes[:, 0]) > 40]:
            nearest = b.boxes[np.abs(b.boxes - box).max(axis=1).argmin()]
            if np.abs(nearest - box).max() < 6:
                offsets.append(nearest - box)
    assert len(offsets) >= 8
    mean = np.mean(offsets, axis=0)
    assert np.abs(mean).max() < 0.6, mean  # was 0.8 px in on the left and the top


def test_a_box_regressed_past_the_frames_corner_is_no_face() -> None:
    """A box MTCNN regressed mostly past the top-left corner clipped to 0.4 x 0.4 px (or 1 x 1):
    kept, its crop found no pixel of the frame and raised, and the consumer (GATE_MIN_FACE_PX=0,
    no size check to refuse it first) lost the whole frame as analysis_failed. Boxes under 2 px
    a side once clipped are dropped; a 2-px box stays and crops."""
    from model.detector import to_frame_pixels

    boxes = np.array([[-30.0, -30.0, 0.4, 0.4], [-30.0, -30.0, 1.0, 1.0],
                      [-30.0, -30.0, 2.0, 2.0], [638.5, 340, 660, 360], [10, 10, 40, 44]])
    found = to_frame_pixels(boxes, np.full(5, 0.95), np.zeros((5, 5, 2)), (352, 640),
                            (352, 640), 0.0)
    assert found.boxes.tolist() == [[0, 0, 2, 2], [10, 10, 40, 44]]
    assert [c.shape[:2] for c in crop_faces(np.zeros((352, 640, 3), np.uint8), found.boxes)] == [
        (3, 3), (44, 44)]
