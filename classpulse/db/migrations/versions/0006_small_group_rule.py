"""One owner for the small-group rule: its threshold in a table, its decision in one view.

Revision ID: 0006_small_group_rule
Revises: 0003_covering_index
Create Date: 2026-11-26

Before this revision the rule "hide a minute in which no camera saw MIN_FACES_SHOWN faces at once"
lived twice, in the dashboard's SQL (with the threshold from its settings) and as a column analysts
had to remember to filter on; ``class_days`` and ``class_hour_of_week`` counted minutes teachers
never see. Now:

- ``small_group_rule`` holds the threshold (one row; 3 until ``classpulse db upgrade`` stores
  ``MIN_FACES_SHOWN``).
- ``camera_minutes`` is the ONLY place the rule is decided: per camera and minute, its
  ``faces_in_view`` (:data:`MEASURE`) and ``shown = faces_in_view >= the threshold``.
- A class minute is shown when one of its cameras' minutes is (:func:`class_minute_columns`, used
  by ``class_minutes`` and by ``lesson_summaries`` in ``0007_lessons``); day, hour and lesson
  rollups sum shown minutes only and count the hidden ones (:func:`shown_rollup_columns`).
- The dashboard selects from ``class_minutes`` and ``camera_minutes`` and reads the threshold from
  ``small_group_rule`` only to say it.

Switching the rule's measure (e.g. to faces the model could read) is one line in a later revision:
``camera_minutes_sql(dialect, "<new measure>")`` from this module, reached through
``context.script.get_revision("0006_small_group_rule").module``; PostgreSQL replaces the view in
place (same columns), SQLite drops and recreates it, and every view built on it follows. A later
revision that also adds columns passes a :class:`Shape` (``0008_faces_read`` does) and recreates
the views; the defaults build exactly what this revision shipped.

SQL is written out here, not imported from the package, so this revision keeps meaning what it meant
when it shipped. The downgrade recreates 0002's views by running that revision's own ``upgrade``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa
from alembic import context, op

revision: str = "0006_small_group_rule"
down_revision: str | None = "0003_covering_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
N_COLS = tuple(f"n_{e}" for e in EMOTIONS)
P_COLS = tuple(f"p_{e}" for e in EMOTIONS)
COUNTS = ("frames", "frames_with_faces", "faces")
DEFAULT_MIN_FACES_SHOWN = 3
# The rule's measure, per camera and minute: faces per frame with faces. At least N on average means
# some frame held N faces, i.e. N different people; ``faces`` alone counts sightings over all of a
# minute's frames (one child before a 2 fps camera gives 120) and cannot tell a class from a child.
MEASURE = "CAST(e.faces AS DOUBLE PRECISION) / NULLIF(e.frames_with_faces, 0)"


class Shape(NamedTuple):
    """What the views carry: summed ``counts`` (``hour_counts`` in ``class_hour_of_week``), the
    per-frame ``measures`` (name, expression over ``emotion_minutes e``; the first is
    ``faces_in_view``), which of them the rule is decided on, the faces that engagement and the
    shares are means over (``read``), and which camera minutes a class minute aggregates
    (``class_rows``, :func:`class_rows_sql`: ``"all"`` as shipped, ``"shown"`` from
    ``0011_class_of_shown_cameras``, ``"shown_seek"``, the same rows read by a point lookup on
    SQLite, from ``0019_sqlite_class_rows_seek``), and how many seconds after its start a minute
    enters ``camera_minutes`` (``closes_after_s``: 0, at once, as shipped;
    ``0014_closed_minutes`` waits until it has closed). From ``0017_revised_minutes``:
    ``revised`` hides a camera minute added to after it closed (``emotion_minutes.revised``,
    which ``camera_minutes`` then carries), and ``told`` names the counts ``class_minutes``
    sums, as ``told_<count>``, over the cameras it is made of whose minute may tell why its
    faces were not read (``camera_minutes.told``, there when ``told`` is not empty). A
    NamedTuple, not a dataclass: Alembic loads revisions outside ``sys.modules``, where
    dataclasses cannot resolve annotations."""

    counts: tuple[str, ...] = COUNTS
    hour_counts: tuple[str, ...] = ("frames", "faces")
    measures: tuple[tuple[str, str], ...] = (("faces_in_view", MEASURE),)
    rule: str = "faces_in_view"
    read: str = "faces"
    class_rows: str = "all"
    closes_after_s: int = 0
    revised: bool = False
    told: tuple[str, ...] = ()


SHAPE = Shape()  # as this revision shipped
OLD_VIEWS = ("class_hour_of_week", "class_days", "class_minutes")  # 0002's, drop order
VIEWS = ("class_hour_of_week", "class_days", "class_minutes", "camera_minutes")  # drop order


def _lines(columns: Sequence[str]) -> str:
    return ",\n    ".join(columns)


def camera_minutes_sql(dialect: str, measure: str | None = None,
                       shape: Shape = SHAPE) -> list[str]:
    """Statements that (re)define ``camera_minutes``; ``measure`` (of ``emotion_minutes e``)
    replaces the expression of the shape's rule measure.

    A minute with no measure (no frame with faces) is hidden; so is every minute when the rule's
    row is missing, which is safer than showing them.
    """
    measures = [(name, measure if measure is not None and name == shape.rule else expression)
                for name, expression in shape.measures]
    columns = [
        "v.camera_id", "v.classroom_id", "v.minute_start", *(f"v.{c}" for c in shape.counts),
        *(f"v.{name}" for name, _ in measures),
        f"{_reaches(f'v.{shape.rule}', shape)} AS shown",
        *(f"v.{c}" for c in (*N_COLS, *P_COLS, "engagement_sum")),
    ]
    if shape.revised:
        columns.append("v.revised")
    if shape.told:
        # faces SEEN at once, not read: why faces went unread may be said of a group, never of
        # one child (the dashboard's "why not read"); asked of each camera on its own
        columns.append(f"{_reaches(f'v.{shape.measures[0][0]}', shape)} AS told")
    computed = ", ".join(f"{expression} AS {name}" for name, expression in measures)
    body = (
        f"SELECT\n    {_lines(columns)}\n"
        f"FROM (SELECT e.*, {computed} FROM emotion_minutes AS e{_closed(dialect, shape)}) AS v"
    )
    if dialect == "postgresql":  # in place: the views built on it stay
        return [f"CREATE OR REPLACE VIEW camera_minutes AS\n{body}"]
    return ["DROP VIEW IF EXISTS camera_minutes", f"CREATE VIEW camera_minutes AS\n{body}"]


def _reaches(measure: str, shape: Shape) -> str:
    """Whether ``measure`` reaches the stored threshold: false when it is NULL or the rule's row
    is missing, and, with ``shape.revised``, for a camera minute added to after it closed,
    whose two readings could be subtracted."""
    reached = (f"COALESCE({measure} >= (SELECT r.min_faces_shown FROM small_group_rule AS r), "
               "FALSE)")
    return f"{reached} AND NOT v.revised" if shape.revised else reached


def _closed(dialect: str, shape: Shape) -> str:
    """The filter keeping minutes that started ``shape.closes_after_s`` or more ago, by the
    database's clock. SQLite stores instants as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, which sorts
    as time does against the same format (``%f`` gives milliseconds: a tie within a second
    counts the minute as still open)."""
    if not shape.closes_after_s:
        return ""
    if dialect == "postgresql":
        return f" WHERE e.minute_start <= now() - interval '{shape.closes_after_s} seconds'"
    return (" WHERE e.minute_start <= "
            f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-{shape.closes_after_s} seconds')")


def _bigint_sum(expression: str, name: str) -> str:
    # PostgreSQL sums bigints into numeric (Python Decimal); counts are cast back
    return f"CAST(sum({expression}) AS BIGINT) AS {name}"


def _ratios(faces: str, engagement: str, n: str) -> list[str]:
    """Face-weighted engagement and shares: ``n`` and the others are format strings of a column."""
    den = f"CAST(NULLIF({faces}, 0) AS DOUBLE PRECISION)"
    out = [f"{engagement} / {den} AS engagement"]
    out += [f"CAST({n.format(c=f'n_{e}')} AS DOUBLE PRECISION) / {den} AS share_{e}"
            for e in EMOTIONS]
    return out


def class_minute_columns(cm: str, shape: Shape = SHAPE) -> list[str]:
    """Aggregates over one classroom-minute's rows of ``camera_minutes`` (alias ``cm``).

    The class minute is shown when at least one camera's minute is; ``shown`` is NULL when there
    are no camera rows at all (the empty side of a LEFT JOIN), so such a group counts as neither
    shown nor hidden.
    """
    return [
        f"count({cm}.camera_id) AS cameras",
        *(_bigint_sum(f"{cm}.{c}", c) for c in shape.counts),
        f"max({cm}.faces_in_view) AS largest_view",
        *(f"sum({cm}.{name}) AS {name}" for name, _ in shape.measures),
        f"max(CASE WHEN {cm}.shown THEN 1 WHEN NOT {cm}.shown THEN 0 END) = 1 AS shown",
        *(_bigint_sum(f"{cm}.{c}", c) for c in N_COLS),
        *(f"sum({cm}.{c}) AS {c}" for c in (*P_COLS, "engagement_sum")),
        *_ratios(f"sum({cm}.{shape.read})", f"sum({cm}.engagement_sum)", f"sum({cm}.{{c}})"),
    ]


def class_rows_sql(shape: Shape = SHAPE, dialect: str | None = None) -> str:
    """The rows a class minute aggregates, as a FROM item: ``camera_minutes`` as shipped; with
    ``shape.class_rows == "shown"`` only the shown camera minutes of a shown class minute (a
    hidden camera's numbers would otherwise be the class's minus the shown cameras') and every
    camera minute of a hidden one.

    Which rows those are depends on the classroom-minute, so each database gets the form its
    planner reads by one index range (docs/benchmarks.md): PostgreSQL a window over each
    classroom-minute and a filter (a correlated ``NOT EXISTS`` ran per row there: 13-53x the
    range queries' time); SQLite that ``NOT EXISTS``, a point lookup per row (it cannot push a
    query's range into the window, and read every classroom's history). Either way the
    aggregates stay single: a CASE per aggregate choosing between two sums took 2.2-2.4x.

    ``"shown_seek"`` gives the same rows; on SQLite the ``NOT EXISTS`` also says
    ``s.minute_start >= c.minute_start``, which the equality implies: once ``camera_minutes``
    held closed minutes only (0014: ``minute_start <= now - ...``), SQLite's planner took that
    bound for the lookup's range and read the classroom's whole history up to now for every row
    (0.51 s for one classroom-day of a 60-day seed), and with the lower bound it reads the one
    classroom-minute again (0.011 s)."""
    if shape.class_rows == "all":
        return "camera_minutes"
    if shape.class_rows not in ("shown", "shown_seek"):
        raise ValueError(f"class_rows {shape.class_rows!r} is not 'all', 'shown' or "
                         "'shown_seek'")
    seek = " AND s.minute_start >= c.minute_start" if shape.class_rows == "shown_seek" else ""
    if dialect == "postgresql":
        return ("(SELECT * FROM (SELECT c.*, max(CASE WHEN c.shown THEN 1 ELSE 0 END) OVER "
                "(PARTITION BY c.classroom_id, c.minute_start) AS class_shown "
                "FROM camera_minutes AS c) AS w WHERE w.shown OR w.class_shown = 0)")
    if dialect == "sqlite":
        return ("(SELECT c.* FROM camera_minutes AS c WHERE c.shown OR NOT EXISTS ("
                "SELECT 1 FROM camera_minutes AS s WHERE s.classroom_id = c.classroom_id "
                f"AND s.minute_start = c.minute_start{seek} AND s.shown))")
    raise ValueError(f"class_rows 'shown' needs the dialect, postgresql or sqlite, got {dialect!r}")


def shown_rollup_columns(m: str, counts: Sequence[str] | None = None, with_p: bool = True,
                         shape: Shape = SHAPE) -> list[str]:
    """Sums over the shown class minutes (alias ``m``) of a group, and the hidden ones counted.

    ``faces_in_view`` (and each other measure) is the mean over shown minutes; means are
    face-weighted over shown minutes. ``counts`` defaults to the shape's.
    """
    def shown(column: str) -> str:
        return f"CASE WHEN {m}.shown THEN {m}.{column} ELSE 0 END"

    def total(expression: str, name: str, count: bool = True) -> str:
        # an empty group (a lesson without minutes, in 0007) sums to 0 like a group of hidden ones
        summed = f"COALESCE(sum({expression}), 0)"
        return f"CAST({summed} AS BIGINT) AS {name}" if count else f"{summed} AS {name}"

    out = [
        total(f"CASE WHEN {m}.shown THEN 1 ELSE 0 END", "minutes"),
        total(f"CASE WHEN NOT {m}.shown THEN 1 ELSE 0 END", "hidden_minutes"),
        *(total(shown(c), c) for c in (shape.counts if counts is None else counts)),
        *(f"sum(CASE WHEN {m}.shown THEN {m}.{name} END) / "
          f"NULLIF(sum(CASE WHEN {m}.shown THEN 1 ELSE 0 END), 0) AS {name}"
          for name, _ in shape.measures),
        *(total(shown(c), c) for c in N_COLS),
    ]
    if with_p:
        out += [total(shown(c), c, count=False) for c in P_COLS]
    out.append(total(shown("engagement_sum"), "engagement_sum", count=False))
    out += _ratios(f"sum({shown(shape.read)})", f"sum({shown('engagement_sum')})",
                   f"sum(CASE WHEN {m}.shown THEN {m}.{{c}} ELSE 0 END)")
    return out


def class_minutes_sql(shape: Shape = SHAPE, dialect: str | None = None) -> str:
    """``class_minutes``; with ``shape.told`` also the counts of its cameras that may tell why
    their faces were not read, of those it is made of (a shown class minute's shown ones), so
    that a reader of the class minute needs no second read of its cameras' minutes."""
    columns = ["cm.classroom_id", "cm.minute_start", *class_minute_columns("cm", shape),
               *(_bigint_sum(f"CASE WHEN cm.told THEN cm.{c} ELSE 0 END", f"told_{c}")
                 for c in shape.told)]
    return (
        f"CREATE VIEW class_minutes AS\nSELECT\n    {_lines(columns)}\n"
        f"FROM {class_rows_sql(shape, dialect)} AS cm\nGROUP BY cm.classroom_id, cm.minute_start"
    )


def _source(dialect: str) -> str:
    if dialect == "postgresql":
        return "class_minutes AS m\nJOIN classrooms AS c ON c.id = m.classroom_id"
    return "class_minutes AS m"


def class_days_sql(dialect: str, shape: Shape = SHAPE) -> str:
    if dialect == "postgresql":
        day = "CAST(m.minute_start AT TIME ZONE c.timezone AS DATE)"
    else:  # SQLite has no time-zone database: UTC days (docs/sql.md)
        day = "date(m.minute_start)"
    columns = ["m.classroom_id AS classroom_id", f"{day} AS day",
               *shown_rollup_columns("m", shape=shape)]
    return (
        f"CREATE VIEW class_days AS\nSELECT\n    {_lines(columns)}\n"
        f"FROM {_source(dialect)}\nGROUP BY m.classroom_id, {day}"
    )


def class_hour_of_week_sql(dialect: str, shape: Shape = SHAPE) -> str:
    if dialect == "postgresql":
        local = "(m.minute_start AT TIME ZONE c.timezone)"
        iso_dow = f"CAST(EXTRACT(ISODOW FROM {local}) AS INTEGER)"
        hour = f"CAST(EXTRACT(HOUR FROM {local}) AS INTEGER)"
    else:
        # strftime('%w') counts from Sunday = 0; ISO counts from Monday = 1 to Sunday = 7
        iso_dow = "((CAST(strftime('%w', m.minute_start) AS INTEGER) + 6) % 7) + 1"
        hour = "CAST(strftime('%H', m.minute_start) AS INTEGER)"
    columns = [
        "m.classroom_id AS classroom_id", f"{iso_dow} AS iso_dow", f"{hour} AS hour",
        *shown_rollup_columns("m", counts=shape.hour_counts, with_p=False, shape=shape),
    ]
    return (
        f"CREATE VIEW class_hour_of_week AS\nSELECT\n    {_lines(columns)}\n"
        f"FROM {_source(dialect)}\nGROUP BY m.classroom_id, {iso_dow}, {hour}"
    )


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    op.create_table(
        "small_group_rule",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("min_faces_shown", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_small_group_rule_one_row")),
        sa.CheckConstraint("min_faces_shown >= 1",
                           name=op.f("ck_small_group_rule_min_faces_shown_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_small_group_rule")),
    )
    op.execute(f"INSERT INTO small_group_rule (id, min_faces_shown) "
               f"VALUES (1, {DEFAULT_MIN_FACES_SHOWN})")
    for name in OLD_VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for statement in camera_minutes_sql(dialect):
        op.execute(statement)
    op.execute(class_minutes_sql())
    op.execute(class_days_sql(dialect))
    op.execute(class_hour_of_week_sql(dialect))


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_table("small_group_rule")
    context.script.get_revision("0002_class_views").module.upgrade()
