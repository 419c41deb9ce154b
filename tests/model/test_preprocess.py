"""One preprocessing for training and inference: identical tensors, margins, augmentation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from model.data import load_split
from model.preprocess import (
    Augmentation,
    Preprocessing,
    augment_batch,
    classroom_view,
    crop_face,
    prepare_faces,
    shrink_faces,
    to_gray_square,
)

ONLY_LOW_RES = Augmentation(rotation_deg=0, scale=(1, 1), translate=0, flip=0, brightness=0,
                            contrast=0, erase=0, low_res=1.0)


def test_training_and_inference_give_identical_tensors(tiny_fer: Path) -> None:
    """The training reader's tensor equals the one built from the same face given as RGB crop."""
    split = load_split(tiny_fer, "val")
    prep = Preprocessing()
    train_side = prepare_faces(list(split.images), prep)
    rgb_crops = [cv2.cvtColor(cv2.imread(src, cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2RGB)
                 for src in split.sources]
    inference_side = prepare_faces(rgb_crops, prep)
    assert train_side.shape == (42, 1, 48, 48)
    assert torch.equal(train_side, inference_side)


def test_normalisation_values() -> None:
    face = np.full((48, 48), 255, np.uint8)
    x = prepare_faces([face], Preprocessing(mean=0.5, std=0.25))
    assert x.dtype == torch.float32
    assert torch.allclose(x, torch.full((1, 1, 48, 48), 2.0))


def test_resize_any_size_and_empty_batch() -> None:
    big = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    small = np.zeros((20, 20, 3), np.uint8)
    assert prepare_faces([big, small]).shape == (2, 1, 48, 48)
    assert prepare_faces([]).shape == (0, 1, 48, 48)
    assert to_gray_square(big, 64).shape == (64, 64)


def test_rejects_wrong_dtype_and_shape() -> None:
    with pytest.raises(TypeError):
        to_gray_square(np.zeros((48, 48), np.float32))
    with pytest.raises(ValueError):
        to_gray_square(np.zeros((48, 48, 4), np.uint8))


def test_crop_face_square_with_margin() -> None:
    frame = np.arange(200 * 300 * 3, dtype=np.uint32).reshape(200, 300, 3).astype(np.uint8)
    crop = crop_face(frame, (100, 50, 140, 100), margin=0.1)  # 40x50 box -> 60 px square
    assert crop.shape == (60, 60, 3)
    # centre (120, 75): the square spans x 90..150, y 45..105
    assert np.array_equal(crop, frame[45:105, 90:150])


def test_crop_face_at_border_repeats_edge_pixels() -> None:
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[:, 0] = 200
    crop = crop_face(frame, (0, 40, 20, 60), margin=0.5)  # 40 px square centred at x=10
    assert crop.shape == (40, 40, 3)
    assert (crop[:, :11] == 200).all()  # the 10 padded columns plus frame column 0
    assert (crop[:, 11:] == 0).all()


def test_augmentation_is_seeded_and_changes_images(tiny_fer: Path) -> None:
    x = prepare_faces(list(load_split(tiny_fer, "val").images[:8]))
    a = augment_batch(x, torch.Generator().manual_seed(1))
    b = augment_batch(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape
    assert torch.equal(a, b)
    assert (a - x).abs().mean() > 0.05
    none = Augmentation(rotation_deg=0, scale=(1, 1), translate=0, flip=0, brightness=0,
                        contrast=0, erase=0, low_res=0)
    same = augment_batch(x, torch.Generator().manual_seed(1), none)
    assert torch.allclose(same, x, atol=1e-5)


def test_shrink_faces_area_averages_and_never_enlarges() -> None:
    face = np.zeros((48, 48), np.uint8)
    face[:, 24:] = 200  # left half black, right half 200
    small = shrink_faces([face, np.full((16, 16), 7, np.uint8)], 20)
    assert small[0].shape == (20, 20)
    assert (small[0][:, :9] == 0).all() and (small[0][:, 11:] == 200).all()
    assert (small[0][:, 10] == 200).all() and (small[0][:, 9] == 0).all()  # 24 px = 10 of 20
    assert small[1].shape == (16, 16) and (small[1] == 7).all()  # already smaller: untouched
    with pytest.raises(ValueError, match="at least 1 px, got 0"):
        shrink_faces([face], 0)


@pytest.mark.parametrize("side", [12, 20, 29, 44])
def test_low_res_augmentation_is_the_blur_of_a_small_live_face(tiny_fer: Path, side: int) -> None:
    """Training's low-resolution faces equal what inference makes of a face recorded at ``side``
    px (area shrink, bilinear enlarge), to within one gray level of rounding."""
    images = list(load_split(tiny_fer, "val").images[:16])
    x = prepare_faces(images)
    aug = Augmentation(**{**ONLY_LOW_RES.__dict__, "low_res_sides": (side, side)})
    trained = augment_batch(x, torch.Generator().manual_seed(0), aug)
    live = prepare_faces(shrink_faces(images, side))
    one_gray_level = 1.0 / 255 / Preprocessing().std
    assert (trained - live).abs().max() < 1.3 * one_gray_level
    assert (trained - x).abs().mean() > 5 * one_gray_level  # and it did blur


def test_low_res_augmentation_touches_only_the_picked_share(tiny_fer: Path) -> None:
    x = prepare_faces(list(load_split(tiny_fer, "val").images[:40]))
    aug = Augmentation(**{**ONLY_LOW_RES.__dict__, "low_res": 0.5})
    out = augment_batch(x, torch.Generator().manual_seed(3), aug)
    changed = (out - x).flatten(1).abs().amax(1) > 1e-3  # the identity affine leaves ~1e-6
    assert 10 <= int(changed.sum()) <= 30  # about half of 40
    assert torch.allclose(out[~changed], x[~changed], atol=1e-5)


def test_classroom_view_widens_the_forehead_and_keeps_the_face_order(tiny_fer: Path) -> None:
    """The tilt warp is the identity at 0; tilted, the top rows magnify (fewer distinct input
    columns across them) and the bottom rows shrink; the batch keeps its shape and order."""
    x = prepare_faces(list(load_split(tiny_fer, "val").images))
    assert torch.allclose(classroom_view(x, 0.0), x, atol=1e-5)
    # a vertical bar pattern: its period read along a row says that row's magnification
    bars = torch.arange(48.0).remainder(4).lt(2).float().expand(1, 1, 48, 48).contiguous()
    warped = classroom_view(bars, 0.4)[0, 0]
    transitions = (warped[:, 1:] - warped[:, :-1]).abs().gt(0.5).sum(dim=1)
    assert transitions[4] < transitions[24] < transitions[44]
    tilted = classroom_view(x, 0.3)
    assert tilted.shape == x.shape
    one_by_one = torch.cat([classroom_view(x[i:i + 1], 0.3) for i in range(len(x))])
    assert torch.allclose(tilted, one_by_one, atol=1e-6)  # face i stays face i


def test_classroom_augmentation_warps_the_picked_share_only(tiny_fer: Path) -> None:
    x = prepare_faces(list(load_split(tiny_fer, "val").images))
    only_tilt = replace(ONLY_LOW_RES, low_res=0.0, classroom=0.5, classroom_tilt=0.4)
    out = augment_batch(x, torch.Generator().manual_seed(3), only_tilt)
    changed = (out - x).abs().flatten(1).amax(dim=1) > 1e-4
    assert out.shape == x.shape and 0.25 < changed.float().mean().item() < 0.75
    # without it, the random stream (and so the augmentation) of the older recipes is unchanged
    plain = replace(ONLY_LOW_RES, rotation_deg=10.0, low_res=0.0)
    a = augment_batch(x, torch.Generator().manual_seed(4), plain)
    b = augment_batch(x, torch.Generator().manual_seed(4), replace(plain, classroom_tilt=0.9))
    assert torch.equal(a, b)
