"""The real page (``dashboard/app.py``) under Streamlit's AppTest, on seeded PostgreSQL and SQLite.

Numbers in the charts, the metrics and the CSV are compared with values computed in Python from
the very rows the test wrote (:mod:`tests.dashboard.expected`).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import sys
import time as clock
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import Engine, bindparam, event, func, select, text
from streamlit.testing.v1 import AppTest

from classpulse.db import writes
from classpulse.db.base import UTCDateTime
from classpulse.db.models import EmotionMinute
from classpulse.db.rule import store_min_faces
from classpulse.db.seed import synthetic_minute_rows
from classpulse.db.writes import MinuteRow
from classpulse.emotions import EMOTIONS
from dashboard import queries
from dashboard.periods import MINUTE_CLOSES_AFTER, STALE_AFTER, closed_until
from dashboard.queries import LIVE_TTL_S
from model import card
from tests.dashboard import expected
from tests.dashboard.conftest import Database
from tests.dashboard.pages import (
    APP,
    SETTINGS_VARS,
    assert_no_error,
    charts,
    choose_range,
    metric_texts,
    open_page,
    raw_texts,
    rerun_fragments,
    texts,
)
from tests.fixtures.clock import skew_clock

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)  # Monday 08:00 in Berlin
SEED = {"classrooms": ("7A", "7B"), "cameras_per_classroom": 2, "start": START, "minutes": 180,
        "seed": 3}
MONDAY = date(2025, 3, 3)
FACES_CHART = "Faces in view and read per minute"


@pytest.fixture
def seeded(database: Database) -> list[MinuteRow]:
    rows = list(synthetic_minute_rows(**SEED))
    expected.write(database.engine, rows, {"7A": ("Class 7A", "Europe/Berlin")})
    return rows


def wall(minute: datetime, tz: ZoneInfo) -> pd.Timestamp:
    """A UTC minute as the charts carry it: the classroom's wall clock, without zone."""
    return pd.Timestamp(minute.astimezone(tz).replace(tzinfo=None))


def test_no_classrooms_explains_how_data_arrives(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(monkeypatch, database.url).run()
    assert_no_error(at)
    (info,) = texts(at)["info"]
    assert "No classrooms yet" in info and "classpulse demo" in info
    assert not charts(at)
    shipped = f"agrees with the human labels on {card.val_accuracy():.0%} of FER2013"
    assert any(shipped in paragraph for paragraph in texts(at)["markdown"])


def test_range_charts_csv_and_history_match_the_rows(
    database: Database, seeded: list[MinuteRow], monkeypatch: pytest.MonkeyPatch,
    downloads: list[dict[str, Any]],
) -> None:
    at = choose_range(open_page(monkeypatch, database.url), "7A", MONDAY, MONDAY, time(8, 0),
                      time(10, 59))
    assert_no_error(at)
    shown = texts(at)
    assert shown["title"] == ["Class 7A"]
    assert any("Mon 03 Mar 2025 08:00 – 11:00 (Europe/Berlin)" in c for c in shown["caption"])
    want = {m: w for m, w in expected.minutes(seeded, "7A", 3).items() if w["shown"]}
    hidden = 180 - len(want)
    if hidden:
        assert any(c.startswith(f"{hidden} minute") for c in shown["caption"])

    drawn = charts(at)
    assert set(drawn) == {"Emotion mix (share of faces read)", "Engagement index", FACES_CHART,
                          "Engagement by hour of the week"}
    engagement = drawn["Engagement index"].set_index("wall")
    assert list(engagement.index) == [wall(m, BERLIN) for m in want]
    want_engagement = [w["engagement"] for w in want.values()]
    assert engagement["engagement"].tolist() == pytest.approx(want_engagement)
    faces = drawn[FACES_CHART].set_index("wall")["faces_in_view"]
    assert faces.tolist() == pytest.approx([w["faces_in_view"] for w in want.values()])
    mix = drawn["Emotion mix (share of faces read)"]
    assert len(mix) == 7 * len(want)
    first = mix[mix["wall"] == wall(START, BERLIN)].set_index("emotion")["share"]
    assert list(first.index) == list(EMOTIONS)
    assert first.tolist() == pytest.approx([want[START][f"share_{e}"] for e in EMOTIONS])

    (csv,) = [d for d in downloads if d["mimetype"] == "text/csv"]
    assert csv["file_name"] == "classpulse_7A_20250303-0800.csv"
    table = pd.read_csv(io.BytesIO(csv["data"]), keep_default_na=False)
    assert set(table["classroom_id"]) == {"7A"} and set(table["camera_id"]) == {""}
    assert table["time"].tolist() == [m.astimezone(BERLIN).isoformat() for m in want]
    assert table["time_utc"].tolist() == [m.isoformat() for m in want]
    for column in ("engagement", "faces_in_view", *(f"share_{e}" for e in EMOTIONS)):
        assert table[column].tolist() == pytest.approx([w[column] for w in want.values()],
                                                       abs=5e-5)
    assert table["face_detections"].tolist() == [w["faces"] for w in want.values()]

    (days,) = at.dataframe
    day = days.value.iloc[0]
    assert (day["day"], day["minutes"], day["hidden_minutes"]) == (MONDAY, len(want), hidden)
    faces_total = sum(w["faces"] for w in want.values())
    assert day["engagement"] == pytest.approx(
        sum(w["engagement"] * w["faces"] for w in want.values()) / faces_total)
    heat = drawn["Engagement by hour of the week"]
    assert heat[["weekday", "hour"]].values.tolist() == [["Mon", 8], ["Mon", 9], ["Mon", 10]]
    assert heat["minutes"].sum() == len(want)


ADDED_UP = ("Faces in view and read are added up over the classroom's cameras whose minute is "
            "shown (enough faces read at once, and not changed after it closed; the others are "
            "left out): a pupil two of them see counts twice.")


def test_one_camera_is_charted_alone(
    database: Database, seeded: list[MinuteRow], monkeypatch: pytest.MonkeyPatch,
    downloads: list[dict[str, Any]],
) -> None:
    """... and its download says whose minutes it holds: the file of one camera (the front rows)
    had the same name and columns as the whole classroom's."""
    at = choose_range(open_page(monkeypatch, database.url), "7B", MONDAY, MONDAY, time(7, 0),
                      time(9, 59))
    assert ADDED_UP in texts(at)["caption"]  # the class's faces in view sum its two cameras
    at.selectbox(key="camera").set_value("7B-cam1").run()
    assert_no_error(at)
    assert texts(at)["title"] == ["7B – camera 7B-cam1"]
    assert ADDED_UP not in texts(at)["caption"]
    want = {m: w for m, w in expected.minutes(seeded, "7B", 3, camera="7B-cam1").items()
            if w["shown"]}
    engagement = charts(at)["Engagement index"]["engagement"].tolist()
    assert engagement == pytest.approx([w["engagement"] for w in want.values()])
    hidden = 180 - len(want)
    assert hidden > 0  # the seed's sparse minutes show one or two faces
    assert any(c.startswith(f"{hidden} minutes with fewer than 3 faces read")
               for c in texts(at)["caption"])
    csv = [d for d in downloads if d["mimetype"] == "text/csv"][-1]
    assert csv["file_name"] == "classpulse_7B_camera-7B-cam1_20250303-0700.csv"
    table = pd.read_csv(io.BytesIO(csv["data"]))
    assert set(table["classroom_id"]) == {"7B"} and set(table["camera_id"]) == {"7B-cam1"}
    assert table["engagement"].tolist() == pytest.approx(engagement, abs=5e-5)


def test_a_class_minute_adds_up_its_shown_cameras_only_and_says_so(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The front camera reads five faces per frame, the back one one: each class minute is shown,
    made of the front camera alone (5 faces in view, not 6). The words said every camera of the
    classroom was added up."""
    rows = [row for i in range(3) for row in (
        expected.row("front", "duo", START + timedelta(minutes=i), 60, 5),
        expected.row("back", "duo", START + timedelta(minutes=i), 60, 1))]
    at = monday_morning(database, monkeypatch, "duo", rows)
    assert charts(at)[FACES_CHART]["faces_in_view"].tolist() == [5.0] * 3
    assert ADDED_UP in texts(at)["caption"]


def test_a_camera_called_all_is_that_camera_not_the_classroom(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera whose id is "__all__" (what the camera select once used for "All cameras") is one
    camera: choosing it charts its own minutes, not the classroom's."""
    rows = [row for i in range(3) for row in (
        expected.row("__all__", "odd", START + timedelta(minutes=i), 60, 4, top="sad"),
        expected.row("front", "odd", START + timedelta(minutes=i), 60, 5, top="happy"))]
    at = monday_morning(database, monkeypatch, "odd", rows)
    camera = at.selectbox(key="camera")
    assert camera.options == ["All cameras", "__all__", "front"]
    assert camera.value is None and texts(at)["title"] == ["odd"]
    assert charts(at)[FACES_CHART]["faces_in_view"].tolist() == [9.0] * 3
    camera.set_value("__all__").run()
    assert_no_error(at)
    assert texts(at)["title"] == ["odd – camera __all__"]
    assert charts(at)[FACES_CHART]["faces_in_view"].tolist() == [4.0] * 3
    mix = charts(at)["Emotion mix (share of faces read)"]
    assert mix[mix["emotion"] == "sad"]["share"].tolist() == [1.0] * 3


def test_cameras_sharing_a_label_each_chart_their_own(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two cameras named "front" and one named "All cameras". The browser sends back the label
    chosen, and Streamlit takes the last option with that label: the first "front" charted the
    second, and "All cameras" the camera of that name instead of the classroom."""
    rows = [row for i in range(3) for row in (
        expected.row("cam-a", "odd", START + timedelta(minutes=i), 60, 4, top="sad"),
        expected.row("cam-b", "odd", START + timedelta(minutes=i), 60, 5, top="happy"),
        expected.row("cam-c", "odd", START + timedelta(minutes=i), 60, 6))]
    expected.write(database.engine, rows)
    with database.engine.begin() as conn:
        for cam, name in (("cam-a", "front"), ("cam-b", "front"), ("cam-c", "All cameras")):
            conn.execute(text("UPDATE cameras SET name = :name WHERE id = :id"),
                         {"name": name, "id": cam})
    at = choose_range(open_page(monkeypatch, database.url), "odd", MONDAY, MONDAY, time(7, 0),
                      time(7, 59))
    assert at.selectbox(key="camera").options == [
        "All cameras", "All cameras (cam-c)", "front (cam-a)", "front (cam-b)"]
    at.selectbox(key="camera").select_index(2).run()  # as the browser sends it: the label
    assert_no_error(at)
    assert at.selectbox(key="camera").value == "cam-a"
    assert texts(at)["title"] == ["odd – camera front (cam-a)"]
    assert charts(at)[FACES_CHART]["faces_in_view"].tolist() == [4.0] * 3
    at.selectbox(key="camera").select_index(0).run()
    assert at.selectbox(key="camera").value is None and texts(at)["title"] == ["odd"]
    assert charts(at)[FACES_CHART]["faces_in_view"].tolist() == [15.0] * 3


def test_a_database_password_in_the_query_string_is_not_shown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The page cannot reach the database: its error and log line name the URL, not the
    password given as a query parameter (as libpq and SQLAlchemy take one)."""
    url = "postgresql+psycopg://reader@127.0.0.1:1/classpulse?password=s3cret&connect_timeout=2"
    st.cache_data.clear()  # open_page would connect first to store the rule
    monkeypatch.setattr(sys, "argv", [str(APP), "--database-url", url])
    for var in SETTINGS_VARS:
        monkeypatch.delenv(var, raising=False)
    with caplog.at_level(logging.ERROR):
        at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    (error,) = texts(at)["error"]
    assert ("Cannot read the ClassPulse tables from postgresql+psycopg://reader@127.0.0.1:1/"
            "classpulse?password=***&connect_timeout=2") in error
    assert "s3cret" not in error
    logged = [r.getMessage() for r in caplog.records if "dashboard query failed" in r.getMessage()]
    assert logged and not any("s3cret" in line for line in logged)


def tiny_rows() -> list[MinuteRow]:
    m = [START + timedelta(minutes=i) for i in range(5)]
    return [
        expected.row("t1", "tiny", m[0], 60, 10, top="happy"),
        expected.row("t1", "tiny", m[1], 60, 1),  # one child, 60 faces over the minute
        expected.row("t1", "tiny", m[2], 60, 2),  # two per frame on each of two cameras
        expected.row("t2", "tiny", m[2], 60, 2),
        expected.row("t1", "tiny", m[3], 0, 0),
        expected.row("t1", "tiny", m[4], 60, 4, top="sad"),
    ]


def monday_morning(database: Database, monkeypatch: pytest.MonkeyPatch, classroom: str,
                   rows: list[MinuteRow]) -> AppTest:
    """``rows`` written, the page opened on ``classroom`` for Monday 07:00-07:59, no error."""
    expected.write(database.engine, rows)
    at = choose_range(open_page(monkeypatch, database.url), classroom, MONDAY, MONDAY,
                      time(7, 0), time(7, 59))
    assert_no_error(at)
    return at


def test_small_groups_are_hidden_and_the_page_says_so(
    database: Database, monkeypatch: pytest.MonkeyPatch, downloads: list[dict[str, Any]]
) -> None:
    at = monday_morning(database, monkeypatch, "tiny", tiny_rows())
    assert ("3 minutes with fewer than 3 faces read are hidden, so that no chart describes a "
            "single child (MIN_FACES_SHOWN=3).") in texts(at)["caption"]
    engagement = charts(at)["Engagement index"]
    assert engagement["wall"].tolist() == [wall(START, ZoneInfo("UTC")),
                                           wall(START + timedelta(minutes=4), ZoneInfo("UTC"))]
    assert engagement["engagement"].tolist() == pytest.approx([0.8 * 0.6, 0.8 * 0.3])
    table = pd.read_csv(io.BytesIO(downloads[-1]["data"]))
    assert table["faces_in_view"].tolist() == [10.0, 4.0]
    # the line breaks after each shown minute whose next minute is hidden or missing
    raw = charts(at, with_breaks=True)["Engagement index"]
    breaks = raw[raw["engagement"].isna()]["wall"].tolist()
    assert breaks == [wall(START + timedelta(minutes=m), ZoneInfo("UTC")) for m in (1, 5)]

    # the rule at its least, 2: two faces per frame on each camera are shown; one child and the
    # empty minute stay hidden
    at = choose_range(open_page(monkeypatch, database.url, min_faces=2), "tiny", MONDAY, MONDAY,
                      time(7, 0), time(7, 59))
    assert charts(at)["Engagement index"]["wall"].tolist() == [
        wall(START + timedelta(minutes=m), ZoneInfo("UTC")) for m in (0, 2, 4)]
    assert ("2 minutes with fewer than 2 faces read are hidden, so that no chart describes a "
            "single child (MIN_FACES_SHOWN=2).") in texts(at)["caption"]


def test_a_period_of_small_groups_only_shows_nothing(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = monday_morning(database, monkeypatch, "tiny", tiny_rows()[1:5])
    (warning,) = texts(at)["warning"]
    assert "Every minute in this period had fewer than 3 faces read" in warning
    assert "(3 minutes)" in warning
    assert not charts(at)


CHANGED_NOTE = ("{n} minutes were changed after they closed (a consumer's write came late, e.g. "
                "retried after a database outage) and are hidden, so that two readings of them "
                "cannot be compared.")


def late(camera: str, classroom: str, minute: datetime) -> MinuteRow:
    """A flush that lands after ``minute`` closed: one child, read, sad. Written into a minute
    the views already hold, it marks that camera minute revised (migration 0017)."""
    return expected.row(camera, classroom, minute, 1, 1, top="sad")


def test_minutes_changed_after_they_closed_are_not_called_too_few_faces(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten well-read minutes of the front camera, two of one child (too few faces read), and
    three to which a late flush added a sad child after they closed: 07:12 (the front camera
    alone), 07:13 (the back camera's minute: the class minute stays shown, made of the front
    camera) and 07:14 (the front camera's minute, beside one child on the back camera). The
    hidden minutes 07:12 and 07:14 had five faces read at once; the page said they had fewer
    than 3, in the classroom's view and in the front camera's own."""
    m = [START + timedelta(minutes=i) for i in range(15)]
    rows = [expected.row("front", "late", m[i], 60, 5) for i in (*range(10), 12, 13, 14)]
    rows += [expected.row("front", "late", m[i], 60, 1) for i in (10, 11)]
    rows += [expected.row("back", "late", m[13], 60, 4), expected.row("back", "late", m[14], 60, 1)]
    expected.write(database.engine, rows)
    expected.write(database.engine, [late("front", "late", m[12]), late("back", "late", m[13]),
                                     late("front", "late", m[14])])
    at = choose_range(open_page(monkeypatch, database.url), "late", MONDAY, MONDAY, time(7, 0),
                      time(7, 59))
    assert_no_error(at)
    captions = texts(at)["caption"]
    assert ("2 minutes with fewer than 3 faces read are hidden, so that no chart describes a "
            f"single child (MIN_FACES_SHOWN=3). {CHANGED_NOTE.format(n=2)}") in captions
    assert len(charts(at)["Engagement index"]) == 11  # 07:00-07:09 and 07:13
    (days,) = at.dataframe
    assert days.value.iloc[0]["hidden_minutes"] == 4

    at.selectbox(key="camera").set_value("front").run()
    assert_no_error(at)
    captions = texts(at)["caption"]
    assert ("2 minutes with fewer than 3 faces read are hidden, so that no chart describes a "
            f"single child (MIN_FACES_SHOWN=3). {CHANGED_NOTE.format(n=2)}") in captions
    at.selectbox(key="camera").set_value("back").run()  # 07:13 changed, 07:14 one child
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning.startswith("**Every minute in this period is hidden** (2 minutes)")
    assert "1 minute had fewer than 3 faces read" in warning
    assert "1 minute was changed after it closed" in warning


def test_a_period_of_changed_and_small_minutes_says_which_is_which(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing shown: one minute of one child, and one of five faces read at once that a late
    flush changed after it closed. "Every minute had fewer than 3 faces read" was false."""
    rows = [expected.row("cam", "gone", START, 60, 1),
            expected.row("cam", "gone", START + timedelta(minutes=1), 60, 5)]
    expected.write(database.engine, rows)
    expected.write(database.engine, [late("cam", "gone", START + timedelta(minutes=1))])
    at = choose_range(open_page(monkeypatch, database.url), "gone", MONDAY, MONDAY, time(7, 0),
                      time(7, 59))
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning == (
        "**Every minute in this period is hidden** (2 minutes), so nothing is shown: 1 minute had "
        "fewer than 3 faces read, and no chart may describe a single child; 1 minute was changed "
        "after it closed (a consumer's write came late, e.g. retried after a database outage) and "
        "is hidden, so that two "
        "readings of it cannot be compared.")
    assert not charts(at)


def test_a_newest_minute_changed_after_it_closed_says_so_live(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five closed minutes of five faces read at once; a late flush adds a child to the newest
    after it closed. The latest minute is hidden for that, not for too few faces read."""
    end = closed_until(datetime.now(timezone.utc))
    newest = end - timedelta(minutes=1)
    expected.write(database.engine, [expected.row("cam", "live", end - timedelta(minutes=i), 60, 5)
                                     for i in range(1, 6)])
    expected.write(database.engine, [late("cam", "live", newest)])
    at = open_page(monkeypatch, database.url).run()
    assert_no_error(at)
    shown = texts(at)
    assert shown["info"] == [f"The newest minute ({newest:%H:%M}) was changed after it closed (a "
                             "consumer's write came late, e.g. retried after a database outage), "
                             "so it is hidden: two readings "
                             "of it cannot be compared."]
    assert ("1 minute was changed after it closed (a consumer's write came late, e.g. retried "
            "after a database outage) and is "
            "hidden, so that two readings of it cannot be compared.") in shown["caption"]
    assert not any("fewer than" in t for kind in ("info", "caption") for t in shown[kind])
    assert len(charts(at)["Engagement index"]) == 4


def test_unreadable_faces_draw_no_mix_and_the_page_says_why(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A classroom camera like the real clip: 14 faces in view per frame, 12 of them too small
    to read. Minute 0 reads two faces per frame (hidden: fewer than 3 read), minute 1 reads four
    (shown by the rule, but most faces unread): no mix is drawn, the page says why in words."""
    rows = [expected.row("cctv", "small", START, 60, 2, unread=(12, 0, 0)),
            expected.row("cctv", "small", START + timedelta(minutes=1), 60, 4,
                         unread=(10, 0, 0))]
    at = monday_morning(database, monkeypatch, "small", rows)
    (warning,) = texts(at)["warning"]
    assert warning.startswith("**Most faces in this period could not be read** (21% of the faces")
    assert "too small to read expressions at this camera's resolution" in warning
    assert not charts(at)


def test_shown_minutes_mostly_unread_are_not_called_hidden(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One shown minute whose one frame with faces read held three (the rule's measure) while
    nine frames each held one bowed face (1.2 faces in view per frame), among twenty minutes of
    one bowed child: no minute saw a group at once, so nothing says why faces were not read (that
    would describe a child), yet the shown minute is not "hidden for fewer than 3 faces read"."""
    three = expected.row("cctv", "small", START, 1, 3)
    rows = [dataclasses.replace(three, frames_with_faces=10, faces=12, refused=(0, 9, 0))]
    rows += [expected.row("cctv", "small", START + timedelta(minutes=i), 60, 0, unread=(0, 1, 0))
             for i in range(1, 21)]
    at = monday_morning(database, monkeypatch, "small", rows)
    (warning,) = texts(at)["warning"]
    assert warning.startswith("**Most faces could not be read** in the 1 minute with at least "
                              "3 faces read at once")
    assert "bowed" not in warning and not charts(at)


def test_two_pupils_on_two_cameras_are_not_explained(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pupils bowed over their desks, each seen by the front and the back camera: 2 faces in
    view per camera (4 summed over them), none read. Each camera's own view says only "hidden";
    the class's says no more: why their faces were not read would describe them."""
    rows = [expected.row(cam, "pair", START, 60, 0, unread=(0, 2, 0)) for cam in ("front", "back")]
    at = monday_morning(database, monkeypatch, "pair", rows)
    (warning,) = texts(at)["warning"]
    assert warning.startswith("**Every minute in this period had fewer than 3 faces read**")
    assert "bowed" not in warning and not charts(at)


def test_a_mix_is_never_drawn_beside_a_sentence_saying_none_is(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten well-read minutes (five faces read per frame) and thirty hidden ones in which a camera
    saw fourteen faces per frame and read two: most faces of the period were not read. The ten
    minutes are drawn, and the page says the charts rest on them, not that nothing is drawn."""
    rows = [expected.row("cctv", "mixed", START + timedelta(minutes=i), 60, 5)
            for i in range(10)]
    rows += [expected.row("cctv", "mixed", START + timedelta(minutes=i), 60, 2,
                          unread=(12, 0, 0)) for i in range(10, 40)]
    at = monday_morning(database, monkeypatch, "mixed", rows)
    drawn = charts(at)
    assert len(drawn["Engagement index"]) == 10
    assert len(drawn["Emotion mix (share of faces read)"]) == 7 * 10
    shown = texts(at)
    said = [t for kind in ("warning", "info", "caption") for t in shown[kind]]
    assert not any("no mix of expressions is drawn" in t for t in said), said
    (warning,) = shown["warning"]
    # 10 minutes of 300 faces read, 30 of 120 read among 840: 6600 of 28200 read
    assert warning.startswith(f"**Most faces in this period could not be read** "
                              f"({6600 / 28200:.0%} of the faces seen were read)")
    assert "the charts show only the 10 minutes whose faces were mostly read" in warning
    assert "too small to read expressions" in warning


def test_shown_minutes_left_out_of_the_charts_are_counted(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten well-read minutes, then three shown ones (four faces read per frame) in which ten more
    faces per frame were too small to read: most of the period's faces were read (3720 of 5520),
    so no warning; the three minutes were left out of the charts without a word."""
    rows = [expected.row("cctv", "some", START + timedelta(minutes=i), 60, 5) for i in range(10)]
    rows += [expected.row("cctv", "some", START + timedelta(minutes=i), 60, 4, unread=(10, 0, 0))
             for i in range(10, 13)]
    at = monday_morning(database, monkeypatch, "some", rows)
    assert len(charts(at)["Engagement index"]) == 10 and not texts(at)["warning"]
    assert ("3 minutes with at least 3 faces read at once are left out of the charts: most of "
            "the faces seen in them could not be read.") in texts(at)["caption"]


def test_one_crowded_minute_does_not_let_single_children_explain(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crowded minute (41 faces in view per frame: 10 read, 17 too small, 14 uncertain) and
    eighteen minutes of one child turned away: on average one camera saw more than 3 faces at
    once, but each child's minute saw one. Why faces were not read is told of the crowded minute
    alone (600 of 2460 read, too small), never with the child's 1080 turned faces (600 of 3540,
    turned)."""
    rows = [expected.row("cam", "crowd", START, 60, 10, unread=(17, 0, 14))]
    rows += [expected.row("cam", "crowd", START + timedelta(minutes=i), 60, 0, unread=(0, 1, 0))
             for i in range(1, 19)]
    at = monday_morning(database, monkeypatch, "crowd", rows)
    (warning,) = texts(at)["warning"]
    assert warning.startswith(f"**Most faces in this period could not be read** "
                              f"({600 / 2460:.0%} of the faces seen were read)")
    assert "too small to read expressions" in warning and "turned away" not in warning
    assert not charts(at)


def test_a_raised_threshold_reaches_the_page_within_seconds(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule at 2 shows three of the tiny classroom's minutes; ``classpulse db upgrade
    --min-faces-shown 3`` while the page runs: its next run after LIVE_TTL_S (the cache of the
    rule) hides the small groups and says so, though the date range's frame is cached longer."""
    expected.write(database.engine, tiny_rows())
    at = choose_range(open_page(monkeypatch, database.url, min_faces=2), "tiny", MONDAY, MONDAY,
                      time(7, 0), time(7, 59))
    assert len(charts(at)["Engagement index"]) == 3
    with database.engine.begin() as conn:
        store_min_faces(conn, 3)
    clock.sleep(LIVE_TTL_S + 0.5)
    at.run()
    assert_no_error(at)
    assert len(charts(at)["Engagement index"]) == 2
    assert ("3 minutes with fewer than 3 faces read are hidden, so that no chart describes a "
            "single child (MIN_FACES_SHOWN=3).") in texts(at)["caption"]


def test_the_live_view_follows_a_changed_threshold_on_its_own_refresh(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live view refreshes by rerunning its fragment alone, with the arguments of the page's
    last full run: after ``classpulse db upgrade --min-faces-shown 3`` it hid the small groups by
    the new rule but still named the old one. Ten closed minutes, every other one read two faces
    per frame: all shown at 2, five hidden at 3."""
    end = closed_until(datetime.now(timezone.utc))
    rows = [expected.row("cam", "live", end - timedelta(minutes=i), 60, 2 if i % 2 else 5)
            for i in range(1, 11)]
    expected.write(database.engine, rows)
    at = open_page(monkeypatch, database.url, min_faces=2).run()
    assert_no_error(at)
    assert not any("hidden" in c for c in texts(at)["caption"])
    with database.engine.begin() as conn:
        store_min_faces(conn, 3)
    queries.min_faces.clear()  # as its LIVE_TTL_S would, seconds later
    rerun_fragments(at)
    assert_no_error(at)
    shown = texts(at)
    assert ("5 minutes with fewer than 3 faces read are hidden, so that no chart describes a "
            "single child (MIN_FACES_SHOWN=3).") in shown["caption"]
    assert shown["info"] == [f"The newest minute ({end - timedelta(minutes=1):%H:%M}) had "
                             "fewer than 3 faces read, so it is hidden."]
    assert any("no camera read at least 3 faces at a time" in m for m in shown["markdown"])


def test_no_data_in_the_period_points_at_the_newest_minute(
    database: Database, seeded: list[MinuteRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    sunday = MONDAY - timedelta(days=1)
    at = choose_range(open_page(monkeypatch, database.url), "7A", sunday, sunday, time(0, 0),
                      time(23, 59))
    assert_no_error(at)
    (info,) = texts(at)["info"]
    assert "No data for Class 7A in Sun 02 Mar 2025 00:00" in info
    assert "newest minute recorded is Mon 03 Mar 2025 10:59" in info
    assert not charts(at)


def live_rows(newest: datetime) -> list[MinuteRow]:
    """Two cameras, five faces per frame each, over 30 minutes up to the one ``newest`` is in."""
    newest = newest.replace(second=0, microsecond=0)
    rows = []
    for i in range(30):
        minute = newest - timedelta(minutes=29 - i)
        top = "happy" if i == 29 else "neutral"
        rows += [expected.row(cam, "live", minute, 60, 5, top=top, confidence=0.7)
                 for cam in ("front", "back")]
    return rows


def mid_minute(earliest: int = 12, latest: int = 45) -> datetime:
    """Now, between ``earliest`` and ``latest`` seconds into a minute (sleeping until then): past
    the second at which a minute closes in every minute (MINUTE_CLOSES_AFTER after an earlier
    one's end), so the newest closed minute stays the same until this one ends, and a page run has
    time to finish within it."""
    now = datetime.now(timezone.utc)
    if not earliest <= now.second < latest:
        wait = (earliest - now.second) % 60 - now.microsecond / 1e6
        clock.sleep(wait)
        now = datetime.now(timezone.utc)
    closes_into_a_minute = MINUTE_CLOSES_AFTER % timedelta(minutes=1)
    assert timedelta(seconds=earliest) > closes_into_a_minute
    assert earliest <= now.second < latest
    return now


def test_live_shows_closed_minutes_only_with_right_now_and_freshness(
    database: Database, monkeypatch: pytest.MonkeyPatch, downloads: list[dict[str, Any]]
) -> None:
    """Thirty closed minutes, then three still open: the minute under way and the two before it,
    which ended under MINUTE_CLOSES_AFTER ago (a consumer may still add frames it read late),
    nine surprised faces per frame so far. The latest row, the charts and the CSV end at the
    newest closed minute, which is called the latest though it started over STALE_AFTER ago
    (the page judges it by its closing); nothing of the surprised faces shows."""
    now = mid_minute()
    under_way = now.replace(second=0, microsecond=0)
    newest = under_way - timedelta(minutes=3)
    closes = [m + timedelta(minutes=1) + MINUTE_CLOSES_AFTER
              for m in (newest, newest + timedelta(minutes=1))]
    assert closes[0] <= now < closes[1]  # the newest closed minute, and the next one still open
    assert now - newest > STALE_AFTER  # judged by its start, it would not be the latest
    rows = live_rows(newest) + [
        expected.row(cam, "live", under_way - timedelta(minutes=m), 60, 9, top="surprise")
        for m in range(3) for cam in ("front", "back")]
    expected.write(database.engine, rows, {"live": ("Live room", "America/New_York")})
    at = open_page(monkeypatch, database.url).run()
    assert_no_error(at)
    assert datetime.now(timezone.utc).replace(second=0, microsecond=0) == under_way  # still
    metrics = metric_texts(at)
    local = newest.astimezone(ZoneInfo("America/New_York"))
    assert metrics == {"Main emotion, latest minute": "happy · 100% of the faces read",
                       "Engagement, latest minute": "0.42", "Faces in view": "10",
                       "Minute": f"{local:%H:%M}"}
    help_texts = {m.label: m.help for m in at.metric}
    assert help_texts["Minute"].endswith(
        "a minute is shown from 2 minutes 10 seconds after it ends, once no frame read late can "
        "add to it")
    assert help_texts["Faces in view"].startswith(
        "faces per frame, added up over the classroom's cameras whose minute is shown (enough "
        "faces read at once, and not changed after it closed; the others are left out): a pupil "
        "two of them see counts twice; 10 read at once")
    captions = texts(at)["caption"]
    assert any(c.startswith("Live: ") and "(America/New_York), refreshed every 5 s" in c
               for c in captions)
    assert any(c.startswith("Data is fresh: last written") and c.endswith(
        "A minute is shown from 2 minutes 10 seconds after it ends: until then a consumer can "
        "still add frames it read late to it, and a minute still filling up, read twice, could "
        "be subtracted to single out the few faces read in between.") for c in captions), captions
    drawn = charts(at)
    engagement = drawn["Engagement index"]
    assert engagement["engagement"].tolist() == pytest.approx([0.7 * 0.9] * 29 + [0.7 * 0.6])
    assert engagement["wall"].iloc[-1] == wall(newest, ZoneInfo("America/New_York"))
    mix = drawn["Emotion mix (share of faces read)"]
    assert not (mix[mix["emotion"] == "surprise"]["share"] > 0).any()
    assert drawn[FACES_CHART]["faces_in_view"].max() == 10
    table = pd.read_csv(io.BytesIO(downloads[-1]["data"]))
    assert table["time_utc"].tolist() == [(newest - timedelta(minutes=29 - i)).isoformat()
                                          for i in range(30)]
    assert set(table["share_surprise"]) == {0.0}
    # a date range that reaches the present ends at the newest closed minute too
    today = now.astimezone(ZoneInfo("America/New_York")).date()
    at = choose_range(at, "live", today - timedelta(days=1), today, time(0, 0), time(23, 59))
    assert datetime.now(timezone.utc).replace(second=0, microsecond=0) == under_way
    table = pd.read_csv(io.BytesIO(downloads[-1]["data"]))  # 5-minute points over two days
    assert pd.Timestamp(table["time_utc"].iloc[-1]) <= newest
    assert set(table["share_surprise"]) == {0.0} and table["faces_in_view"].max() == 10


def test_live_warns_when_the_consumer_stopped_writing(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    then = datetime.now(timezone.utc) - timedelta(minutes=20)
    expected.write(database.engine, live_rows(then))
    expected.set_written_at(database.engine, then)
    at = open_page(monkeypatch, database.url).run()
    at.slider(key="live_minutes").set_value(15).run()
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning.startswith("**No new data for 20 minutes**")
    assert "classpulse consume" in warning
    assert not at.metric  # the newest minute is older than the 15-minute window
    (info,) = texts(at)["info"]
    assert info.startswith("**No data for live in ") and "newest minute recorded is" in info
    # a date range that reaches the present warns too, and still draws what there is
    today = datetime.now(timezone.utc).date()  # the classroom's zone is UTC
    at = choose_range(at, "live", today - timedelta(days=1), today, time(0, 0), time(23, 59))
    assert any(w.startswith("**No new data for 20 minutes**") for w in texts(at)["warning"])
    assert "Engagement index" in charts(at)


def test_a_range_whose_last_minute_closed_lately_warns_of_a_stopped_consumer(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A range up to the minute that started five minutes ago: it ended over STALE_AFTER ago but
    closed under it, so the range reaches the present as the live view's window does, and the
    page warns that the consumer stopped 20 minutes ago. Judged by the range's end, it did not."""
    now = mid_minute()
    last = now.replace(second=0, microsecond=0) - timedelta(minutes=5)
    assert now - (last + timedelta(minutes=1)) > STALE_AFTER
    assert now - (last + timedelta(minutes=1) + MINUTE_CLOSES_AFTER) < STALE_AFTER
    then = now - timedelta(minutes=20)
    expected.write(database.engine, live_rows(then))
    expected.set_written_at(database.engine, then)
    at = choose_range(open_page(monkeypatch, database.url), "live",
                      last.date() - timedelta(days=1), last.date(), time(0, 0),
                      time(last.hour, last.minute))  # the classroom's zone is UTC
    assert_no_error(at)
    assert any(w.startswith("**No new data for 20 minutes**") for w in texts(at)["warning"])
    assert "Engagement index" in charts(at)


def test_a_stale_newest_minute_is_not_called_now(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer stopped 20 minutes ago; the default hour-long window still holds its last
    minute. The page warns, and the metrics name that minute and its age instead of "now"."""
    then = datetime.now(timezone.utc) - timedelta(minutes=20)
    expected.write(database.engine, live_rows(then), {"live": ("Live room", "America/New_York")})
    expected.set_written_at(database.engine, then)
    at = open_page(monkeypatch, database.url).run()
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning.startswith("**No new data for 20 minutes**")
    newest = then.replace(second=0, microsecond=0).astimezone(ZoneInfo("America/New_York"))
    metrics = metric_texts(at)
    assert metrics == {f"Main emotion at {newest:%H:%M}": "happy · 100% of the faces read",
                       f"Engagement at {newest:%H:%M}": "0.42",
                       f"Faces in view at {newest:%H:%M}": "10",
                       "Minute": f"{newest:%H:%M} · 20 minutes ago"}
    (minute,) = [m for m in at.metric if m.label == "Minute"]
    assert minute.help == "start of the newest minute with data: no newer one has been recorded"


def test_a_camera_that_stopped_is_named_while_the_others_write(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The front camera (twenty faces per frame) stopped 38 minutes ago; the back one (four)
    still writes. The classroom's data is fresh, but its latest row and charts are the back
    camera's alone: the page said "fresh" and named no camera. It warns of the front camera by
    its name, as plain text, and how long it has been silent; the back camera's own view, and
    the classroom once the front camera writes again, warn of nothing."""
    now = datetime.now(timezone.utc)
    minute = now.replace(second=0, microsecond=0)
    rows = [expected.row("front", "duo", minute - timedelta(minutes=i), 60, 20)
            for i in range(40, 60)]
    rows += [expected.row("back", "duo", minute - timedelta(minutes=i), 60, 4) for i in range(60)]
    expected.write(database.engine, rows)
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE cameras SET name = '*Front* door' WHERE id = 'front'"))
    expected.set_written_at(database.engine, now - timedelta(minutes=38), camera="front")
    at = open_page(monkeypatch, database.url).run()
    assert_no_error(at)
    shown = texts(at)
    (warning,) = shown["warning"]
    assert warning.startswith("**Camera *Front* door (front) has sent no new data for 38 "
                              "minutes** (last write "), warning
    assert "while the classroom's other cameras still do" in warning
    assert r"Camera \*Front\* door \(front\) has" in raw_texts(at)["warning"][0]
    assert any(c.startswith("Data is fresh: last written") for c in shown["caption"])
    assert metric_texts(at)["Faces in view"] == "4"  # the back camera's
    at.selectbox(key="camera").set_value("back").run()
    assert_no_error(at)
    assert not texts(at)["warning"]
    at.selectbox(key="camera").set_value(None).run()
    assert len(texts(at)["warning"]) == 1
    expected.set_written_at(database.engine, now - timedelta(days=13, hours=23), camera="front")
    st.cache_data.clear()
    at.run()
    assert "for 13 days" in texts(at)["warning"][0]  # still named after a holiday week
    # taken out of the room: named no more a fortnight after its last write
    expected.set_written_at(database.engine, now - timedelta(days=14, minutes=1), camera="front")
    st.cache_data.clear()
    at.run()
    assert_no_error(at)
    assert not texts(at)["warning"]
    expected.set_written_at(database.engine, datetime.now(timezone.utc), camera="front")
    st.cache_data.clear()  # as their LIVE_TTL_S would, seconds later
    at.run()
    assert_no_error(at)
    assert not texts(at)["warning"]


def test_a_camera_moved_to_another_classroom_is_not_named_stopped_in_the_old_one(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Roam wrote in 7A until a day ago, then moved to 7B, where it writes; 7A's front camera
    writes and its back one stopped 38 minutes ago. 7A's page said roam "has sent no new data
    for 1 day ... Check that camera and its producer" for a fortnight, and listed it for good.
    It names the back camera alone and offers front and back; 7B offers roam, warning of none."""
    now = datetime.now(timezone.utc)
    minute = now.replace(second=0, microsecond=0)
    expected.write(database.engine, [
        expected.row("roam", "7A", minute - timedelta(days=1, minutes=i), 60, 5)
        for i in range(30)])  # first reported in 7A, so registered there
    rows = [expected.row("front", "7A", minute - timedelta(minutes=i), 60, 5) for i in range(60)]
    rows += [expected.row("back", "7A", minute - timedelta(minutes=i), 60, 5)
             for i in range(40, 60)]
    rows += [expected.row("roam", "7B", minute - timedelta(minutes=i), 60, 5) for i in range(60)]
    expected.write(database.engine, rows)
    expected.set_written_at(database.engine, now - timedelta(minutes=38), camera="back")
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE emotion_minutes SET updated_at = :then "
                          "WHERE camera_id = 'roam' AND classroom_id = '7A'").bindparams(
                              bindparam("then", type_=UTCDateTime())),
                     {"then": now - timedelta(days=1)})
    at = open_page(monkeypatch, database.url).run()
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning.startswith("**Camera back has sent no new data for 38 minutes**"), warning
    assert "roam" not in warning
    assert at.selectbox(key="camera").options == ["All cameras", "back", "front"]
    at.selectbox(key="classroom").set_value("7B").run()
    assert_no_error(at)
    assert not texts(at)["warning"]
    assert at.selectbox(key="camera").options == ["All cameras", "roam"]


def test_the_stopped_check_is_one_query_however_many_cameras(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each live refresh asked two queries per camera of the classroom to tell which stopped,
    cameras silent for years included: with eight stopped cameras a refresh sends as many
    statements as with one, and names all eight."""
    now = datetime.now(timezone.utc)
    minute = now.replace(second=0, microsecond=0)

    def stopped(camera: str) -> list[MinuteRow]:
        return [expected.row(camera, "7A", minute - timedelta(minutes=i), 60, 5)
                for i in range(40, 45)]

    rows = [expected.row("front", "7A", minute - timedelta(minutes=i), 60, 5) for i in range(60)]
    expected.write(database.engine, [*rows, *stopped("gone0")])
    expected.set_written_at(database.engine, now - timedelta(minutes=38), camera="gone0")
    at = open_page(monkeypatch, database.url).run()
    assert_no_error(at)
    assert texts(at)["warning"][0].startswith("**Camera gone0 has sent no new data")

    def refresh() -> int:
        statements: list[str] = []

        def count(conn: object, cursor: object, statement: str, *rest: object) -> None:
            statements.append(statement)

        st.cache_data.clear()  # as the LIVE_TTL_S would, seconds later
        event.listen(Engine, "before_cursor_execute", count)
        try:
            rerun_fragments(at)
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        assert_no_error(at)
        return len(statements)

    one = refresh()
    expected.write(database.engine, [r for k in range(1, 8) for r in stopped(f"gone{k}")])
    for k in range(1, 8):
        expected.set_written_at(database.engine, now - timedelta(minutes=38), camera=f"gone{k}")
    assert refresh() == one
    assert texts(at)["warning"][0].startswith(
        "**8 of this classroom's cameras have sent no new data:** gone0 for 38 minutes")


def test_hidden_minutes_are_counted_when_nothing_is_charted(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live window of twenty hidden minutes (one child) and five shown ones whose faces were
    mostly not read: nothing can be charted, and the page explained the unread minutes without a
    word of the twenty hidden ones (only the charts' notes counted them). It counts them once, in
    the live view and in a date range alike."""
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    rows = [expected.row("cam", "solo", minute - timedelta(minutes=i), 60, 1)
            for i in range(10, 30)]
    rows += [expected.row("cam", "solo", minute - timedelta(minutes=i), 60, 3, unread=(0, 0, 5))
             for i in range(4, 9)]
    expected.write(database.engine, rows)
    note = ("20 minutes with fewer than 3 faces read are hidden, so that no chart describes a "
            "single child (MIN_FACES_SHOWN=3).")
    at = open_page(monkeypatch, database.url).run()
    for view in ("live", "range"):
        if view == "range":
            at = choose_range(at, "solo", (minute - timedelta(minutes=30)).date(), minute.date(),
                              time(0, 0), time(23, 59))
        assert_no_error(at)
        assert not charts(at)
        shown = texts(at)
        said = [t for kind in ("warning", "info", "caption") for t in shown[kind]]
        assert any(w.startswith("**Most faces in this") for w in shown["warning"]), view
        assert [t for t in said if "20 minute" in t] == [note], (view, said)


@pytest.mark.parametrize("skew", [timedelta(hours=1), -timedelta(minutes=10)],
                         ids=["ahead", "behind"])
def test_a_consumer_clock_that_is_off_does_not_change_freshness(
    database: Database, monkeypatch: pytest.MonkeyPatch, skew: timedelta
) -> None:
    """Rows written through the real write path by a consumer whose clock runs an hour ahead, or
    ten minutes behind. Its stamps were the page's measure: ahead, the consumer was called fresh
    ("0 seconds ago") for an hour after it stopped; behind, it was warned of while it wrote. The
    database's clock stamps them now: fresh as written, and twenty minutes old twenty minutes
    on (every stamp moved back twenty minutes from what was stored)."""
    skew_clock(monkeypatch, writes, skew)
    newest = closed_until(datetime.now(timezone.utc)) - timedelta(minutes=1)
    expected.write(database.engine, live_rows(newest))
    at = open_page(monkeypatch, database.url).run()
    assert_no_error(at)
    assert not texts(at)["warning"], texts(at)["warning"]
    assert any(c.startswith("Data is fresh: last written") for c in texts(at)["caption"])
    with database.engine.connect() as conn:
        stored = conn.execute(select(func.max(EmotionMinute.updated_at))).scalar_one()
    expected.set_written_at(database.engine, stored - timedelta(minutes=20))
    st.cache_data.clear()  # as its LIVE_TTL_S would, seconds later
    at.run()
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning.startswith("**No new data for 20 minutes**"), warning


def test_shares_never_round_to_all_or_nothing(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """599 of the newest minute's 600 faces read showed happy, one neutral: not "100%"."""
    rows = live_rows(closed_until(datetime.now(timezone.utc)) - timedelta(minutes=1))
    newest = rows[-1]
    rows[-1] = dataclasses.replace(newest, n=(0, 0, 0, newest.faces_read - 1, 0, 0, 1))
    expected.write(database.engine, rows)
    at = open_page(monkeypatch, database.url).run()
    assert_no_error(at)
    assert metric_texts(at)["Main emotion, latest minute"] == "happy · >99% of the faces read"


def test_password_gate(
    database: Database, seeded: list[MinuteRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(monkeypatch, database.url, password="s3cret").run()
    assert not charts(at) and not at.metric and not at.selectbox
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert any("Wrong password" in e for e in texts(at)["error"])
    assert not at.selectbox
    at.text_input[0].input("s3cret")
    at.button[0].click().run()
    assert_no_error(at)
    assert at.selectbox(key="classroom").value == "7B"
    assert texts(at)["title"] == ["7B"] and not at.text_input
    at = choose_range(at, "7A", MONDAY, MONDAY, time(8, 0), time(10, 59))
    assert "Engagement index" in charts(at)  # the session stays logged in


def test_unmigrated_database_says_how_to_fix_it(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(monkeypatch, sqlite_url).run()
    assert not at.exception
    (error,) = texts(at)["error"]
    assert "Cannot read the ClassPulse tables" in error and "classpulse db upgrade" in error


def test_unknown_classroom_time_zone_is_named(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL refuses such a zone at UPDATE time; SQLite has no such check
    from classpulse.db.engine import make_engine

    engine = make_engine(migrated_sqlite_url)
    expected.write(engine, tiny_rows(), {"tiny": ("Tiny", "Mars/Olympus")})
    engine.dispose()
    at = open_page(monkeypatch, migrated_sqlite_url).run()
    assert not at.exception
    (error,) = texts(at)["error"]
    assert "'Mars/Olympus' is not an IANA zone name" in error


SSO = {"redirect_uri": "http://localhost:8501/oauth2callback",
       "cookie_secret": "pVh3Zq0yK8rT1mXc5NwB7uJd2LfA9sEgQ4iYoR6tH0k",
       "client_id": "classpulse", "client_secret": "secret",
       "server_metadata_url": "https://login.example.org/.well-known/openid-configuration",
       "allowed_email_domains": ["school.example"]}


def test_single_sign_on_gate_when_auth_is_configured(
    database: Database, seeded: list[MinuteRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(monkeypatch, database.url, password="ignored-when-sso-is-set")
    at.secrets["auth"] = SSO
    at.user = {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.selectbox and not at.text_input
    at.user = {"is_logged_in": True, "name": "Ms Rivera", "email": "rivera@school.example",
               "email_verified": True}
    at.run()
    assert_no_error(at)
    assert "Signed in as Ms Rivera" in texts(at)["caption"]
    assert texts(at)["title"] == ["7B"]
