"""Deep links: the address bar holds what the teacher looks at, so it can be bookmarked and shared.

``?classroom=7B&view=lessons`` opens 7B's lessons of this week, ``&week=2025-03-03`` another week,
``&lesson=12`` one lesson (its classroom and week follow from it); ``view`` is ``live``, ``range``
or ``lessons``. The live view's address holds its window (``&minutes=60``), the date range's its
first and last minute in the classroom's time zone (``&from=2025-03-03T08:00&to=2025-03-07T15:59``),
and both the camera when one is chosen (``&camera=front``; none means the whole classroom). On a
session's first run :func:`restore` puts these into the widgets' state before
the widgets are drawn; after every run :func:`keep` writes the current choice back with
``st.query_params``, so the address follows each click. A value that names nothing (an unknown
classroom, a lesson removed by a later import, a malformed week) is reported, never guessed at,
and so is a lesson whose id now belongs to another classroom or week than the link names. The
address is anyone's to type, so a value is read strictly (ASCII digits, a lesson id the ``lessons``
table can hold, a week or day the page can show, a window the live slider offers, a camera of the
classroom) and a bad one is reported like a missing one, never raised: ``int("²")`` fails, 5,000
digits exceed Python's int conversion limit, an id past 2**63 overflows SQLite's binding, and a
week in year 9999 overflows the week's date arithmetic. What was not applied keeps its default.
A range's ``from`` or ``to`` that the classroom's clocks skip is read as the jump, one they show
twice as the first (as :mod:`dashboard.periods` reads them for the sidebar too), each said; and
a value the linked view does not use (a camera on the lessons view, a live window on a date
range) is ignored, and said to be.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, MutableMapping
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from classpulse.errors import UsageError
from dashboard.lesson_frames import SHOWN_DAYS, week_start
from dashboard.periods import classroom_zone, local_instant, range_period, repeated, skipped
from dashboard.widgets import LESSONS, LIVE, LIVE_MINUTES, MODES, RANGE, Selection, camera_period

VIEWS = {"live": LIVE, "range": RANGE, "lessons": LESSONS}
RESTORED = "classpulse_links_restored"
LESSON_KEY = "lesson"  # the lessons view's selectbox: a lesson id, or None
_VIEW_NAMES = {mode: name for name, mode in VIEWS.items()}
# the address's values each view reads besides classroom and view; the others are ignored, said
# so (a lesson opens the lessons view, whatever ``view`` says)
_VIEW_PARAMS = {LIVE: ("camera", "minutes"), RANGE: ("camera", "from", "to"),
                LESSONS: ("week", LESSON_KEY)}
# ``lessons.id`` is an INTEGER column: PostgreSQL's holds at most 2**31 - 1, and ids start at 1
LESSON_IDS = range(1, 2**31)
_LESSON_ID = re.compile(r"[0-9]{1,10}")  # ASCII only: str.isdigit() also takes "²"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LOCAL_MINUTE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
_LOCAL_MINUTE_FORMAT = "%Y-%m-%dT%H:%M"  # a range's ``from`` and ``to``, the classroom's clock
_MINUTES = re.compile(r"[0-9]{1,3}")
SHOWN_CHARACTERS = 40  # of a long value in a problem's line: enough to recognise it


@dataclass(frozen=True)
class LessonRef:
    """Where a linked lesson lives: its classroom and its start (UTC)."""

    lesson_id: int
    classroom_id: str
    starts_at: datetime


def _quoted(value: str) -> str:
    """``value`` as a problem's line names it: quoted, and cut short when it is long (a link may
    carry thousands of characters)."""
    if len(value) <= SHOWN_CHARACTERS:
        return repr(value)
    return f"{value[:SHOWN_CHARACTERS]!r}… ({len(value)} characters)"


def _date(value: str) -> date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _lesson_id(value: str) -> int | None:
    if not _LESSON_ID.fullmatch(value) or int(value) not in LESSON_IDS:
        return None
    return int(value)


def _local_minute(value: str) -> datetime | None:
    """A range's ``from`` or ``to``: a naive local date and time, YYYY-MM-DDTHH:MM."""
    if not _LOCAL_MINUTE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, _LOCAL_MINUTE_FORMAT)
    except ValueError:
        return None


def _day_problem(name: str, value: str, day: date, shown: str) -> str | None:
    """Why the page cannot show ``day`` (``shown``: what of it, "the weeks the lessons view"), or
    None when it can."""
    first, last = SHOWN_DAYS
    if first <= day <= last:
        return None
    return f"{name}={_quoted(value)} is outside {shown} shows ({first.year} to {last.year})"


def _week_problem(name: str, value: str, day: date) -> str | None:
    """Why the lessons view cannot show ``day``'s week, or None when it can."""
    return _day_problem(name, value, day, "the weeks the lessons view")


def _restore_range(given: dict[str, str | None], zone: str, state: MutableMapping[str, Any],
                   problems: list[str]) -> None:
    """``from`` and ``to`` (``given``), the date range's first and last minute in the
    classroom's time zone (``zone``): both are applied, or neither, and only when they make the
    period the page will show (:func:`dashboard.periods.range_period`). A time the clocks skip
    is the jump, as the sidebar reads it (``02:30`` to ``03:10`` the night Berlin's clocks go
    forward is 03:00 to 03:10), a time they show twice the first, as every period takes it; each
    said so. A range that lies wholly in the skipped hour never happens, and is said to."""
    if all(value is None for value in given.values()):
        return
    ends: dict[str, datetime] = {}
    for name, value in given.items():
        if value is None:
            other = "to" if name == "from" else "from"
            problems.append(f"{other}={_quoted(str(given[other]))} needs {name}= too: a range "
                            "runs from one local day and time to another")
            continue
        moment = _local_minute(value)
        if moment is None:
            problems.append(f"{name}={_quoted(value)} is not a local date and time "
                            "YYYY-MM-DDTHH:MM")
        elif (problem := _day_problem(name, value, moment.date(), "the days the page")):
            problems.append(problem)
        else:
            ends[name] = moment
    if len(ends) < 2:
        return
    start, end = ends["from"], ends["to"]
    if end < start:
        problems.append(f"to={_quoted(str(given['to']))} is before from="
                        f"{_quoted(str(given['from']))}")
        return
    both = f"from={_quoted(str(given['from']))} to={_quoted(str(given['to']))}"
    try:
        tz = classroom_zone(zone)
        range_period(start.date(), start.time(), end.date(), end.time(), tz)
    except UsageError as exc:
        if all(skipped(moment.date(), moment.time(), tz) for moment in ends.values()):
            problems.append(f"{both} never happens in {tz.key}: the clocks skip that hour when "
                            "they go forward")
        else:
            problems.append(f"{both} cannot be shown: {exc}")
        return
    state.update(days=(start.date(), end.date()), from_time=start.time(), to_time=end.time())
    for name, moment in ends.items():
        if skipped(moment.date(), moment.time(), tz):  # read as the sidebar reads it
            jump = local_instant(moment.date(), moment.time(), tz).astimezone(tz)
            problems.append(f"{name}={_quoted(str(given[name]))} never happens in {tz.key}: the "
                            "clocks skip it when they go forward, so the range "
                            f"{'starts' if name == 'from' else 'ends'} when they do, at "
                            f"{jump:%H:%M} ({jump:%Z})")
        if repeated(moment.date(), moment.time(), tz):
            first = datetime.combine(moment.date(), moment.time(), tzinfo=tz)
            problems.append(f"{name}={_quoted(str(given[name]))} happens twice in {tz.key}, the "
                            "night the clocks go back: the first is used "
                            f"({first.isoformat(timespec='minutes')}, {first:%Z})")


def _elsewhere(value: str, ref: LessonRef, tz: ZoneInfo, room: str | None,
               week: date | None) -> str | None:
    """Why a linked lesson is not the one its link was made for, or None: the link also names its
    classroom and week (:func:`address` writes both), and the lesson with that id is in another.
    Before migration 0018 SQLite gave a new lesson the largest id plus one, so a lesson a later
    import removed (the last one imported) left its id to the next lesson imported, of any
    classroom; such ids may still be given once more after it, and links are typed by hand."""
    where = []
    if room is not None and room != ref.classroom_id:
        where.append(f"classroom {_quoted(ref.classroom_id)}")
    day = ref.starts_at.astimezone(tz).date()
    if week is not None and week_start(week) != week_start(day):
        where.append(f"the week of {week_start(day).isoformat()}")
    if not where:
        return None
    return (f"lesson={_quoted(value)} is now a lesson of {' and '.join(where)}, not the one this "
            "link was made for; a later timetable import may have removed that one")


def _restore_minutes(value: str, state: MutableMapping[str, Any], problems: list[str]) -> None:
    if _MINUTES.fullmatch(value) and int(value) in LIVE_MINUTES:
        state["live_minutes"] = int(value)
        return
    problems.append(f"minutes={_quoted(value)} is not a live window the page offers (whole "
                    f"minutes from {LIVE_MINUTES[0]} to {LIVE_MINUTES[-1]}, in steps of "
                    f"{LIVE_MINUTES.step})")


def restore(rooms: pd.DataFrame, find_lesson: Callable[[int], LessonRef | None],
            find_cameras: Callable[[str, datetime, datetime], Collection[str]]) -> list[str]:
    """Apply the address's choices once per browser session; returns what could not be applied.
    ``find_cameras`` lists a classroom's camera ids over a UTC period (those its camera select
    offers for it, :func:`dashboard.widgets.camera_period`): a link's camera is checked against
    the link's own live window or range, and after them in the list of problems. Only the
    values of the view the link opens are checked and applied (``_VIEW_PARAMS``); the others are
    named in one line as ignored."""
    if st.session_state.get(RESTORED):
        return []
    st.session_state[RESTORED] = True
    params, state, problems = st.query_params, st.session_state, []
    zones = dict(zip(rooms["id"], rooms["timezone"], strict=True))
    view = params.get("view")
    if view is not None:
        if view in VIEWS:
            state["mode"] = VIEWS[view]
        else:
            problems.append(f"view={_quoted(view)} is not one of {', '.join(VIEWS)}")
    room = params.get("classroom")
    if room is not None:
        if room in zones:
            state["classroom"] = room
        else:
            problems.append(f"classroom={_quoted(room)} is not a classroom of this dashboard")
    lesson = params.get(LESSON_KEY)
    linked_view = LESSONS if lesson is not None else state.get("mode", MODES[0])
    week = params.get("week") if "week" in _VIEW_PARAMS[linked_view] else None
    if week is not None:
        day = _date(week)
        if day is None:
            problems.append(f"week={_quoted(week)} is not a date YYYY-MM-DD")
        elif (problem := _week_problem("week", week, day)) is not None:
            problems.append(problem)
        else:
            state["week"] = day
    if lesson is not None:
        lesson_id = _lesson_id(lesson)
        ref = find_lesson(lesson_id) if lesson_id is not None else None
        if lesson_id is None:
            problems.append(f"lesson={_quoted(lesson)} is not a lesson number (a whole number "
                            f"from {LESSON_IDS[0]} to {LESSON_IDS[-1]})")
        elif ref is None or ref.classroom_id not in zones:
            problems.append(f"lesson={_quoted(lesson)} was not found; a later timetable import "
                            "may have removed it")
        elif problem := (_week_problem(
                "lesson", lesson, ref.starts_at.astimezone(timezone.utc).date())
                or _elsewhere(lesson, ref, classroom_zone(str(zones[ref.classroom_id])),
                              room if room in zones else None,  # an unknown one is said above
                              state.get("week") if week is not None else None)):
            problems.append(problem)
        else:
            state.update(classroom=ref.classroom_id, mode=LESSONS, **{LESSON_KEY: ref.lesson_id})
            tz = classroom_zone(str(zones[ref.classroom_id]))
            state["week"] = ref.starts_at.astimezone(tz).date()
    mode = state.get("mode", MODES[0])  # the radio's first, unless linked
    room = state.get("classroom", rooms["id"].iloc[0])  # the select's first, unless linked
    used = {name: params.get(name) if name in _VIEW_PARAMS[mode] else None
            for name in ("camera", "minutes", "from", "to")}
    if used["minutes"] is not None:
        _restore_minutes(used["minutes"], state, problems)
    _restore_range({name: used[name] for name in ("from", "to")}, str(zones[room]), state,
                   problems)
    camera = used["camera"]  # once the link's period is in the state: the cameras are its
    if camera is not None:
        period = camera_period(state, classroom_zone(str(zones[room])), datetime.now(timezone.utc))
        if camera in find_cameras(room, *period):
            state["camera"] = camera
        else:
            problems.append(f"camera={_quoted(camera)} is not a camera of classroom "
                            f"{_quoted(str(room))}")
    ignored = [(name, value) for name, by in (("week", linked_view), *((n, mode) for n in used))
               if name not in _VIEW_PARAMS[by] and (value := params.get(name)) is not None]
    if ignored:
        problems.append(_ignored(ignored, mode))
    return problems


def _ignored(values: list[tuple[str, str]], mode: str) -> str:
    """One line for the address's values that ``mode``'s view does not use (a camera on the
    lessons view, a live window on a date range): neither checked nor kept, so that switching
    views later does not bring them back unasked."""
    listed = ", ".join(f"{name}={_quoted(value)}" for name, value in values)
    one = len(values) == 1
    return (f"{listed} {'is' if one else 'are'} ignored: the {_VIEW_NAMES[mode]} view does not "
            f"use {'it' if one else 'them'}")


def address(sel: Selection, lesson_id: int | None) -> dict[str, str]:
    """The query parameters that reopen what ``sel`` shows."""
    if sel.week is not None:
        params = {"classroom": sel.classroom_id, "view": "lessons",
                  "week": week_start(sel.week).isoformat()}
        if lesson_id is not None:
            params[LESSON_KEY] = str(lesson_id)
        return params
    params = {"classroom": sel.classroom_id}
    if sel.live_minutes is not None:
        params.update(view="live", minutes=str(sel.live_minutes))
    elif sel.range_bounds is not None:
        first, last, from_time, to_time = sel.range_bounds
        params.update({"view": "range", "from": _local_text(first, from_time),
                       "to": _local_text(last, to_time)})
    if sel.camera_id is not None:
        params["camera"] = sel.camera_id
    return params


def _local_text(day: date, clock: time) -> str:
    """``from``/``to`` as :func:`_local_minute` reads them (``date.isoformat`` pads every year to
    four digits, which ``strftime("%Y")`` does not on Linux)."""
    return f"{day.isoformat()}T{clock:%H:%M}"


def keep(sel: Selection) -> None:
    """Write the current choice into the address bar (only when it changed)."""
    lesson_id = st.session_state.get(LESSON_KEY) if sel.week is not None else None
    wanted = address(sel, lesson_id)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
