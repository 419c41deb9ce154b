"""Altair charts built from the frames of :mod:`dashboard.transform`; no queries, no Streamlit.

Points are placed at their instants (``utc``: naive UTC on a UTC scale), so the night the clocks
go back draws its repeated hour after the first one, not on top of it; axis labels and tooltips
give the classroom's wall clock (``wall``) whatever the viewer's browser zone (Vega-Lite would
otherwise write every time in the browser's zone). Where no bucket was shown (nights, weekends,
hidden minutes) the lines and areas break instead of bridging the gap, so nothing is drawn for
times nobody was measured; a bucket without neighbours is still drawn (a step as wide as its
bucket, a dot on the engagement line). The time axis spans the whole period asked for, with one
label per tick (:class:`TimeAxis`). Emotions keep EMOTIONS order and one colour each, in every
chart and legend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

import altair as alt
import pandas as pd

from classpulse.emotions import EMOTIONS
from dashboard.periods import Period
from dashboard.transform import WEEKDAYS, emotion_shares_long, engagement_band, share_texts

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


# (longest span, tick unit, ticks every so many units, label format): about 5 to 14 labels per axis,
# each naming its tick once (a format finer than the step would print "09:40" five times)
_AXIS_STEPS: tuple[tuple[timedelta, str, int, str], ...] = (
    (timedelta(minutes=14), "minute", 1, "%H:%M"),
    (timedelta(minutes=28), "minute", 2, "%H:%M"),
    (timedelta(minutes=70), "minute", 5, "%H:%M"),
    (timedelta(minutes=140), "minute", 10, "%H:%M"),
    (timedelta(hours=3, minutes=30), "minute", 15, "%H:%M"),
    (timedelta(hours=7), "minute", 30, "%H:%M"),
    (timedelta(hours=14), "hour", 1, "%H:%M"),
    (timedelta(days=1), "hour", 3, "%a %H:%M"),  # a whole day starts and ends at 00:00
    (timedelta(days=3), "hour", 6, "%a %H:%M"),
    (timedelta(days=8), "day", 1, "%a %d %b"),
    (timedelta(days=16), "day", 2, "%a %d %b"),
    (timedelta(days=70), "week", 1, "%d %b"),
    (timedelta(days=140), "week", 2, "%d %b"),
    (timedelta(days=400), "month", 1, "%b %Y"),
)
_LONGEST_STEP = ("month", 3, "%b %Y")
_FREQUENCIES = {"minute": "min", "hour": "h", "day": "D"}
_EDGE = pd.Timedelta(seconds=1)  # a step area's closing row sits this far before its bucket ends
# a clock change moves the wall clock by at most this much (double summer time): round wall times
# this far beyond the window's ends are tried as ticks, in case the clocks went back inside it
_CLOCK_CHANGE = pd.Timedelta(hours=2)
_EPOCH = pd.Timestamp("1970-01-01")


def _wall(moment: datetime) -> pd.Timestamp:
    """A local time's wall clock, without the zone."""
    return pd.Timestamp(moment.replace(tzinfo=None))


def _utc(moment: datetime) -> pd.Timestamp:
    """An aware time as the charts place it: its instant, as naive UTC (Python converts it, so a
    time the clocks show twice keeps its ``fold``)."""
    return pd.Timestamp(moment.astimezone(timezone.utc)).tz_localize(None)


def _when(utc: pd.Timestamp) -> alt.DateTime:
    """A naive UTC instant as a Vega-Lite date on the charts' UTC scale (Streamlit's renderer
    places plain epoch numbers in a scale domain wrongly, so the fields are spelled out)."""
    return alt.DateTime(year=utc.year, month=utc.month, date=utc.day, hours=utc.hour,
                        minutes=utc.minute, seconds=utc.second, utc=True)


@dataclass(frozen=True)
class TimeAxis:
    """How a period's time axis is drawn: the window it spans, its ticks, the bucket (for gaps).

    The axis spans the whole window asked for (a live view of 60 minutes shows 60 minutes even when
    data started 5 minutes ago, and on the night the clocks go back too), with a tick at every
    instant inside it whose wall clock shows a round ``tick_step`` ``tick_unit``s, labelled with
    that wall clock. The ticks are listed explicitly: Vega's own interval ticks accept no minute
    or hour steps (its time units are plural where Vega-Lite's schema insists on singular names),
    and it could label them only in UTC or the browser's zone, not the classroom's.
    """

    bucket_seconds: int
    start: datetime  # local, aware
    end: datetime
    tick_unit: str
    tick_step: int
    label_format: str

    @classmethod
    def for_period(cls, period: Period) -> TimeAxis:
        """The axis of a page's period: its local bounds, at its bucket size."""
        return cls.for_window(period.start.astimezone(period.tz), period.end.astimezone(period.tz),
                              period.bucket_seconds)

    @classmethod
    def for_window(cls, start: datetime, end: datetime, bucket_seconds: int) -> TimeAxis:
        """Minutes within an hour or two, hours within a day, days, weeks, then months.

        The span is the time between the instants: two aware times of one zone subtract as wall
        clocks in Python, which makes the hour before the clocks go back no time at all."""
        span = _utc(end) - _utc(start)
        for longest, unit, step, label_format in _AXIS_STEPS:
            if span <= longest:
                return cls(bucket_seconds, start, end, unit, step, label_format)
        return cls(bucket_seconds, start, end, *_LONGEST_STEP)

    def ticks(self) -> list[pd.Timestamp]:
        """The ticks, local and aware: the instants within the window, both ends included, at
        which the wall clock shows a round time. A round time the clocks show twice (the night
        they go back) gets a tick each time; one they skip, none."""
        zone = self.start.tzinfo
        lo, hi = _utc(self.start), _utc(self.end)
        instants: set[pd.Timestamp] = set()
        for wall in self._round_walls(_wall(self.start) - _CLOCK_CHANGE,
                                      _wall(self.end) + _CLOCK_CHANGE):
            for fold in (0, 1):  # the first and the second time the clock shows it
                local = wall.to_pydatetime().replace(tzinfo=zone, fold=fold)
                if _wall(local.astimezone(timezone.utc).astimezone(zone)) == wall:  # it exists
                    instants.add(_utc(local))
        return [t.tz_localize("UTC").tz_convert(zone) for t in sorted(instants) if lo <= t <= hi]

    def _round_walls(self, lo: pd.Timestamp, hi: pd.Timestamp) -> list[pd.Timestamp]:
        """The round wall-clock times of the tick unit and step from ``lo`` to ``hi`` (naive)."""
        if self.tick_unit in _FREQUENCIES:
            freq = f"{self.tick_step}{_FREQUENCIES[self.tick_unit]}"
            return list(pd.date_range(lo.ceil(freq), hi, freq=freq))
        if self.tick_unit == "week":  # Mondays at midnight
            first = lo.normalize() + pd.Timedelta(days=-lo.weekday() % 7)
            step = pd.DateOffset(weeks=self.tick_step)
        else:  # the first of a month
            first = lo.normalize().replace(day=1)
            step = pd.DateOffset(months=self.tick_step)
        first = first if first >= lo else first + (
            pd.DateOffset(weeks=1) if self.tick_unit == "week" else pd.DateOffset(months=1))
        return list(pd.date_range(first, hi, freq=step))

    def encoding(self) -> alt.X:
        """The x channel: ``utc`` on a UTC scale over the window, each tick labelled with its wall
        clock (looked up by the tick's epoch milliseconds)."""
        ticks = self.ticks()
        labels = [t.strftime(self.label_format) for t in ticks]
        placed = [_utc(t) for t in ticks]
        epoch_ms = [(t - _EPOCH) // pd.Timedelta(milliseconds=1) for t in placed]
        label = f"{json.dumps(labels)}[indexof({json.dumps(epoch_ms)}, time(datum.value))]"
        axis = alt.Axis(labelExpr=label, labelAngle=0, labelOverlap=True,
                        values=[_when(t) for t in placed])
        scale = alt.Scale(type="utc", domain=[_when(_utc(self.start)), _when(_utc(self.end))],
                          nice=False)
        return alt.X("utc:T", title=None, scale=scale, axis=axis)


def _wall_clock(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``utc``, where each row is drawn (its instant, naive, on the UTC scale), and ``wall``,
    what its tooltip says (its local wall clock without the zone, on the same scale)."""
    return frame.assign(utc=frame["time"].dt.tz_convert("UTC").dt.tz_localize(None),
                        wall=frame["time"].dt.tz_localize(None))


def _breaks(frame: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    following = frame["time"] + step
    return pd.DataFrame({"time": following[~following.isin(frame["time"])]})


def with_gaps(frame: pd.DataFrame, bucket_seconds: int) -> pd.DataFrame:
    """Add an empty row (NaN values) one bucket after every bucket whose successor is missing.

    Vega-Lite breaks a line or area at a missing value; without these rows it would draw a
    straight bridge over a night or a weekend.
    """
    if frame.empty:
        return frame
    breaks = _breaks(frame, pd.Timedelta(seconds=bucket_seconds))
    return pd.concat([frame, breaks], ignore_index=True).sort_values("time", kind="stable")


def with_steps(frame: pd.DataFrame, bucket_seconds: int) -> pd.DataFrame:
    """:func:`with_gaps`, plus a copy of every bucket that ends a run, just before its end.

    A step area draws a bucket from its start to the next point; the last bucket of a run (and a
    lone minute, which is its own run) would otherwise have no width and draw nothing. The copies
    are marked ``edge`` so that readers of the chart data can tell them from buckets.
    """
    if frame.empty:
        return frame.assign(edge=pd.Series(dtype=bool))
    step = pd.Timedelta(seconds=bucket_seconds)
    last = frame[~(frame["time"] + step).isin(frame["time"])]
    parts = [frame.assign(edge=False), last.assign(time=last["time"] + step - _EDGE, edge=True),
             _breaks(frame, step).assign(edge=False)]
    return pd.concat(parts, ignore_index=True).sort_values("time", kind="stable")


def isolated(frame: pd.DataFrame, bucket_seconds: int) -> pd.Series:
    """True for buckets with no neighbour on either side: a line cannot show them, a dot can."""
    step = pd.Timedelta(seconds=bucket_seconds)
    times = frame["time"]
    return ~(times - step).isin(times) & ~(times + step).isin(times)


def emotion_mix_chart(frame: pd.DataFrame, axis: TimeAxis) -> alt.Chart:
    """Stacked area: the share of faces read whose top emotion was each emotion, per point.

    The tooltip shows each share as the page words shares (``share_text``), not Vega's rounding,
    which would show 299 of 300 as "100%"."""
    data = _wall_clock(emotion_shares_long(with_steps(frame, axis.bucket_seconds)))
    data["share_text"] = share_texts(data["share"])
    return (
        alt.Chart(data, title="Emotion mix (share of faces read)", height=CHART_HEIGHT)
        .mark_area(interpolate="step-after")
        .encode(
            x=axis.encoding(),
            y=alt.Y("share:Q", stack="zero", title="share of faces read",
                    axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "emotion:N", title="emotion",
                scale=alt.Scale(domain=list(EMOTIONS), range=[EMOTION_COLORS[e] for e in EMOTIONS]),
                sort=list(EMOTIONS),
            ),
            order=alt.Order("order:Q"),
            tooltip=[_TOOLTIP_TIME, "emotion:N", alt.Tooltip("share_text:N", title="share")],
        )
    )


def engagement_chart(frame: pd.DataFrame, axis: TimeAxis) -> alt.LayerChart:
    """Engagement index per point with its band (rolling mean ± one standard deviation).

    A point with no neighbour is drawn as a dot, so a lone minute is visible too.
    """
    band_frame = engagement_band(frame, axis.bucket_seconds).assign(
        isolated=isolated(frame, axis.bucket_seconds))
    data = _wall_clock(with_gaps(band_frame, axis.bucket_seconds))
    data["isolated"] = data["isolated"].fillna(False).astype(bool)
    base = alt.Chart(data).encode(x=axis.encoding())
    band = base.mark_area(opacity=0.25, color=ENGAGEMENT_COLOR).encode(
        y=alt.Y("band_low:Q", title="engagement (0–1)", scale=alt.Scale(domain=[0, 1])),
        y2="band_high:Q",
    )
    tooltip = [_TOOLTIP_TIME, alt.Tooltip("engagement:Q", format=".2f"),
               alt.Tooltip("band_low:Q", format=".2f", title="band from"),
               alt.Tooltip("band_high:Q", format=".2f", title="band to")]
    line = base.mark_line(color=ENGAGEMENT_COLOR).encode(y="engagement:Q", tooltip=tooltip)
    dots = base.mark_circle(color=ENGAGEMENT_COLOR, size=50, opacity=1).encode(
        y="engagement:Q", tooltip=tooltip).transform_filter(alt.datum.isolated)
    return alt.layer(band, line, dots).properties(title="Engagement index", height=CHART_HEIGHT)


def faces_chart(frame: pd.DataFrame, axis: TimeAxis) -> alt.LayerChart:
    """Faces in view per minute (the mean over each point's minutes at coarser resolutions), and
    as a line the faces read at once, per frame where any face was read (the rule's measure: it
    can lie above the faces in view when refused faces fill other frames)."""
    data = _wall_clock(with_steps(frame[["time", "faces_in_view", "faces_read_in_view",
                                         "minutes"]], axis.bucket_seconds))
    tooltip = [_TOOLTIP_TIME,
               alt.Tooltip("faces_in_view:Q", format=".1f", title="faces in view"),
               alt.Tooltip("faces_read_in_view:Q", format=".1f", title="faces read at once"),
               alt.Tooltip("minutes:Q", title="minutes")]
    base = alt.Chart(data).encode(x=axis.encoding(), tooltip=tooltip)
    seen = base.mark_area(interpolate="step-after", line=True, opacity=0.35,
                          color="#555555").encode(y=alt.Y("faces_in_view:Q", title="faces"))
    read = base.mark_line(interpolate="step-after", color=ENGAGEMENT_COLOR,
                          strokeDash=[4, 2]).encode(y="faces_read_in_view:Q")
    return alt.layer(seen, read).properties(
        title="Faces in view and read per minute", height=CHART_HEIGHT)


def hour_of_week_chart(cells: pd.DataFrame) -> alt.Chart:
    """Heatmap of engagement by local weekday and hour of the day, over each cell's charted
    minutes (:func:`dashboard.transform.hour_of_week`)."""
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
                     alt.Tooltip("minutes:Q", title="minutes charted"),
                     alt.Tooltip("faces_in_view:Q", format=".1f", title="faces in view")],
        )
    )


def lesson_trend_chart(trend: pd.DataFrame, axis: TimeAxis) -> alt.LayerChart:
    """Engagement of a title's lessons over the weeks, one dot per lesson; the open one ringed.

    ``trend`` is :func:`dashboard.lesson_frames.title_trend`'s frame.
    """
    data = _wall_clock(trend)
    base = alt.Chart(data).encode(
        x=axis.encoding(),
        y=alt.Y("engagement:Q", title="engagement (0–1)", scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("wall:T", title="lesson", timeUnit="utcyearmonthdatehoursminutes",
                             format="%a %d %b %H:%M"),
                 alt.Tooltip("engagement:Q", format=".2f"),
                 alt.Tooltip("minutes:Q", title="minutes charted")],
    )
    line = base.mark_line(color=ENGAGEMENT_COLOR, point=alt.OverlayMarkDef(size=60))
    ring = base.mark_point(size=220, color="#d62728", strokeWidth=2).transform_filter(
        alt.datum.current)
    return alt.layer(line, ring).properties(title="Engagement in lessons with this title",
                                            height=CHART_HEIGHT)
