"""The page's data access: one engine per database URL, every query cached with a short TTL.

Many teachers may keep a live page open; the caches make them share one query per question and
period. Live windows are cut on whole minutes (see :func:`dashboard.periods.live_period`), so the
same question repeats for a minute and the 5-second TTL bounds how stale a live chart can be.
The SQL itself lives in :mod:`dashboard.sql`.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from classpulse.db.engine import make_engine
from classpulse.db.weights import StoredWeights
from dashboard import lesson_sql, sql

LIVE_TTL_S = 5
HISTORY_TTL_S = 60
LIST_TTL_S = 30


@st.cache_resource(show_spinner=False)
def engine(database_url: str) -> Engine:
    """One pooled engine per database URL for the whole server process."""
    return make_engine(database_url)


@st.cache_data(ttl=LIST_TTL_S, show_spinner=False)
def classrooms(database_url: str) -> pd.DataFrame:
    return sql.fetch_classrooms(engine(database_url))


@st.cache_data(ttl=LIST_TTL_S, show_spinner=False)
def cameras(database_url: str, classroom_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The cameras a page of the classroom over ``[start, end)`` offers (a live window's bounds
    are whole minutes, so the runs of a minute share its list)."""
    return sql.fetch_cameras(engine(database_url), classroom_id, start, end)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def last_write(
    database_url: str, classroom_id: str, camera_id: str | None
) -> tuple[datetime | None, datetime | None]:
    return sql.fetch_last_write(engine(database_url), classroom_id, camera_id)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def camera_writes(database_url: str, classroom_id: str, since: datetime) -> pd.DataFrame:
    """Each camera of the classroom since ``since`` and its last write, all in one query
    (``since`` on a whole minute, so the live refreshes of a minute share it)."""
    return sql.fetch_camera_writes(engine(database_url), classroom_id, since)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def min_faces(database_url: str) -> int:
    """The small-group threshold the database applies (``small_group_rule``); read as often as a
    live window (one row), so the page's words and cache keys follow a change within seconds."""
    return sql.fetch_min_faces(engine(database_url))


@st.cache_data(ttl=LIST_TTL_S, show_spinner=False)
def engagement_weights(database_url: str) -> StoredWeights:
    """The engagement weights the consumers score with (``engagement_weights``)."""
    return sql.fetch_engagement_weights(engine(database_url))


# ``min_faces`` is part of the bucket caches' keys although the SQL does not take it (the database
# applies its own rule, in the statement itself): once the page reads a changed rule, it is not
# answered from a cache filled under the old one. After a threshold is raised, every query run
# applies it, so only frames cached before can carry the old one: for up to LIVE_TTL_S, while the
# page still holds the old value (its keys are the old ones); after that only in a frame cached
# under the raised value's key while the rule was lower (raised, lowered, raised again within
# HISTORY_TTL_S), and never for longer than that frame's TTL (HISTORY_TTL_S at most).
@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def live_buckets(
    database_url: str, classroom_id: str, camera_id: str | None,
    start: datetime, end: datetime, min_faces: int,
) -> pd.DataFrame:
    """Minute buckets of a live window."""
    return sql.fetch_buckets(engine(database_url), classroom_id, camera_id, start, end, 60)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def range_buckets(
    database_url: str, classroom_id: str, camera_id: str | None,
    start: datetime, end: datetime, bucket_seconds: int, min_faces: int,
) -> pd.DataFrame:
    """Buckets of a chosen date/time range, at ``Period.fetch_bucket_seconds``."""
    return sql.fetch_buckets(
        engine(database_url), classroom_id, camera_id, start, end, bucket_seconds
    )


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def week_lessons(
    database_url: str, classroom_id: str, start: datetime, end: datetime, min_faces: int
) -> pd.DataFrame:
    """A classroom's lessons of one week, with their numbers (``lesson_summaries``)."""
    return lesson_sql.fetch_week(engine(database_url), classroom_id, start, end)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def lesson(database_url: str, lesson_id: int, min_faces: int) -> pd.DataFrame:
    """One lesson's row (none when it does not exist)."""
    return lesson_sql.fetch_lesson(engine(database_url), lesson_id)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def title_history(
    database_url: str, classroom_id: str, title: str, group: str | None, until: datetime,
    limit: int, min_faces: int,
) -> pd.DataFrame:
    """The classroom's earlier lessons with the same title and group, oldest first."""
    return lesson_sql.fetch_title_history(engine(database_url), classroom_id, title, group,
                                          until, limit)
