"""A camera's minute is kept apart per classroom: ``emotion_minutes``' primary key becomes
(camera_id, minute_start, classroom_id).

Revision ID: 0010_classroom_in_key
Revises: 0009_hardening
Create Date: 2026-12-02

A camera moved to another classroom (its producer's configuration changed) in the middle of a
minute used to have that whole minute filed under the first classroom: the consumer's buckets and
its additive upsert were keyed by (camera, minute), and the upsert never changes ``classroom_id``.
The second classroom's frames were counted for the first. With the classroom in the key each
classroom gets the frames it sent; a camera's minute that straddles a move is two rows.

Existing rows keep their values (the old key was stricter). On PostgreSQL rebuilding the key holds a
lock on ``emotion_minutes`` for as long as it takes (about half a minute per 10 M rows, as 0003's
index); consumers' flushes fail meanwhile and are retried. Upgrade outside lessons. The views read
``emotion_minutes`` by column and group by classroom, so they are unchanged; SQLite has to rebuild
the table to change a primary key, so there they are dropped and made again as 0008 left them.

The downgrade refuses while any camera's minute is split across classrooms: folding those rows
into one would file frames under a classroom that did not send them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from alembic import context, op
from sqlalchemy import text

revision: str = "0010_classroom_in_key"
down_revision: str | None = "0009_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "emotion_minutes"
PK = "pk_emotion_minutes"
NEW_KEY = ["camera_id", "minute_start", "classroom_id"]
OLD_KEY = ["camera_id", "minute_start"]


def _faces_read() -> ModuleType:
    return context.script.get_revision("0008_faces_read").module


def _set_key(columns: list[str]) -> None:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.drop_constraint(PK, TABLE, type_="primary")
        op.create_primary_key(PK, TABLE, columns)
        return
    views = _faces_read()
    views._drop_views()
    with op.batch_alter_table(TABLE, recreate="always") as batch:
        batch.drop_constraint(PK, type_="primary")
        batch.create_primary_key(PK, columns)
    views._create_views(dialect, views.shape(views._modules()[0]))


def upgrade() -> None:
    _set_key(NEW_KEY)


def downgrade() -> None:
    listing = (f"SELECT camera_id, minute_start FROM {TABLE} GROUP BY camera_id, minute_start "
               "HAVING COUNT(*) > 1")
    split = op.get_bind().execute(text(f"SELECT COUNT(*) FROM ({listing}) AS s")).scalar_one()
    if split:
        raise RuntimeError(
            f"{split} camera minute(s) are split across classrooms, which the older key cannot "
            f"hold; stay on this revision, or list them ({listing}) and delete or merge their "
            "rows first")
    _set_key(OLD_KEY)
