"""Deep links: the address bar holds what the teacher looks at, so it can be bookmarked and shared.

``?classroom=7B&view=lessons`` opens 7B's lessons of this week, ``&week=2025-03-03`` another week,
``&lesson=12`` one lesson (its classroom and week follow from it); ``view`` is ``live``, ``range``
or ``lessons``. On a session's first run :func:`restore` puts these into the widgets' state before
the widgets are drawn; after every run :func:`keep` writes the current choice back with
``st.query_params``, so the address follows each click. A value that names nothing (an unknown
classroom, a lesson removed by a later import, a malformed week) is reported, never guessed at. The
address is anyone's to type, so a value is read strictly (ASCII digits, a lesson id the ``lessons``
table can hold, a week the lessons view can show) and a bad one is reported like a missing one,
never raised: ``int("²")`` fails, 5,000 digits exceed Python's int conversion limit, an id past
2**63 overflows SQLite's binding, and a week in year 9999 overflows the week's date arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pandas as pd
import streamlit as st

from dashboard.lesson_frames import SHOWN_DAYS, week_start
from dashboard.periods import classroom_zone
from dashboard.widgets import LESSONS, LIVE, RANGE, Selection

VIEWS = {"live": LIVE, "range": RANGE, "lessons": LESSONS}
RESTORED = "classpulse_links_restored"
LESSON_KEY = "lesson"  # the lessons view's selectbox: a lesson id, or None
# ``lessons.id`` is an INTEGER column: PostgreSQL's holds at most 2**31 - 1, and ids start at 1
LESSON_IDS = range(1, 2**31)
_LESSON_ID = re.compile(r"[0-9]{1,10}")  # ASCII only: str.isdigit() also takes "²"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
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


def _week_problem(name: str, value: str, day: date) -> str | None:
    """Why the lessons view cannot show ``day``'s week, or None when it can."""
    first, last = SHOWN_DAYS
    if first <= day <= last:
        return None
    return (f"{name}={_quoted(value)} is outside the weeks the lessons view shows "
            f"({first.year} to {last.year})")


def restore(rooms: pd.DataFrame, find_lesson: Callable[[int], LessonRef | None]) -> list[str]:
    """Apply the address's choices once per browser session; returns what could not be applied."""
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
    week = params.get("week")
    if week is not None:
        day = _date(week)
        if day is None:
            problems.append(f"week={_quoted(week)} is not a date YYYY-MM-DD")
        elif (problem := _week_problem("week", week, day)) is not None:
            problems.append(problem)
        else:
            state["week"] = day
    lesson = params.get(LESSON_KEY)
    if lesson is not None:
        lesson_id = _lesson_id(lesson)
        ref = find_lesson(lesson_id) if lesson_id is not None else None
        if lesson_id is None:
            problems.append(f"lesson={_quoted(lesson)} is not a lesson number (a whole number "
                            f"from {LESSON_IDS[0]} to {LESSON_IDS[-1]})")
        elif ref is None or ref.classroom_id not in zones:
            problems.append(f"lesson={_quoted(lesson)} was not found; a later timetable import "
                            "may have removed it")
        elif (problem := _week_problem(
                "lesson", lesson, ref.starts_at.astimezone(timezone.utc).date())) is not None:
            problems.append(problem)
        else:
            state.update(classroom=ref.classroom_id, mode=LESSONS, **{LESSON_KEY: ref.lesson_id})
            tz = classroom_zone(str(zones[ref.classroom_id]))
            state["week"] = ref.starts_at.astimezone(tz).date()
    return problems


def address(sel: Selection, lesson_id: int | None) -> dict[str, str]:
    """The query parameters that reopen what ``sel`` shows."""
    if sel.week is not None:
        params = {"classroom": sel.classroom_id, "view": "lessons",
                  "week": week_start(sel.week).isoformat()}
        if lesson_id is not None:
            params[LESSON_KEY] = str(lesson_id)
        return params
    return {"classroom": sel.classroom_id,
            "view": "live" if sel.live_minutes is not None else "range"}


def keep(sel: Selection) -> None:
    """Write the current choice into the address bar (only when it changed)."""
    lesson_id = st.session_state.get(LESSON_KEY) if sel.week is not None else None
    wanted = address(sel, lesson_id)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
