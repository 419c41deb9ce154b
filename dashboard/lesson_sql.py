"""The lessons view's SQL: ``lesson_summaries`` rows as DataFrames, bound parameters only.

``lesson_summaries`` (migration ``0007_lessons``) sums each lesson's shown class minutes under the
database's one small-group rule, the same sums as the lesson's minutes charted through
:func:`dashboard.sql.fetch_buckets` (the charts leave out minutes whose faces were mostly not
read). Like :mod:`dashboard.sql`, no caching here.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, Select, select

from classpulse.db.views import lesson_summaries as summaries

COLUMNS: tuple[str, ...] = tuple(c.name for c in summaries.columns)


def _frame(engine: Engine, query: Select) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("starts_at", "ends_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("lesson_id", "minutes", "hidden_minutes", "faces", "faces_read"):
        frame[column] = frame[column].astype("int64")
    return frame


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


def fetch_title_history(engine: Engine, classroom_id: str, title: str, until: datetime,
                        limit: int) -> pd.DataFrame:
    """The classroom's last ``limit`` lessons with this exact title starting at or before
    ``until``, oldest first."""
    query = (select(summaries)
             .where(summaries.c.classroom_id == classroom_id, summaries.c.title == title,
                    summaries.c.starts_at <= until)
             .order_by(summaries.c.starts_at.desc(), summaries.c.lesson_id.desc())
             .limit(limit))
    return _frame(engine, query).iloc[::-1].reset_index(drop=True)
