"""On SQLite, a classroom's local days and hours are given only where its zone is UTC.

Revision ID: 0016_sqlite_local_days
Revises: 0015_closes_after_max_lag
Create Date: 2026-12-10

SQLite has no time-zone database, so its ``class_days`` and ``class_hour_of_week`` cut days and
hours in UTC whatever ``classrooms.timezone`` said, while ``day``, ``iso_dow`` and ``hour`` are
documented as the classroom's local ones: in Europe/Berlin an evening minute fell on the wrong day
and every lesson an hour or two early, numbers that looked true and were not. Now, on SQLite, they
are the UTC ones for a classroom whose zone is UTC at every instant (:data:`UTC_ZONES`, the IANA
names of UTC and GMT, spelt as the zone database and so the dashboard spell them; a classroom
starts on ``UTC``) and NULL for any other zone: such a classroom's minutes are counted and summed
in one row, with no day (or weekday and hour), so totals stay whole and no local time is claimed.
The dashboard reads neither view. PostgreSQL reads the zone itself: nothing changes there.

Nothing is built on the two views, and SQLite has no grants to lose. They read ``classrooms`` now:
a later revision that rebuilds ``classrooms`` on SQLite drops them first (SQLite checks the views on
a rename), and one that makes every view again with 0008's builders calls :func:`create_views`
afterwards (through ``context.script.get_revision("0016_sqlite_local_days").module``), or these
views give UTC days again.

The names are written out here, not imported, so this revision keeps meaning what it meant when it
shipped. The downgrade restores 0015's views, in UTC days and hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from alembic import context, op

revision: str = "0016_sqlite_local_days"
down_revision: str | None = "0015_closes_after_max_lag"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = ("class_hour_of_week", "class_days")  # drop order; nothing is built on either
# the zones at UTC+0 at every instant: Etc/UTC, Etc/GMT and the names linked to them
UTC_ZONES = ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu",
             "GMT", "Etc/GMT", "Etc/GMT+0", "Etc/GMT-0", "Etc/GMT0", "GMT+0", "GMT-0", "GMT0",
             "Etc/Greenwich", "Greenwich")


def _module(name: str) -> ModuleType:
    return context.script.get_revision(name).module


def _shape() -> Any:
    """The views' shape as 0015 left it (its closing delay reaches these views through
    ``class_minutes``)."""
    views = _module("0008_faces_read")
    return _module("0014_closed_minutes").shape(views, views._modules()[0])


def _on_utc(expression: str) -> str:
    """``expression`` where the classroom ``c`` is on UTC, so its UTC time is its local time;
    NULL elsewhere."""
    names = ", ".join(f"'{name}'" for name in UTC_ZONES)
    return f"CASE WHEN c.timezone IN ({names}) THEN {expression} END"


def create_views() -> None:
    """SQLite's ``class_days`` and ``class_hour_of_week``: 0006's rollups, a day, weekday and hour
    only for classrooms on UTC."""
    rule, shape = _module("0006_small_group_rule"), _shape()
    source = "class_minutes AS m\nJOIN classrooms AS c ON c.id = m.classroom_id"
    day = _on_utc("date(m.minute_start)")
    # strftime('%w') counts from Sunday = 0; ISO counts from Monday = 1 to Sunday = 7
    iso_dow = _on_utc("((CAST(strftime('%w', m.minute_start) AS INTEGER) + 6) % 7) + 1")
    hour = _on_utc("CAST(strftime('%H', m.minute_start) AS INTEGER)")
    days = ["m.classroom_id AS classroom_id", f"{day} AS day",
            *rule.shown_rollup_columns("m", shape=shape)]
    op.execute(f"CREATE VIEW class_days AS\nSELECT\n    {rule._lines(days)}\n"
               f"FROM {source}\nGROUP BY m.classroom_id, {day}")
    hours = ["m.classroom_id AS classroom_id", f"{iso_dow} AS iso_dow", f"{hour} AS hour",
             *rule.shown_rollup_columns("m", counts=shape.hour_counts, with_p=False, shape=shape)]
    op.execute(f"CREATE VIEW class_hour_of_week AS\nSELECT\n    {rule._lines(hours)}\n"
               f"FROM {source}\nGROUP BY m.classroom_id, {iso_dow}, {hour}")


def _drop_views() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    _drop_views()
    create_views()


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    rule, shape = _module("0006_small_group_rule"), _shape()
    _drop_views()
    op.execute(rule.class_days_sql("sqlite", shape))
    op.execute(rule.class_hour_of_week_sql("sqlite", shape))
