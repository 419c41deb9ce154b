"""Minute aggregation: counts, sums and engagement checked against hand-computed numbers."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS, EMOTIONS, weights_vector
from consumers.aggregate import MinuteAggregator, face_engagement, minute_of
from consumers.gate import FrameReading

T0 = 1_780_000_020_000  # 2026-05-28 20:27:00 UTC, on a minute
HAPPY, NEUTRAL, SAD = (EMOTIONS.index(e) for e in ("happy", "neutral", "sad"))


def _probs(top: int, p: float) -> np.ndarray:
    row = np.full(len(EMOTIONS), (1 - p) / (len(EMOTIONS) - 1), dtype=np.float32)
    row[top] = p
    return row


def test_minute_of_floors_to_the_utc_minute() -> None:
    assert minute_of(T0 + 59_999) == datetime(2026, 5, 28, 20, 27, tzinfo=timezone.utc)
    assert minute_of(T0 + 60_000) == datetime(2026, 5, 28, 20, 28, tzinfo=timezone.utc)


def test_face_engagement_is_top_probability_times_its_weight() -> None:
    w = np.asarray(weights_vector(DEFAULT_ENGAGEMENT_WEIGHTS))
    probs = np.stack([_probs(NEUTRAL, 0.8), _probs(HAPPY, 0.5), _probs(SAD, 0.6)])
    assert face_engagement(probs, w) == pytest.approx([0.8 * 0.9, 0.5 * 0.6, 0.6 * 0.3])


def test_buckets_by_camera_and_event_minute() -> None:
    agg = MinuteAggregator(weights_vector(DEFAULT_ENGAGEMENT_WEIGHTS))
    two_faces = np.stack([_probs(NEUTRAL, 0.8), _probs(HAPPY, 0.5)])
    agg.add_frame("cam-a", "7B", T0 + 1_000, FrameReading(two_faces))
    agg.add_frame("cam-a", "7B", T0 + 30_000, FrameReading.empty())
    agg.add_frame("cam-a", "7B", T0 + 61_000, FrameReading(_probs(SAD, 0.6)[None]))  # next minute
    agg.add_frame("cam-b", "7B", T0 + 2_000, FrameReading(_probs(NEUTRAL, 0.9)[None]))
    agg.add_rejection(T0 + 5_000, None, "not_jpeg")
    agg.add_rejection(T0 + 6_000, None, "not_jpeg")
    agg.add_rejection(T0 + 7_000, "cam-b", "stale")

    rows = {(r.camera_id, r.minute_start.minute): r for r in agg.rows()}
    assert set(rows) == {("cam-a", 27), ("cam-a", 28), ("cam-b", 27)}
    a = rows[("cam-a", 27)]
    assert (a.frames, a.frames_with_faces, a.faces) == (2, 1, 2)
    assert a.n[NEUTRAL] == 1 and a.n[HAPPY] == 1 and sum(a.n) == 2
    assert a.p[NEUTRAL] == pytest.approx(0.8 + 0.5 / 6)
    assert sum(a.p) == pytest.approx(2.0, rel=1e-6)
    assert a.engagement_sum == pytest.approx(0.8 * 0.9 + 0.5 * 0.6)
    assert rows[("cam-a", 28)].engagement_sum == pytest.approx(0.6 * 0.3)
    assert rows[("cam-b", 27)].classroom_id == "7B"
    minute = minute_of(T0)
    assert agg.rejections() == [(minute, "cam-b", "stale", 1), (minute, "unknown", "not_jpeg", 2)]
    agg.clear()
    assert agg.empty() and agg.rows() == []


def test_a_camera_moved_within_a_minute_counts_for_each_classroom() -> None:
    agg = MinuteAggregator(weights_vector(DEFAULT_ENGAGEMENT_WEIGHTS))
    agg.add_frame("cam-a", "7B", T0 + 1_000, FrameReading(_probs(HAPPY, 0.9)[None]))
    agg.add_frame("cam-a", "8C", T0 + 40_000, FrameReading(np.stack([_probs(SAD, 0.7)] * 2)))
    agg.add_frame("cam-a", "7B", T0 + 50_000, FrameReading.empty())  # moved back
    rows = {r.classroom_id: r for r in agg.rows()}
    assert set(rows) == {"7B", "8C"}
    assert (rows["7B"].frames, rows["7B"].faces, rows["7B"].n[HAPPY]) == (2, 1, 1)
    assert (rows["8C"].frames, rows["8C"].faces, rows["8C"].n[SAD]) == (1, 2, 2)
    assert {r.minute_start for r in rows.values()} == {minute_of(T0)}


def test_refused_faces_count_in_view_and_nowhere_else() -> None:
    """A frame of one read face and three refused (2 small, 1 turned), a frame of only refused
    faces (1 uncertain), an empty frame: faces in view 5, read 1, emotions from the read one."""
    agg = MinuteAggregator(weights_vector(DEFAULT_ENGAGEMENT_WEIGHTS))
    agg.add_frame("cam-a", "7B", T0 + 1_000, FrameReading(_probs(HAPPY, 0.7)[None], (2, 1, 0)))
    agg.add_frame("cam-a", "7B", T0 + 2_000, FrameReading(
        np.zeros((0, 7), np.float32), (0, 0, 1)))
    agg.add_frame("cam-a", "7B", T0 + 3_000, FrameReading.empty())
    (row,) = agg.rows()
    assert (row.frames, row.frames_with_faces, row.faces) == (3, 2, 5)
    assert (row.faces_read, row.frames_with_read_faces, row.refused) == (1, 1, (2, 1, 1))
    assert row.n[HAPPY] == 1 and sum(row.n) == 1
    assert sum(row.p) == pytest.approx(1.0, rel=1e-6)
    assert row.engagement_sum == pytest.approx(0.7 * 0.6)
