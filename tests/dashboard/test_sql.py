"""The dashboard's SQL on migrated PostgreSQL and SQLite, against sums computed in Python."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import bindparam, event, text

from classpulse.db.base import UTCDateTime
from classpulse.db.rule import store_min_faces
from classpulse.db.seed import synthetic_minute_rows
from classpulse.db.writes import MinuteRow
from classpulse.emotions import EMOTIONS
from dashboard import sql
from tests.dashboard import expected
from tests.dashboard.conftest import Database

START = datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)  # a Monday
DAY = timedelta(days=1)
T = TypeVar("T")
SEED = {"classrooms": ("7A", "7B"), "cameras_per_classroom": 2, "start": START, "minutes": 180,
        "seed": 5}


@pytest.fixture
def seeded(database: Database) -> list[MinuteRow]:
    rows = list(synthetic_minute_rows(**SEED))
    expected.write(database.engine, rows)
    return rows


def test_minute_buckets_match_the_rows(database: Database, seeded: list[MinuteRow]) -> None:
    got = sql.fetch_buckets(database.engine, "7A", None, START, START + timedelta(hours=3), 60)
    want = expected.minutes(seeded, "7A", 3)
    assert len(got) == len(want) == 180
    assert list(got.columns) == list(sql.BUCKET_COLUMNS)
    for g in got.itertuples():
        w = want[datetime.fromtimestamp(g.bucket_start, timezone.utc)]
        assert (g.minutes, g.hidden_minutes) == ((1, 0) if w["shown"] else (0, 1))
        if not w["shown"]:
            assert (g.faces, g.faces_in_view, g.engagement_sum) == (0, 0.0, 0.0)
            continue
        assert g.faces == w["faces"]
        assert g.faces_in_view == pytest.approx(w["faces_in_view"])
        assert g.engagement_sum / g.faces == pytest.approx(w["engagement"])
        assert g.n_happy / g.faces == pytest.approx(w["share_happy"])


def test_coarse_buckets_sum_shown_minutes_only(database: Database, seeded: list[MinuteRow]) -> None:
    got = sql.fetch_buckets(database.engine, "7B", None, START, START + timedelta(hours=3), 900)
    want = expected.minutes(seeded, "7B", 3)
    assert got["bucket_start"].tolist() == [
        int((START + timedelta(minutes=15 * i)).timestamp()) for i in range(12)
    ]
    assert got["minutes"].sum() + got["hidden_minutes"].sum() == 180
    assert got["minutes"].sum() == sum(w["shown"] for w in want.values())
    assert got["faces"].sum() == sum(w["faces"] for w in want.values() if w["shown"])
    first = [w for m, w in want.items() if m < START + timedelta(minutes=15) and w["shown"]]
    assert got.loc[0, "faces_in_view"] == pytest.approx(sum(w["faces_in_view"] for w in first))
    for e in EMOTIONS:
        shown_n = sum(w[f"share_{e}"] * w["faces"] for w in first)
        assert got.loc[0, f"n_{e}"] == pytest.approx(shown_n)


def test_one_camera(database: Database, seeded: list[MinuteRow]) -> None:
    got = sql.fetch_buckets(database.engine, "7A", "7A-cam2", START, START + timedelta(hours=3),
                            60)
    want = expected.minutes(seeded, "7A", 3, camera="7A-cam2")
    assert got["minutes"].sum() == sum(w["shown"] for w in want.values())
    assert got["faces"].sum() == sum(w["faces"] for w in want.values() if w["shown"])
    # the seed's sparse minutes (one or two faces) are hidden at camera level
    assert got["hidden_minutes"].sum() == sum(not w["shown"] for w in want.values()) > 0


def test_small_groups_are_hidden_by_faces_in_view(database: Database) -> None:
    m = [START + timedelta(minutes=i) for i in range(5)]
    rows = [
        expected.row("t1", "tiny", m[0], 60, 10),  # ten children: shown
        expected.row("t1", "tiny", m[1], 60, 1),  # one child in 60 frames: 60 faces, hidden
        expected.row("t1", "tiny", m[2], 60, 2),  # two per camera, two cameras: hidden
        expected.row("t2", "tiny", m[2], 60, 2),
        expected.row("t1", "tiny", m[3], 0, 0),  # nobody in view: hidden
        expected.row("t1", "tiny", m[4], 60, 3),  # exactly three: shown
    ]
    expected.write(database.engine, rows)
    got = sql.fetch_buckets(database.engine, "tiny", None, m[0], m[4] + timedelta(minutes=1),
                            60)
    assert got["minutes"].tolist() == [1, 0, 0, 0, 1]
    assert got["hidden_minutes"].tolist() == [0, 1, 1, 1, 0]
    assert got["faces_in_view"].tolist() == pytest.approx([10.0, 0.0, 0.0, 0.0, 3.0])
    with database.engine.begin() as conn:
        store_min_faces(conn, 2)  # the database's rule, which the query follows
    assert sql.fetch_min_faces(database.engine) == 2
    # two per camera now shown, both cameras added up; one child and nobody stay hidden
    everything = sql.fetch_buckets(database.engine, "tiny", None, m[0], m[4], 3600)
    assert everything["bucket_start"].nunique() == 1  # its readable minutes' row, and the rest
    assert everything[["minutes", "hidden_minutes"]].sum().tolist() == [2, 2]
    assert everything["faces_in_view"].sum() == pytest.approx(10 + 4)


def test_period_is_start_inclusive_end_exclusive(database: Database,
                                                 seeded: list[MinuteRow]) -> None:
    got = sql.fetch_buckets(database.engine, "7A", None, START + timedelta(minutes=10),
                            START + timedelta(minutes=20), 60)
    assert got["bucket_start"].iloc[0] == int((START + timedelta(minutes=10)).timestamp())
    assert len(got) == 10
    before = sql.fetch_buckets(database.engine, "7A", None, START - timedelta(days=1), START, 60)
    assert before.empty


def test_values_are_bound_parameters_not_sql(database: Database) -> None:
    evil = "o'brien'); DROP TABLE classrooms; --"
    expected.write(database.engine, [expected.row("cam'1", evil, START, 60, 5)])
    got = sql.fetch_buckets(database.engine, evil, "cam'1", START, START + timedelta(minutes=1),
                            60)
    assert got["faces"].tolist() == [300]
    assert sql.fetch_classrooms(database.engine)["id"].tolist() == [evil]
    assert sql.fetch_cameras(database.engine, evil, START, START + timedelta(minutes=1))[
        "id"].tolist() == ["cam'1"]


def test_last_write_is_the_newest_minute_and_its_write_time(
    database: Database, seeded: list[MinuteRow]
) -> None:
    written = datetime(2025, 3, 3, 10, 5, 30, tzinfo=timezone.utc)
    expected.set_written_at(database.engine, written)
    newest, last = sql.fetch_last_write(database.engine, "7A", None)
    assert newest == START + timedelta(minutes=179)
    assert_same_instant(last, written)
    newest_of_camera, last = sql.fetch_last_write(database.engine, "7A", "7A-cam1")
    assert newest_of_camera == newest
    assert_same_instant(last, written)
    assert sql.fetch_last_write(database.engine, "nowhere", None) == (None, None)


def assert_same_instant(got: datetime | None, want: datetime) -> None:
    """``fetch_last_write``'s write time is now by this machine's clock less the write's age by
    the database's: here, where both are one clock, the stored instant to within the
    milliseconds between the query and the reading of this clock."""
    assert got is not None and abs(got - want) < timedelta(seconds=2), (got, want)


def test_a_write_is_aged_by_the_database_clock(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer whose clock runs an hour ahead writes through the real write path: its last
    write is now, not in an hour (the page called such a consumer fresh, "0 seconds ago", for an
    hour after it stopped). A dashboard whose own clock runs a day behind is given the same
    write at now by its clock: the age comes from the database's clock alone."""
    from classpulse.db import writes
    from tests.fixtures.clock import skew_clock

    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=10)
    skew_clock(monkeypatch, writes, timedelta(hours=1))
    expected.write(database.engine, [expected.row("cam", "7A", minute, 60, 5)])
    for camera in (None, "cam"):
        newest, written = sql.fetch_last_write(database.engine, "7A", camera)
        assert newest == minute
        assert_same_instant(written, datetime.now(timezone.utc))
    skew_clock(monkeypatch, sql, -timedelta(days=1))
    _, written = sql.fetch_last_write(database.engine, "7A", None)
    assert_same_instant(written, datetime.now(timezone.utc) - timedelta(days=1))


def test_last_write_names_the_newest_closed_minute(database: Database) -> None:
    """The minute under way, and one a camera with a wrong clock dates tomorrow, are in no period
    the page can show: the newest minute it names is the newest closed one, ten minutes ago. The
    write time still counts the minute under way: the consumer writing it is running."""
    now = datetime.now(timezone.utc)
    under_way = now.replace(second=0, microsecond=0)
    closed = under_way - timedelta(minutes=10)
    expected.write(database.engine, [
        expected.row("cam", "7A", minute, 60, 5)
        for minute in (closed, under_way, under_way + timedelta(days=1))])
    expected.set_written_at(database.engine, now)
    for camera in (None, "cam"):
        newest, written = sql.fetch_last_write(database.engine, "7A", camera)
        assert newest == closed
        assert_same_instant(written, now)
    before = text("DELETE FROM emotion_minutes WHERE minute_start < :minute").bindparams(
        bindparam("minute", type_=UTCDateTime()))
    with database.engine.begin() as conn:
        conn.execute(before, {"minute": under_way})
    assert sql.fetch_last_write(database.engine, "7A", None) == (None, None)  # none closed yet


def test_classrooms_and_cameras(database: Database, seeded: list[MinuteRow]) -> None:
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE classrooms SET name = 'Zebra', timezone = 'Europe/Berlin' "
                          "WHERE id = '7A'"))
    rooms = sql.fetch_classrooms(database.engine)
    assert rooms.values.tolist() == [["7B", "7B", "UTC"], ["7A", "Zebra", "Europe/Berlin"]]
    assert sql.fetch_cameras(database.engine, "7A", START, START + DAY).values.tolist() == [
        ["7A-cam1", "7A-cam1"], ["7A-cam2", "7A-cam2"],
    ]


def test_regrouping_minute_buckets_equals_asking_for_coarse_ones(
    database: Database, seeded: list[MinuteRow]
) -> None:
    from dashboard.transform import regroup

    end = START + timedelta(hours=3)
    minutes = sql.fetch_buckets(database.engine, "7A", "7A-cam1", START, end, 60)
    for bucket in (300, 900, 3600):
        coarse = sql.fetch_buckets(database.engine, "7A", "7A-cam1", START, end, bucket)
        assert coarse["bucket_start"].nunique() == 3 * 3600 // bucket
        pd.testing.assert_frame_equal(regroup(minutes, bucket), coarse, check_dtype=False)


def test_why_faces_were_not_read_needs_one_camera_to_see_a_group(database: Database) -> None:
    """Two pupils bowed over their desks, each seen by the front and the back camera: faces in
    view is 2 per camera (4 summed over the cameras), nothing read. Each camera's own view says
    only "hidden", so the class view may not explain why either, in the newest minute, over a
    window of minutes or over coarser buckets. When the front camera alone sees three, it may,
    of that minute only, and of the front camera's faces only: the back camera saw one child."""
    from dashboard import transform

    pair = [expected.row(cam, "pair", START, 60, 0, unread=(0, 2, 0)) for cam in ("front", "back")]
    expected.write(database.engine, pair)
    end = START + timedelta(hours=1)
    for camera in (None, "front", "back"):
        minutes = sql.fetch_buckets(database.engine, "pair", camera, START, end, 60)
        now = transform.right_now(minutes, ZoneInfo("UTC"))
        assert now is not None and now.hidden and now.unreadable is None
        assert transform.unreadable(minutes) is None  # a lesson's minutes, a live window
        coarse = sql.fetch_buckets(database.engine, "pair", camera, START, end, 900)
        assert transform.unreadable(transform.regroup(coarse, 3600)) is None  # a date range
    # a minute later the front camera sees three bowed pupils at once, the back one
    three = START + timedelta(minutes=1)
    expected.write(database.engine, [expected.row("front", "pair", three, 60, 0, unread=(0, 3, 0)),
                                     expected.row("back", "pair", three, 60, 0, unread=(0, 1, 0))])
    minutes = sql.fetch_buckets(database.engine, "pair", None, START, end, 60)
    now = transform.right_now(minutes, ZoneInfo("UTC"))
    # 180 faces, the front camera's three a frame: never the back camera's child's 60 too
    assert now is not None and now.unreadable == transform.Unreadable(180, 0, "turned")
    # over both minutes, and in an hour's bucket, only the second minute's faces speak
    assert transform.unreadable(minutes) == transform.Unreadable(180, 0, "turned")
    coarse = sql.fetch_buckets(database.engine, "pair", None, START, end, 900)
    assert transform.unreadable(transform.regroup(coarse, 3600)) == transform.Unreadable(
        180, 0, "turned")
    # the threshold is the database's rule, read in the same statement as ``shown``
    with database.engine.begin() as conn:
        store_min_faces(conn, 4)
    assert transform.unreadable(sql.fetch_buckets(database.engine, "pair", None, START, end,
                                                  60)) is None
    with database.engine.begin() as conn:
        store_min_faces(conn, 2)
    # at two: both cameras of the first minute (120 + 120), the front one of the second (180)
    assert transform.unreadable(sql.fetch_buckets(database.engine, "pair", None, START, end,
                                                  60)) == transform.Unreadable(420, 0, "turned")


def test_one_crowded_minute_does_not_let_single_children_explain(database: Database) -> None:
    """A crowded minute (41 faces in view per frame, 10 read, 17 too small, 14 uncertain) and
    eighteen minutes of one child turned away: on average one camera saw (41 + 18) / 19 > 3
    faces at once, but the children's minutes each saw one. Only the crowded minute says why
    faces were not read: 600 of 2460 read, mostly too small; the children's 1080 turned faces
    would have made it 600 of 3540, mostly turned."""
    from dashboard import transform

    rows = [expected.row("cam", "crowd", START, 60, 10, unread=(17, 0, 14))]
    rows += [expected.row("cam", "crowd", START + timedelta(minutes=i), 60, 0, unread=(0, 1, 0))
             for i in range(1, 19)]
    expected.write(database.engine, rows)
    end = START + timedelta(hours=1)
    for camera in (None, "cam"):
        minutes = sql.fetch_buckets(database.engine, "crowd", camera, START, end, 60)
        assert transform.unreadable(minutes) == transform.Unreadable(2460, 600, "small")
        coarse = sql.fetch_buckets(database.engine, "crowd", camera, START, end, 900)
        assert transform.unreadable(transform.regroup(coarse, 3600)) == transform.Unreadable(
            2460, 600, "small")


@pytest.mark.parametrize("child", ["read", "turned"])
def test_the_class_view_says_nothing_of_a_lone_child_its_camera_may_not(
    database: Database, child: str
) -> None:
    """The front camera sees three pupils at once, one read and two turned away: hidden (one face
    read at a time), but a group, so why its faces were not read may be told. The back camera sees
    one child, read or turned away: its own view says only "hidden". The class view's reasons are
    the front camera's alone, whichever the child was: adding the back camera's 60 faces would
    let the class view minus the front camera's tell whether that child was read (180 of 240
    faces read, or 120)."""
    from dashboard import transform

    back = (expected.row("back", "7A", START, 60, 1) if child == "read"
            else expected.row("back", "7A", START, 60, 0, unread=(0, 1, 0)))
    expected.write(database.engine, [expected.row("front", "7A", START, 60, 1, unread=(0, 2, 0)),
                                     back])
    end = START + timedelta(hours=1)
    front = transform.Unreadable(180, 60, "turned")
    for camera, want in ((None, front), ("front", front), ("back", None)):
        minutes = sql.fetch_buckets(database.engine, "7A", camera, START, end, 60)
        now = transform.right_now(minutes, ZoneInfo("UTC"))
        assert now is not None and now.hidden and now.unreadable == want
        assert minutes[list(sql.SEEN_COLUMNS)].values.tolist() == (
            [[180, 60, 0, 120, 0]] if want else [[0, 0, 0, 0, 0]])
        coarse = sql.fetch_buckets(database.engine, "7A", camera, START, end, 900)
        assert transform.unreadable(transform.regroup(coarse, 3600)) == want


def test_a_shown_class_minute_tells_of_its_shown_cameras_only(database: Database) -> None:
    """The front camera reads five faces a frame (shown); the back one sees four turned away (a
    group, but hidden: none read). The class minute is made of the front camera: its charts and
    its reasons alike; the back camera's own view tells its own."""
    from dashboard import transform

    expected.write(database.engine, [
        expected.row("front", "7A", START, 60, 5),
        expected.row("back", "7A", START, 60, 0, unread=(0, 4, 0))])
    end = START + timedelta(minutes=1)
    whole = sql.fetch_buckets(database.engine, "7A", None, START, end, 60)
    assert whole[["readable", "minutes", "faces", "seen_faces", "seen_read", "seen_turned"]
                 ].values.tolist() == [[1, 1, 300, 300, 300, 0]]
    assert transform.unreadable(whole) is None
    back = sql.fetch_buckets(database.engine, "7A", "back", START, end, 60)
    assert transform.unreadable(back) == transform.Unreadable(240, 0, "turned")


def readability_rows(camera: str = "cam", classroom: str = "7A") -> list[MinuteRow]:
    """Two five-minute buckets. The first: four minutes of three faces a frame, all read, and one
    in which twenty more a frame were turned away (180 of 1380 faces read, read faces sad). The
    second: four minutes of five faces a frame, all read, and one of three read and four turned
    away (180 of 420 read, sad), though the bucket's faces were mostly read (1380 of 1620)."""
    rows = [expected.row(camera, classroom, START + timedelta(minutes=i), 60, 3)
            for i in range(4)]
    rows.append(expected.row(camera, classroom, START + timedelta(minutes=4), 60, 3, top="sad",
                             unread=(0, 20, 0)))
    rows += [expected.row(camera, classroom, START + timedelta(minutes=i), 60, 5)
             for i in range(5, 9)]
    rows.append(expected.row(camera, classroom, START + timedelta(minutes=9), 60, 3, top="sad",
                             unread=(0, 4, 0)))
    return rows


def test_a_point_of_several_minutes_holds_exactly_its_mostly_read_minutes(
    database: Database,
) -> None:
    """Whether faces were mostly read is judged per minute, not per point: each five-minute point
    charts its four read minutes (their faces only, no sad one) and leaves its one mostly unread
    minute out, counted. Judged per point, the first point was blanked whole (five minutes "could
    not be read") and the second charted the unread minute's sad faces."""
    from dashboard import transform

    expected.write(database.engine, readability_rows())
    end = START + timedelta(hours=1)
    utc = ZoneInfo("UTC")
    for camera in (None, "cam"):
        fine = sql.fetch_buckets(database.engine, "7A", camera, START, end, 60)
        assert fine["readable"].tolist() == [1, 1, 1, 1, 0, 1, 1, 1, 1, 0]
        for buckets in (transform.regroup(fine, 300),
                        sql.fetch_buckets(database.engine, "7A", camera, START, end, 300)):
            points = transform.series(buckets, utc)
            assert points["time"].tolist() == [pd.Timestamp(START), pd.Timestamp(START)
                                               + pd.Timedelta(minutes=5)]
            assert points["minutes"].tolist() == [4, 4]
            assert points["faces_read"].tolist() == [4 * 180, 4 * 300]
            assert points["face_detections"].tolist() == [4 * 180, 4 * 300]
            assert points["faces_in_view"].tolist() == pytest.approx([3.0, 5.0])
            assert points["share_sad"].tolist() == [0.0, 0.0]
            assert points["engagement"].tolist() == pytest.approx([0.72, 0.72])
            assert transform.unread_minutes(buckets) == 2
        quarters = sql.fetch_buckets(database.engine, "7A", camera, START, end, 900)
        hour = transform.regroup(quarters, 3600)
        points = transform.series(hour, utc)
        assert points["minutes"].tolist() == [8]
        assert points["faces_read"].tolist() == [4 * 180 + 4 * 300]
        assert transform.unread_minutes(hour) == 2
        # the chart's point, its CSV row, the day's row and the hour's cell: one set of minutes,
        # the same numbers (not 10 minutes, engagement 0.644 and 6.2 faces in view, as summing
        # every shown minute gave); the two unread minutes are counted beside them
        (csv,) = pd.read_csv(io.BytesIO(
            transform.csv_bytes(points, "7A", camera))).to_dict("records")
        assert (csv["minutes"], csv["engagement"], csv["faces_in_view"], csv["share_sad"]) == (
            8, 0.72, 4.0, 0.0)
        (day,) = transform.daily_summary(quarters, utc).to_dict("records")
        assert (day["minutes"], day["engagement"], day["faces_in_view"]) == pytest.approx(
            (8, 0.72, 4.0))
        assert (day["main_emotion"], day["main_share"]) == ("neutral", 1.0)
        assert (day["unread_minutes"], day["hidden_minutes"]) == (2, 0)
        (cell,) = transform.hour_of_week(quarters, utc).to_dict("records")
        assert (cell["weekday"], cell["hour"], cell["minutes"]) == ("Mon", 7, 8)
        assert (cell["engagement"], cell["faces_in_view"]) == pytest.approx((0.72, 4.0))


def test_a_moved_camera_is_listed_where_it_counts_its_minutes(database: Database) -> None:
    """A camera registered in 7A (where it first reported) moves to 7B a day later: its minutes
    there carry 7B, so 7B's teacher can pick it for a period it counted minutes there; 7A lists it
    for its own period with it, but not after it moved away (the list read the classroom's whole
    history, so 7A listed it for good). A camera registered without minutes is always listed."""
    expected.write(database.engine, [
        expected.row("roam", "7A", START, 60, 5),
        expected.row("front", "7B", START, 60, 5),
        expected.row("roam", "7B", START + DAY, 60, 4)])
    with database.engine.begin() as conn:
        conn.execute(text("INSERT INTO cameras (id, classroom_id, name) "
                          "VALUES ('spare', '7B', 'spare one')"))
        conn.execute(text("UPDATE cameras SET name = 'roaming' WHERE id = 'roam'"))
        registered = conn.execute(text("SELECT classroom_id FROM cameras WHERE id = 'roam'"))
        assert registered.scalar_one() == "7A"

    def listed(room: str, start: datetime) -> list[list[str]]:
        return sql.fetch_cameras(database.engine, room, start,
                                 start + timedelta(hours=1)).values.tolist()

    assert listed("7B", START + DAY) == [
        ["front", "front"], ["roam", "roaming"], ["spare", "spare one"]]
    assert listed("7B", START) == [["front", "front"], ["spare", "spare one"]]  # not there yet
    assert listed("7A", START) == [["roam", "roaming"]]
    assert listed("7A", START + DAY) == []  # moved away
    day = START + DAY
    moved = sql.fetch_buckets(database.engine, "7B", "roam", day, day + timedelta(minutes=1), 60)
    assert moved[["minutes", "faces"]].values.tolist() == [[1, 240]]


def test_each_camera_of_the_classroom_and_its_last_write_in_one_statement(
    database: Database
) -> None:
    """Front writes; back stopped 38 minutes ago; roam wrote here until a day ago, then moved to
    7B where it writes; old last wrote here three weeks ago. The classroom's cameras since a
    fortnight ago are back and front, each with its own last write; roam is 7B's. One statement
    whatever the number of cameras (the page asked two per camera, every few seconds)."""
    now = datetime.now(timezone.utc)
    minute = now.replace(second=0, microsecond=0)
    rows = [expected.row("front", "7A", minute - timedelta(minutes=i), 60, 5) for i in range(60)]
    rows += [expected.row("back", "7A", minute - timedelta(minutes=i), 60, 5)
             for i in range(40, 60)]
    rows += [expected.row("roam", "7A", minute - timedelta(days=1, minutes=i), 60, 5)
             for i in range(30)]
    rows += [expected.row("roam", "7B", minute - timedelta(minutes=i), 60, 5) for i in range(60)]
    rows += [expected.row("old", "7A", minute - timedelta(days=21, minutes=i), 60, 5)
             for i in range(30)]
    expected.write(database.engine, rows)
    expected.set_written_at(database.engine, now - timedelta(minutes=38), camera="back")
    expected.set_written_at(database.engine, now - timedelta(days=1), camera="roam")
    with database.engine.begin() as conn:  # roam's 7B rows are written now
        conn.execute(text("UPDATE emotion_minutes SET updated_at = CURRENT_TIMESTAMP "
                          "WHERE classroom_id = '7B'"))
        conn.execute(text("UPDATE cameras SET name = 'Back door' WHERE id = 'back'"))
    since = minute - timedelta(days=14)
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *rest: object) -> None:
        statements.append(statement)

    got = counted(database, count, lambda: sql.fetch_camera_writes(database.engine, "7A", since))
    assert len(statements) == 1
    assert got[["id", "name"]].values.tolist() == [["back", "Back door"], ["front", "front"]]
    expected.write(database.engine, [expected.row(f"more{k}", "7A", minute - timedelta(minutes=i),
                                                  60, 5) for k in range(6) for i in range(3)])
    statements.clear()
    more = counted(database, count, lambda: sql.fetch_camera_writes(database.engine, "7A", since))
    assert len(statements) == 1
    assert more["id"].tolist() == ["back", "front", *(f"more{k}" for k in range(6))]
    written = dict(zip(got["id"], got["written"], strict=True))
    assert_same_instant(written["back"], now - timedelta(minutes=38))
    assert_same_instant(written["front"], now)
    assert sql.fetch_camera_writes(database.engine, "7B", since)["id"].tolist() == ["roam"]
    month = sql.fetch_camera_writes(database.engine, "7A", minute - timedelta(days=30))
    assert "old" in month["id"].tolist()  # a fortnight ago it was not among them


def counted(database: Database, count: Callable[..., None], run: Callable[[], T]) -> T:
    """``run()``, with ``count`` called for each statement the engine sends meanwhile."""
    event.listen(database.engine, "before_cursor_execute", count)
    try:
        return run()
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
