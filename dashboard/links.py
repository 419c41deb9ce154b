"""Deep links: the address bar holds what the teacher looks at, so it can be bookmarked and shared.

``?classroom=7B&view=lessons`` opens 7B's lessons of this week, ``&week=2025-03-03`` another week,
``&lesson=12`` one lesson (its classroom and week follow from it); ``view`` is ``live``, ``range``
or ``lessons``. On a session's first run :func:`restore` puts these into the widgets' state before
the widgets are drawn; after every run :func:`keep` writes the current choice back with
``st.query_params``, so the address follows each click. A value that names nothing (an unknown
classroom, a lesson removed by a later import, a malformed week) is reported, never guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import streamlit as st

from dashboard.lesson_frames import week_start
from dashboard.periods import classroom_zone
from dashboard.widgets import LESSONS, LIVE, RANGE, Selection

VIEWS = {"live": LIVE, "range": RANGE, "lessons": LESSONS}
RESTORED = "classpulse_links_restored"
LESSON_KEY = "lesson"  # the lessons view's selectbox: a lesson id, or None


@dataclass(frozen=True)
class LessonRef:
    """Where a linked lesson lives: its classroom and its start (UTC)."""

    lesson_id: int
    classroom_id: str
    starts_at: datetime


def _date(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None


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
            problems.append(f"view={view!r} is not one of {', '.join(VIEWS)}")
    room = params.get("classroom")
    if room is not None:
        if room in zones:
            state["classroom"] = room
        else:
            problems.append(f"classroom={room!r} is not a classroom of this dashboard")
    week = params.get("week")
    if week is not None:
        day = _date(week)
        if day is None:
            problems.append(f"week={week!r} is not a date YYYY-MM-DD")
        else:
            state["week"] = day
    lesson = params.get(LESSON_KEY)
    if lesson is not None:
        ref = find_lesson(int(lesson)) if lesson.isdigit() else None
        if ref is None or ref.classroom_id not in zones:
            problems.append(f"lesson={lesson!r} was not found; a later timetable import may "
                            "have removed it")
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
