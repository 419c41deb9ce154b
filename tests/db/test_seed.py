"""Synthetic seeding: deterministic, internally consistent, written through the write API."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import Engine, text

from classpulse.db.seed import seed_minutes, synthetic_minute_rows
from classpulse.db.writes import MinuteRow
from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS

START = datetime(2025, 3, 7, 13, 0, tzinfo=timezone.utc)  # a Friday


def test_same_arguments_same_rows_and_streams_are_independent() -> None:
    both = list(synthetic_minute_rows(("7A", "7B"), 2, START, 90, seed=5))
    again = list(synthetic_minute_rows(("7A", "7B"), 2, START, 90, seed=5))
    alone = list(synthetic_minute_rows(("7B",), 2, START, 90, seed=5))
    other_seed = list(synthetic_minute_rows(("7A", "7B"), 2, START, 90, seed=6))
    assert both == again
    assert [r for r in both if r.classroom_id == "7B"] == alone
    assert [r.faces for r in both] != [r.faces for r in other_seed]
    assert len(both) == 2 * 2 * 90
    assert {r.camera_id for r in both} == {"7A-cam1", "7A-cam2", "7B-cam1", "7B-cam2"}


def test_rows_are_internally_consistent() -> None:
    rows = list(synthetic_minute_rows(("7A", "7B", "8C"), 3, START, 600, seed=1))
    top_weight = max(DEFAULT_ENGAGEMENT_WEIGHTS.values())
    for r in rows:
        assert 0 <= r.frames_with_faces <= r.frames <= 60
        assert sum(r.n) == r.faces
        assert sum(r.p) == pytest.approx(r.faces)  # each face's probabilities sum to one
        assert min(r.p) >= 0.0
        assert 0.0 <= r.engagement_sum <= r.faces * top_weight
        assert r.minute_start.tzinfo is timezone.utc
    empty = sum(r.faces == 0 for r in rows)
    sparse = sum(0 < r.faces < 3 for r in rows)
    assert 0 < empty < 0.1 * len(rows) and 0 < sparse < 0.1 * len(rows)


def test_every_face_is_read_unless_refusals_are_asked_for() -> None:
    rows = list(synthetic_minute_rows(("7A", "7B", "8C"), 3, START, 600, seed=1))
    assert all(r.faces_read == r.faces and r.refused == (0, 0, 0)
               and r.frames_with_read_faces == r.frames_with_faces for r in rows)
    explicit = list(synthetic_minute_rows(("7A", "7B", "8C"), 3, START, 600, seed=1,
                                          refusals=False))
    assert explicit == rows


def test_refusals_leave_what_cameras_saw_and_read_only_readable_faces() -> None:
    plain = list(synthetic_minute_rows(("7A", "7B", "8C"), 3, START, 600, seed=1))
    rows = list(synthetic_minute_rows(("7A", "7B", "8C"), 3, START, 600, seed=1, refusals=True))
    again = list(synthetic_minute_rows(("7A", "7B", "8C"), 3, START, 600, seed=1, refusals=True))
    alone = list(synthetic_minute_rows(("8C",), 3, START, 600, seed=1, refusals=True))
    assert rows == again
    assert [r for r in rows if r.classroom_id == "8C"] == alone
    # the gate draws from streams of its own: what the cameras saw is the same without it
    seen = ("camera_id", "classroom_id", "minute_start", "frames", "frames_with_faces", "faces")
    assert [[getattr(r, k) for k in seen] for r in rows] == [
        [getattr(r, k) for k in seen] for r in plain]
    top_weight = max(DEFAULT_ENGAGEMENT_WEIGHTS.values())
    for r in rows:
        assert r.faces_read is not None and r.frames_with_read_faces is not None
        assert r.faces_read + sum(r.refused) == r.faces  # MinuteRow checks it too
        assert sum(r.n) == r.faces_read
        assert sum(r.p) == pytest.approx(r.faces_read)
        assert 0.0 <= r.engagement_sum <= r.faces_read * top_weight
        assert 0 <= r.frames_with_read_faces <= min(r.frames_with_faces, r.faces_read)
        assert (r.frames_with_read_faces == 0) == (r.faces_read == 0)
        # a frame without read faces holds a refused face
        assert r.frames_with_faces - r.frames_with_read_faces <= sum(r.refused)
    assert sum(r.faces_read < r.faces for r in rows) > 0.8 * len(rows)
    assert sum(r.frames_with_read_faces < r.frames_with_faces for r in rows) > 0.03 * len(rows)
    assert all(sum(r.refused[k] for r in rows) > 0 for k in range(3))  # every reason occurs

    def read_view(r: MinuteRow) -> float:
        return r.faces_read / r.frames_with_read_faces if r.frames_with_read_faces else 0.0

    def seen_view(r: MinuteRow) -> float:
        return r.faces / r.frames_with_faces if r.frames_with_faces else 0.0

    # heads-down minutes: the cameras saw a group but read too few faces at once to show it
    assert sum(seen_view(r) >= 3 > read_view(r) for r in rows) > 0.02 * len(rows)


def test_school_hours_keep_weekday_lessons_only() -> None:
    three_days = 3 * 24 * 60  # Friday 13:00 to Monday 13:00
    rows = list(synthetic_minute_rows(("7A",), 1, START, three_days, seed=0, school_hours=(8, 15)))
    # Friday 13:00-14:59 and Monday 08:00-12:59; the weekend is skipped
    assert len(rows) == 120 + 5 * 60
    assert {r.minute_start.isoweekday() for r in rows} == {5, 1}
    assert {r.minute_start.hour for r in rows} == set(range(8, 15))


def test_seed_minutes_writes_every_row(db: Engine) -> None:
    rows = list(synthetic_minute_rows(("7A", "7B"), 2, START, 30, seed=2))
    with db.begin() as conn:
        written = seed_minutes(conn, ("7A", "7B"), 2, START, 30, seed=2, batch_rows=7)
    assert written == len(rows) == 120
    with db.connect() as conn:
        count, faces, engagement = conn.execute(
            text("SELECT count(*), sum(faces), sum(engagement_sum) FROM emotion_minutes")
        ).one()
        rooms = conn.execute(text("SELECT id FROM classrooms ORDER BY id")).scalars().all()
    assert count == 120
    assert faces == sum(r.faces for r in rows)
    assert engagement == pytest.approx(sum(r.engagement_sum for r in rows))
    assert rooms == ["7A", "7B"]


def test_seed_minutes_writes_refusals(db: Engine) -> None:
    rows = list(synthetic_minute_rows(("7A",), 2, START, 30, seed=2, refusals=True))
    with db.begin() as conn:
        assert seed_minutes(conn, ("7A",), 2, START, 30, seed=2, refusals=True) == 60
    with db.connect() as conn:
        got = conn.execute(text(
            "SELECT sum(faces), sum(faces_read), sum(frames_with_read_faces), "
            "sum(refused_small), sum(refused_turned), sum(refused_uncertain) FROM emotion_minutes"
        )).one()
    assert tuple(got) == (
        sum(r.faces for r in rows), sum(r.faces_read or 0 for r in rows),
        sum(r.frames_with_read_faces or 0 for r in rows),
        *(sum(r.refused[k] for r in rows) for k in range(3)),
    )
    assert got[1] < got[0]
