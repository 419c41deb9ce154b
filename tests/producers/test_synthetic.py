"""The synthetic classroom: its CCTV view's faces are as small and as bowed as the real
classroom clip's, its ground truth is where the faces really are, both views are deterministic."""

from __future__ import annotations

import time

import numpy as np
import pytest

from producers.sources import SourceError, check_source, read_frames
from producers.synthetic import CCTV_ROWS, HEIGHT, WIDTH, SyntheticClassroom


def _scenes(room: SyntheticClassroom, n: int = 12):
    return [room.render_with_truth(i * room.scene_s) for i in range(n)]


def test_cctv_view_has_sixteen_or_so_small_mostly_bowed_faces() -> None:
    scenes = _scenes(SyntheticClassroom(seed=3, view="cctv"))
    seats = [s for _, truth in scenes for s in truth]
    per_frame = [len(truth) for _, truth in scenes]
    assert 13 <= np.mean(per_frame) <= 18, per_frame
    assert {s.face_px for s in seats} == {size for _, size, *_ in CCTV_ROWS} == {10, 12, 14, 16}
    bowed = np.mean([s.bowed for s in seats])
    assert 0.6 <= bowed <= 0.9, bowed
    for frame, truth in scenes:
        assert frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8
        for s in truth:
            x1, y1, x2, y2 = s.box
            assert 0 <= x1 < x2 <= WIDTH and 0 <= y1 < y2 <= HEIGHT - 20  # above the banner
            assert x2 - x1 == s.face_px


def test_truth_boxes_hold_the_drawn_faces() -> None:
    """Each box differs from the empty room, and the empty room is what lies between heads."""
    room = SyntheticClassroom(seed=1, view="cctv")
    frame, truth = room.render_with_truth(0.0)
    empty = room.background.astype(np.int16)
    for s in truth:
        x1, y1, x2, y2 = s.box
        changed = np.abs(frame[y1:y2, x1:x2].astype(np.int16) - empty[y1:y2, x1:x2]).max(axis=2)
        assert (changed > 15).mean() > 0.8, s
    # the sensor noise (sigma 3) is all that changes far from any student
    assert np.abs(frame[5:40, 5:100].astype(np.int16) - empty[5:40, 5:100]).max() < 15


def test_frontal_faces_in_the_cctv_view_are_the_lfw_faces_shrunk() -> None:
    room = SyntheticClassroom(seed=2, view="cctv")
    up = [s for s in room.render_with_truth(0.0)[1] if not s.bowed]
    assert up
    for s in up:
        _, y1, _, y2 = s.box
        assert y2 - y1 == s.face_px  # a 25x25 LFW face shrunk to face_px, square


def test_views_are_deterministic_and_demo_view_unchanged_by_the_cctv_mode() -> None:
    for view in ("demo", "cctv"):
        a = SyntheticClassroom(seed=5, view=view).render_with_truth(41.0)
        b = SyntheticClassroom(seed=5, view=view).render_with_truth(41.0)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    truth = SyntheticClassroom(seed=0).render_with_truth(0.0)[1]
    assert all(not s.bowed for s in truth) and {s.face_px for s in truth} <= set(range(20, 40))
    with pytest.raises(ValueError, match="'side'"):
        SyntheticClassroom(view="side")


def test_cctv_source_string() -> None:
    check_source("synthetic:classroom-cctv")
    check_source("synthetic:classroom-cctv:7")
    for bad in ("synthetic:classroom-cctv:x", "synthetic:cctv", "synthetic:classroom:1:2"):
        with pytest.raises(SourceError, match="synthetic:classroom-cctv"):
            check_source(bad)
    room = SyntheticClassroom(seed=7, view="cctv")
    before = time.time()
    first = next(iter(read_frames("synthetic:classroom-cctv:7")))
    after = time.time()
    # a live source: no timeline, and the scene of the wall clock's moment
    assert first.position_ms is None
    assert any(np.array_equal(first.rgb, room.render(t)) for t in (before, after))
