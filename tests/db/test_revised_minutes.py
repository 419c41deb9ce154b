"""A camera minute added to after it closed is revised and never shown again: no two readings of
a shown minute differ by what a late write added (one child's expression, at worst), and nothing
the consumers accepted is dropped.

Closed and open minutes are judged on the database's clock, as the views judge them: minutes of
2025 closed long ago, the current minute is open, and where a test needs the instant of closing
itself it moves a row's start off the whole minute (as test_views does), so that no test waits
for a boundary.
"""

from __future__ import annotations

import copy
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, Table, select, text, update

from classpulse.db.models import EmotionMinute
from classpulse.db.views import (
    camera_minutes,
    class_days,
    class_hour_of_week,
    class_minutes,
    lesson_summaries,
    shown_camera_minutes,
    shown_class_minutes,
)
from classpulse.db.writes import MinuteRow, add_minute_rows
from classpulse.flags import MINUTE_CLOSES_AFTER_START_S
from classpulse.lessons.store import replace_lessons
from classpulse.lessons.timetable import PlannedLesson
from dashboard.sql import fetch_buckets
from tests.dashboard import expected

MINUTE = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)  # a Monday; closed long ago
END = MINUTE + timedelta(minutes=1)
# columns that name a row rather than count anything: left out where two classrooms are compared
NAMES = {"camera_id", "classroom_id", "lesson_id", "title", "subject", "group_label"}


def late(camera: str, classroom: str = "7A", minute: datetime = MINUTE) -> MinuteRow:
    """The tail of a minute, committed after the minute closed: one child, read, sad."""
    return expected.row(camera, classroom, minute, 1, 1, top="sad")


def stored(engine: Engine, camera: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(EmotionMinute.__table__)
                                 .where(EmotionMinute.camera_id == camera)).mappings().one())


def rows_of(engine: Engine, view: Table, classroom: str) -> list[dict[str, Any]]:
    columns = [c for c in view.columns if c.name not in NAMES]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            select(*columns).where(view.c.classroom_id == classroom)).mappings()]


def readings(engine: Engine, classroom: str) -> dict[str, Any]:
    """Everything shown of the classroom, as an analyst (the shown views, the rollups) and the
    dashboard (its bucket query) read it."""
    out: dict[str, Any] = {view.name: rows_of(engine, view, classroom)
                           for view in (shown_class_minutes, class_days, class_hour_of_week,
                                        lesson_summaries)}
    out["buckets"] = fetch_buckets(engine, classroom, None, MINUTE, END, 60).to_dict("records")
    return out


def camera_readings(engine: Engine, classroom: str, camera: str) -> dict[str, Any]:
    with engine.connect() as conn:
        shown = [dict(r) for r in conn.execute(select(shown_camera_minutes).where(
            shown_camera_minutes.c.camera_id == camera)).mappings()]
    return {"shown_camera_minutes": shown,
            "buckets": fetch_buckets(engine, classroom, camera, MINUTE, END, 60)}


def lessons(engine: Engine, *classrooms: str) -> None:
    with engine.begin() as conn:
        replace_lessons(conn, [PlannedLesson(room, MINUTE, END, "Maths", None, None,
                                             f"csv:{room}/x", f"csv:{room}/2025-03-03", 2)
                               for room in classrooms])


def n_sad(reading: dict[str, Any]) -> int:
    return sum(int(row.get("n_sad", 0)) for rows in reading.values() for row in rows)


def test_a_late_add_to_a_shown_minute_hides_that_camera_minute_and_changes_nothing_shown(
    db: Engine,
) -> None:
    """Two cameras read a class (four faces a frame each, shown). A flush that lands after the
    minute closed adds one sad child to the back camera's minute: that camera minute is hidden
    from then on, and every reading of the classroom is what it would be had the back camera
    never been shown (a classroom ``ref`` holding the front camera's minute alone): nowhere can
    a reading from before be subtracted from one after to give the late face. The counts stay
    in emotion_minutes."""
    front, back = (expected.row(cam, "7A", MINUTE, 60, 4) for cam in ("front", "back"))
    expected.write(db, [front, back, expected.row("ref-front", "ref", MINUTE, 60, 4)])
    lessons(db, "7A", "ref")
    before = readings(db, "7A")
    front_before = camera_readings(db, "7A", "front")
    assert before["shown_class_minutes"][0]["cameras"] == 2
    assert before["buckets"][0]["minutes"] == 1 and before["buckets"][0]["faces"] == 480

    expected.write(db, [late("back")])

    after = readings(db, "7A")
    assert after == readings(db, "ref")  # as if the back camera had never been shown
    assert after != before and n_sad(after) == n_sad(before) == 0
    assert after["shown_class_minutes"][0]["cameras"] == 1
    assert after["buckets"][0]["seen_faces"] == 240  # the front camera's alone
    front_after = camera_readings(db, "7A", "front")  # the other camera: unchanged
    assert front_after["shown_camera_minutes"] == front_before["shown_camera_minutes"]
    pd.testing.assert_frame_equal(front_after["buckets"], front_before["buckets"])
    back_after = camera_readings(db, "7A", "back")  # the revised one: hidden, and silent
    assert back_after["shown_camera_minutes"] == []
    assert back_after["buckets"][["minutes", "hidden_minutes", "faces", "n_sad", "seen_faces",
                                  "seen_read"]].values.tolist() == [[0, 1, 0, 0, 0, 0]]
    with db.connect() as conn:
        flags = conn.execute(select(camera_minutes.c.camera_id, camera_minutes.c.shown,
                                    camera_minutes.c.revised, camera_minutes.c.told)
                             .where(camera_minutes.c.classroom_id == "7A")
                             .order_by(camera_minutes.c.camera_id)).all()
    assert [tuple(f) for f in flags] == [("back", False, True, False),
                                         ("front", True, False, True)]
    kept = stored(db, "back")  # nothing accepted is lost
    assert (kept["frames"], kept["faces_read"], kept["n_sad"], kept["revised"]) == (
        120, 241, 1, True)
    expected.write(db, [late("back")])  # revised for good: a later add changes nothing shown
    assert readings(db, "7A") == after and stored(db, "back")["n_sad"] == 2


def test_a_late_add_to_a_one_camera_class_hides_its_minute(db: Engine) -> None:
    """The review's case: one camera, ten frames of four faces read; a late flush adds one sad
    child. The minute was shown with 40 faces; it is now hidden, all of it, so two readings
    differ by the whole minute, which the first already showed, never by one face."""
    expected.write(db, [expected.row("cam", "7A", MINUTE, 10, 4, top="happy")])
    lessons(db, "7A")
    before = readings(db, "7A")
    expected.write(db, [late("cam")])
    after = readings(db, "7A")
    assert [(b["minutes"], b["hidden_minutes"], b["faces_read"], b["n_happy"], b["n_sad"])
            for b in (before["buckets"][0], after["buckets"][0])] == [(1, 0, 40, 40, 0),
                                                                       (0, 1, 0, 0, 0)]
    assert after["shown_class_minutes"] == []
    for rollup in ("class_days", "class_hour_of_week", "lesson_summaries"):
        (row,) = after[rollup]
        assert (row["minutes"], row["hidden_minutes"], row["faces_read"], row["n_sad"]) == (
            0, 1, 0, 0), rollup


def test_a_first_write_into_a_long_closed_minute_is_shown(db: Engine) -> None:
    """A consumer catching up writes minutes nobody saw: no revision, whatever their age. Two
    flushes' worth of one minute in one call are one write."""
    expected.write(db, [expected.row("cam", "7A", MINUTE, 30, 4),
                        expected.row("cam", "7A", MINUTE, 30, 4)])
    assert stored(db, "cam")["revised"] is False
    with db.connect() as conn:
        shown = conn.execute(select(shown_class_minutes.c.faces_read)).scalars().all()
    assert shown == [240]


def test_adds_to_an_open_minute_revise_nothing(db: Engine) -> None:
    """The minute under way is added to at every flush; none of it was shown, so it closes, and
    is shown, with all of them."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    for _ in range(3):
        expected.write(db, [expected.row("cam", "7A", now, 20, 4)])
    assert stored(db, "cam")["revised"] is False
    with db.begin() as conn:  # the minute has closed since
        conn.execute(update(EmotionMinute).values(minute_start=MINUTE))
    with db.connect() as conn:
        assert conn.execute(select(class_minutes.c.shown, class_minutes.c.faces_read)).one() == (
            True, 240)


def at(row: MinuteRow, instant: datetime) -> MinuteRow:
    """``row`` at an instant off the whole minute, which :class:`MinuteRow` refuses: where a test
    needs a minute that closes at a chosen instant, so as not to wait for the boundary."""
    moved = copy.copy(row)
    object.__setattr__(moved, "minute_start", instant)
    return moved


def test_a_write_revises_exactly_the_minutes_the_views_hold(db: Engine) -> None:
    """The write judges "closed" as the views do (0015's 190 s, by the database's clock): of two
    minutes that started 184 and 196 s ago, the views hold the second alone, and a late add
    revises it alone. Six seconds of slack either side for the statements in between."""
    now = datetime.now(timezone.utc)
    starts = {camera: now - timedelta(seconds=MINUTE_CLOSES_AFTER_START_S + slack)
              for camera, slack in (("a184", -6), ("a196", 6))}
    rows = {camera: at(expected.row(camera, "7A", MINUTE, 60, 4), start)
            for camera, start in starts.items()}
    expected.write(db, list(rows.values()))
    with db.connect() as conn:
        held = conn.execute(select(camera_minutes.c.camera_id)).scalars().all()
    assert held == ["a196"]
    expected.write(db, list(rows.values()))
    assert {camera: stored(db, camera)["revised"] for camera in rows} == {
        "a184": False, "a196": True}


@pytest.mark.postgres
def test_a_flush_that_began_before_the_minute_closed_revises_it(pg_db: Engine) -> None:
    """A flush's transaction begins while the minute is open, and adds to it once it has closed
    (a slow flush, one waiting for another consumer's lock on the row): readers saw the minute
    in between, so it is revised. Judged when the row is written, not at the transaction's
    start (PostgreSQL's ``now()``), which would call it open."""
    expected.write(pg_db, [expected.row("cam", "7A", MINUTE, 60, 4)])
    with pg_db.connect() as writer, writer.begin():
        began = writer.execute(text("SELECT now()")).scalar_one()
        closes = began + timedelta(seconds=0.3)
        start = closes - timedelta(seconds=MINUTE_CLOSES_AFTER_START_S)
        with pg_db.begin() as other:  # the minute, as if it started then: open at ``began``
            other.execute(update(EmotionMinute).values(minute_start=start))
        time.sleep(0.6)
        add_minute_rows(writer, [at(late("cam"), start)])
    assert stored(pg_db, "cam")["revised"] is True


def test_a_backfill_revises_nothing(db: Engine) -> None:
    """``classpulse consume --backfill`` counts recorded footage into a database nobody reads
    while it fills: every flush after a minute's first adds to a minute closed long ago, and
    the minutes stay shown with all their counts. A minute revised before stays revised."""
    def backfill(rows: list[MinuteRow]) -> None:
        with db.begin() as conn:
            add_minute_rows(conn, rows, revise=False)

    for _ in range(2):
        backfill([expected.row("cam", "7A", MINUTE, 30, 4)])
    expected.write(db, [expected.row("old", "7A", MINUTE, 60, 4)])
    expected.write(db, [late("old")])  # revised by a live consumer
    backfill([late("old")])
    assert (stored(db, "cam")["revised"], stored(db, "old")["revised"]) == (False, True)
    with db.connect() as conn:
        shown = conn.execute(select(shown_camera_minutes.c.camera_id,
                                    shown_camera_minutes.c.faces_read)).all()
    assert [tuple(s) for s in shown] == [("cam", 240)]
