"""The dashboard's SQL on migrated PostgreSQL and SQLite, against sums computed in Python."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import bindparam, text

from classpulse.db.base import UTCDateTime
from classpulse.db.rule import store_min_faces
from classpulse.db.seed import synthetic_minute_rows
from classpulse.db.writes import MinuteRow
from classpulse.emotions import EMOTIONS
from dashboard import sql
from tests.dashboard import expected
from tests.dashboard.conftest import Database

START = datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)  # a Monday
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
    assert everything[["minutes", "hidden_minutes"]].values.tolist() == [[2, 2]]
    assert everything.loc[0, "faces_in_view"] == pytest.approx(10 + 4)


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
    assert sql.fetch_cameras(database.engine, evil)["id"].tolist() == ["cam'1"]


def test_last_write_is_the_newest_minute_and_its_write_time(
    database: Database, seeded: list[MinuteRow]
) -> None:
    written = datetime(2025, 3, 3, 10, 5, 30, tzinfo=timezone.utc)
    expected.set_written_at(database.engine, written)
    newest, last = sql.fetch_last_write(database.engine, "7A", None)
    assert newest == START + timedelta(minutes=179)
    assert last == written
    assert sql.fetch_last_write(database.engine, "7A", "7A-cam1") == (newest, written)
    assert sql.fetch_last_write(database.engine, "nowhere", None) == (None, None)


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
    assert sql.fetch_last_write(database.engine, "7A", None) == (closed, now)
    assert sql.fetch_last_write(database.engine, "7A", "cam") == (closed, now)
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
    assert sql.fetch_cameras(database.engine, "7A").values.tolist() == [
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
        assert len(coarse) == 3 * 3600 // bucket
        pd.testing.assert_frame_equal(regroup(minutes, bucket), coarse, check_dtype=False)


def test_why_faces_were_not_read_needs_one_camera_to_see_a_group(database: Database) -> None:
    """Two pupils bowed over their desks, each seen by the front and the back camera: faces in
    view is 2 per camera (4 summed over the cameras), nothing read. Each camera's own view says
    only "hidden", so the class view may not explain why either, in the newest minute, over a
    window of minutes or over coarser buckets. When the front camera alone sees three, it may,
    and of that minute only."""
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
    assert now is not None and now.unreadable == transform.Unreadable(240, 0, "turned")
    # over both minutes, and in an hour's bucket, only the second minute's faces speak
    assert transform.unreadable(minutes) == transform.Unreadable(240, 0, "turned")
    coarse = sql.fetch_buckets(database.engine, "pair", None, START, end, 900)
    assert transform.unreadable(transform.regroup(coarse, 3600)) == transform.Unreadable(
        240, 0, "turned")
    # the threshold is the database's rule, read in the same statement as ``shown``
    with database.engine.begin() as conn:
        store_min_faces(conn, 4)
    assert transform.unreadable(sql.fetch_buckets(database.engine, "pair", None, START, end,
                                                  60)) is None
    with database.engine.begin() as conn:
        store_min_faces(conn, 2)
    assert transform.unreadable(sql.fetch_buckets(database.engine, "pair", None, START, end,
                                                  60)) == transform.Unreadable(480, 0, "turned")


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
