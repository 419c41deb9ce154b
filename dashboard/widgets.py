"""The sidebar: which classroom, which view (live, a date range, lessons), which camera or week;
and the "Main emotion" box the live view and a lesson share.

The sidebar returns one ``Selection``. Widget keys are stable names (``classroom``, ``camera``,
``mode``, ``live_minutes``, ``days``, ``from_time``, ``to_time``, ``week``) so tests and deep links
(:mod:`dashboard.links`) can address them. A widget that a link can set takes its default from
the session state (set once, unless a link set it first) rather than as an argument: Streamlit
warns of a widget given both, and a date input given no value derives its selectable bounds from
the state's, so a linked range outside today's ten years either side is kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from classpulse.settings import Settings
from dashboard import queries, text
from dashboard.lesson_frames import week_start
from dashboard.periods import classroom_zone, live_period, range_bounds

LIVE, RANGE, LESSONS = "Live", "Date range", "Lessons"
MODES = (LIVE, RANGE, LESSONS)
ALL_CAMERAS = "All cameras"  # the camera option that shows the whole classroom
DEFAULT_LIVE_MINUTES = 60
LIVE_MINUTES = range(10, 241, 5)  # the live window's slider: 10 to 240 minutes, in steps of 5
DEFAULT_RANGE_DAYS = 7
DEFAULT_FROM, DEFAULT_TO = time(0, 0), time(23, 59)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Selection:
    """What the visitor chose: live (``live_minutes``), a date range (``range_bounds``), or the
    lessons of a week (``week``, its Monday; lessons are class-level, so no camera then)."""

    classroom_id: str
    classroom_name: str
    tz: ZoneInfo
    camera_id: str | None
    camera_label: str | None  # its name, with its id where that is needed to tell it apart
    live_minutes: int | None
    range_bounds: tuple[date, date, time, time] | None
    week: date | None = None

    @property
    def label(self) -> str:
        """``Room 12`` or ``Room 12 – camera front``: the heading of the page."""
        if self.camera_id is None:
            return self.classroom_name
        return f"{self.classroom_name} – camera {self.camera_label}"


def distinct_labels(options: Iterable[tuple[K, str, str]],
                    reserved: Collection[str] = ()) -> dict[K, str]:
    """Each option's label for a select box, every one different: ``(option, short, long)``
    gets ``short`` unless another option has the same ``short`` or it is taken (one of
    ``reserved``, or an earlier option's label), then ``long``, numbered while that is taken.

    A select box hands the script back the label the browser sent, and Streamlit maps a label
    that several options share to the last of them: two cameras named "front" would both chart
    the second, and a camera named "All cameras" would stand for the whole classroom. Labels
    depend only on the options and their order, so a choice keeps its label from run to run.
    """
    options = list(options)
    shorts = Counter(short for _, short, _ in options)
    taken = set(reserved)
    labels: dict[K, str] = {}
    for option, short, long in options:
        label = short if shorts[short] == 1 and short not in taken else long
        candidate, n = label, 2
        while candidate in taken:
            candidate, n = f"{label} ({n})", n + 1
        taken.add(candidate)
        labels[option] = candidate
    return labels


def _classroom(rooms: pd.DataFrame) -> pd.Series:
    labels = distinct_labels(
        (room_id, name if name == room_id else f"{name} ({room_id})", f"{name} ({room_id})")
        for room_id, name in zip(rooms["id"], rooms["name"], strict=True))
    chosen = st.selectbox("Classroom", list(labels), key="classroom",
                          format_func=labels.__getitem__)
    return rooms.set_index("id").loc[chosen]


def _days(value: object, today: date) -> tuple[date, date]:
    """The first and last day of a date input's range (one day while only one is picked)."""
    return (value[0], value[-1]) if isinstance(value, tuple | list) and value else (today, today)


def camera_period(state: Mapping[str, Any], tz: ZoneInfo,
                  now: datetime) -> tuple[datetime, datetime]:
    """The UTC period ``[start, end)`` whose cameras the camera select offers
    (:func:`dashboard.sql.fetch_cameras`): the live window or the date range ``state`` holds,
    each widget's default where it holds none (a link's state before the widgets are drawn,
    :func:`dashboard.links.restore`). The lessons view offers no camera. A range that ends before
    it starts is empty (the page says why)."""
    today = now.astimezone(tz).date()
    if state.get("mode", LIVE) == LIVE:
        window = live_period(now, state.get("live_minutes", DEFAULT_LIVE_MINUTES), tz)
        return window.start, window.end
    first, last = _days(state.get("days", _default_days(today)), today)
    start, end = range_bounds(first, state.get("from_time", DEFAULT_FROM), last,
                              state.get("to_time", DEFAULT_TO), tz)
    return start, max(start, end)


def _default_days(today: date) -> tuple[date, date]:
    return today - timedelta(days=DEFAULT_RANGE_DAYS - 1), today


def _camera(settings: Settings, classroom_id: str, start: datetime,
            end: datetime) -> tuple[str | None, str | None]:
    """The chosen camera's (id, label), or (None, None) for the whole classroom. The whole
    classroom is the option None, which no camera id (a string) can equal: a camera registered
    as "__all__" is that camera, not every camera. A camera is labelled by its name, with its id
    where another camera has that name or the name is the whole classroom's label. The cameras
    are those of the period the page shows (:func:`camera_period`): one that moved in is offered
    for the periods it counted minutes here."""
    cams = queries.cameras(settings.database_url, classroom_id, start, end)
    labels = distinct_labels(((cam, name, f"{name} ({cam})")
                              for cam, name in zip(cams["id"], cams["name"], strict=True)),
                             reserved={ALL_CAMERAS})
    chosen = st.selectbox("Camera", [None, *labels], key="camera",
                          format_func=lambda cam: ALL_CAMERAS if cam is None else labels[cam])
    return (None, None) if chosen is None else (chosen, labels[chosen])


def _range(tz: ZoneInfo) -> tuple[date, date, time, time]:
    today = datetime.now(timezone.utc).astimezone(tz).date()
    state = st.session_state
    state.setdefault("days", _default_days(today))
    state.setdefault("from_time", DEFAULT_FROM)
    state.setdefault("to_time", DEFAULT_TO)
    days = st.date_input("Days", key="days",
                         help="First and last day, in the classroom's time zone")
    first, last = _days(days, today)
    from_time = st.time_input("From", key="from_time", step=timedelta(minutes=15))
    to_time = st.time_input("To (that minute included)", key="to_time",
                            step=timedelta(minutes=1))
    return first, last, from_time, to_time


def _week(tz: ZoneInfo) -> date:
    st.session_state.setdefault("week", datetime.now(timezone.utc).astimezone(tz).date())
    chosen = st.date_input("Week", key="week", format="YYYY-MM-DD",
                           help="Any day of the week; weeks run Monday to Sunday")
    return week_start(chosen if isinstance(chosen, date) else chosen[0])


def sidebar(settings: Settings, rooms: pd.DataFrame) -> Selection:
    """Draw the sidebar and return the visitor's choice."""
    with st.sidebar:
        st.header("ClassPulse")
        room = _classroom(rooms)
        tz = classroom_zone(str(room["timezone"]))
        mode = st.radio("View", MODES, key="mode", horizontal=True)
        camera_id, camera_label, live_minutes, bounds, week = None, None, None, None, None
        if mode == LESSONS:
            week = _week(tz)
        elif mode == LIVE:
            st.session_state.setdefault("live_minutes", DEFAULT_LIVE_MINUTES)
            live_minutes = st.slider("Last minutes", LIVE_MINUTES[0], LIVE_MINUTES[-1],
                                     step=LIVE_MINUTES.step, key="live_minutes")
        elif mode == RANGE:
            bounds = _range(tz)
        if mode != LESSONS:  # after the period's widgets: the cameras offered are the period's
            start, end = camera_period(st.session_state, tz, datetime.now(timezone.utc))
            camera_id, camera_label = _camera(settings, str(room.name), start, end)
        st.caption(f"Times are the classroom's: {text.plain(tz.key)}.")
    return Selection(str(room.name), str(room["name"]), tz, camera_id, camera_label,
                     live_minutes, bounds, week)


def main_emotion_metric(column: DeltaGenerator, label: str, expression: str,
                        share_text: str) -> None:
    """The "Main emotion" box of the live view and of a lesson (:func:`text.main_emotion_box`)."""
    value, delta, beneath = text.main_emotion_box(expression, share_text)
    column.metric(label, value, delta=delta, delta_color="off", delta_arrow="off",
                  help=text.MAIN_EMOTION_HELP)
    if beneath is not None:
        column.caption(beneath)
