"""Chart specs: emotion order and colours, wall-clock time on a UTC scale, breaks at gaps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd

from classpulse.emotions import EMOTIONS
from dashboard import charts, transform
from dashboard.sql import BUCKET_COLUMNS

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)


def series(minutes: list[int]) -> pd.DataFrame:
    """A shown minute (10 faces in view, all neutral) at each offset from START."""
    rows = []
    for offset in minutes:
        row = dict.fromkeys(BUCKET_COLUMNS, 0)
        row.update(bucket_start=int((START + timedelta(minutes=offset)).timestamp()), minutes=1,
                   faces=100, faces_in_view=10.0, engagement_sum=72.0, n_neutral=100)
        rows.append(row)
    return transform.series(pd.DataFrame(rows, columns=list(BUCKET_COLUMNS)), BERLIN)


def test_emotions_keep_their_order_and_colours() -> None:
    spec = charts.emotion_mix_chart(series([0, 1]), charts.TimeAxis(60)).to_dict()
    colour = spec["encoding"]["color"]
    assert colour["scale"]["domain"] == list(EMOTIONS)
    assert colour["scale"]["range"] == [charts.EMOTION_COLORS[e] for e in EMOTIONS]
    assert spec["encoding"]["y"]["stack"] == "zero"
    assert len(set(charts.EMOTION_COLORS.values())) == 7


def test_time_is_the_wall_clock_on_a_utc_scale() -> None:
    chart = charts.engagement_chart(series([0, 1]), charts.TimeAxis(60))
    spec = chart.to_dict()
    x = spec["layer"][0]["encoding"]["x"]
    assert (x["field"], x["scale"]["type"], x["axis"]["format"]) == ("wall", "utc", "%H:%M")
    walls = chart.data["wall"].tolist()
    # 07:00 UTC is 08:00 in Berlin; the chart gets 08:00 without a zone
    assert walls == [pd.Timestamp("2025-03-03 08:00"), pd.Timestamp("2025-03-03 08:01"),
                     pd.Timestamp("2025-03-03 08:02")]


def test_lines_break_where_buckets_are_missing() -> None:
    gapped = charts.with_gaps(series([0, 1, 5]), 60)
    missing = gapped[gapped["engagement"].isna()]["time"].dt.strftime("%H:%M").tolist()
    assert missing == ["08:02", "08:06"]
    assert gapped["engagement"].notna().sum() == 3


def test_the_axis_follows_the_span() -> None:
    assert charts.TimeAxis.for_period(timedelta(hours=3), 60) == charts.TimeAxis(60, "%H:%M")
    week = charts.TimeAxis.for_period(timedelta(days=7), 900)
    assert (week.label_format, week.tick_interval) == ("%a %d %b", "day")
    year = charts.TimeAxis.for_period(timedelta(days=365), 3600)
    assert (year.label_format, year.tick_interval) == ("%b %Y", "month")
    tick = year.encoding().to_dict()["axis"]["tickCount"]
    assert tick == {"interval": "month", "step": 1}


def test_heatmap_has_every_weekday_and_hour_slot() -> None:
    cells = pd.DataFrame({"iso_dow": [1], "weekday": ["Mon"], "hour": [8], "minutes": [60],
                          "faces_in_view": [12.0], "engagement": [0.5]})
    spec = charts.hour_of_week_chart(cells).to_dict()
    assert spec["encoding"]["y"]["scale"]["domain"] == list(transform.WEEKDAYS)
    assert spec["encoding"]["x"]["scale"]["domain"] == list(range(24))
