"""A covering class-level index on PostgreSQL: the dashboard's month and year pages 4x faster.

Revision ID: 0003_covering_index
Revises: 0002_class_views
Create Date: 2026-11-24

Consumers write all classrooms' minutes interleaved, so one classroom's year is spread over most
of the table's heap pages: with 0001's plain ``(classroom_id, minute_start)`` index, PostgreSQL
found a classroom's year quickly but then read ~1 GB of heap (50 classrooms, 11 M rows; a year
page took 983 ms). The same key with the summed columns ``INCLUDE``d lets the dashboard's bucket
query and the class views run as index-only scans (241 ms; docs/benchmarks.md). The index is
about 1.8x larger and each write updates a wider entry, a cost the consumers do not notice at one
row per camera and minute.

SQLite has no ``INCLUDE``; its plain index stays, and there the page times were already fine.
On a big existing table the rebuild holds a write lock for as long as it takes (about half a
minute per 10 M rows); consumers wait, or (since ``--db-timeout``) fail their flushes and retry
them, losing nothing. Upgrade outside lessons.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_covering_index"
down_revision: str | None = "0002_class_views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_emotion_minutes_classroom_id_minute_start"
KEY = ["classroom_id", "minute_start"]
# written out, not imported from the models, so this revision keeps meaning what it meant
INCLUDED = ["camera_id", "frames_with_faces", "faces", "engagement_sum", "n_angry", "n_disgust",
            "n_fear", "n_happy", "n_sad", "n_surprise", "n_neutral"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="emotion_minutes")
    op.create_index(INDEX, "emotion_minutes", KEY, postgresql_include=INCLUDED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="emotion_minutes")
    op.create_index(INDEX, "emotion_minutes", KEY)
