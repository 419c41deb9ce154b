"""Our batched MTCNN against facenet-pytorch's stock MTCNN: same settings, same frames, same faces.

Real frames (the group photo, the crowd video) and the synthetic CCTV classroom; then the edges a
consumer meets: frames of mixed sizes in one call, no frames, frames with no face, tiny frames.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from facenet_pytorch.models.utils.detect_face import batched_nms_numpy
from torchvision.ops import nms

from model.detector import Detections, DetectorConfig, FaceDetector, frames_from_video, read_rgb
from model.mtcnn import (
    _integral_with_opencv,
    _integral_with_torch,
    area_enlarge,
    area_resize,
    integral_image,
    nms_by_group,
    nms_min,
    prelu_by_rows,
)
from model.stock import StockDetector, match_faces
from producers.synthetic import SyntheticClassroom

MTCNN_DEFAULTS = DetectorConfig(min_face_size=20, thresholds=(0.6, 0.7, 0.7))


def assert_same_faces(stock: list[Detections], ours: list[Detections]) -> dict[str, float]:
    """Every stock face has one of ours at IoU >= 0.9 with a close score and landmarks; counts
    within 2%. Returns the numbers for the report."""
    n_stock, n_ours = sum(map(len, stock)), sum(map(len, ours))
    assert n_stock > 0
    assert abs(n_ours - n_stock) <= 0.02 * n_stock, (n_stock, n_ours)
    ious, dscore, dmark = [], [], []
    for a, b in zip(stock, ours, strict=True):
        for i, j, iou in match_faces(a, b):
            ious.append(iou)
            dscore.append(abs(float(a.scores[i]) - float(b.scores[j])))
            side = float(a.boxes[i, 2] - a.boxes[i, 0])
            dmark.append(float(np.abs(a.landmarks[i] - b.landmarks[j]).max()) / side)
    matched = sum(iou >= 0.9 for iou in ious)
    assert matched >= 0.98 * n_stock, (matched, n_stock)
    assert max(dscore) < 1e-3 and max(dmark) < 0.02
    return {"stock": n_stock, "ours": n_ours, "matched": matched, "min_iou": min(ious),
            "max_dscore": max(dscore), "max_dlandmark": max(dmark)}


@pytest.fixture(scope="module")
def crowd(faces_dir: Path) -> list[np.ndarray]:
    frames = frames_from_video(str(faces_dir / "crowd-1080p-25fps.mp4"), 105)[::21]
    return [cv2.resize(f, (960, 540), interpolation=cv2.INTER_AREA) for f in frames]


@pytest.mark.parametrize("config", [MTCNN_DEFAULTS, DetectorConfig()], ids=["mtcnn", "ours"])
def test_group_photo_same_faces_as_stock(faces_dir: Path, config: DetectorConfig) -> None:
    frame = read_rgb(str(faces_dir / "group-6-faces.jpg"))
    stock = StockDetector(config, device="cpu").detect([frame])
    ours = FaceDetector(config, device="cpu").detect([frame])
    stats = assert_same_faces(stock, ours)
    assert stats["matched"] >= 6


@pytest.mark.parametrize("config", [MTCNN_DEFAULTS, DetectorConfig(min_face_size=14)],
                         ids=["mtcnn", "min14"])
def test_crowd_video_same_faces_as_stock(crowd: list[np.ndarray], config: DetectorConfig
                                         ) -> None:
    stock = StockDetector(config, device="cpu").detect(crowd)
    ours = FaceDetector(config, device="cpu").detect(crowd)  # 4 frames per batch
    stats = assert_same_faces(stock, ours)
    assert stats["stock"] >= 4 * len(crowd)  # a real test: several faces in every frame


def test_synthetic_cctv_classroom_same_faces_as_stock() -> None:
    frames = [SyntheticClassroom(seed, view="cctv").render(1.0 + 20 * seed) for seed in range(4)]
    config = DetectorConfig()
    stock = StockDetector(config, device="cpu").detect(frames)
    ours = FaceDetector(config, device="cpu").detect(frames)
    assert_same_faces(stock, ours)


def test_mixed_sizes_empty_and_tiny_frames(faces_dir: Path, crowd: list[np.ndarray]) -> None:
    group = read_rgb(str(faces_dir / "group-6-faces.jpg"))
    cctv = SyntheticClassroom(0, view="cctv").render(1.0)
    blank = np.full((352, 640, 3), 128, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    tiny = [np.zeros((1, 1, 3), np.uint8), np.full((11, 40, 3), 200, np.uint8),
            np.full((13, 13, 3), 90, np.uint8)]
    frames = [group, crowd[0], blank, cctv, *tiny, crowd[1], noise, group[:, ::-1].copy()]
    detector = FaceDetector(device="cpu")
    batch = detector.detect(frames)
    one_by_one = [detector.detect([f])[0] for f in frames]
    # stock facenet-pytorch crashes on frames too small for one pyramid level (torch.cat of
    # nothing): compared on the others only
    usable = [i for i, f in enumerate(frames) if min(f.shape[:2]) >= 10]
    stock = StockDetector(DetectorConfig(), device="cpu").detect([frames[i] for i in usable])
    assert len(batch) == len(frames)
    # within float rounding, not bit for bit: with frames of other sizes in the batch, one box
    # coordinate of the crowd frame differed in its last bit (6e-5 px of 558) on an AMD EPYC
    # with AVX2 only; test_batch_does_not_change_faces holds same-size batches to the bit
    for b, single in zip(batch, one_by_one, strict=True):
        np.testing.assert_allclose(b.boxes, single.boxes, rtol=0, atol=1e-3)
        np.testing.assert_allclose(b.landmarks, single.landmarks, rtol=0, atol=1e-3)
    assert_same_faces(stock, [batch[i] for i in usable])
    for i in (2, 4, 5, 6):  # the grey frame and the tiny ones: no face, well-formed empties
        assert batch[i].boxes.shape == (0, 4) and batch[i].scores.shape == (0,)
        assert batch[i].landmarks.shape == (0, 5, 2) and batch[i].boxes.dtype == np.float32
    assert len(batch[0]) == 6 and len(batch[9]) >= 6  # the mirror image holds a seventh, small box
    assert detector.detect([]) == []
    assert [len(d) for d in detector.detect([blank, blank])] == [0, 0]


def test_batch_does_not_change_faces(crowd: list[np.ndarray]) -> None:
    """A frame's faces are the same bits whatever batch it shares: a consumer's counts must
    equal any other run's on the same frames (CI once counted a face as fear in one run and sad
    in the other, from a box a pixel apart)."""
    by_one = FaceDetector(DetectorConfig(batch_frames=1), device="cpu").detect(crowd)
    by_all = FaceDetector(DetectorConfig(batch_frames=len(crowd)), device="cpu").detect(crowd)
    shifted = FaceDetector(DetectorConfig(batch_frames=2), device="cpu").detect(crowd[1:])
    assert sum(map(len, by_one)) >= 4 * len(crowd)
    for a, b, c in zip(by_one[1:], by_all[1:], shifted, strict=True):
        for other in (b, c):
            np.testing.assert_array_equal(a.boxes, other.boxes)
            np.testing.assert_array_equal(a.scores, other.scores)
            np.testing.assert_array_equal(a.landmarks, other.landmarks)


@pytest.mark.parametrize("seed", range(3))
def test_nms_by_group_is_per_group_nms_whatever_the_company(seed: int) -> None:
    """Each group keeps what torchvision's ``nms`` keeps on that group alone, in the same order,
    with tied scores and with other groups' boxes far away (torchvision's ``batched_nms`` shifts
    groups apart, and its float32 shift rounds the coordinates)."""
    rng = np.random.default_rng(seed)
    n = 400
    xy = rng.uniform(0, 600, (n, 2))
    wh = rng.uniform(5, 80, (n, 2))
    boxes = torch.tensor(np.concatenate([xy, xy + wh], 1), dtype=torch.float32)
    scores = torch.tensor(rng.integers(0, 20, n) / 20, dtype=torch.float32)  # many ties
    groups = torch.tensor(rng.integers(0, 40, n))
    kept = nms_by_group(boxes, scores, groups, 0.5)
    assert (scores[kept].diff() <= 0).all()
    for g in (0, 7, 39):
        alone = torch.nonzero(groups == g).squeeze(1)
        own = nms_by_group(boxes[alone], scores[alone], torch.zeros(len(alone)), 0.5)
        assert alone[own].tolist() == [int(i) for i in kept if groups[i] == g]
        assert sorted(alone[nms(boxes[alone], scores[alone], 0.5)].tolist()) == sorted(
            alone[own].tolist())


@pytest.mark.parametrize("seed", range(5))
def test_min_nms_matches_facenet_numpy(seed: int) -> None:
    """The device "Min" NMS keeps exactly what facenet-pytorch's numpy one keeps, on random
    overlapping boxes in several frames."""
    rng = np.random.default_rng(seed)
    n = 300
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(5, 60, (n, 2))
    boxes = torch.tensor(np.concatenate([xy, xy + wh], 1), dtype=torch.float32)
    scores = torch.tensor(rng.permutation(n) / n, dtype=torch.float32)  # distinct scores
    groups = torch.tensor(rng.integers(0, 4, n))
    ours = nms_min(boxes, scores, groups, 0.7)
    stock = batched_nms_numpy(boxes, scores, groups, 0.7, "Min")
    assert 20 < len(ours) < n
    assert sorted(ours.tolist()) == sorted(stock.tolist())
    assert (scores[ours].diff() <= 0).all()  # by falling score


@pytest.mark.parametrize("big", [False, True])
def test_the_cpu_and_cuda_integral_images_agree(big: bool) -> None:
    """A CPU makes the summed-area table with OpenCV, CUDA with torch's cumsum: to the unit, in
    int32 and in the int64 that frames which could overflow it get."""
    images = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (2, 3, 37, 53),
                                                                 dtype=np.uint8))
    cpu, torch_made = _integral_with_opencv(images, big), _integral_with_torch(images, big)
    assert cpu.dtype == torch_made.dtype == (torch.int64 if big else torch.int32)
    assert torch.equal(cpu, torch_made)
    assert torch.equal(integral_image(images), cpu)


@pytest.mark.parametrize("size", [(11, 17), (37, 53), (45, 64)])
def test_levels_cut_from_the_integral_image_are_area_interpolation(size: tuple[int, int]) -> None:
    """Shrunk and enlarged alike, each cell is the mean of the same whole pixels as
    facenet-pytorch's ``interpolate(mode="area")`` (to float32 rounding)."""
    images = torch.from_numpy(np.random.default_rng(4).integers(0, 256, (2, 3, 37, 53),
                                                                 dtype=np.uint8))
    want = torch.nn.functional.interpolate(images.float(), size=size, mode="area")
    got = area_resize(integral_image(images), *size)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("size", [(37, 53), (38, 54), (44, 63), (73, 105), (74, 106)])
def test_enlarged_levels_cut_from_the_frames_are_the_integral_images_bits(
        size: tuple[int, int]) -> None:
    """A level as large as the frame or larger (bins of one and two pixels, up to twice the
    size) comes from the frames' pixels with the same bits as from the integral image, and as
    ``interpolate(mode="area")``."""
    images = torch.from_numpy(np.random.default_rng(5).integers(0, 256, (2, 3, 37, 53),
                                                                 dtype=np.uint8))
    got = area_enlarge(images, *size)
    assert torch.equal(got, area_resize(integral_image(images), *size))
    assert torch.equal(got, torch.nn.functional.interpolate(images.float(), size=size,
                                                            mode="area"))
    assert got.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("shape", [(1, 10, 37, 53), (3, 28, 22, 22), (2, 64, 3, 3)])
def test_prelu_by_rows_is_prelu(shape: tuple[int, int, int, int]) -> None:
    """The same bits as ``F.prelu`` on a channels-last tensor, slopes of both signs, in the same
    channels-last layout."""
    g = torch.Generator().manual_seed(6)
    x = torch.randn(*shape, generator=g).contiguous(memory_format=torch.channels_last)
    slopes = torch.randn(shape[1], generator=g)
    got = prelu_by_rows(x, slopes)
    assert torch.equal(got, torch.nn.functional.prelu(x, slopes))
    assert got.is_contiguous(memory_format=torch.channels_last)
