"""From ``lesson_summaries`` rows to what the lessons view shows; pure pandas, no Streamlit.

Every number comes straight from the view (sums over the lesson's shown minutes); this module only
picks the main emotion, words the times (in the classroom's zone) and the shares, says when a lesson
has no data, and which lessons its title's trend may compare.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from classpulse.years import FIRST_DAY, LAST_DAY
from dashboard import text, transform
from dashboard.lesson_states import (  # re-exported: the page and the tests name them here
    ALL_HIDDEN,
    CLOSING,
    NO_DATA,
    NOT_YET,
    UNDER_WAY,
    UNREADABLE,
)
from dashboard.periods import floor_minute, local_instant

TABLE_COLUMNS: tuple[str, ...] = (
    "lesson_id", "day", "time", "title", "main_emotion", "main_share", "engagement",
    "faces_in_view", "minutes", "hidden_minutes", "data",
)
DAY_FORMAT = "%a %d %b"  # a lesson's day in the table, and an end on another day
# A lesson enters its title's trend, and is compared with the lesson before, only with at least
# this many shown minutes: engagement swings from minute to minute (the minute charts' band spans
# ten points for that reason), so a mean over a few minutes is a moment of the lesson, not the
# lesson; ten minutes is a quarter of a usual 40-50 minute lesson, and a lesson under way joins
# the trend once that much of it has been seen.
MIN_TREND_MINUTES = 10
# The days whose weeks the lessons view opens: the days the wire format carries frames from
# (``classpulse.wire.in_time_range``), so no counted minute lies outside them. A link's week far
# beyond (9999-12-31, or 0001-01-01 in a zone east of UTC) would overflow the week's date
# arithmetic.
SHOWN_DAYS = (FIRST_DAY, LAST_DAY)


def week_start(day: date) -> date:
    """The Monday of ``day``'s week (weeks run Monday to Sunday)."""
    return day - timedelta(days=day.weekday())


def week_bounds(monday: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of that Monday's and the next Monday's local midnight."""
    return (local_instant(monday, time(0), tz),
            local_instant(monday + timedelta(days=7), time(0), tz))


def main_emotions(lessons: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(main expression in words, its share) of each lesson, as :func:`dashboard.transform.
    main_emotions` names them (ties included); empty where it has no shown faces, or most of them
    could not be read."""
    emotion, share = transform.main_emotions(lessons)
    read = mostly_read(lessons)
    return emotion.where(read), share.where(read)


def mostly_read(lessons: pd.DataFrame) -> pd.Series:
    """Per lesson: most faces of its shown minutes were read (``transform.MOSTLY_READ``)."""
    return lessons["faces_read"] >= transform.MOSTLY_READ * lessons["faces"]


def status(lesson: pd.Series, now: datetime) -> str:
    """Why a lesson's numbers are empty, in words; "" when it has shown minutes whose faces were
    mostly read."""
    if lesson["minutes"] > 0:
        return "" if lesson["faces_read"] >= transform.MOSTLY_READ * lesson["faces"] else UNREADABLE
    if lesson["hidden_minutes"] > 0:
        return ALL_HIDDEN
    if lesson["starts_at"] > pd.Timestamp(now):
        return NOT_YET
    if under_way(lesson, now):
        return UNDER_WAY
    return CLOSING if pd.Timestamp(now) < last_minute_closes(lesson) else NO_DATA


def under_way(lesson: pd.Series, now: datetime) -> bool:
    """The lesson has started and not ended: its numbers are the minutes so far."""
    return bool(lesson["starts_at"] <= pd.Timestamp(now) < lesson["ends_at"])


def last_minute_closes(lesson: pd.Series) -> datetime:
    """When the lesson's last minute (the one holding the instant before its end) closes: until
    then its row lacks minutes a consumer may still add to, so a short lesson that just ended
    without a closed minute is not "no data" yet."""
    end = pd.Timestamp(lesson["ends_at"]).to_pydatetime()
    return text.closed_at(floor_minute(end - timedelta(microseconds=1)))


def until(end: datetime, day: date, day_format: str = DAY_FORMAT) -> str:
    """A lesson's end (local, aware) on the wall clock, with its day (``day_format``) when that is
    not ``day``: "08:00–15:00" must not stand for a lesson that ends two days later."""
    if end.date() == day:
        return f"{end:%H:%M}"
    return f"{end:{day_format} %H:%M}"


def table(lessons: pd.DataFrame, tz: ZoneInfo, now: datetime) -> pd.DataFrame:
    """One row per lesson with TABLE_COLUMNS, in start order; the main share as words
    (:func:`dashboard.text.share`)."""
    if lessons.empty:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    start = lessons["starts_at"].dt.tz_convert(tz.key)
    end = lessons["ends_at"].dt.tz_convert(tz.key)
    emotion, share = main_emotions(lessons)
    out = pd.DataFrame({
        "lesson_id": lessons["lesson_id"],
        "day": start.dt.strftime(DAY_FORMAT),
        "time": [f"{s:%H:%M}–{until(e, s.date())}" for s, e in zip(start, end, strict=True)],
        "title": lessons["title"],
        "main_emotion": emotion,
        "main_share": transform.share_texts(share),
        # like the main emotion, engagement rests on read faces: empty where most were not
        "engagement": lessons["engagement"].astype("float64").where(mostly_read(lessons)),
        "faces_in_view": lessons["faces_in_view"].astype("float64"),
        "minutes": lessons["minutes"],
        "hidden_minutes": lessons["hidden_minutes"],
        "data": [status(row, now) for _, row in lessons.iterrows()],
    })
    return out[list(TABLE_COLUMNS)].reset_index(drop=True)


def in_trend(lessons: pd.DataFrame) -> pd.Series:
    """Per lesson: it has MIN_TREND_MINUTES shown minutes and most of their faces were read, so
    its engagement describes the lesson and may be compared."""
    return (lessons["minutes"] >= MIN_TREND_MINUTES) & mostly_read(lessons)


def title_trend(history: pd.DataFrame, current_id: int, tz: ZoneInfo) -> pd.DataFrame:
    """``time, engagement, minutes, current, group``: the title's lessons :func:`in_trend` (the
    others have no engagement worth comparing); ``group`` is the group label, "" for none."""
    shown = history[in_trend(history)]
    groups = shown["group_label"] if "group_label" in shown else pd.Series("", index=shown.index)
    return pd.DataFrame({
        "time": shown["starts_at"].dt.tz_convert(tz.key),
        "engagement": shown["engagement"].astype("float64"),
        "minutes": shown["minutes"],
        "current": shown["lesson_id"] == current_id,
        "group": groups.fillna("").astype(str),
    }).reset_index(drop=True)


def left_out(history: pd.DataFrame, current_id: int, tz: ZoneInfo) -> pd.DataFrame:
    """``time, minutes, current``: the title's lessons not :func:`in_trend`, oldest first, for the
    page to say which the trend leaves out (``dashboard.text.trend_left_out``)."""
    out = history[~in_trend(history)]
    return pd.DataFrame({
        "time": out["starts_at"].dt.tz_convert(tz.key),
        "minutes": out["minutes"].astype("int64"),
        "current": out["lesson_id"] == current_id,
    }).reset_index(drop=True)


def change_from_previous(trend: pd.DataFrame) -> tuple[float, pd.Timestamp] | None:
    """(engagement now minus the lesson before, that lesson's local start) for the open lesson.

    The lesson before started strictly earlier: a parallel lesson with the same title (PE for
    7B-boys and 7B-girls at 09:00) is held at the same time, so it is no lesson before, whichever
    of the two is open. Of the earlier ones it is the last of the same group, as last week's
    twin of the other group is another class's lesson; without one, the last earlier lesson."""
    current = trend[trend["current"]]
    if len(current) != 1:
        return None
    now = current.iloc[0]
    earlier = trend[trend["time"] < now["time"]]
    if earlier.empty:
        return None
    same_group = earlier[earlier["group"] == now["group"]]
    previous = (same_group if not same_group.empty else earlier).iloc[-1]
    return float(now["engagement"] - previous["engagement"]), previous["time"]
