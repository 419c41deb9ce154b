"""The consumer's write API on PostgreSQL and SQLite: registration, additive upserts, offsets."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, text

from classpulse.db import writes
from classpulse.db.models import EmotionMinute
from classpulse.db.writes import (
    MinuteRow,
    OffsetConflict,
    OffsetMove,
    add_minute_rows,
    add_rejections,
    advance_offsets,
    ensure_cameras,
    load_offsets,
)
from tests.fixtures.clock import skew_clock

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=timezone.utc)


def row(
    camera: str = "cam1", classroom: str = "7B", minute: datetime = T0, k: int = 1
) -> MinuteRow:
    """A small row whose every count and sum scales with ``k``."""
    return MinuteRow(
        camera_id=camera,
        classroom_id=classroom,
        minute_start=minute,
        frames=60 * k,
        frames_with_faces=50 * k,
        faces=100 * k,
        n=tuple(x * k for x in (1, 2, 3, 40, 4, 5, 45)),
        p=tuple(x * k for x in (2.5, 1.5, 4.0, 38.0, 6.0, 5.0, 43.0)),
        engagement_sum=55.25 * k,
    )


def minute_values(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT camera_id, classroom_id, frames, frames_with_faces, faces, n_angry, "
                "n_happy, n_neutral, p_happy, p_neutral, engagement_sum FROM emotion_minutes "
                "ORDER BY camera_id, minute_start"
            )
        ).all()


def test_ensure_cameras_registers_once_and_keeps_operator_edits(db: Engine) -> None:
    with db.begin() as conn:
        ensure_cameras(conn, [("cam1", "7B"), ("cam2", "7B"), ("cam3", "8C"), ("cam1", "7B")])
    with db.begin() as conn:
        conn.execute(text("UPDATE classrooms SET name = 'Class 7B', timezone = 'Europe/Berlin' "
                          "WHERE id = '7B'"))
        conn.execute(text("UPDATE cameras SET name = 'front left' WHERE id = 'cam1'"))
    with db.begin() as conn:
        # seen again, and cam3 now claims another classroom: nothing is overwritten
        ensure_cameras(conn, [("cam1", "7B"), ("cam3", "7B"), ("cam4", "9D")])
    with db.connect() as conn:
        rooms = conn.execute(text("SELECT id, name, timezone FROM classrooms ORDER BY id")).all()
        cams = conn.execute(text("SELECT id, classroom_id, name FROM cameras ORDER BY id")).all()
    assert rooms == [("7B", "Class 7B", "Europe/Berlin"), ("8C", "8C", "UTC"), ("9D", "9D", "UTC")]
    assert cams == [
        ("cam1", "7B", "front left"),
        ("cam2", "7B", "cam2"),
        ("cam3", "8C", "cam3"),
        ("cam4", "9D", "cam4"),
    ]


def test_ensure_cameras_with_nothing_does_nothing(db: Engine) -> None:
    with db.begin() as conn:
        ensure_cameras(conn, [])
        add_minute_rows(conn, [])
        add_rejections(conn, [])
        advance_offsets(conn, "g", "t", {})
        assert load_offsets(conn, "g", "t", []) == {}
        assert conn.execute(text("SELECT count(*) FROM classrooms")).scalar_one() == 0


def test_add_minute_rows_adds_to_existing_minutes(db: Engine) -> None:
    with db.begin() as conn:
        add_minute_rows(conn, [row(k=1), row(camera="cam2", k=2)])
    with db.begin() as conn:
        add_minute_rows(conn, [row(k=3)])
    assert minute_values(db) == [
        ("cam1", "7B", 240, 200, 400, 4, 160, 180, 152.0, 172.0, 221.0),
        ("cam2", "7B", 120, 100, 200, 2, 80, 90, 76.0, 86.0, 110.5),
    ]
    with db.connect() as conn:  # first sight registered the camera and its classroom
        assert conn.execute(text("SELECT id, classroom_id FROM cameras ORDER BY id")).all() == [
            ("cam1", "7B"), ("cam2", "7B"),
        ]


def test_same_minute_twice_in_one_call_is_summed(db: Engine) -> None:
    with db.begin() as conn:
        add_minute_rows(conn, [row(k=1), row(k=2), row(minute=T0 + timedelta(minutes=1))])
    with db.connect() as conn:
        got = conn.execute(
            text("SELECT frames, faces FROM emotion_minutes ORDER BY minute_start")
        ).all()
    assert got == [(180, 300), (60, 100)]


def test_a_camera_minute_in_two_classrooms_is_two_rows(db: Engine) -> None:
    """A camera moved to 8C within the minute: each classroom gets its own frames, in later
    flushes too, and each classroom's minute in the views holds only them."""
    with db.begin() as conn:
        add_minute_rows(conn, [row(k=1), row(classroom="8C", k=2)])
    with db.begin() as conn:
        add_minute_rows(conn, [row(classroom="8C", k=1)])
    with db.connect() as conn:
        got = conn.execute(text(
            "SELECT classroom_id, frames, faces, n_happy FROM emotion_minutes "
            "ORDER BY classroom_id")).all()
        classes = conn.execute(text(
            "SELECT classroom_id, frames, faces FROM class_minutes ORDER BY classroom_id")).all()
    assert got == [("7B", 60, 100, 40), ("8C", 180, 300, 120)]
    assert classes == [("7B", 60, 100), ("8C", 180, 300)]


def test_minute_start_round_trips_as_aware_utc(db: Engine) -> None:
    berlin = datetime(2025, 3, 3, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 08:00 UTC
    with db.begin() as conn:
        add_minute_rows(conn, [row(minute=berlin), row(minute=T0)])  # the same instant: one row
    with db.connect() as conn:
        got = conn.execute(select(EmotionMinute.minute_start, EmotionMinute.frames,
                                  EmotionMinute.updated_at)).all()
        # querying with an aware non-UTC bound finds the row too
        found = conn.execute(
            select(EmotionMinute.frames).where(EmotionMinute.minute_start == berlin)
        ).scalar_one()
    assert len(got) == 1
    minute_start, frames, updated_at = got[0]
    assert minute_start == T0 and minute_start.utcoffset() == timedelta(0)
    assert frames == 120 and found == 120
    assert updated_at.tzinfo is not None
    assert abs(updated_at - datetime.now(timezone.utc)) < timedelta(minutes=5)


def test_updated_at_is_the_databases_clock_not_the_consumers(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer whose clock runs a day ahead inserts two minutes; then one whose clock runs a
    day behind adds to one of them. Every row is stamped by the database's clock, which the
    dashboard ages it by: stamped by the consumer's, the first rows looked written tomorrow (so
    fresh for a day after the consumer stopped), the last yesterday. On PostgreSQL the session's
    zone is far from UTC, which must not move the instant."""
    def stamps() -> list[datetime]:
        with db.connect() as conn:
            return list(conn.execute(select(EmotionMinute.updated_at)
                                     .order_by(EmotionMinute.minute_start)).scalars())

    def flush(rows: list[MinuteRow]) -> None:
        with db.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL TIME ZONE 'Asia/Kathmandu'"))
            add_minute_rows(conn, rows)

    skew_clock(monkeypatch, writes, timedelta(days=1))
    flush([row(), row(minute=T0 + timedelta(minutes=1))])
    first = stamps()
    for stamp in first:
        assert stamp.utcoffset() == timedelta(0)
        assert abs(stamp - datetime.now(timezone.utc)) < timedelta(seconds=30)
    skew_clock(monkeypatch, writes, -timedelta(days=1))
    time.sleep(1.1)  # SQLite's CURRENT_TIMESTAMP counts whole seconds
    flush([row()])  # adds to the first minute: the update path
    added, untouched = stamps()
    assert abs(added - datetime.now(timezone.utc)) < timedelta(seconds=30)
    assert added > first[0] and untouched == first[1]


def test_naive_datetime_is_refused_in_queries(db: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), db.connect() as conn:
        conn.execute(select(EmotionMinute.frames).where(
            EmotionMinute.minute_start == datetime(2025, 3, 3, 8, 0)
        ))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"minute_start": datetime(2025, 3, 3, 8, 0)}, "naive"),
        ({"minute_start": T0 + timedelta(seconds=30)}, "whole minute"),
        ({"n": (1, 2, 3)}, "7 values"),
        ({"p": (0.0,) * 8}, "7 values"),
        ({"faces": -1}, "negative"),
        ({"faces_read": 90}, "is not faces 100"),
        ({"refused": (1, 2)}, "3 counts"),
        ({"faces_read": 101, "refused": (0, -1, 0)}, "negative"),
    ],
)
def test_minute_row_refuses_bad_values(changes: dict, message: str) -> None:
    values = {**row().__dict__, **changes}
    with pytest.raises(ValueError, match=message):
        MinuteRow(**values)


def test_gate_counts_add_up_and_default_to_every_face_read(db: Engine) -> None:
    """Two flushes of one minute, one with refusals: the gate's counts add like the others; a row
    that leaves them out read every face."""
    gated = MinuteRow("cam1", "7B", T0, 10, 8, 20, (0, 0, 0, 5, 0, 0, 6), (0.5,) * 7, 7.0,
                      faces_read=11, frames_with_read_faces=6, refused=(4, 3, 2))
    with db.begin() as conn:
        add_minute_rows(conn, [row()])
    with db.begin() as conn:
        add_minute_rows(conn, [gated])
    with db.connect() as conn:
        got = conn.execute(text(
            "SELECT faces, faces_read, frames_with_read_faces, refused_small, refused_turned, "
            "refused_uncertain, n_neutral FROM emotion_minutes")).one()
    assert tuple(got) == (120, 111, 56, 4, 3, 2, 51)


def test_rejections_add_up_and_take_any_camera_text(db: Engine) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    with db.begin() as conn:
        add_rejections(conn, [
            (T0, "cam1", "not_jpeg", 2),
            (T0, "", "missing_header", 1),
            (T0, "cam1", "not_jpeg", 3),
        ])
    with db.begin() as conn:
        add_rejections(conn, [(T0.astimezone(berlin), "cam1", "not_jpeg", 4),
                              (T0 + timedelta(minutes=1), "no such camera", "oversize", 1)])
    with db.connect() as conn:
        got = conn.execute(text(
            "SELECT camera_id, reason, count FROM rejected_frames ORDER BY minute_start, camera_id"
        )).all()
        cameras = conn.execute(text("SELECT count(*) FROM cameras")).scalar_one()
    assert got == [("", "missing_header", 1), ("cam1", "not_jpeg", 9),
                   ("no such camera", "oversize", 1)]
    assert cameras == 0  # rejections never register cameras


def test_offsets_advance_by_compare_and_set_per_group_and_topic(db: Engine) -> None:
    with db.begin() as conn:
        advance_offsets(conn, "classpulse", "classpulse.frames",
                        {0: OffsetMove(None, 10), 1: OffsetMove(None, 20)})
        advance_offsets(conn, "other", "classpulse.frames", {0: OffsetMove(None, 999)})
    with db.begin() as conn:
        advance_offsets(conn, "classpulse", "classpulse.frames",
                        {1: OffsetMove(20, 25), 3: OffsetMove(None, 7)})
    with db.connect() as conn:
        got = load_offsets(conn, "classpulse", "classpulse.frames", [0, 1, 2, 3])
        other = load_offsets(conn, "other", "classpulse.frames", range(4))
        other_topic = load_offsets(conn, "classpulse", "elsewhere", range(4))
    assert got == {0: 10, 1: 25, 3: 7}
    assert other == {0: 999}
    assert other_topic == {}


def test_an_offset_moved_by_someone_else_is_a_conflict(db: Engine) -> None:
    with db.begin() as conn:
        advance_offsets(conn, "g", "t", {0: OffsetMove(None, 10)})
    with pytest.raises(OffsetConflict, match="no longer 7"), db.begin() as conn:
        advance_offsets(conn, "g", "t", {0: OffsetMove(7, 12)})
    with pytest.raises(OffsetConflict, match="first"), db.begin() as conn:
        advance_offsets(conn, "g", "t", {0: OffsetMove(None, 12)})
    with db.connect() as conn:
        assert load_offsets(conn, "g", "t", [0]) == {0: 10}


def test_offsets_beyond_32_bits(db: Engine) -> None:
    with db.begin() as conn:
        advance_offsets(conn, "g", "t", {0: OffsetMove(None, 2**40 + 5)})
        assert load_offsets(conn, "g", "t", [0]) == {0: 2**40 + 5}


def test_minutes_and_offsets_commit_together_or_not_at_all(db: Engine) -> None:
    class Crash(Exception):
        pass

    with pytest.raises(Crash), db.begin() as conn:
        add_minute_rows(conn, [row()])
        add_rejections(conn, [(T0, "cam1", "truncated", 1)])
        advance_offsets(conn, "classpulse", "classpulse.frames", {0: OffsetMove(None, 100)})
        raise Crash
    with db.connect() as conn:
        for table in ("emotion_minutes", "rejected_frames", "consumer_offsets", "cameras"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table
        assert load_offsets(conn, "classpulse", "classpulse.frames", [0]) == {}


def test_foreign_keys_are_enforced(db: Engine) -> None:
    """SQLite only enforces them with the pragma make_engine sets."""
    with pytest.raises(Exception, match=r"(?i)foreign key"), db.begin() as conn:
        conn.execute(text("INSERT INTO cameras (id, classroom_id, name) VALUES ('x', 'nope', 'x')"))
