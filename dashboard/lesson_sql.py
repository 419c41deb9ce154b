"""The lessons view's SQL: ``lesson_summaries`` rows as DataFrames, bound parameters only.

``lesson_summaries`` (migration ``0007_lessons``) sums each lesson's shown class minutes under the
database's one small-group rule. The charts leave out the shown minutes whose faces were mostly not
read, so each row's numbers are taken again over the minutes its charts draw, from the same bucket
query at one minute (:func:`dashboard.sql.fetch_buckets`, :func:`dashboard.lesson_frames.charted`).
Like :mod:`dashboard.sql`, no caching here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, Select, and_, or_, select

from classpulse.db.views import camera_minutes
from classpulse.db.views import lesson_summaries as summaries
from dashboard import lesson_frames
from dashboard.sql import BUCKET_COLUMNS, fetch_buckets

COLUMNS: tuple[str, ...] = tuple(c.name for c in summaries.columns)
# lessons closer than this are read with one bucket query: a query costs more than the minutes
# between a week's lessons (a week at one minute: 145 ms, its 40 lessons apart: 891 ms, measured
# on PostgreSQL in docs/benchmarks.md), but not than the weeks between a title's lessons
_JOINED = timedelta(days=2)


def _frame(engine: Engine, query: Select) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("starts_at", "ends_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("lesson_id", "minutes", "hidden_minutes", "faces", "faces_read"):
        frame[column] = frame[column].astype("int64")
    frame = lesson_frames.charted(frame, _minutes(engine, frame))
    return frame.join(lesson_frames.shared_room(frame, _others(engine, frame)))


def _others(engine: Engine, lessons: pd.DataFrame) -> pd.DataFrame:
    """``lesson_id, title, group_label, starts_at, ends_at`` of the lessons' classroom's other
    lessons held during any of them (:func:`dashboard.lesson_frames.shared_room`): none in a
    usual timetable, so the view's sums (a LATERAL per row on PostgreSQL) run for few rows."""
    columns = ["lesson_id", "title", "group_label", "starts_at", "ends_at"]
    if lessons.empty:
        return pd.DataFrame(columns=columns)
    s = summaries.c
    query = (select(*(s[c] for c in columns))
             .where(s.classroom_id == str(lessons["classroom_id"].iloc[0]),
                    s.starts_at < lessons["ends_at"].max().to_pydatetime(),
                    s.ends_at > lessons["starts_at"].min().to_pydatetime(),
                    s.lesson_id.not_in([int(i) for i in lessons["lesson_id"]]),
                    or_(*(and_(s.starts_at < end.to_pydatetime(),
                               s.ends_at > start.to_pydatetime())
                          for start, end in zip(lessons["starts_at"], lessons["ends_at"],
                                                strict=True)))))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("starts_at", "ends_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _minutes(engine: Engine, lessons: pd.DataFrame) -> pd.DataFrame:
    """The minute buckets of the lessons' classroom over their times: one bucket query per run of
    lessons less than :data:`_JOINED` apart (a week's timetable is one, a title's weekly lessons
    one each), each one index range of the classroom's minutes."""
    ranges: list[list[datetime]] = []
    for start, end in sorted(zip(lessons["starts_at"], lessons["ends_at"], strict=True)):
        if ranges and start - ranges[-1][1] < _JOINED:
            ranges[-1][1] = max(ranges[-1][1], end)
        else:
            ranges.append([start, end])
    classrooms = set(lessons["classroom_id"])
    assert len(classrooms) <= 1, "one classroom's lessons at a time"
    return pd.concat([fetch_buckets(engine, str(lessons["classroom_id"].iloc[0]), None,
                                    start.to_pydatetime(), end.to_pydatetime(), 60)
                      for start, end in ranges] or [pd.DataFrame(columns=list(BUCKET_COLUMNS))],
                     ignore_index=True)


def fetch_week(engine: Engine, classroom_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The classroom's lessons starting in ``[start, end)``, in start order."""
    query = (select(summaries)
             .where(summaries.c.classroom_id == classroom_id,
                    summaries.c.starts_at >= start, summaries.c.starts_at < end)
             .order_by(summaries.c.starts_at, summaries.c.lesson_id))
    return _frame(engine, query)


def fetch_lesson(engine: Engine, lesson_id: int) -> pd.DataFrame:
    """One lesson's row, or no row when there is no such lesson."""
    return _frame(engine, select(summaries).where(summaries.c.lesson_id == int(lesson_id)))


def _recorded_camera_minutes(engine: Engine, lessons: pd.DataFrame) -> pd.DataFrame:
    """``camera_id, minute_start`` (epoch seconds) of the camera minutes, shown or hidden by the
    small-group rule, in the lessons' times, in their classroom: one index range per lesson, in
    one query. Not those hidden for being added to after they closed (``revised``): a camera
    whose consumer wrote late (a clock behind the database's) has its minutes out of the class
    minutes, so the lesson's numbers are the other cameras', and a trend that counted it as
    recording compared the back rows with the whole class. The outer
    bounds are for SQLite, which reads one range of the (classroom, minute) index, not one per
    lesson: from the first lesson's start rather than from the classroom's first minute."""
    if lessons.empty:
        return pd.DataFrame({"camera_id": pd.Series(dtype=object),
                             "minute_start": pd.Series(dtype="float64")})
    m = camera_minutes.c
    query = (select(m.camera_id, m.minute_start)
             .where(m.classroom_id == str(lessons["classroom_id"].iloc[0]),
                    m.revised.is_(False),
                    m.minute_start >= lessons["starts_at"].min().to_pydatetime(),
                    m.minute_start < lessons["ends_at"].max().to_pydatetime(),
                    or_(*(and_(m.minute_start >= start.to_pydatetime(),
                               m.minute_start < end.to_pydatetime())
                          for start, end in zip(lessons["starts_at"], lessons["ends_at"],
                                                strict=True)))))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame({"camera_id": [r.camera_id for r in rows],
                         "minute_start": [r.minute_start.timestamp() for r in rows]},
                        ).astype({"minute_start": "float64"})


def fetch_title_history(engine: Engine, classroom_id: str, title: str, group: str | None,
                        until: datetime, limit: int) -> pd.DataFrame:
    """The classroom's last ``limit`` lessons with this exact title and group (no group matches
    no group: a group's lessons are another class's) starting at or before ``until``, oldest
    first, each with the cameras that recorded it (``cameras`` and ``cameras_part``,
    :func:`dashboard.lesson_frames.lesson_cameras`), which the trend compares."""
    query = (select(summaries)
             .where(summaries.c.classroom_id == classroom_id, summaries.c.title == title,
                    summaries.c.group_label.is_not_distinct_from(group),
                    summaries.c.starts_at <= until)
             .order_by(summaries.c.starts_at.desc(), summaries.c.lesson_id.desc())
             .limit(limit))
    history = _frame(engine, query).iloc[::-1].reset_index(drop=True)
    return history.join(lesson_frames.lesson_cameras(history,
                                                     _recorded_camera_minutes(engine, history)))
