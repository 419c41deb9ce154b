"""On SQLite, a class minute finds its shown cameras by one point lookup again, not a read of the
classroom's history.

Revision ID: 0019_sqlite_class_rows_seek
Revises: 0018_lesson_ids_never_reused
Create Date: 2026-12-13

Since 0011 a class minute is made of its shown cameras' minutes, or of all of them when none is
shown; on SQLite the views ask it per camera minute with a correlated ``NOT EXISTS`` over
``camera_minutes`` on the same classroom and minute, meant as a point lookup in the
(classroom, minute) index (0006's ``class_rows_sql``). From 0014 on, ``camera_minutes`` holds
closed minutes only (``minute_start <= now - 190 s``), and SQLite's planner took that bound, not the
minute's equality, for the lookup's range: every camera minute read its classroom's whole history
up to now. On a seed of 10 classrooms x 60 days (``classpulse bench dashboard --classrooms 10 --days
60``): one classroom-day of ``camera_minutes`` judged that way 0.51 s, and a week of one
classroom's lessons (``lesson_summaries``, which reads every lesson's class minutes) 115 s. The
lookup now also says ``s.minute_start >= c.minute_start`` (the equality implies it), and SQLite
reads the one classroom-minute: 0.011 s for that day (``"shown_seek"`` in 0006's ``Shape``).

PostgreSQL's views decide it with a window and are untouched (and keep their grants). On SQLite
every view is dropped and made again, with 0017's shape but for the lookup (SQLite has no grants to
lose). The rows are the same, so every number is the same. Names are written out here, not
imported, so this revision keeps meaning what it meant when it shipped. The downgrade makes the
views again as 0017 left them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from alembic import context, op

revision: str = "0019_sqlite_class_rows_seek"
down_revision: str | None = "0018_lesson_ids_never_reused"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLASS_ROWS = "shown_seek"


def _module(name: str) -> ModuleType:
    return context.script.get_revision(name).module


def shape(faces_read: ModuleType, rule: ModuleType) -> Any:
    """The views' shape from this revision on (outside a migration too, as 0017's): 0017's, the
    shown cameras of a class minute found by a point lookup on SQLite."""
    revised = _module("0017_revised_minutes")
    return revised.shape(faces_read, rule)._replace(class_rows=CLASS_ROWS)


def _rebuild(seek: bool) -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    revised = _module("0017_revised_minutes")
    faces_read = _module("0008_faces_read")
    rule = faces_read._modules()[0]
    revised._drop_views()
    revised._create_views(shape(faces_read, rule) if seek else revised.shape(faces_read, rule))


def upgrade() -> None:
    _rebuild(seek=True)


def downgrade() -> None:
    _rebuild(seek=False)
