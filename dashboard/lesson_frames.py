"""From ``lesson_summaries`` rows to what the lessons view shows; pure pandas, no Streamlit.

Every number comes straight from the view (sums over the lesson's shown minutes); this module only
picks the main emotion, words the times in the classroom's zone and says when a lesson has no data.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from classpulse.emotions import EMOTIONS
from dashboard.periods import local_instant
from dashboard.transform import MOSTLY_READ

SHARES: tuple[str, ...] = tuple(f"share_{e}" for e in EMOTIONS)
TABLE_COLUMNS: tuple[str, ...] = (
    "lesson_id", "day", "time", "title", "main_emotion", "main_share", "engagement",
    "faces_in_view", "minutes", "hidden_minutes", "data",
)
NO_DATA = "no data"
NOT_YET = "not held yet"
UNDER_WAY = "under way, no minute yet"
ALL_HIDDEN = "all minutes hidden"
UNREADABLE = "most faces not read"


def week_start(day: date) -> date:
    """The Monday of ``day``'s week (weeks run Monday to Sunday)."""
    return day - timedelta(days=day.weekday())


def week_bounds(monday: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of that Monday's and the next Monday's local midnight."""
    return (local_instant(monday, time(0), tz),
            local_instant(monday + timedelta(days=7), time(0), tz))


def main_emotions(lessons: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(emotion, share) of each lesson's largest share; empty where it has no shown faces, or
    most of them could not be read."""
    shares = lessons[list(SHARES)].astype("float64")
    has_faces = shares.notna().all(axis=1) & mostly_read(lessons)
    top = shares.fillna(-1.0).idxmax(axis=1).str.removeprefix("share_")
    return top.where(has_faces), shares.max(axis=1).where(has_faces)


def mostly_read(lessons: pd.DataFrame) -> pd.Series:
    """Per lesson: most faces of its shown minutes were read (``transform.MOSTLY_READ``)."""
    return lessons["faces_read"] >= MOSTLY_READ * lessons["faces"]


def status(lesson: pd.Series, now: datetime) -> str:
    """Why a lesson's numbers are empty, in words; "" when it has shown minutes whose faces were
    mostly read."""
    if lesson["minutes"] > 0:
        return "" if lesson["faces_read"] >= MOSTLY_READ * lesson["faces"] else UNREADABLE
    if lesson["hidden_minutes"] > 0:
        return ALL_HIDDEN
    if lesson["starts_at"] > pd.Timestamp(now):
        return NOT_YET
    return UNDER_WAY if under_way(lesson, now) else NO_DATA


def under_way(lesson: pd.Series, now: datetime) -> bool:
    """The lesson has started and not ended: its numbers are the minutes so far."""
    return bool(lesson["starts_at"] <= pd.Timestamp(now) < lesson["ends_at"])


def table(lessons: pd.DataFrame, tz: ZoneInfo, now: datetime) -> pd.DataFrame:
    """One row per lesson with TABLE_COLUMNS, in start order."""
    if lessons.empty:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    start = lessons["starts_at"].dt.tz_convert(tz.key)
    end = lessons["ends_at"].dt.tz_convert(tz.key)
    emotion, share = main_emotions(lessons)
    out = pd.DataFrame({
        "lesson_id": lessons["lesson_id"],
        "day": start.dt.strftime("%a %d %b"),
        "time": start.dt.strftime("%H:%M") + "–" + end.dt.strftime("%H:%M"),
        "title": lessons["title"],
        "main_emotion": emotion,
        "main_share": share,
        # like the main emotion, engagement rests on read faces: empty where most were not
        "engagement": lessons["engagement"].astype("float64").where(mostly_read(lessons)),
        "faces_in_view": lessons["faces_in_view"].astype("float64"),
        "minutes": lessons["minutes"],
        "hidden_minutes": lessons["hidden_minutes"],
        "data": [status(row, now) for _, row in lessons.iterrows()],
    })
    return out[list(TABLE_COLUMNS)].reset_index(drop=True)


def title_trend(history: pd.DataFrame, current_id: int, tz: ZoneInfo) -> pd.DataFrame:
    """``time, engagement, minutes, current``: the title's lessons that have shown minutes whose
    faces were mostly read (the others have no engagement to compare)."""
    shown = history[(history["minutes"] > 0) & mostly_read(history)]
    return pd.DataFrame({
        "time": shown["starts_at"].dt.tz_convert(tz.key),
        "engagement": shown["engagement"].astype("float64"),
        "minutes": shown["minutes"],
        "current": shown["lesson_id"] == current_id,
    }).reset_index(drop=True)


def change_from_previous(trend: pd.DataFrame) -> tuple[float, pd.Timestamp] | None:
    """(engagement now minus the lesson before, that lesson's local start) for the open lesson."""
    current = trend.index[trend["current"]]
    if len(current) != 1 or current[0] == 0:
        return None
    i = int(current[0])
    previous = trend.iloc[i - 1]
    return float(trend.iloc[i]["engagement"] - previous["engagement"]), previous["time"]
