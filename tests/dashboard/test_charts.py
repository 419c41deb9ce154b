"""Chart specs: emotion order and colours, instants on a UTC scale labelled with the wall clock,
breaks at gaps, the axis spanning the window asked for with one label per tick (the night the
clocks go back too), and lone minutes drawn."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from classpulse.emotions import EMOTIONS
from dashboard import charts, transform
from dashboard.periods import MINUTE_CLOSES_AFTER, live_period
from dashboard.sql import BUCKET_COLUMNS

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)


PARIS = ZoneInfo("Europe/Paris")
# 03:00 summer time in Paris, when the clocks go back to 02:00 on Sunday 26 October 2025
CLOCKS_BACK = datetime(2025, 10, 26, 1, 0, tzinfo=timezone.utc)
LABEL_LOOKUP = re.compile(r"(\[.*?\])\[indexof\((\[.*?\]), time\(datum\.value\)\)\]")


def when(value: dict) -> pd.Timestamp:
    """A Vega-Lite DateTime of the spec as the UTC instant it names (naive)."""
    assert value["utc"] is True
    return pd.Timestamp(year=value["year"], month=value["month"], day=value["date"],
                        hour=value["hours"], minute=value["minutes"], second=value["seconds"])


def naive_utc(moment: datetime) -> pd.Timestamp:
    return pd.Timestamp(moment.astimezone(timezone.utc)).tz_localize(None)


def tick_labels(x: dict) -> list[tuple[pd.Timestamp, str]]:
    """Each tick an x channel lists (a naive UTC instant) with the label its ``labelExpr`` gives
    it, found by the tick's epoch milliseconds as Vega finds it."""
    found = LABEL_LOOKUP.fullmatch(x["axis"]["labelExpr"])
    assert found, x["axis"]["labelExpr"]
    labels, epoch_ms = json.loads(found[1]), json.loads(found[2])
    ticks = [when(v) for v in x["axis"]["values"]]
    by_ms = dict(zip(epoch_ms, labels, strict=True))
    return [(t, by_ms[(t - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1)]) for t in ticks]


def axis(minutes: int = 60) -> charts.TimeAxis:
    """The axis of a window of ``minutes`` from START (08:00 in Berlin)."""
    start = START.astimezone(BERLIN)
    return charts.TimeAxis.for_window(start, start + timedelta(minutes=minutes), 60)


def series(minutes: list[int], start: datetime = START,
           zone: ZoneInfo = BERLIN) -> pd.DataFrame:
    """A shown minute (10 faces in view, all neutral) at each offset from ``start``."""
    rows = []
    for offset in minutes:
        row = dict.fromkeys(BUCKET_COLUMNS, 0)
        row.update(bucket_start=int((start + timedelta(minutes=offset)).timestamp()), readable=1,
                   minutes=1, faces=100, faces_read=100, faces_in_view=10.0,
                   faces_read_in_view=10.0, engagement_sum=72.0, n_neutral=100, seen_faces=100,
                   seen_read=100)
        rows.append(row)
    return transform.series(pd.DataFrame(rows, columns=list(BUCKET_COLUMNS)), zone)


def test_emotions_keep_their_order_and_colours() -> None:
    spec = charts.emotion_mix_chart(series([0, 1]), axis()).to_dict()
    colour = spec["encoding"]["color"]
    assert colour["scale"]["domain"] == list(EMOTIONS)
    assert colour["scale"]["range"] == [charts.EMOTION_COLORS[e] for e in EMOTIONS]
    assert spec["encoding"]["y"]["stack"] == "zero"
    assert len(set(charts.EMOTION_COLORS.values())) == 7


def test_points_are_instants_on_a_utc_scale_labelled_with_the_wall_clock() -> None:
    chart = charts.engagement_chart(series([0, 1]), axis())
    spec = chart.to_dict()
    x = spec["layer"][0]["encoding"]["x"]
    assert (x["field"], x["scale"]["type"]) == ("utc", "utc")
    assert chart.data["utc"].tolist() == [pd.Timestamp("2025-03-03 07:00"),
                                          pd.Timestamp("2025-03-03 07:01"),
                                          pd.Timestamp("2025-03-03 07:02")]
    # 07:00 UTC is 08:00 in Berlin: the tooltips' field and the axis's labels say 08:00
    assert chart.data["wall"].tolist() == [pd.Timestamp("2025-03-03 08:00"),
                                           pd.Timestamp("2025-03-03 08:01"),
                                           pd.Timestamp("2025-03-03 08:02")]
    assert tick_labels(x)[0] == (pd.Timestamp("2025-03-03 07:00"), "08:00")


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
    ticks, labels = zip(*tick_labels(x), strict=True)
    assert len(set(labels)) == len(labels), labels
    assert 4 <= len(labels) <= 15, (span, labels)
    assert all(lo <= t <= hi for t in ticks)
    local = [t.tz_localize("UTC").tz_convert(BERLIN.key) for t in ticks]
    assert list(labels) == [t.strftime(time_axis.label_format) for t in local]
    step = time_axis.tick_step if time_axis.tick_unit == "minute" else 60  # round times
    assert all(t.second == 0 and t.minute % step == 0 for t in local), local
    assert (lo, hi) == (naive_utc(start), naive_utc(start + span))  # March 30 is an hour short


def test_the_axis_spans_the_window_asked_for() -> None:
    """The live view's axis covers the slider's whole window, even with one minute of data."""
    now = datetime(2025, 3, 3, 9, 41, 30, tzinfo=timezone.utc) + MINUTE_CLOSES_AFTER
    period = live_period(now, 60, BERLIN)
    x = charts.engagement_chart(series([100]), charts.TimeAxis.for_period(period)).to_dict()[
        "layer"][0]["encoding"]["x"]
    lo, hi = (when(v) for v in x["scale"]["domain"])
    assert (hi - lo) == timedelta(hours=1) and x["scale"]["nice"] is False
    assert hi == pd.Timestamp("2025-03-03 09:41")  # 10:41 in Berlin; 09:41 UTC is under way
    assert tick_labels(x)[:2] == [(pd.Timestamp("2025-03-03 08:45"), "09:45"),
                                  (pd.Timestamp("2025-03-03 08:50"), "09:50")]
    year = charts.TimeAxis.for_window(now, now + timedelta(days=365), 3600)
    assert (year.label_format, year.tick_unit) == ("%b %Y", "month")


def test_the_axis_spans_the_window_the_night_the_clocks_go_back() -> None:
    """A live hour up to 01:31 UTC: from 02:31 summer time to 02:31 winter time in Paris. Its span
    was taken on the wall clock, none at all; its ticks run on through the repeated hour, each
    labelled with the time the clocks showed."""
    period = live_period(CLOCKS_BACK + timedelta(minutes=31, seconds=30) + MINUTE_CLOSES_AFTER,
                         60, PARIS)
    time_axis = charts.TimeAxis.for_period(period)
    assert (time_axis.tick_unit, time_axis.tick_step) == ("minute", 5)  # as for any hour
    x = time_axis.encoding().to_dict()
    lo, hi = (when(v) for v in x["scale"]["domain"])
    assert (lo, hi) == (pd.Timestamp("2025-10-26 00:31"), pd.Timestamp("2025-10-26 01:31"))
    ticks, labels = zip(*tick_labels(x), strict=True)
    assert list(ticks) == [pd.Timestamp("2025-10-26 00:35") + timedelta(minutes=5 * i)
                           for i in range(12)]
    assert list(labels) == ["02:35", "02:40", "02:45", "02:50", "02:55", "02:00", "02:05",
                            "02:10", "02:15", "02:20", "02:25", "02:30"]


def test_the_repeated_hour_is_drawn_after_the_first_not_on_it() -> None:
    """02:10 summer time and 02:10 winter time, an hour apart: two points, one share each, where
    the wall clock drew them in one place and the mix stacked to 200%."""
    frame = series([-50, 10], start=CLOCKS_BACK, zone=PARIS)
    period = live_period(CLOCKS_BACK + timedelta(minutes=31) + MINUTE_CLOSES_AFTER, 120, PARIS)
    chart = charts.emotion_mix_chart(frame, charts.TimeAxis.for_period(period))
    assert chart.to_dict()["encoding"]["x"]["field"] == "utc"
    drawn = chart.data[~chart.data["edge"] & chart.data["share"].notna()]
    assert drawn.groupby("utc")["share"].sum().tolist() == [1.0, 1.0]
    assert drawn.groupby("utc")["wall"].first().tolist() == [pd.Timestamp("2025-10-26 02:10")] * 2


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
    row.update(bucket_start=int(START.timestamp()), readable=1, minutes=1, faces=300,
               faces_read=300,
               faces_in_view=5.0, faces_read_in_view=5.0, engagement_sum=200.0, n_happy=299,
               n_neutral=1, seen_faces=300, seen_read=300)
    shown = transform.series(pd.DataFrame([row], columns=list(BUCKET_COLUMNS)), BERLIN)
    chart = charts.emotion_mix_chart(shown, axis())
    tooltip = chart.to_dict()["encoding"]["tooltip"]
    assert {"field": "share_text", "type": "nominal", "title": "share"} in tooltip
    drawn = chart.data[~chart.data["edge"] & chart.data["share"].notna()]  # not a gap's break
    data = drawn.set_index("emotion")["share_text"]
    assert (data["happy"], data["neutral"], data["angry"]) == (">99%", "<1%", "0%")
