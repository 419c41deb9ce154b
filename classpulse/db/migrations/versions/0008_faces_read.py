"""Faces read: the readability gate's counts, and the small-group rule on faces read.

Revision ID: 0008_faces_read
Revises: 0007_lessons
Create Date: 2026-12-02

The consumer now reads an emotion only from faces its readability gate passes (big enough in the
original frame, not turned away or bowed, a confident classifier; consumers/gate.py). A face that
fails still counts in ``faces``; it adds one to the count of its reason and nothing else.
``emotion_minutes`` gains:

- ``faces_read``, ``frames_with_read_faces``: faces that passed, and frames holding at least one;
- ``refused_small``, ``refused_turned``, ``refused_uncertain``: faces refused per reason.

``n_<emotion>``, ``p_<emotion>`` and ``engagement_sum`` cover read faces only from now on, so means
divide by ``faces_read``. Rows written before this revision read every face: they get
``faces_read = faces`` and ``frames_with_read_faces = frames_with_faces``, so old history keeps its
numbers and stays shown.

The small-group rule moves to faces READ per frame with read faces (``faces_read_in_view``): a chart
of expressions must rest on at least MIN_FACES_SHOWN faces whose expression was read at once.
``faces_in_view`` keeps its meaning (faces per frame with faces), for the page to say how many
people the camera saw. Every view is rebuilt with 0006's builders and this revision's ``SHAPE``, so
``class_minutes``, ``class_days``, ``class_hour_of_week`` and ``lesson_summaries`` carry the new
counts and follow the rule. On PostgreSQL the covering index also includes the new counts, so the
dashboard's reads stay index-only. The downgrade restores 0007's views, index and columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0008_faces_read"
down_revision: str | None = "0007_lessons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COUNTS = ("faces_read", "frames_with_read_faces", "refused_small", "refused_turned",
              "refused_uncertain")
READ_MEASURE = "CAST(e.faces_read AS DOUBLE PRECISION) / NULLIF(e.frames_with_read_faces, 0)"
VIEWS = ("lesson_summaries", "class_hour_of_week", "class_days", "class_minutes",
         "camera_minutes")  # drop order
INDEX = "ix_emotion_minutes_classroom_id_minute_start"
KEY = ["classroom_id", "minute_start"]
# 0003's included columns, written out, and the new counts the dashboard sums
OLD_INCLUDED = ["camera_id", "frames_with_faces", "faces", "engagement_sum", "n_angry",
                "n_disgust", "n_fear", "n_happy", "n_sad", "n_surprise", "n_neutral"]
INCLUDED = [*OLD_INCLUDED, *NEW_COUNTS]


def _modules() -> tuple[ModuleType, ModuleType]:
    script = context.script
    return (script.get_revision("0006_small_group_rule").module,
            script.get_revision("0007_lessons").module)


def shape(rule: ModuleType) -> Any:
    """The views' shape from this revision on: a ``Shape`` of ``rule``, 0006's module."""
    return rule.Shape(
        counts=(*rule.COUNTS, *NEW_COUNTS),
        hour_counts=("frames", "faces", "faces_read"),
        measures=(("faces_in_view", rule.MEASURE), ("faces_read_in_view", READ_MEASURE)),
        rule="faces_read_in_view",
        read="faces_read",
    )


def _create_views(dialect: str, view_shape: Any) -> None:
    rule, lessons = _modules()
    for statement in rule.camera_minutes_sql(dialect, shape=view_shape):
        op.execute(statement)
    op.execute(rule.class_minutes_sql(view_shape, dialect))
    op.execute(rule.class_days_sql(dialect, view_shape))
    op.execute(rule.class_hour_of_week_sql(dialect, view_shape))
    op.execute(lessons.lesson_summaries_sql(dialect, view_shape))


def _drop_views() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")


def _index(included: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="emotion_minutes")
    op.create_index(INDEX, "emotion_minutes", KEY, postgresql_include=included)


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    _drop_views()
    for name in NEW_COUNTS:
        op.add_column("emotion_minutes",
                      sa.Column(name, sa.Integer(), server_default="0", nullable=False))
    op.execute("UPDATE emotion_minutes SET faces_read = faces, "
               "frames_with_read_faces = frames_with_faces")
    _index(INCLUDED)
    _create_views(dialect, shape(_modules()[0]))


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    rule, _ = _modules()
    _drop_views()
    _index(OLD_INCLUDED)
    for name in reversed(NEW_COUNTS):
        op.drop_column("emotion_minutes", name)
    _create_views(dialect, rule.SHAPE)
