"""The teacher dashboard page: widgets -> query -> transform -> chart.

Run by ``classpulse dashboard`` as ``streamlit run dashboard/app.py -- [--database-url URL]``;
settings come from those arguments, then the environment, through ``classpulse.settings`` (see
:mod:`dashboard.launch`). The small-group threshold is the database's (``small_group_rule``, the
rule every view applies): :func:`main` puts it into the page's ``Settings.min_faces_shown``, so the
words always name the rule that hid the minutes. Live mode redraws only its own fragment every few
seconds; a date range is drawn once, with its history; the lessons view is
:mod:`dashboard.lessons`, and :mod:`dashboard.links` keeps the address bar in step. The charts,
the latest minute and the downloads show a minute only once it has closed, when no consumer can
add frames read late to it any more: the views hold no other (migration
``0015_closes_after_max_lag``), and the periods end there (:func:`dashboard.periods.closed_until`).
Whether the newest minute is recent is judged from when it closed
(:func:`dashboard.periods.closed_at`), never from its start, which is always over three minutes
old.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import date, datetime, time, timedelta, timezone

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from classpulse.cli import configure_logging, disable_core_dumps
from classpulse.db.engine import failure_reason
from classpulse.errors import UsageError
from classpulse.redact import hide_password
from classpulse.settings import Settings, SettingsError
from dashboard import auth, charts, lessons, links, queries, text, transform, widgets
from dashboard.launch import settings_from_app_args
from dashboard.periods import (
    HISTORY_BUCKET,
    Period,
    closed_at,
    closed_until,
    floor_minute,
    is_stale,
    live_period,
    local_instant,
    range_period,
    repeated,
    skipped,
)
from dashboard.widgets import Selection, sidebar
from model import val_accuracy

log = logging.getLogger(__name__)

LIVE_REFRESH = timedelta(seconds=5)


@st.cache_data(ttl=3600, show_spinner=False)
def _val_accuracy(weights: str | None) -> float | None:
    """The consumers' weights' val accuracy, read once per file from its header (no torch)."""
    return val_accuracy(weights)


def _db_error(settings: Settings, exc: SQLAlchemyError) -> None:
    reason = failure_reason(exc)
    shown = hide_password(settings.database_url)
    log.error("dashboard query failed url=%s error=%s", shown, reason)
    st.error(text.database_error(shown, reason))


def show_trends(frame: pd.DataFrame, hidden: int, revised: int, unread: int, settings: Settings,
                period: Period, whole_class: bool) -> None:
    """Emotion mix, engagement with its band, faces in view and read (of a whole classroom, with
    the note that they add its cameras up); the notes on the minutes left out of them, hidden
    ones (``revised`` of them for being added to after they closed,
    :func:`transform.revised_minutes`) and ``unread`` shown ones
    (:func:`transform.unread_minutes`), so no minute goes missing from the charts without a
    word."""
    if hidden:
        st.caption(text.hidden_note(hidden, settings.min_faces_shown, revised))
    if unread:
        st.caption(text.unread_note(unread, settings.min_faces_shown))
    axis = charts.TimeAxis.for_period(period)
    st.altair_chart(charts.emotion_mix_chart(frame, axis), width="stretch")
    left, right = st.columns(2)
    with left:
        st.altair_chart(charts.engagement_chart(frame, axis), width="stretch")
        stored = queries.engagement_weights(settings.database_url)
        st.caption(text.engagement_sentence(stored.weights,
                                            stored.updated_at.astimezone(period.tz)))
    with right:
        st.altair_chart(charts.faces_chart(frame, axis), width="stretch")
        if whole_class:
            st.caption(text.faces_added_up())


def show_unreadable(buckets: pd.DataFrame, frame: pd.DataFrame, hidden: int, revised: int,
                    settings: Settings, when: str) -> bool:
    """Say why there is no mix where most faces could not be read, or every minute was hidden;
    where most faces could not be read but some points' faces mostly were (``frame``, what the
    caller charts), that the charts rest on those only. Where nothing is charted, how many
    minutes were hidden (beside charts, :func:`show_trends` says it). False when the period has
    no minutes at all (the caller says so)."""
    why = transform.unreadable(buckets)
    shown = int(buckets["minutes"].sum()) if len(buckets) else 0
    if why is not None and not frame.empty:
        st.warning(text.partly_unreadable(why.read_share, why.reason, when,
                                          int(frame["minutes"].sum())))
    elif why is not None:
        st.warning(text.unreadable(why.read_share, why.reason, when))
    elif frame.empty and shown:  # shown minutes, each mostly unread: the mix would rest on few
        st.warning(text.shown_but_unread(shown, settings.min_faces_shown))
    elif frame.empty and hidden:
        st.warning(text.all_hidden(hidden, settings.min_faces_shown, revised))
    if frame.empty and hidden and (why is not None or shown):  # all_hidden counts them itself
        st.caption(text.hidden_note(hidden, settings.min_faces_shown, revised))
    return bool(len(buckets)) and int((buckets["minutes"] + buckets["hidden_minutes"]).sum()) > 0


def offer_csv(frame: pd.DataFrame, sel: Selection, period: Period) -> None:
    """The charts' series as a file named for its classroom, its camera when one is shown (its
    minutes are the rows it sees, not the class), and its first minute."""
    start = period.start.astimezone(period.tz)
    parts = [sel.classroom_id, *([f"camera-{sel.camera_id}"] if sel.camera_id else [])]
    who = "_".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", part) for part in parts)
    st.download_button(
        "Download the shown data (CSV)",
        transform.csv_bytes(frame, sel.classroom_id, sel.camera_id),
        file_name=f"classpulse_{who}_{start:%Y%m%d-%H%M}.csv",
        mime="text/csv", on_click="ignore", key="csv",
    )


def show_freshness(
    settings: Settings, sel: Selection, now: datetime, period: Period, quiet: bool = False
) -> datetime | None:
    """How old the newest write is; a warning when the consumer seems to have stopped, and, of a
    whole classroom whose newest write is recent, one naming each camera that stopped
    (:func:`show_stopped_cameras`).

    Returns the newest minute with data (local), or None when the classroom has none at all.
    ``quiet`` says nothing unless something is wrong (a date range that reaches the present).
    """
    newest, written = queries.last_write(settings.database_url, sel.classroom_id, sel.camera_id)
    if newest is None or written is None:
        st.info(text.no_data(sel.label, period.describe(), None))
        return None
    age = now - written
    local = written.astimezone(period.tz)
    if is_stale(written, now):
        st.warning(text.stale(local, age))
        return newest.astimezone(period.tz)
    if sel.camera_id is None:
        show_stopped_cameras(settings, sel.classroom_id, now, period)
    if not quiet:
        st.caption(text.fresh(local, age))
    return newest.astimezone(period.tz)


def show_stopped_cameras(settings: Settings, classroom_id: str, now: datetime,
                         period: Period) -> None:
    """Warn of, by name, each of the classroom's cameras that has written in the last
    STOPPED_CAMERA_NAMED_FOR but nothing for over STALE_AFTER, while another camera writes (the
    caller's check): the classroom's numbers since are the other cameras' alone, and "fresh"
    would pass for all of them. One query for all cameras (:func:`queries.camera_writes`), each
    camera's last write judged as the classroom's is; a camera that moved to another classroom
    is that classroom's, not a stopped camera of this one."""
    since = floor_minute(now) - text.STOPPED_CAMERA_NAMED_FOR
    cameras = queries.camera_writes(settings.database_url, classroom_id, since)
    stopped = []
    for camera_id, name, when in zip(cameras["id"], cameras["name"], cameras["written"],
                                     strict=True):
        written = when.to_pydatetime()
        if is_stale(written, now) and now - written <= text.STOPPED_CAMERA_NAMED_FOR:
            label = name if name == camera_id else f"{name} ({camera_id})"
            stopped.append((label, written.astimezone(period.tz), now - written))
    if stopped:
        st.warning(text.cameras_stopped(stopped))


def show_right_now(buckets: pd.DataFrame, settings: Settings, period: Period, now: datetime,
                   whole_class: bool) -> None:
    """The newest closed minute's numbers, called the latest only while it is: while it closed
    (:func:`closed_at`) under STALE_AFTER ago (:func:`is_stale`). A minute from before the
    consumer stopped is named by its time and age instead. Its start would not do: every minute
    shown started a minute and MINUTE_CLOSES_AFTER ago or more, longer than STALE_AFTER."""
    summary = transform.right_now(buckets, period.tz)
    if summary is None:
        return
    if summary.unreadable is not None:
        why = summary.unreadable
        st.info(text.unreadable(why.read_share, why.reason,
                                f"of the newest minute ({summary.minute:%H:%M})"))
        return
    if summary.unread:
        st.info(text.newest_unread(summary.minute))
        return
    if summary.hidden:
        st.info(text.newest_hidden(summary.minute, settings.min_faces_shown, summary.revised))
        return
    stale = is_stale(closed_at(summary.minute), now)
    at = f" at {summary.minute:%H:%M}" if stale else ""
    cols = st.columns(4)
    widgets.main_emotion_metric(cols[0], f"Main emotion{at or ', latest minute'}", summary.emotion,
                                text.share(summary.emotion_share))
    cols[1].metric(f"Engagement{at or ', latest minute'}", f"{summary.engagement:.2f}")
    cols[2].metric(f"Faces in view{at}", f"{summary.faces_in_view:.0f}",
                   help=text.faces_in_view_help(
                       whole_class, f"{summary.faces_read_in_view:.0f} read at once in the frames "
                       "where faces were read (it can be more: faces the gate refused leave "
                       "frames out)"))
    if stale:  # its age below it in small type: the box cuts a long value with "…"
        cols[3].metric("Minute", f"{summary.minute:%H:%M}",
                       delta=f"{text.age_text(now - summary.minute)} ago", delta_color="off",
                       delta_arrow="off",
                       help="start of the newest minute with data: no newer one has been recorded")
    else:
        cols[3].metric("Minute", f"{summary.minute:%H:%M}",
                       help="start of the newest minute with data that has closed; a minute is "
                       f"shown from {text.closing_delay()} after it ends, once no frame read late "
                       "can add to it")


@st.fragment(run_every=LIVE_REFRESH)
def live_section(settings: Settings, sel: Selection, minutes: int) -> None:
    """The live window; Streamlit reruns only this function every LIVE_REFRESH, with the
    arguments of the page's last full run. The small-group rule may have changed since (``db
    upgrade --min-faces-shown``): then the whole page runs again, so that every word on it,
    the explanation below the fragment included, names the rule that hid the minutes."""
    try:
        if queries.min_faces(settings.database_url) != settings.min_faces_shown:
            st.rerun()
        now = datetime.now(timezone.utc)
        period = live_period(now, minutes, sel.tz)
        st.caption(f"Live: {text.plain(period.describe())}, refreshed every "
                   f"{int(LIVE_REFRESH.total_seconds())} s.")
        newest = show_freshness(settings, sel, now, period)
        if newest is None:
            return
        buckets = queries.live_buckets(settings.database_url, sel.classroom_id, sel.camera_id,
                                       period.start, period.end, settings.min_faces_shown)
        show_right_now(buckets, settings, period, now, sel.camera_id is None)
        frame = transform.series(buckets, sel.tz)
        hidden, revised = transform.hidden_minutes(buckets), transform.revised_minutes(buckets)
        if not show_unreadable(buckets, frame, hidden, revised, settings, "in this window"):
            st.info(text.no_data(sel.label, period.describe(), newest))
            return
        if frame.empty:
            return
        show_trends(frame, hidden, revised, transform.unread_minutes(buckets), settings, period,
                    sel.camera_id is None)
        offer_csv(frame, sel, period)
    except UsageError as exc:  # no rule stored: main() says so on full runs, not on these
        st.error(text.plain(exc))
    except SQLAlchemyError as exc:
        _db_error(settings, exc)


def show_history(settings: Settings, period: Period, buckets: pd.DataFrame,
                 whole_class: bool) -> None:
    """Per-day table and hour-of-week heatmap, from 15-minute buckets cut in local time; their
    numbers are the charted minutes' (:func:`transform.daily_summary`), the others counted."""
    st.subheader("History")
    days = transform.daily_summary(buckets, period.tz)
    days["main_share"] = transform.share_texts(days["main_share"])
    min_faces = settings.min_faces_shown
    st.dataframe(
        days, hide_index=True, width="stretch", key="days",
        column_config={
            "day": st.column_config.DateColumn("Day", format="ddd D MMM YYYY"),
            "minutes": st.column_config.NumberColumn(
                "Minutes charted", help="shown minutes whose faces were mostly read, as the "
                "charts draw them: the numbers to the right are theirs alone"),
            "unread_minutes": st.column_config.NumberColumn(
                "Minutes not read", help=f"at least {min_faces} faces read at once, but most "
                "faces could not be read: left out of the numbers, as of the charts"),
            "hidden_minutes": st.column_config.NumberColumn(
                "Minutes hidden", help=text.hidden_help(min_faces)),
            "faces_in_view": st.column_config.NumberColumn(
                "Faces in view", format="%.1f",
                help=text.faces_in_view_help(whole_class, "the mean over the minutes charted")),
            "engagement": st.column_config.NumberColumn("Engagement", format="%.2f"),
            "main_emotion": st.column_config.TextColumn("Main emotion"),
            "main_share": st.column_config.TextColumn("Its share"),
        },
    )
    cells = transform.hour_of_week(buckets, period.tz)
    if not cells.empty:
        st.altair_chart(charts.hour_of_week_chart(cells), width="stretch")


def range_section(settings: Settings, sel: Selection, first: date, last: date,
                  from_time: time, to_time: time) -> None:
    period = range_period(first, from_time, last, to_time, sel.tz)
    st.caption(f"{text.plain(period.describe())}; each point covers {period.resolution_label()}.")
    for end, day, clock in (("starts", first, from_time), ("ends", last, to_time)):
        if skipped(day, clock, sel.tz):
            jump = local_instant(day, clock, sel.tz).astimezone(sel.tz)
            st.caption(text.range_time_skipped(end, day, clock, jump))
        elif repeated(day, clock, sel.tz):
            st.caption(text.range_time_repeated(
                day, clock, datetime.combine(day, clock, tzinfo=sel.tz)))
    now = datetime.now(timezone.utc)
    # the range reaches the present when its last minute closed under STALE_AFTER ago, or has not
    # closed yet: judged from its end alone, a range whose last minute came in a minute ago would
    # not warn that the consumer stopped
    if not is_stale(closed_at(period.end - timedelta(minutes=1)), now):
        newest = show_freshness(settings, sel, now, period, quiet=True)
        if newest is None:
            return
    fetched = queries.range_buckets(settings.database_url, sel.classroom_id, sel.camera_id,
                                    period.start, min(period.end, closed_until(now)),
                                    period.fetch_bucket_seconds, settings.min_faces_shown)
    buckets = transform.regroup(fetched, period.bucket_seconds)
    frame = transform.series(buckets, sel.tz)
    hidden, revised = transform.hidden_minutes(buckets), transform.revised_minutes(buckets)
    if not show_unreadable(buckets, frame, hidden, revised, settings, "in this period"):
        last, _ = queries.last_write(settings.database_url, sel.classroom_id, sel.camera_id)
        local = last.astimezone(sel.tz) if last is not None else None
        st.info(text.no_data(sel.label, period.describe(), local))
        return
    if frame.empty:
        return
    show_trends(frame, hidden, revised, transform.unread_minutes(buckets), settings, period,
                sel.camera_id is None)
    offer_csv(frame, sel, period)
    show_history(settings, period, transform.regroup(fetched, HISTORY_BUCKET),
                 sel.camera_id is None)


def page(settings: Settings) -> None:
    rooms = queries.classrooms(settings.database_url)
    if rooms.empty:
        st.title("ClassPulse")
        st.info(text.no_classrooms())
        return
    problems = links.restore(
        rooms, lambda lesson_id: _lesson_ref(settings, lesson_id),
        lambda room, start, end: queries.cameras(settings.database_url, room, start,
                                                 end)["id"].tolist())
    sel = sidebar(settings, rooms)
    st.title(text.plain(sel.label))
    if problems:
        st.warning(text.bad_link())
        for problem in problems:
            st.text(problem)  # holds what the address said: plain text, never Markdown
    if sel.week is not None:
        lessons.section(settings, sel, show_trends)
    elif sel.live_minutes is not None:
        live_section(settings, sel, sel.live_minutes)
    else:
        range_section(settings, sel, *sel.range_bounds)
    links.keep(sel)


def _lesson_ref(settings: Settings, lesson_id: int) -> links.LessonRef | None:
    row = queries.lesson(settings.database_url, lesson_id, settings.min_faces_shown)
    if row.empty:
        return None
    return links.LessonRef(lesson_id, str(row["classroom_id"].iloc[0]),
                           row["starts_at"].iloc[0].to_pydatetime())


def main() -> None:
    # the Streamlit child is a process of its own, started by an exec that made it dumpable again
    disable_core_dumps()
    st.set_page_config(page_title="ClassPulse", page_icon=":bar_chart:", layout="wide")
    try:
        settings = settings_from_app_args(sys.argv[1:])
    except (SettingsError, UsageError) as exc:
        st.error(f"Configuration error: {text.plain(exc)}")
        return
    configure_logging(settings.log_level)  # once per process; later calls change nothing
    if not auth.allowed(settings.dashboard_password):
        return
    min_faces = None
    try:
        min_faces = queries.min_faces(settings.database_url)
        page(settings.with_overrides(min_faces_shown=min_faces))
    except UsageError as exc:
        st.error(text.plain(exc))
    except SQLAlchemyError as exc:
        _db_error(settings, exc)
    st.divider()
    st.markdown(text.explanation(min_faces, _val_accuracy(settings.model_weights)))


main()
