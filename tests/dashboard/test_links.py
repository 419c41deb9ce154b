"""Links of the live and date-range views on the real page (AppTest, PostgreSQL and SQLite): the
address holds the camera, the live window and the range's first and last minute, and opening it
again shows the same; a value the page cannot use is said in plain text and its default kept.
The lessons view's links are tested with that view (test_lessons.py)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from classpulse.db.seed import synthetic_minute_rows
from classpulse.db.writes import MinuteRow
from tests.dashboard import expected
from tests.dashboard.conftest import Database
from tests.dashboard.pages import assert_no_error, charts, choose_range, open_page, texts

START = datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)  # Monday 08:00 in Berlin
MONDAY = date(2025, 3, 3)
FACES_CHART = "Faces in view and read per minute"
BAD_LINK = "**This link could not be followed in full**"


@pytest.fixture
def seeded(database: Database) -> list[MinuteRow]:
    rows = list(synthetic_minute_rows(("7A", "7B"), 2, START, 180, seed=3))
    expected.write(database.engine, rows, {"7A": ("Class 7A", "Europe/Berlin")})
    return rows


def open_link(monkeypatch: pytest.MonkeyPatch, url: str, params: dict[str, str]) -> AppTest:
    at = open_page(monkeypatch, url)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def test_a_range_link_reopens_its_days_times_and_camera(
    database: Database, seeded: list[MinuteRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = choose_range(open_page(monkeypatch, database.url), "7A", MONDAY, MONDAY, time(8, 0),
                      time(9, 29))
    at.selectbox(key="camera").set_value("7A-cam2").run()
    assert_no_error(at)
    link = dict(at.query_params)
    assert link == {"classroom": "7A", "view": "range", "from": "2025-03-03T08:00",
                    "to": "2025-03-03T09:29", "camera": "7A-cam2"}
    drawn = charts(at)
    want = [m for m, w in expected.minutes(seeded, "7A", 3, camera="7A-cam2").items()
            if w["shown"] and m < START + timedelta(minutes=90)]
    assert len(drawn["Engagement index"]) == len(want) > 0

    again = open_link(monkeypatch, database.url, link)
    assert_no_error(again)
    assert not texts(again)["warning"] and not texts(again)["text"]
    assert again.radio(key="mode").value == "Date range"
    assert again.date_input(key="days").value == (MONDAY, MONDAY)
    assert (again.time_input(key="from_time").value,
            again.time_input(key="to_time").value) == (time(8, 0), time(9, 29))
    assert again.selectbox(key="camera").value == "7A-cam2"
    assert texts(again)["title"] == ["Class 7A – camera 7A-cam2"]
    assert again.query_params == link
    reopened = charts(again)
    assert reopened.keys() == drawn.keys()
    for title, data in drawn.items():
        pd.testing.assert_frame_equal(reopened[title], data)


def test_a_range_over_several_days_keeps_both_days(
    database: Database, seeded: list[MinuteRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    link = {"classroom": "7B", "view": "range", "from": "2025-02-27T13:15",
            "to": "2025-03-03T07:44"}
    at = open_link(monkeypatch, database.url, link)
    assert_no_error(at)
    assert at.date_input(key="days").value == (date(2025, 2, 27), MONDAY)
    assert (at.time_input(key="from_time").value,
            at.time_input(key="to_time").value) == (time(13, 15), time(7, 44))
    assert at.selectbox(key="camera").value is None  # the whole classroom
    assert at.query_params == link
    # 7B keeps UTC: its 45 minutes from 07:00 to 07:44, drawn in 15-minute points
    assert any(c.startswith("Thu 27 Feb 2025 13:15 – Mon 03 Mar 2025 07:45 (UTC); each point "
                            "covers 15 minutes") for c in texts(at)["caption"])


def test_a_live_link_reopens_its_window_and_camera(
    database: Database, seeded: list[MinuteRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    link = {"classroom": "7B", "view": "live", "minutes": "35", "camera": "7B-cam1"}
    at = open_link(monkeypatch, database.url, link)
    assert_no_error(at)
    assert not texts(at)["warning"] and not texts(at)["text"]
    assert at.radio(key="mode").value == "Live"
    assert at.slider(key="live_minutes").value == 35
    assert at.selectbox(key="camera").value == "7B-cam1"
    assert texts(at)["title"] == ["7B – camera 7B-cam1"]
    assert at.query_params == link
    (live,) = [c for c in texts(at)["caption"] if c.startswith("Live: ")]
    clock = re.findall(r"\b[0-9]{2}:[0-9]{2}\b", live)  # the window's first and last minute
    start, end = (datetime.strptime(t, "%H:%M") for t in (clock[0], clock[-1]))
    assert (end - start) % timedelta(days=1) == timedelta(minutes=35)
    at.slider(key="live_minutes").set_value(20).run()
    at.selectbox(key="camera").set_value(None).run()
    assert at.query_params == {"classroom": "7B", "view": "live", "minutes": "20"}


WINDOW = "is not a live window the page offers (whole minutes from 10 to 240, in steps of 5)"
WHEN = "is not a local date and time YYYY-MM-DDTHH:MM"
SKIPPED = "never happens in Europe/Berlin: the clocks skip it when they go forward, so the range"


@pytest.mark.parametrize(("params", "problems"), [
    ({"minutes": "7"}, [f"minutes='7' {WINDOW}"]),
    ({"minutes": "17"}, [f"minutes='17' {WINDOW}"]),
    ({"minutes": "²"}, [f"minutes='²' {WINDOW}"]),
    ({"minutes": "9" * 5000}, [f"minutes={'9' * 40!r}… (5000 characters) {WINDOW}"]),
    ({"camera": "**nowhere**"}, ["camera='**nowhere**' is not a camera of classroom '7A'"]),
    ({"camera": "7B-cam1"}, ["camera='7B-cam1' is not a camera of classroom '7A'"]),
    ({"view": "range", "from": "2025-03-03T08:00"},
     ["from='2025-03-03T08:00' needs to= too: a range runs from one local day and time to "
      "another"]),
    ({"view": "range", "from": "2025-03-03T25:00", "to": "2025-03-03 09:00"},
     [f"from='2025-03-03T25:00' {WHEN}", f"to='2025-03-03 09:00' {WHEN}"]),
    ({"view": "range", "from": "9999-12-31T23:00", "to": "9999-12-31T23:59"},
     ["from='9999-12-31T23:00' is outside the days the page shows (2000 to 2099)",
      "to='9999-12-31T23:59' is outside the days the page shows (2000 to 2099)"]),
    ({"view": "range", "from": "2025-03-03T09:00", "to": "2025-03-03T08:59"},
     ["to='2025-03-03T08:59' is before from='2025-03-03T09:00'"]),
    # 02:10 to 02:50 the night Berlin's clocks go forward: both the jump, 03:00, an empty range
    ({"view": "range", "from": "2025-03-30T02:10", "to": "2025-03-30T02:50"},
     ["from='2025-03-30T02:10' to='2025-03-30T02:50' never happens in Europe/Berlin: the "
      "clocks skip that hour when they go forward"]),
], ids=["too-short", "off-step", "superscript", "5000-digits", "unknown-camera",
        "other-classrooms-camera", "from-alone", "malformed", "year-9999", "backwards",
        "both-in-the-spring-gap"])
def test_values_the_page_cannot_use_are_said_and_their_defaults_kept(
    database: Database, seeded: list[MinuteRow], monkeypatch: pytest.MonkeyPatch,
    params: dict[str, str], problems: list[str]
) -> None:
    at = open_link(monkeypatch, database.url, {"classroom": "7A", **params})
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning.startswith(BAD_LINK)
    assert texts(at)["text"] == problems  # plain text: the address's characters as typed
    assert at.selectbox(key="camera").value is None
    if at.radio(key="mode").value == "Live":
        assert at.slider(key="live_minutes").value == 60
        assert at.query_params == {"classroom": "7A", "view": "live", "minutes": "60"}
        return
    first, last = at.date_input(key="days").value
    assert last - first == timedelta(days=6)  # the last seven days, whole days
    assert (at.time_input(key="from_time").value,
            at.time_input(key="to_time").value) == (time(0, 0), time(23, 59))
    assert at.query_params == {"classroom": "7A", "view": "range",
                                         "from": f"{first.isoformat()}T00:00",
                                         "to": f"{last.isoformat()}T23:59"}


def test_a_camera_moved_to_another_classroom_is_picked_there(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The camera "roam" first reported in 7A (where ``cameras`` registers it), then moved to 7B:
    7B's camera select offers it, and picking it, or a link to it, charts its minutes in 7B."""
    rows = [expected.row("roam", "7A", START + timedelta(minutes=i), 60, 6) for i in range(3)]
    rows += [expected.row("front", "7B", START + timedelta(minutes=i), 60, 5)
             for i in range(10, 13)]
    rows += [expected.row("roam", "7B", START + timedelta(minutes=i), 60, 4, top="sad")
             for i in range(10, 13)]
    expected.write(database.engine, rows)
    at = choose_range(open_page(monkeypatch, database.url), "7B", MONDAY, MONDAY, time(7, 0),
                      time(7, 59))
    assert at.selectbox(key="camera").options == ["All cameras", "front", "roam"]
    at.selectbox(key="camera").set_value("roam").run()
    assert_no_error(at)
    assert texts(at)["title"] == ["7B – camera roam"]
    assert charts(at)[FACES_CHART]["faces_in_view"].tolist() == [4.0] * 3
    mix = charts(at)["Emotion mix (share of faces read)"]
    assert mix[mix["emotion"] == "sad"]["share"].tolist() == [1.0] * 3
    link = dict(at.query_params)
    assert link["camera"] == "roam"
    again = open_link(monkeypatch, database.url, link)
    assert_no_error(again)
    assert not texts(again)["text"] and again.selectbox(key="camera").value == "roam"
    assert charts(again)[FACES_CHART]["faces_in_view"].tolist() == [4.0] * 3


def test_a_links_camera_is_one_of_its_own_period(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Roam reported in 7A on Monday, then in 7B on Tuesday. A link to 7B's Tuesday offers it
    and opens it; one to 7B's Monday, before it came, names it as no camera of 7B there (it was
    checked against 7B's whole history), and so does one to 7A's live view: it moved away."""
    rows = [expected.row("roam", "7A", START + timedelta(minutes=i), 60, 6) for i in range(3)]
    rows += [expected.row(cam, "7B", START + timedelta(days=1, minutes=i), 60, 4)
             for cam in ("front", "roam") for i in range(3)]
    expected.write(database.engine, rows)
    tuesday = {"classroom": "7B", "view": "range", "from": "2025-03-04T07:00",
               "to": "2025-03-04T07:59", "camera": "roam"}
    at = open_link(monkeypatch, database.url, tuesday)
    assert_no_error(at)
    assert not texts(at)["text"] and at.selectbox(key="camera").value == "roam"
    assert charts(at)[FACES_CHART]["faces_in_view"].tolist() == [4.0] * 3
    for link in ({**tuesday, "from": "2025-03-03T07:00", "to": "2025-03-03T07:59"},
                 {"classroom": "7A", "view": "live", "minutes": "60", "camera": "roam"}):
        at = open_link(monkeypatch, database.url, link)
        assert_no_error(at)
        assert texts(at)["text"] == [
            f"camera='roam' is not a camera of classroom '{link['classroom']}'"]
        assert at.selectbox(key="camera").value is None


@pytest.mark.parametrize(("link_from", "link_to", "said", "first", "last"), [
    ("2025-03-30T02:30", "2025-03-30T03:10", [f"from='2025-03-30T02:30' {SKIPPED} starts when "
                                              "they do, at 03:00 (CEST)"], "01:00", "01:10"),
    ("2025-03-30T01:00", "2025-03-30T02:00", [f"to='2025-03-30T02:00' {SKIPPED} ends when they "
                                              "do, at 03:00 (CEST)"], "00:00", "00:59"),
], ids=["from-in-the-spring-gap", "to-in-the-spring-gap"])
def test_a_range_in_the_hour_the_clocks_skip_reads_it_as_the_sidebar_does(
    database: Database, monkeypatch: pytest.MonkeyPatch, link_from: str, link_to: str,
    said: list[str], first: str, last: str
) -> None:
    """02:30 never happens in Berlin on 30 March 2025 (CET 02:00 is CEST 03:00). The sidebar
    reads it as the jump, and a link the page wrote for it would not open again: the link now
    reads it the same way, and says so. Minutes charted are UTC (01:00 UTC is 03:00 CEST)."""
    night = datetime(2025, 3, 29, 23, 0, tzinfo=timezone.utc)  # 00:00 CET
    expected.write(database.engine,
                   [expected.row("cam", "7A", night + timedelta(minutes=i), 60, 5)
                    for i in range(180)], {"7A": ("Class 7A", "Europe/Berlin")})
    link = {"classroom": "7A", "view": "range", "from": link_from, "to": link_to}
    at = open_link(monkeypatch, database.url, link)
    assert_no_error(at)
    assert texts(at)["text"] == said
    assert at.query_params == link  # the address stays as given, and opens the same again
    utc = charts(at)["Engagement index"]["utc"]
    assert (utc.iloc[0], utc.iloc[-1]) == (pd.Timestamp(f"2025-03-30 {first}"),
                                           pd.Timestamp(f"2025-03-30 {last}"))


def test_a_range_in_the_hour_the_clocks_repeat_takes_the_first_and_says_so(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """02:30 happens twice in Berlin on 26 October 2025 (CEST, then CET): the range starts at the
    first, as every period of the page does (00:30 UTC), and the page says which it took."""
    night = datetime(2025, 10, 26, 0, 0, tzinfo=timezone.utc)  # 02:00 CEST
    expected.write(database.engine,
                   [expected.row("cam", "7A", night + timedelta(minutes=i), 60, 5)
                    for i in range(180)], {"7A": ("Class 7A", "Europe/Berlin")})
    link = {"classroom": "7A", "view": "range", "from": "2025-10-26T02:30",
            "to": "2025-10-26T03:29"}
    at = open_link(monkeypatch, database.url, link)
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning.startswith(BAD_LINK)
    assert texts(at)["text"] == [
        "from='2025-10-26T02:30' happens twice in Europe/Berlin, the night the clocks go back: "
        "the first is used (2025-10-26T02:30+02:00, CEST)"]
    assert (at.time_input(key="from_time").value,
            at.time_input(key="to_time").value) == (time(2, 30), time(3, 29))
    assert at.query_params == link
    # from the first 02:30 (00:30 UTC) to 03:29 CET (02:29 UTC): two hours of minutes
    utc = charts(at)["Engagement index"]["utc"]
    assert (utc.iloc[0], utc.iloc[-1], len(utc)) == (
        pd.Timestamp("2025-10-26 00:30"), pd.Timestamp("2025-10-26 02:29"), 120)


@pytest.mark.parametrize(("day", "start", "end", "said", "first", "minutes"), [
    # Berlin's clocks go forward at 02:00 CET on 30 March 2025: from 02:30 is from 03:00 CEST
    (date(2025, 3, 30), time(2, 30), time(3, 29),
     ["Sun 30 Mar 2025 02:30 never happens in Europe/Berlin: the clocks skip it when they go "
      "forward, so the range starts when they do, at 03:00 (CEST)."], "01:00", 30),
    # and back at 03:00 CEST on 26 October 2025: 02:15 to 02:45 is the first of the two
    (date(2025, 10, 26), time(2, 15), time(2, 45),
     ["Sun 26 Oct 2025 02:15 happens twice in Europe/Berlin, the night the clocks go back: "
      "the first (02:15 CEST) is used.",
      "Sun 26 Oct 2025 02:45 happens twice in Europe/Berlin, the night the clocks go back: "
      "the first (02:45 CEST) is used."], "00:15", 31),
], ids=["spring-gap", "autumn-repeat"])
def test_a_range_picked_in_the_sidebar_at_a_clock_change_says_how_it_was_read(
    database: Database, monkeypatch: pytest.MonkeyPatch, day: date, start: time, end: time,
    said: list[str], first: str, minutes: int
) -> None:
    """A link's times at a clock change were said, the same times picked in the sidebar were
    read the same way in silence: 02:15-02:45 the night the clocks go back charted the first
    half hour, never the second, and nothing said which."""
    night = datetime.combine(day, time(0), tzinfo=timezone.utc) - timedelta(hours=1)
    expected.write(database.engine,
                   [expected.row("cam", "7A", night + timedelta(minutes=i), 60, 5)
                    for i in range(300)], {"7A": ("Class 7A", "Europe/Berlin")})
    at = choose_range(open_page(monkeypatch, database.url), "7A", day, day, start, end)
    assert_no_error(at)
    assert [c for c in texts(at)["caption"] if "clocks" in c] == said
    utc = charts(at)["Engagement index"]["utc"]
    assert (utc.iloc[0], len(utc)) == (pd.Timestamp(f"{day} {first}"), minutes)


@pytest.mark.parametrize(("params", "ignored", "mode"), [
    ({"view": "lessons", "camera": "nope"},
     "camera='nope' is ignored: the lessons view does not use it", "Lessons"),
    ({"view": "lessons", "camera": "7A-cam1", "minutes": "35"},
     "camera='7A-cam1', minutes='35' are ignored: the lessons view does not use them", "Lessons"),
    ({"view": "range", "from": "2025-03-03T08:00", "to": "2025-03-03T09:29", "minutes": "35"},
     "minutes='35' is ignored: the range view does not use it", "Date range"),
    ({"view": "live", "from": "2025-03-03T08:00", "to": "2025-03-03T09:29", "week": "2025-03-10"},
     "week='2025-03-10', from='2025-03-03T08:00', to='2025-03-03T09:29' are ignored: the live "
     "view does not use them", "Live"),
    ({"from": "2025-03-03T08:00", "to": "9999"},  # no view: the live view, which has no range
     "from='2025-03-03T08:00', to='9999' are ignored: the live view does not use them", "Live"),
], ids=["bad-camera-on-lessons", "camera-and-window-on-lessons", "window-on-a-range",
        "range-and-week-on-live", "range-on-the-default-view"])
def test_values_of_another_view_are_ignored_and_never_come_back(
    database: Database, seeded: list[MinuteRow], monkeypatch: pytest.MonkeyPatch,
    params: dict[str, str], ignored: str, mode: str
) -> None:
    """A value the linked view does not use is neither checked nor kept, and one line says so:
    switching to the view that uses it shows that view's default, not the link's value."""
    at = open_link(monkeypatch, database.url, {"classroom": "7A", **params})
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning.startswith(BAD_LINK)
    assert texts(at)["text"] == [ignored]
    assert at.radio(key="mode").value == mode
    if mode == "Date range":  # what the range view uses was applied
        assert at.date_input(key="days").value == (MONDAY, MONDAY)
    at.radio(key="mode").set_value("Live").run()
    assert at.selectbox(key="camera").value is None
    assert at.slider(key="live_minutes").value == 60
    at.radio(key="mode").set_value("Date range").run()
    first, last = at.date_input(key="days").value
    if mode != "Date range":
        assert last - first == timedelta(days=6)  # the last seven days, whole days
        assert (at.time_input(key="from_time").value,
                at.time_input(key="to_time").value) == (time(0, 0), time(23, 59))
    at.radio(key="mode").set_value("Lessons").run()
    assert_no_error(at)
    assert at.query_params["week"] != "2025-03-10"  # this week, not the live link's
