"""A shown class minute is made of its shown cameras' minutes only.

Revision ID: 0011_class_of_shown_cameras
Revises: 0010_classroom_in_key
Create Date: 2026-12-06

Until now a class minute was shown when one of its cameras' minutes was, and then summed every
camera's minute, the hidden ones too. The dashboard shows a classroom's minutes and each camera's
own: the class's counts minus the shown camera's gave the hidden camera's minute, one child's
emotions, exactly (the CSV download has the counts to the face). Now a shown class minute sums,
counts and means over its shown cameras' minutes only; a hidden class minute still sums all of
them (nothing of it is shown; the dashboard says why it is hidden from those counts). The same
holds for the class minutes inside ``lesson_summaries``, so ``class_days``, ``class_hour_of_week``
and every lesson follow (0006's ``class_rows_sql``: a filter asking whether any camera of the
classroom-minute is shown, a window on PostgreSQL, ``NOT EXISTS`` on SQLite; the dashboard's range
queries take 1.3-1.6x as long on PostgreSQL, the same on SQLite: docs/benchmarks.md).
Columns are unchanged. The downgrade restores 0008's views.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from alembic import context, op

revision: str = "0011_class_of_shown_cameras"
down_revision: str | None = "0010_classroom_in_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _faces_read() -> ModuleType:
    return context.script.get_revision("0008_faces_read").module


def shape(faces_read: ModuleType, rule: ModuleType) -> Any:
    """The views' shape from this revision on, from 0008's module and 0006's: 0008's, each shown
    class minute made of its shown cameras' minutes."""
    return faces_read.shape(rule)._replace(class_rows="shown")


def upgrade() -> None:
    views = _faces_read()
    views._drop_views()
    views._create_views(op.get_context().dialect.name, shape(views, views._modules()[0]))


def downgrade() -> None:
    views = _faces_read()
    views._drop_views()
    views._create_views(op.get_context().dialect.name, views.shape(views._modules()[0]))
