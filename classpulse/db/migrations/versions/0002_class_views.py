"""Analyst views: class_minutes, class_days, class_hour_of_week.

Revision ID: 0002_class_views
Revises: 0001_tables
Create Date: 2025-01-01

``class_minutes`` sums a classroom's cameras per UTC minute, and adds ``largest_view``: the
largest mean number of faces per frame with faces among the cameras, i.e. how many people at least
one camera really saw at once (``faces`` counts sightings over all frames, so it cannot tell a class
from one child). The dashboard shows a minute only when ``largest_view >= MIN_FACES_SHOWN``.

``class_days`` and ``class_hour_of_week`` roll a classroom's camera-minutes up by the classroom's
local day, and local (ISO weekday, hour), on PostgreSQL, using ``classrooms.timezone``; SQLite has
no time-zone database, so there they use UTC (documented in docs/sql.md). Means are face-weighted:
``engagement = engagement_sum / faces`` and ``share_<emotion> = n_<emotion> / faces``, NULL when
there were no faces.

The SQL is written out here, not imported, so this revision keeps meaning what it meant when it
shipped; a later change to a view is a new revision that drops and recreates it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_class_views"
down_revision: str | None = "0001_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
VIEWS = ("class_hour_of_week", "class_days", "class_minutes")  # drop order


def _ratios(prefix: str = "") -> list[str]:
    """Face-weighted engagement and emotion shares over the sums of ``prefix``-qualified rows."""
    faces = f"CAST(NULLIF(sum({prefix}faces), 0) AS DOUBLE PRECISION)"
    out = [f"sum({prefix}engagement_sum) / {faces} AS engagement"]
    out += [
        f"CAST(sum({prefix}n_{e}) AS DOUBLE PRECISION) / {faces} AS share_{e}" for e in EMOTIONS
    ]
    return out


def _sums(prefix: str, columns: Sequence[str]) -> list[str]:
    """Sums; counts are cast back to BIGINT (PostgreSQL sums bigints into numeric: Decimal)."""
    return [
        f"sum({prefix}{c}) AS {c}"
        if c in FLOAT_COLUMNS
        else f"CAST(sum({prefix}{c}) AS BIGINT) AS {c}"
        for c in columns
    ]


COUNTS = ("frames", "frames_with_faces", "faces")
N_COLS = tuple(f"n_{e}" for e in EMOTIONS)
P_COLS = tuple(f"p_{e}" for e in EMOTIONS)
FLOAT_COLUMNS = frozenset((*P_COLS, "engagement_sum"))


def _select(columns: list[str]) -> str:
    return ",\n    ".join(columns)


def class_minutes_sql() -> str:
    cols = [
        "classroom_id",
        "minute_start",
        "count(*) AS cameras",
        *_sums("", COUNTS),
        "max(CAST(faces AS DOUBLE PRECISION) / NULLIF(frames_with_faces, 0)) AS largest_view",
        *_sums("", (*N_COLS, *P_COLS, "engagement_sum")),
        *_ratios(),
    ]
    return (
        f"CREATE VIEW class_minutes AS\nSELECT\n    {_select(cols)}\n"
        "FROM emotion_minutes\nGROUP BY classroom_id, minute_start"
    )


def _source(dialect: str) -> str:
    """Day and hour rollups read ``emotion_minutes`` directly, not ``class_minutes``: a filter on
    ``day`` then runs on rows before grouping instead of after a rollup of the whole table."""
    if dialect == "postgresql":
        return "emotion_minutes AS e\nJOIN classrooms AS c ON c.id = e.classroom_id"
    return "emotion_minutes AS e"


def class_days_sql(dialect: str) -> str:
    if dialect == "postgresql":
        day = "CAST(e.minute_start AT TIME ZONE c.timezone AS DATE)"
    else:
        day = "date(e.minute_start)"
    cols = [
        "e.classroom_id AS classroom_id",
        f"{day} AS day",
        "count(DISTINCT e.minute_start) AS minutes",
        *_sums("e.", (*COUNTS, *N_COLS, *P_COLS, "engagement_sum")),
        *_ratios("e."),
    ]
    return (
        f"CREATE VIEW class_days AS\nSELECT\n    {_select(cols)}\n"
        f"FROM {_source(dialect)}\nGROUP BY e.classroom_id, {day}"
    )


def class_hour_of_week_sql(dialect: str) -> str:
    if dialect == "postgresql":
        local = "(e.minute_start AT TIME ZONE c.timezone)"
        iso_dow = f"CAST(EXTRACT(ISODOW FROM {local}) AS INTEGER)"
        hour = f"CAST(EXTRACT(HOUR FROM {local}) AS INTEGER)"
    else:
        # strftime('%w') counts from Sunday = 0; ISO counts from Monday = 1 to Sunday = 7
        iso_dow = "((CAST(strftime('%w', e.minute_start) AS INTEGER) + 6) % 7) + 1"
        hour = "CAST(strftime('%H', e.minute_start) AS INTEGER)"
    cols = [
        "e.classroom_id AS classroom_id",
        f"{iso_dow} AS iso_dow",
        f"{hour} AS hour",
        "count(DISTINCT e.minute_start) AS minutes",
        *_sums("e.", ("frames", "faces", *N_COLS, "engagement_sum")),
        *_ratios("e."),
    ]
    return (
        f"CREATE VIEW class_hour_of_week AS\nSELECT\n    {_select(cols)}\n"
        f"FROM {_source(dialect)}\nGROUP BY e.classroom_id, {iso_dow}, {hour}"
    )


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    op.execute(class_minutes_sql())
    op.execute(class_days_sql(dialect))
    op.execute(class_hour_of_week_sql(dialect))


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
