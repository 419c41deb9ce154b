"""Altair charts built from the frames of :mod:`dashboard.transform`; no queries, no Streamlit.

Times are drawn in the classroom's wall clock whatever the viewer's browser zone: the frames carry
aware local times, the charts get the naive wall clock on a UTC scale (Vega-Lite would otherwise
shift every axis to the browser's zone). Where no bucket was shown (nights, weekends, hidden
minutes) the lines and areas break instead of bridging the gap, so nothing is drawn for times
nobody was measured. Emotions keep EMOTIONS order and one colour each, in every chart and legend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType

import altair as alt
import pandas as pd

from classpulse.emotions import EMOTIONS
from dashboard.transform import WEEKDAYS, emotion_shares_long, engagement_band

EMOTION_COLORS = MappingProxyType({
    "angry": "#d62728",
    "disgust": "#7f9a27",
    "fear": "#9467bd",
    "happy": "#f2b134",
    "sad": "#1f77b4",
    "surprise": "#17becf",
    "neutral": "#a6a6a6",
})
ENGAGEMENT_COLOR = "#2a6f97"
CHART_HEIGHT = 220
_TOOLTIP_TIME = alt.Tooltip(
    "wall:T", title="time", timeUnit="utcyearmonthdatehoursminutes", format="%a %d %b %H:%M"
)


# (longest span, label format, tick interval) for the time axis; longer spans use months
_AXIS_STEPS: tuple[tuple[timedelta, str, str | None], ...] = (
    (timedelta(days=1), "%H:%M", None),
    (timedelta(days=14), "%a %d %b", "day"),
    (timedelta(days=120), "%d %b", "week"),
)


@dataclass(frozen=True)
class TimeAxis:
    """How a period's time axis is drawn: bucket size (for gaps), label format, tick interval."""

    bucket_seconds: int
    label_format: str = "%H:%M"
    tick_interval: str | None = None

    @classmethod
    def for_period(cls, span: timedelta, bucket_seconds: int) -> TimeAxis:
        """Clock times within a day, days within two weeks, then weeks, then months."""
        for longest, label_format, interval in _AXIS_STEPS:
            if span <= longest:
                return cls(bucket_seconds, label_format, interval)
        return cls(bucket_seconds, "%b %Y", "month")

    def encoding(self) -> alt.X:
        axis = alt.Axis(format=self.label_format, labelAngle=0)
        if self.tick_interval is not None:
            axis = alt.Axis(format=self.label_format, labelAngle=0,
                            tickCount={"interval": self.tick_interval, "step": 1})
        return alt.X("wall:T", title=None, scale=alt.Scale(type="utc"), axis=axis)


def _wall_clock(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``wall``: the local time without its zone, drawn on a UTC scale (see module doc)."""
    return frame.assign(wall=frame["time"].dt.tz_localize(None))


def with_gaps(frame: pd.DataFrame, bucket_seconds: int) -> pd.DataFrame:
    """Add an empty row (NaN values) one bucket after every bucket whose successor is missing.

    Vega-Lite breaks a line or area at a missing value; without these rows it would draw a
    straight bridge over a night or a weekend.
    """
    if frame.empty:
        return frame
    step = pd.Timedelta(seconds=bucket_seconds)
    following = frame["time"] + step
    breaks = pd.DataFrame({"time": following[~following.isin(frame["time"])]})
    return pd.concat([frame, breaks], ignore_index=True).sort_values("time", kind="stable")


def emotion_mix_chart(frame: pd.DataFrame, axis: TimeAxis) -> alt.Chart:
    """Stacked area: the share of faces whose top emotion was each emotion, per point in time."""
    data = _wall_clock(emotion_shares_long(with_gaps(frame, axis.bucket_seconds)))
    return (
        alt.Chart(data, title="Emotion mix (share of faces)", height=CHART_HEIGHT)
        .mark_area(interpolate="step-after")
        .encode(
            x=axis.encoding(),
            y=alt.Y("share:Q", stack="zero", title="share of faces",
                    axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "emotion:N", title="emotion",
                scale=alt.Scale(domain=list(EMOTIONS), range=[EMOTION_COLORS[e] for e in EMOTIONS]),
                sort=list(EMOTIONS),
            ),
            order=alt.Order("order:Q"),
            tooltip=[_TOOLTIP_TIME, "emotion:N", alt.Tooltip("share:Q", format=".0%")],
        )
    )


def engagement_chart(frame: pd.DataFrame, axis: TimeAxis) -> alt.LayerChart:
    """Engagement index per point with its band (rolling mean ± one standard deviation)."""
    data = _wall_clock(with_gaps(engagement_band(frame), axis.bucket_seconds))
    base = alt.Chart(data).encode(x=axis.encoding())
    band = base.mark_area(opacity=0.25, color=ENGAGEMENT_COLOR).encode(
        y=alt.Y("band_low:Q", title="engagement (0–1)", scale=alt.Scale(domain=[0, 1])),
        y2="band_high:Q",
    )
    line = base.mark_line(color=ENGAGEMENT_COLOR).encode(
        y="engagement:Q",
        tooltip=[_TOOLTIP_TIME, alt.Tooltip("engagement:Q", format=".2f"),
                 alt.Tooltip("band_low:Q", format=".2f", title="band from"),
                 alt.Tooltip("band_high:Q", format=".2f", title="band to")],
    )
    return alt.layer(band, line).properties(title="Engagement index", height=CHART_HEIGHT)


def faces_chart(frame: pd.DataFrame, axis: TimeAxis) -> alt.Chart:
    """Faces in view per minute (the mean over each point's minutes at coarser resolutions)."""
    data = _wall_clock(with_gaps(frame[["time", "faces_in_view", "minutes"]], axis.bucket_seconds))
    return (
        alt.Chart(data, title="Faces in view per minute", height=CHART_HEIGHT)
        .mark_area(interpolate="step-after", line=True, opacity=0.35, color="#555555")
        .encode(
            x=axis.encoding(),
            y=alt.Y("faces_in_view:Q", title="faces in view"),
            tooltip=[_TOOLTIP_TIME,
                     alt.Tooltip("faces_in_view:Q", format=".1f", title="faces in view"),
                     alt.Tooltip("minutes:Q", title="minutes")],
        )
    )


def hour_of_week_chart(cells: pd.DataFrame) -> alt.Chart:
    """Heatmap of engagement by local weekday and hour of the day."""
    return (
        alt.Chart(cells, title="Engagement by hour of the week", height=alt.Step(26))
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="hour of the day", scale=alt.Scale(domain=list(range(24))),
                    axis=alt.Axis(labelAngle=0)),
            y=alt.Y("weekday:O", title=None, sort=list(WEEKDAYS),
                    scale=alt.Scale(domain=list(WEEKDAYS)), axis=alt.Axis(labelOverlap=False)),
            color=alt.Color("engagement:Q", title="engagement",
                            scale=alt.Scale(scheme="blues", domain=[0, 1])),
            tooltip=["weekday:O", "hour:O", alt.Tooltip("engagement:Q", format=".2f"),
                     "minutes:Q", alt.Tooltip("faces_in_view:Q", format=".1f",
                                              title="faces in view")],
        )
    )
