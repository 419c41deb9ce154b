"""The lessons view: a classroom's week of lessons, one lesson's minutes, its title over the weeks.

widgets -> query -> transform -> chart, like the rest of the page. The week's table comes from
``lesson_summaries`` (:mod:`dashboard.lesson_sql`); an opened lesson's charts come from its minutes
through the same bucket query as a date range, and both hide small groups by the database's one
rule. The row's note (:func:`dashboard.lesson_frames.note`) holds the one judgement of whether the
lesson has numbers (:func:`dashboard.lesson_frames.status`): the opened lesson shows its metrics
exactly when the row shows a main emotion, and otherwise says why; it charts the minutes whose
faces were mostly read either way (of a lesson mostly not read as a whole, as a date range does,
saying the charts rest on those only), so the row's minutes charted are those drawn. The
note also says when the numbers rest on part of the lesson
(:func:`dashboard.lesson_frames.part_of_lesson`: under way, its last minutes still closing, or data
for too few of its minutes), and so does the opened lesson; such a lesson is neither in its title's
trend nor compared with the lesson before. The row's numbers are those of the minutes the
charts draw (:func:`dashboard.lesson_frames.charted`: shown minutes whose faces were mostly read;
the others are counted in the note and beside the charts). Row and charts agree but for two
things: each is cached apart (for up to a minute one may be newer than the other while a lesson
is under way); and a lesson under way has its row
and its charts up to the newest closed minute (the views hold no other,
:func:`dashboard.periods.closed_until`), each read at its own time, and so has one that ended
until its last minute closes (the view says so of the lesson opened). The charts of an opened
lesson are drawn by the page's own ``show_trends`` (passed in, so the live, range and lesson
charts stay one implementation). While a lesson of the week is under way the view warns, as the
live view does, when no new data has come for a while.

Lesson titles, subjects and group labels come from a school's files: they are shown only as plain
text (table cells, select options, ``st.text``), never as Markdown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from classpulse.settings import Settings
from dashboard import charts, lesson_frames, queries, text, transform
from dashboard.lesson_states import ALL_HIDDEN, UNREADABLE
from dashboard.links import LESSON_KEY
from dashboard.periods import Period, closed_until, is_stale
from dashboard.widgets import Selection, distinct_labels, main_emotion_metric

TREND_LESSONS = 12  # how many lessons of the same title the trend shows, the open one included

DrawTrends = Callable[[pd.DataFrame, int, int, int, Settings, Period, bool], None]


def _shift_week(days: int) -> None:
    """Button callback: another week (before the widgets are drawn again), no lesson open."""
    st.session_state["week"] = st.session_state["week"] + timedelta(days=days)
    st.session_state[LESSON_KEY] = None


def _week_table(rows: pd.DataFrame, min_faces: int) -> None:
    st.dataframe(
        rows.drop(columns="lesson_id"), hide_index=True, width="stretch", key="lesson_table",
        column_config={
            "day": st.column_config.TextColumn("Day"),
            "time": st.column_config.TextColumn("Time"),
            "title": st.column_config.TextColumn("Lesson"),
            "main_emotion": st.column_config.TextColumn("Main emotion"),
            "main_share": st.column_config.TextColumn("Its share"),
            "engagement": st.column_config.NumberColumn("Engagement", format="%.2f"),
            "faces_in_view": st.column_config.NumberColumn(
                "Faces in view", format="%.1f",
                help=text.faces_in_view_help(True, "the mean over the minutes charted")),
            "minutes": st.column_config.NumberColumn(
                "Minutes charted", help="shown minutes whose faces were mostly read, as the "
                "charts draw them; the note counts those left out as not read"),
            "hidden_minutes": st.column_config.NumberColumn(
                "Minutes hidden", help=text.hidden_help(min_faces)),
            "data": st.column_config.TextColumn("Note"),
        },
    )


def _choose(rows: pd.DataFrame) -> int | None:
    """The lesson opened, by its day, time and title, with its id where another lesson of the
    week shares all three (:func:`dashboard.widgets.distinct_labels`)."""
    shorts = {int(r.lesson_id): f"{r.day} {r.time} · {r.title}" for r in rows.itertuples()}
    labels = distinct_labels((i, short, f"{short} (lesson {i})") for i, short in shorts.items())
    if st.session_state.get(LESSON_KEY) not in (None, *labels):
        st.session_state[LESSON_KEY] = None  # a lesson of another classroom or week
    return st.selectbox("Open a lesson", list(labels), index=None, key=LESSON_KEY,
                        format_func=labels.__getitem__,
                        placeholder="Choose a lesson to see its minutes")


def _metrics(lesson: pd.Series, min_faces: int) -> None:
    emotion, share = lesson_frames.main_emotions(lesson.to_frame().T)
    cols = st.columns(4)
    main_emotion_metric(cols[0], "Main emotion", emotion.iloc[0], text.share(share.iloc[0]))
    cols[1].metric("Engagement", f"{lesson['engagement']:.2f}")
    cols[2].metric("Faces in view", f"{lesson['faces_in_view']:.1f}",
                   help=text.faces_in_view_help(
                       True, "the mean over the minutes charted; "
                       f"{lesson['faces_read_in_view']:.1f} read at once in the frames where faces "
                       "were read (it can be more: faces the gate refused leave frames out)"))
    cols[3].metric("Minutes charted", f"{lesson['minutes']}",
                   help=f"{lesson['hidden_minutes']} more hidden: {text.hidden_help(min_faces)}; "
                   f"{lesson['unread_minutes']} more left out as their faces were mostly not read")


def _warn_if_stale(settings: Settings, sel: Selection, now: datetime) -> None:
    """A lesson is under way: warn, as the live view does, when the classroom's data stopped
    coming, so its minutes "so far" are not read as the lesson up to now."""
    _, written = queries.last_write(settings.database_url, sel.classroom_id, None)
    if written is not None and is_stale(written, now):
        st.warning(text.stale(written.astimezone(sel.tz), now - written))


def _trend(settings: Settings, sel: Selection, lesson: pd.Series, now: datetime) -> None:
    group = lesson["group_label"]
    # three times as many rows as the trend shows: a lesson stored twice (two timetable files)
    # is one of them (lesson_frames.last_distinct)
    history = lesson_frames.last_distinct(queries.title_history(
        settings.database_url, sel.classroom_id, str(lesson["title"]),
        None if pd.isna(group) else str(group), lesson["starts_at"].to_pydatetime(),
        3 * TREND_LESSONS, settings.min_faces_shown), int(lesson["lesson_id"]), TREND_LESSONS)
    trend = lesson_frames.title_trend(history, int(lesson["lesson_id"]), sel.tz, now)
    percent = lesson_frames.MIN_RECORDED_PERCENT
    if len(trend) < 2:
        st.info(text.trend_needs_two(lesson_frames.MIN_TREND_MINUTES, len(trend), percent))
    else:
        first, last = trend["time"].iloc[0], trend["time"].iloc[-1]
        axis = charts.TimeAxis.for_window(first - timedelta(days=1), last + timedelta(days=1),
                                          7 * 86400)
        st.altair_chart(charts.lesson_trend_chart(trend, axis), width="stretch")
        change = lesson_frames.change_from_previous(trend)
        if change is not None:
            st.caption(text.trend_sentence(*change))
    part = lesson_frames.part_of_lesson(lesson, now)
    if part is not None:  # not in the trend: say so rather than compare part of a lesson
        st.caption(text.trend_waits(part.state, part.recorded, part.length, percent))
    left, cameras = lesson_frames.left_out(history, int(lesson["lesson_id"]), sel.tz, now)
    if not left.empty:
        st.caption(text.trend_left_out(left.itertuples(index=False, name=None), cameras,
                                       lesson_frames.MIN_TREND_MINUTES, percent))


def _say_room_shared(lesson: pd.Series, tz: ZoneInfo) -> None:
    others = []
    for title, group, other_start, other_end in lesson["shared_with"]:
        local = other_start.astimezone(tz)
        others.append((title, group, local,
                       lesson_frames.until(other_end.astimezone(tz), local.date())))
    st.caption(text.lesson_room_shared(
        int(lesson["shared_minutes"]), lesson_frames.lesson_minutes(lesson), others,
        100 - lesson_frames.MIN_RECORDED_PERCENT, lesson_frames.room_shared(lesson)))


def show_lesson(settings: Settings, sel: Selection, lesson: pd.Series, draw_trends: DrawTrends,
                now: datetime) -> None:
    """One lesson: when, its title (plain text), its numbers, its minutes, its title's trend.

    Its row's note decides (see the module): metrics when it names a main emotion, else why
    not; charts of its minutes whose faces were mostly read; either way, said when they rest on
    part of the lesson."""
    start, end = lesson["starts_at"].to_pydatetime(), lesson["ends_at"].to_pydatetime()
    local_start, local_end = start.astimezone(sel.tz), end.astimezone(sel.tz)
    st.subheader(f"{local_start:%a %d %b %Y, %H:%M}–"
                 f"{lesson_frames.until(local_end, local_start.date(), '%a %d %b %Y,')}")
    st.text(str(lesson["title"]))
    # a missing subject or group is None, or NaN where the week's other lessons have one
    # (pandas 3 stores text as strings, their gaps as NaN): neither is shown, "nan" least of all
    labels = [f"{name}: {lesson[column]}" for name, column in
              (("subject", "subject"), ("group", "group_label"))
              if pd.notna(lesson[column]) and lesson[column]]
    if labels:
        st.text(" · ".join(labels))
    state = lesson_frames.status(lesson, now)
    today = now.astimezone(sel.tz).date()
    last_closes = lesson_frames.last_minute_closes(lesson)
    part = lesson_frames.part_of_lesson(lesson, now)
    if lesson_frames.under_way(lesson, now):
        st.caption(text.lesson_so_far(lesson_frames.until(local_end, today)))
    elif end <= now < last_closes:
        st.caption(text.lesson_closing(lesson_frames.until(local_end, today),
                                       last_closes.astimezone(sel.tz)))
    elif part is not None:
        st.caption(text.lesson_partly_recorded(part.recorded, part.length,
                                               lesson_frames.MIN_RECORDED_PERCENT))
    if lesson["shared_minutes"]:
        _say_room_shared(lesson, sel.tz)
    buckets = None
    if state in ("", ALL_HIDDEN, UNREADABLE):
        buckets = queries.range_buckets(settings.database_url, sel.classroom_id, None, start,
                                        min(end, closed_until(now)), 60,
                                        settings.min_faces_shown)
    why = transform.unreadable(buckets) if buckets is not None else None
    # the charts' minutes, those whose faces were mostly read, as the range view draws them and
    # the row counts them; also of a lesson whose faces were mostly not read as a whole, which
    # names no main emotion and has no metrics (a few faces read among many are not the lesson)
    # (where the minutes' own counts do not say so, the words below say no mix is shown: none is)
    frame = (transform.series(buckets, sel.tz) if buckets is not None and (
        not state or (state == UNREADABLE and why is not None)) else None)
    revised = transform.revised_minutes(buckets) if buckets is not None else 0
    if state == UNREADABLE and why is not None and frame is not None and not frame.empty:
        st.warning(text.partly_unreadable(why.read_share, why.reason, "in this lesson",
                                          int(frame["minutes"].sum())))
    elif state and why is not None:
        st.warning(text.unreadable(why.read_share, why.reason, "in this lesson"))
    elif state == ALL_HIDDEN and revised:  # lesson_without_data would call them all too few
        st.info(text.all_hidden(transform.hidden_minutes(buckets), settings.min_faces_shown,
                                revised, "of this lesson"))
    elif state:
        st.info(text.lesson_without_data(state))
    else:
        if why is not None:
            st.warning(text.partly_unreadable(why.read_share, why.reason, "in this lesson",
                                              int(frame["minutes"].sum())))
        _metrics(lesson, settings.min_faces_shown)
    left, right = st.columns([2, 1])
    with left:
        if frame is not None and not frame.empty:
            period = Period(start, end, sel.tz, 60)
            draw_trends(frame, transform.hidden_minutes(buckets), revised,
                        transform.unread_minutes(buckets), settings, period, True)
    with right:
        _trend(settings, sel, lesson, now)


def section(settings: Settings, sel: Selection, draw_trends: DrawTrends) -> None:
    """The week's lessons of the chosen classroom, and the lesson opened from them."""
    assert sel.week is not None
    start, end = lesson_frames.week_bounds(sel.week, sel.tz)
    st.caption(text.lessons_week(sel.week, sel.tz))
    back, forward, _ = st.columns([1, 1, 4])
    back.button("← Previous week", on_click=_shift_week, args=(-7,), key="week_back")
    forward.button("Next week →", on_click=_shift_week, args=(7,), key="week_next")
    lessons = queries.week_lessons(settings.database_url, sel.classroom_id, start, end,
                                   settings.min_faces_shown)
    if lessons.empty:
        st.info(text.no_lessons(sel.week))
        return
    now = datetime.now(timezone.utc)
    if any(lesson_frames.under_way(lesson, now) for _, lesson in lessons.iterrows()):
        _warn_if_stale(settings, sel, now)
    rows = lesson_frames.table(lessons, sel.tz, now)
    _week_table(rows, settings.min_faces_shown)
    chosen = _choose(rows)
    if chosen is not None:
        lesson = lessons[lessons["lesson_id"] == chosen].iloc[0]
        show_lesson(settings, sel, lesson, draw_trends, now)
