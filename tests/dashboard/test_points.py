"""A long range's points of several minutes on the real page (AppTest, PostgreSQL and SQLite):
whether faces were mostly read is judged per minute, so a point charts exactly its minutes that
pass, and the page counts exactly the minutes that fail."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pandas as pd
import pytest

from classpulse.db.writes import MinuteRow
from tests.dashboard import expected
from tests.dashboard.conftest import Database
from tests.dashboard.pages import assert_no_error, charts, choose_range, open_page, texts

START = datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)
MONDAY = date(2025, 3, 3)


def rows() -> list[MinuteRow]:
    """Two five-minute points. The first: four minutes of three faces a frame, all read (neutral),
    and one in which twenty more a frame were turned away (180 of 1380 read, sad). The second:
    four minutes of five a frame, all read, and one of three read (sad) and four turned away:
    180 of 420 read, though the point's faces were mostly read (1380 of 1620)."""
    out = [expected.row("cam", "pts", START + timedelta(minutes=i), 60, 3) for i in range(4)]
    out.append(expected.row("cam", "pts", START + timedelta(minutes=4), 60, 3, top="sad",
                            unread=(0, 20, 0)))
    out += [expected.row("cam", "pts", START + timedelta(minutes=i), 60, 5) for i in range(5, 9)]
    out.append(expected.row("cam", "pts", START + timedelta(minutes=9), 60, 3, top="sad",
                            unread=(0, 4, 0)))
    return out


def test_a_point_charts_its_mostly_read_minutes_and_the_page_counts_the_others(
    database: Database, monkeypatch: pytest.MonkeyPatch, downloads: list[dict[str, Any]]
) -> None:
    """Judged per point, the first point was left out whole ("5 minutes ... could not be read",
    four of them fully read) and the second drew the unread minute's sad faces."""
    expected.write(database.engine, rows())
    at = choose_range(open_page(monkeypatch, database.url), "pts", MONDAY - timedelta(days=1),
                      MONDAY, time(0, 0), time(23, 59))
    assert_no_error(at)
    shown = texts(at)
    assert any(c.endswith("each point covers 5 minutes.") for c in shown["caption"])
    assert not shown["warning"]  # 2280 of the period's 3720 faces were read
    assert any(c.startswith("2 minutes with at least 3 faces read at once are left out of the "
                            "charts") for c in shown["caption"]), shown["caption"]
    drawn = charts(at)
    engagement = drawn["Engagement index"]
    assert engagement["wall"].tolist() == [pd.Timestamp("2025-03-03 07:00"),
                                           pd.Timestamp("2025-03-03 07:05")]
    assert engagement["engagement"].tolist() == pytest.approx([0.72, 0.72])  # no sad face
    assert drawn["Faces in view and read per minute"]["faces_in_view"].tolist() == pytest.approx(
        [3.0, 5.0])
    mix = drawn["Emotion mix (share of faces read)"]
    assert mix[mix["emotion"] == "sad"]["share"].tolist() == [0.0, 0.0]
    (csv,) = [d for d in downloads if d["mimetype"] == "text/csv"]
    table = pd.read_csv(io.BytesIO(csv["data"]))
    assert table["minutes"].tolist() == [4, 4]
    assert table["faces_read"].tolist() == [4 * 180, 4 * 300]
    assert table["face_detections"].tolist() == [4 * 180, 4 * 300]


def test_the_day_table_and_the_heatmap_say_what_the_charts_say_of_the_same_minutes(
    database: Database, monkeypatch: pytest.MonkeyPatch, downloads: list[dict[str, Any]]
) -> None:
    """The ten minutes fall in one day and one hour: its row and its cell are made of the eight
    charted minutes, as the two points and the CSV are (engagement 0.72, 4.0 faces in view, no
    sad face), and count the two unread ones apart. Summed over every shown minute, the day said
    10 minutes, engagement 0.644, 6.2 faces in view."""
    expected.write(database.engine, rows())
    at = choose_range(open_page(monkeypatch, database.url), "pts", MONDAY, MONDAY, time(0, 0),
                      time(23, 59))
    assert_no_error(at)
    (csv,) = [d for d in downloads if d["mimetype"] == "text/csv"]
    table = pd.read_csv(io.BytesIO(csv["data"]))
    charted = table["minutes"].sum()
    assert charted == 8
    engagement = (table["engagement"] * table["faces_read"]).sum() / table["faces_read"].sum()
    faces_in_view = (table["faces_in_view"] * table["minutes"]).sum() / charted
    assert (engagement, faces_in_view) == pytest.approx((0.72, 4.0))

    (days,) = at.dataframe
    (day,) = days.value.to_dict("records")
    assert (day["day"], day["minutes"]) == (MONDAY, charted)
    assert (day["engagement"], day["faces_in_view"]) == pytest.approx((engagement, faces_in_view))
    assert (day["unread_minutes"], day["hidden_minutes"]) == (2, 0)
    assert (day["main_emotion"], day["main_share"]) == ("neutral", "100%")
    (cell,) = charts(at)["Engagement by hour of the week"].to_dict("records")
    assert (cell["weekday"], cell["hour"], cell["minutes"]) == ("Mon", 7, charted)
    assert (cell["engagement"], cell["faces_in_view"]) == pytest.approx(
        (engagement, faces_in_view))
