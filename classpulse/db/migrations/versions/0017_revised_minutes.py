"""A camera minute added to after it closed is revised, and hidden from then on; the views say
which camera minutes may tell why their faces were not read.

Revision ID: 0017_revised_minutes
Revises: 0016_sqlite_local_days
Create Date: 2026-12-11

**Revised minutes.** A minute enters the views once it has closed (0014, 0015), so that two
readings of it are the same. Some writes still land later: a flush the database refused, committed
once it takes writes again; a batch whose analysis took longer than a flush interval; a consumer
whose clock runs behind the database's. Each ADDS to a minute the views already showed, and two
readings of it, before and after, could be subtracted: one child's expression (``n_sad: 1``).
Dropping such a write would lose counts the consumers accepted; instead ``emotion_minutes`` gains
``revised`` (false for every row already there), which the consumers' upsert sets on a camera
minute it adds to once that minute has closed by the database's clock
(``classpulse.db.writes.add_minute_rows``), and the rule, still decided in ``camera_minutes``
alone, hides a revised camera minute for good: ``shown`` is false, and every view built on it
follows (a class minute is made of its shown camera minutes, as since 0011). Its counts stay in
``emotion_minutes``; ``camera_minutes`` carries ``revised`` so that the owner and the dashboard can
tell why it is hidden. A first write of a minute (a consumer catching up) is no revision: nobody
saw the minute before it.

**Told.** The dashboard says why a hidden minute's faces were not read (too small, turned away,
uncertain) only of the camera minutes that saw at least the rule's number of faces at once, its
own second test of the threshold until now (``dashboard.sql._told``). ``camera_minutes.told`` now
decides it beside ``shown``, false for a revised minute too (its readings would differ by the late
faces' reasons), and ``class_minutes`` sums ``faces``, ``faces_read`` and the three ``refused_*``
counts over the cameras it is made of that may tell (``told_<count>``), so the dashboard reads a
classroom's range once instead of joining the class minutes to their cameras' minutes again.

On PostgreSQL the (classroom, minute) covering index includes ``revised`` too, so the dashboard's
reads stay index-only; building it holds a lock on ``emotion_minutes`` for as long as it takes
(about half a minute per 10 M rows, as 0003's), and consumers' flushes fail and are retried
meanwhile: upgrade outside lessons. The views are dropped and made again, so they lose their
grants: ``classpulse db upgrade --app-roles`` (compose's ``migrate``) grants the services' roles
again (the consumers' may now update ``revised``), and operators run ``classpulse db
grant-reader`` again for analysts (README, "Upgrading").

Names and seconds are written out here, not imported, so this revision keeps meaning what it meant
when it shipped. The downgrade restores 0016's views, index and columns; it refuses while a
camera minute is revised, which the older views would show again, with its late counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import text

revision: str = "0017_revised_minutes"
down_revision: str | None = "0016_sqlite_local_days"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# unchanged from 0015: a minute's 60 seconds, --max-lag's 120, two 5-second flush intervals
CLOSES_AFTER_S = 190
TABLE = "emotion_minutes"
COLUMN = "revised"
# what a class minute sums over its cameras that may tell why faces were not read
TOLD = ("faces", "faces_read", "refused_small", "refused_turned", "refused_uncertain")
INDEX = "ix_emotion_minutes_classroom_id_minute_start"
KEY = ["classroom_id", "minute_start"]
# 0008's included columns, written out
OLD_INCLUDED = ["camera_id", "frames_with_faces", "faces", "engagement_sum", "n_angry",
                "n_disgust", "n_fear", "n_happy", "n_sad", "n_surprise", "n_neutral",
                "faces_read", "frames_with_read_faces", "refused_small", "refused_turned",
                "refused_uncertain"]
# ``revised`` right after the camera's id, mostly in the padding before the next integer: at the
# end it made every entry a full 8 bytes longer (96 to 104 for short ids), the index 8 % larger,
# and PostgreSQL read one camera's minutes through the primary key and the table instead
INCLUDED = [OLD_INCLUDED[0], COLUMN, *OLD_INCLUDED[1:]]


def _module(name: str) -> ModuleType:
    return context.script.get_revision(name).module


def shape(faces_read: ModuleType, rule: ModuleType) -> Any:
    """The views' shape from this revision on, from 0008's module and 0006's (outside a
    migration too, as 0011's): 0015's (0008's, a shown class minute made of its shown cameras'
    minutes, closed minutes only), a revised camera minute hidden, and which camera minutes may
    tell why faces went unread."""
    return faces_read.shape(rule)._replace(class_rows="shown", closes_after_s=CLOSES_AFTER_S,
                                           revised=True, told=TOLD)


def _drop_views() -> None:
    _module("0013_shown_views").drop_views()
    _module("0008_faces_read")._drop_views()


def _create_views(view_shape: Any) -> None:
    """Every view in ``view_shape``; on SQLite 0016's days and hours on top (0008's builders give
    UTC ones)."""
    dialect = op.get_context().dialect.name
    _module("0008_faces_read")._create_views(dialect, view_shape)
    _module("0013_shown_views").create_views(dialect)
    if dialect == "sqlite":
        local_days = _module("0016_sqlite_local_days")
        local_days._drop_views()
        local_days.create_views()


def _index(included: list[str]) -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, KEY, postgresql_include=included)


def upgrade() -> None:
    views = _module("0008_faces_read")
    _drop_views()
    op.add_column(TABLE, sa.Column(COLUMN, sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
    _index(INCLUDED)
    _create_views(shape(views, views._modules()[0]))


def downgrade() -> None:
    revised = op.get_bind().execute(
        text(f"SELECT COUNT(*) FROM {TABLE} WHERE {COLUMN}")).scalar_one()
    if revised:
        raise RuntimeError(
            f"{revised} camera minute(s) were added to after they closed ({TABLE}.{COLUMN}); "
            "the older views would show them again, with the late counts, and a reading from "
            "before could be subtracted from one after; stay on this revision, or list them "
            f"(SELECT camera_id, classroom_id, minute_start FROM {TABLE} WHERE {COLUMN}) and "
            "delete them first")
    views = _module("0008_faces_read")
    _drop_views()
    _index(OLD_INCLUDED)
    op.drop_column(TABLE, COLUMN)
    _create_views(_module("0014_closed_minutes").shape(views, views._modules()[0])._replace(
        closes_after_s=_module("0015_closes_after_max_lag").CLOSES_AFTER_S))
