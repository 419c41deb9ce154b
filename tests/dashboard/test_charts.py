"""Chart specs: emotion order and colours, wall-clock time on a UTC scale, breaks at gaps, the axis
spanning the window asked for with one label per tick, and lone minutes drawn."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from classpulse.emotions import EMOTIONS
from dashboard import charts, transform
from dashboard.periods import live_period
from dashboard.sql import BUCKET_COLUMNS

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)


def when(value: dict) -> pd.Timestamp:
    """A Vega-Lite DateTime of the spec as the wall-clock time it names."""
    assert value["utc"] is True
    return pd.Timestamp(year=value["year"], month=value["month"], day=value["date"],
                        hour=value["hours"], minute=value["minutes"], second=value["seconds"])


def axis(minutes: int = 60) -> charts.TimeAxis:
    """The axis of a window of ``minutes`` from START (08:00 in Berlin)."""
    start = START.astimezone(BERLIN)
    return charts.TimeAxis.for_window(start, start + timedelta(minutes=minutes), 60)


def series(minutes: list[int]) -> pd.DataFrame:
    """A shown minute (10 faces in view, all neutral) at each offset from START."""
    rows = []
    for offset in minutes:
        row = dict.fromkeys(BUCKET_COLUMNS, 0)
        row.update(bucket_start=int((START + timedelta(minutes=offset)).timestamp()), minutes=1,
                   faces=100, faces_read=100, faces_in_view=10.0, faces_read_in_view=10.0,
                   engagement_sum=72.0, n_neutral=100, seen_faces=100, seen_read=100)
        rows.append(row)
    return transform.series(pd.DataFrame(rows, columns=list(BUCKET_COLUMNS)), BERLIN)


def test_emotions_keep_their_order_and_colours() -> None:
    spec = charts.emotion_mix_chart(series([0, 1]), axis()).to_dict()
    colour = spec["encoding"]["color"]
    assert colour["scale"]["domain"] == list(EMOTIONS)
    assert colour["scale"]["range"] == [charts.EMOTION_COLORS[e] for e in EMOTIONS]
    assert spec["encoding"]["y"]["stack"] == "zero"
    assert len(set(charts.EMOTION_COLORS.values())) == 7


def test_time_is_the_wall_clock_on_a_utc_scale() -> None:
    chart = charts.engagement_chart(series([0, 1]), axis())
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


@pytest.mark.parametrize("span", [
    timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=45), timedelta(hours=1),
    timedelta(hours=2), timedelta(hours=3), timedelta(hours=4), timedelta(hours=7),
    timedelta(hours=12), timedelta(days=1), timedelta(days=3), timedelta(days=7),
    timedelta(days=14), timedelta(days=30), timedelta(days=120), timedelta(days=365),
    timedelta(days=1000),
])
def test_every_tick_is_labelled_once_at_a_sensible_step(span: timedelta) -> None:
    """The ticks the axis lists carry distinct labels, lie in the window, at round times, and are
    enough to read the axis and few enough to fit it."""
    start = datetime(2025, 3, 3, 8, 7, tzinfo=BERLIN)
    time_axis = charts.TimeAxis.for_window(start, start + span, 60)
    x = time_axis.encoding().to_dict()
    lo, hi = (when(v) for v in x["scale"]["domain"])
    ticks = [when(v) for v in x["axis"]["values"]]
    labels = [t.strftime(x["axis"]["format"]) for t in ticks]
    assert len(set(labels)) == len(labels), labels
    assert 4 <= len(labels) <= 15, (span, labels)
    assert all(lo <= t <= hi for t in ticks)
    step = time_axis.tick_step if time_axis.tick_unit == "minute" else 60  # round times
    assert all(t.second == 0 and t.minute % step == 0 for t in ticks), ticks
    assert hi - lo == span


def test_the_axis_spans_the_window_asked_for() -> None:
    """The live view's axis covers the slider's whole window, even with one minute of data."""
    now = datetime(2025, 3, 3, 9, 41, 30, tzinfo=timezone.utc)
    period = live_period(now, 60, BERLIN)
    x = charts.engagement_chart(series([100]), charts.TimeAxis.for_period(period)).to_dict()[
        "layer"][0]["encoding"]["x"]
    lo, hi = (when(v) for v in x["scale"]["domain"])
    assert (hi - lo) == timedelta(hours=1) and x["scale"]["nice"] is False
    assert hi == pd.Timestamp("2025-03-03 10:41")  # Berlin's wall clock; 09:41 UTC is under way
    assert [when(v) for v in x["axis"]["values"][:2]] == [pd.Timestamp("2025-03-03 09:45"),
                                                          pd.Timestamp("2025-03-03 09:50")]
    year = charts.TimeAxis.for_window(now, now + timedelta(days=365), 3600)
    assert (year.label_format, year.tick_unit) == ("%b %Y", "month")


def test_a_lone_minute_is_drawn_in_every_chart() -> None:
    lone = series([0])
    mix = charts.emotion_mix_chart(lone, axis())
    neutral = mix.data[(mix.data["emotion"] == "neutral") & mix.data["share"].notna()]
    # the bucket and its closing copy: a step one minute wide (less a second), not a zero width
    assert neutral["wall"].tolist() == [pd.Timestamp("2025-03-03 08:00"),
                                        pd.Timestamp("2025-03-03 08:00:59")]
    assert neutral["edge"].tolist() == [False, True]
    faces = charts.faces_chart(lone, axis()).data
    assert faces["faces_in_view"].notna().sum() == 2
    engagement = charts.engagement_chart(lone, axis())
    dots = engagement.to_dict()["layer"][2]
    assert dots["mark"]["type"] == "circle" and "isolated" in str(dots["transform"])
    assert engagement.data["isolated"].tolist() == [True, False]  # the minute, then its break


def test_only_minutes_without_neighbours_get_a_dot() -> None:
    frame = series([0, 1, 2, 5, 9, 10])
    assert charts.isolated(frame, 60).tolist() == [False, False, False, True, False, False]


def test_heatmap_has_every_weekday_and_hour_slot() -> None:
    cells = pd.DataFrame({"iso_dow": [1], "weekday": ["Mon"], "hour": [8], "minutes": [60],
                          "faces_in_view": [12.0], "engagement": [0.5]})
    spec = charts.hour_of_week_chart(cells).to_dict()
    assert spec["encoding"]["y"]["scale"]["domain"] == list(transform.WEEKDAYS)
    assert spec["encoding"]["x"]["scale"]["domain"] == list(range(24))


def test_the_mix_tooltip_never_rounds_a_share_to_all_or_nothing() -> None:
    """299 of 300 faces read happy, one neutral: the tooltip says ">99%" and "<1%"."""
    row = dict.fromkeys(BUCKET_COLUMNS, 0)
    row.update(bucket_start=int(START.timestamp()), minutes=1, faces=300, faces_read=300,
               faces_in_view=5.0, faces_read_in_view=5.0, engagement_sum=200.0, n_happy=299,
               n_neutral=1, seen_faces=300, seen_read=300)
    shown = transform.series(pd.DataFrame([row], columns=list(BUCKET_COLUMNS)), BERLIN)
    chart = charts.emotion_mix_chart(shown, axis())
    tooltip = chart.to_dict()["encoding"]["tooltip"]
    assert {"field": "share_text", "type": "nominal", "title": "share"} in tooltip
    drawn = chart.data[~chart.data["edge"] & chart.data["share"].notna()]  # not a gap's break
    data = drawn.set_index("emotion")["share_text"]
    assert (data["happy"], data["neutral"], data["angry"]) == (">99%", "<1%", "0%")
