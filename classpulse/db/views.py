"""Typed handles on the analyst views, for SQLAlchemy Core queries (e.g. the dashboard's).

The views themselves are created by migration ``0002_class_views``. These ``Table`` objects live in
their own ``MetaData`` so Alembic's autogenerate never tries to create them as tables; selecting
through them gives bound parameters and, on SQLite, real ``datetime``/``date`` values instead of
text. A test checks that their columns match the migrated views.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, Double, Integer, MetaData, Table, Text

from classpulse.db.base import UTCDateTime
from classpulse.emotions import EMOTIONS

VIEWS_METADATA = MetaData()


def _measures(
    with_frames_with_faces: bool = True, with_p: bool = True, with_largest_view: bool = False
) -> list[Column]:
    cols = [Column("frames", Integer)]
    if with_frames_with_faces:
        cols.append(Column("frames_with_faces", Integer))
    cols.append(Column("faces", Integer))
    if with_largest_view:
        cols.append(Column("largest_view", Double))
    cols += [Column(f"n_{e}", Integer) for e in EMOTIONS]
    if with_p:
        cols += [Column(f"p_{e}", Double) for e in EMOTIONS]
    cols.append(Column("engagement_sum", Double))
    cols.append(Column("engagement", Double))
    cols += [Column(f"share_{e}", Double) for e in EMOTIONS]
    return cols


class_minutes = Table(
    "class_minutes",
    VIEWS_METADATA,
    Column("classroom_id", Text),
    Column("minute_start", UTCDateTime),
    Column("cameras", Integer),
    *_measures(with_largest_view=True),
)

class_days = Table(
    "class_days",
    VIEWS_METADATA,
    Column("classroom_id", Text),
    Column("day", Date),
    Column("minutes", Integer),
    *_measures(),
)

class_hour_of_week = Table(
    "class_hour_of_week",
    VIEWS_METADATA,
    Column("classroom_id", Text),
    Column("iso_dow", Integer),
    Column("hour", Integer),
    Column("minutes", Integer),
    *_measures(with_frames_with_faces=False, with_p=False),
)

VIEWS: tuple[Table, ...] = (class_minutes, class_days, class_hour_of_week)
