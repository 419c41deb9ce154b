"""The class-level views on PostgreSQL and SQLite, checked against sums computed in Python."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, func, select, text, update

from classpulse.db.engine import make_engine
from classpulse.db.models import EmotionMinute
from classpulse.db.seed import seed_minutes, synthetic_minute_rows
from classpulse.db.views import (
    camera_minutes,
    class_days,
    class_hour_of_week,
    class_minutes,
    shown_class_minutes,
)
from classpulse.db.writes import MinuteRow, add_minute_rows
from classpulse.emotions import EMOTIONS

# Sunday 2025-03-02 22:30 UTC: the seed crosses midnight UTC into Monday
START = datetime(2025, 3, 2, 22, 30, tzinfo=timezone.utc)
SEED = {"classrooms": ("7A", "7B"), "cameras_per_classroom": 3, "start": START, "minutes": 120,
        "seed": 11}


def expected_class_minutes(rows: list[MinuteRow]) -> dict[tuple[str, datetime], dict]:
    """Per class minute: sums, the largest and summed faces per frame, shown at threshold 3;
    a shown minute sums its shown cameras' rows only, a hidden one all of them."""
    groups: dict[tuple[str, datetime], list[MinuteRow]] = defaultdict(list)
    for r in rows:
        groups[(r.classroom_id, r.minute_start)].append(r)
    out: dict[tuple[str, datetime], dict] = {}
    for key, group in groups.items():
        shown = [r for r in group
                 if r.frames_with_read_faces and r.faces_read / r.frames_with_read_faces >= 3]
        acc: dict = defaultdict(float)
        acc["shown"] = bool(shown)
        for r in shown or group:
            acc["cameras"] += 1
            if r.frames_with_faces:
                view = r.faces / r.frames_with_faces
                acc["largest_view"] = max(acc["largest_view"], view)
                acc["faces_in_view"] += view
            acc["frames"] += r.frames
            acc["faces"] += r.faces
            acc["engagement_sum"] += r.engagement_sum
            for e, n, p in zip(EMOTIONS, r.n, r.p, strict=True):
                acc[f"n_{e}"] += n
                acc[f"p_{e}"] += p
        out[key] = acc
    return out


@pytest.fixture
def seeded(db: Engine) -> list[MinuteRow]:
    with db.begin() as conn:
        assert seed_minutes(conn, **SEED) == 2 * 3 * 120
    return list(synthetic_minute_rows(**SEED))


def test_class_minutes_sums_cameras(db: Engine, seeded: list[MinuteRow]) -> None:
    expected = expected_class_minutes(seeded)
    with db.connect() as conn:
        got = conn.execute(select(class_minutes)).mappings().all()
    assert len(got) == len(expected) == 2 * 120
    partly = 0  # shown minutes with a hidden camera
    for g in got:
        assert g["minute_start"].tzinfo is not None
        e = expected[(g["classroom_id"], g["minute_start"])]
        assert g["cameras"] == e["cameras"]
        partly += bool(g["shown"] and g["cameras"] < 3)
        assert (g["frames"], g["faces"], g["n_sad"]) == (e["frames"], e["faces"], e["n_sad"])
        assert g["p_happy"] == pytest.approx(e["p_happy"])
        assert g["largest_view"] == (pytest.approx(e["largest_view"]) if e["faces"] else None)
        assert g["faces_in_view"] == (pytest.approx(e["faces_in_view"]) if e["faces"] else None)
        assert g["shown"] is bool(e["shown"])
        if e["faces"]:
            assert g["engagement"] == pytest.approx(e["engagement_sum"] / e["faces"])
            assert g["share_neutral"] == pytest.approx(e["n_neutral"] / e["faces"])
            shares = sum(g[f"share_{x}"] for x in EMOTIONS)
            assert shares == pytest.approx(1.0)
        else:
            assert g["engagement"] is None and g["share_happy"] is None
    assert partly > 0  # the seed holds such minutes: the hidden cameras' rows left out


def test_empty_minute_has_null_engagement(db: Engine) -> None:
    minute = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
    empty = MinuteRow("cam1", "7B", minute, 60, 0, 0, (0,) * 7, (0.0,) * 7, 0.0)
    with db.begin() as conn:
        add_minute_rows(conn, [empty])
    with db.connect() as conn:
        got = conn.execute(select(class_minutes.c.frames, class_minutes.c.engagement,
                                  class_minutes.c.share_sad, class_minutes.c.largest_view,
                                  class_minutes.c.shown)).one()
        day = conn.execute(select(class_days.c.minutes, class_days.c.hidden_minutes,
                                  class_days.c.faces, class_days.c.engagement)).one()
    assert tuple(got) == (60, None, None, None, False)
    assert tuple(day) == (0, 1, 0, None)  # nobody in view: a hidden minute


def test_a_minute_enters_the_views_once_closed(db: Engine) -> None:
    """190 s after its start by the database's clock (0015_closes_after_max_lag: its minute,
    --max-lag, two flushes), not while a consumer may still add to it: two readings of an open
    minute would tell the faces in between. The rows' starts are moved off the whole minute so
    the test needs no wait at the boundary (test_migrations checks 0014's 70 s the same way)."""
    old = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
    rows = [MinuteRow(camera, "7B", old, 60, 60, 240, (0, 0, 0, 240, 0, 0, 0), (0.0,) * 7, 0.0)
            for camera in ("open", "closed")]
    with db.begin() as conn:
        add_minute_rows(conn, rows)
        now = datetime.now(timezone.utc)
        for camera, age in (("open", 184), ("closed", 196)):
            conn.execute(update(EmotionMinute).where(EmotionMinute.camera_id == camera)
                         .values(minute_start=now - timedelta(seconds=age)))
    with db.connect() as conn:
        cameras = conn.execute(select(camera_minutes.c.camera_id)).scalars().all()
        faces = [conn.execute(select(func.sum(view.c.faces))).scalar_one()
                 for view in (class_minutes, shown_class_minutes, class_days)]
    assert cameras == ["closed"]
    assert faces == [240, 240, 240]


def test_class_days_cut_at_utc_midnight_without_timezone(
    db: Engine, seeded: list[MinuteRow]
) -> None:
    """Classrooms default to UTC, so both dialects agree here (SQLite always uses UTC).

    Only shown minutes are summed (the rule teachers see); hidden ones are counted apart.
    """
    by_day: dict[tuple[str, date], dict] = defaultdict(lambda: defaultdict(float))
    for (room, minute), e in expected_class_minutes(seeded).items():
        acc = by_day[(room, minute.date())]
        acc["all"] += 1
        if not e["shown"]:
            acc["hidden"] += 1
            continue
        acc["minutes"] += 1
        acc["faces"] += e["faces"]
        acc["faces_in_view"] += e["faces_in_view"]
        acc["engagement_sum"] += e["engagement_sum"]
        acc["n_happy"] += e["n_happy"]
    with db.connect() as conn:
        got = conn.execute(select(class_days).order_by(class_days.c.classroom_id,
                                                       class_days.c.day)).mappings().all()
    assert [(g["classroom_id"], g["day"]) for g in got] == [
        ("7A", date(2025, 3, 2)), ("7A", date(2025, 3, 3)),
        ("7B", date(2025, 3, 2)), ("7B", date(2025, 3, 3)),
    ]
    for g in got:
        e = by_day[(g["classroom_id"], g["day"])]
        assert e["all"] == (90 if g["day"].day == 2 else 30)
        assert (g["minutes"], g["hidden_minutes"]) == (e["minutes"], e["hidden"])
        assert g["faces"] == e["faces"] and g["n_happy"] == e["n_happy"]
        assert g["faces_in_view"] == pytest.approx(e["faces_in_view"] / e["minutes"])
        assert g["engagement"] == pytest.approx(e["engagement_sum"] / e["faces"])
        assert g["share_happy"] == pytest.approx(e["n_happy"] / e["faces"])


def test_class_hour_of_week_uses_iso_weekdays(db: Engine, seeded: list[MinuteRow]) -> None:
    slots: dict[tuple[str, int, int], dict] = defaultdict(lambda: defaultdict(float))
    for (room, minute), e in expected_class_minutes(seeded).items():
        acc = slots[(room, minute.isoweekday(), minute.hour)]
        acc["hidden_minutes"] += not e["shown"]
        if e["shown"]:
            acc["minutes"] += 1
            acc["faces"] += e["faces"]
            acc["engagement_sum"] += e["engagement_sum"]
    with db.connect() as conn:
        got = conn.execute(select(class_hour_of_week)).mappings().all()
    keys = {(g["classroom_id"], g["iso_dow"], g["hour"]) for g in got}
    assert keys == set(slots)
    assert {(dow, hour) for _, dow, hour in keys} == {(7, 22), (7, 23), (1, 0)}  # Sun, Mon
    for g in got:
        e = slots[(g["classroom_id"], g["iso_dow"], g["hour"])]
        assert g["minutes"] == e["minutes"] and g["faces"] == e["faces"]
        assert g["hidden_minutes"] == e["hidden_minutes"]
        assert g["engagement"] == pytest.approx(e["engagement_sum"] / e["faces"])


def test_sqlite_gives_local_days_and_hours_only_to_classrooms_on_utc(
    migrated_sqlite_url: str,
) -> None:
    """SQLite has no zone database, so its UTC day or hour would be a wrong local one in
    Europe/Berlin (22:30 UTC on Sunday is 23:30 there): 0016_sqlite_local_days gives a classroom
    on UTC (or on a name of it, Etc/UTC) its days and hours, and one elsewhere NULL ones, in one
    row per classroom that still counts and sums every minute."""
    start = datetime(2025, 3, 2, 22, 30, tzinfo=timezone.utc)  # Sunday, into Monday
    n = (0, 0, 0, 240, 0, 0, 0)
    rows = [MinuteRow(f"{room}-cam", room, start + timedelta(minutes=i), 60, 60, 240, n,
                      tuple(map(float, n)), 0.6 * 240)
            for room in ("7A", "7B", "8C") for i in range(120)]
    engine = make_engine(migrated_sqlite_url)
    try:
        with engine.begin() as conn:
            add_minute_rows(conn, rows)
            conn.execute(text("UPDATE classrooms SET timezone = 'Europe/Berlin' WHERE id = '7B'"))
            conn.execute(text("UPDATE classrooms SET timezone = 'Etc/UTC' WHERE id = '8C'"))
        with engine.connect() as conn:
            days = conn.execute(select(class_days.c.classroom_id, class_days.c.day,
                                       class_days.c.minutes, class_days.c.faces)).all()
            hours = conn.execute(select(class_hour_of_week.c.classroom_id,
                                        class_hour_of_week.c.iso_dow, class_hour_of_week.c.hour,
                                        class_hour_of_week.c.minutes)).all()
    finally:
        engine.dispose()
    by_room: dict[str, set[tuple]] = defaultdict(set)
    for room, *rest in days:
        by_room[room].add(tuple(rest))
    on_utc = {(date(2025, 3, 2), 90, 90 * 240), (date(2025, 3, 3), 30, 30 * 240)}
    assert by_room == {"7A": on_utc, "8C": on_utc, "7B": {(None, 120, 120 * 240)}}
    by_room.clear()
    for room, *rest in hours:
        by_room[room].add(tuple(rest))
    on_utc = {(7, 22, 30), (7, 23, 60), (1, 0, 30)}
    assert by_room == {"7A": on_utc, "8C": on_utc, "7B": {(None, None, 120)}}


@pytest.mark.postgres
def test_postgres_views_use_the_classroom_timezone(pg_db: Engine) -> None:
    # Kolkata is UTC+05:30: 18:00-19:59 UTC on Sunday is 23:30 Sunday to 01:29 Monday local
    start = datetime(2025, 3, 2, 18, 0, tzinfo=timezone.utc)
    with pg_db.begin() as conn:
        seed_minutes(conn, ("7A",), 1, start=start, minutes=120, seed=3)
        conn.execute(text("UPDATE classrooms SET timezone = 'Asia/Kolkata'"))
    with pg_db.connect() as conn:
        days = conn.execute(text(
            "SELECT day, minutes + hidden_minutes FROM class_days ORDER BY day")).all()
        slots = conn.execute(text(
            "SELECT iso_dow, hour, minutes + hidden_minutes FROM class_hour_of_week "
            "ORDER BY iso_dow, hour"
        )).all()
    assert days == [(date(2025, 3, 2), 30), (date(2025, 3, 3), 90)]
    assert slots == [(1, 0, 60), (1, 1, 30), (7, 23, 30)]
