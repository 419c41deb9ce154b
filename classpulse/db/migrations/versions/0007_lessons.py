"""The timetable: ``lessons``, and ``lesson_summaries`` under the one small-group rule.

Revision ID: 0007_lessons
Revises: 0006_small_group_rule
Create Date: 2026-11-26

``lessons`` holds what ``classpulse lessons import`` reads from a school's CSV or iCalendar file
(the model ``classpulse.db.models.lesson`` explains ``source_key`` and ``source_scope``).

``lesson_summaries`` rolls each lesson's minutes up exactly as ``class_days`` rolls up a day: it
reads ``camera_minutes`` (where the rule is decided), groups the cameras into class minutes with
0006's ``class_minute_columns`` and sums the shown ones with 0006's ``shown_rollup_columns``, so
a lesson hides the same minutes as the dashboard and every other view. It reads ``camera_minutes``
per lesson rather than joining ``class_minutes``, so that a lesson's minutes come from one index
range instead of a rollup of every classroom's history (:func:`lesson_summaries_sql`). A lesson
without any minute has ``minutes = hidden_minutes = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0007_lessons"
down_revision: str | None = "0006_small_group_rule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LESSON_COLUMNS = ("classroom_id", "title", "subject", "group_label", "starts_at", "ends_at")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _names(columns: list[str]) -> list[str]:
    return [column.rsplit(" AS ", 1)[1] for column in columns]


def lesson_summaries_sql(dialect: str, shape: Any = None) -> str:
    """PostgreSQL: each lesson's minutes in a LATERAL subquery, so the planner reads one range of
    minutes per lesson whatever its estimates (with a plain join it preferred to roll up the
    classroom's whole history), and a filter, ORDER BY or LIMIT on the lessons applies before any
    minute is read. SQLite has no LATERAL: one grouped LEFT JOIN, giving the same numbers (from
    0019, one level of grouping: :func:`_sqlite_one_level_sql`).
    ``shape`` is 0006's ``Shape`` of the views (default: as 0006 shipped)."""
    rule = context.script.get_revision("0006_small_group_rule").module
    shape = rule.SHAPE if shape is None else shape
    rollup = rule.shown_rollup_columns("m", shape=shape)
    lines = ",\n    ".join
    if dialect == "postgresql":
        minutes = ["cm.minute_start", *rule.class_minute_columns("cm", shape)]
        columns = ["l.id AS lesson_id", *(f"l.{c}" for c in LESSON_COLUMNS),
                   *(f"s.{name}" for name in _names(rollup))]
        return (
            f"CREATE VIEW lesson_summaries AS\nSELECT\n    {lines(columns)}\n"
            "FROM lessons AS l\nCROSS JOIN LATERAL (\n"
            f"  SELECT\n    {lines(rollup)}\n  FROM (\n"
            f"    SELECT\n    {lines(minutes)}\n"
            f"    FROM {rule.class_rows_sql(shape, dialect)} AS cm\n"
            "    WHERE cm.classroom_id = l.classroom_id\n"
            "      AND cm.minute_start >= l.starts_at AND cm.minute_start < l.ends_at\n"
            "    GROUP BY cm.minute_start\n"
            "  ) AS m\n"
            ") AS s"
        )
    if shape.class_rows == "shown_seek":
        return _sqlite_one_level_sql(rule, shape)
    lesson = ", ".join(f"l.{c}" for c in LESSON_COLUMNS)
    inner = ["l.id AS lesson_id", *(f"l.{c}" for c in LESSON_COLUMNS), "cm.minute_start",
             *rule.class_minute_columns("cm", shape)]
    outer = ["m.lesson_id", *(f"m.{c}" for c in LESSON_COLUMNS), *rollup]
    return (
        f"CREATE VIEW lesson_summaries AS\nSELECT\n    {lines(outer)}\nFROM (\n"
        f"  SELECT\n    {lines(inner)}\n"
        "  FROM lessons AS l\n"
        f"  LEFT JOIN {rule.class_rows_sql(shape, dialect)} AS cm "
        "ON cm.classroom_id = l.classroom_id\n"
        "    AND cm.minute_start >= l.starts_at AND cm.minute_start < l.ends_at\n"
        f"  GROUP BY l.id, {lesson}, cm.minute_start\n"
        ") AS m\n"
        f"GROUP BY m.lesson_id, {', '.join(f'm.{c}' for c in LESSON_COLUMNS)}"
    )


def _sqlite_one_level_sql(rule: Any, shape: Any) -> str:
    """SQLite, from ``0019_sqlite_class_rows_seek``: the same numbers in one GROUP BY over the
    lesson's camera minutes, so that SQLite pushes a filter on the lessons (a classroom's week, one
    lesson) into the view; with the class minutes grouped first, a second level, it summed every
    lesson of every classroom before filtering (115 s for a week of one classroom of ten, 60 days
    each). One level gives the same numbers because a class minute is made of its shown cameras'
    minutes when one is shown and of all of them (none shown) when it is hidden
    (``class_rows_sql``): a camera minute's ``shown`` is its class minute's, so the sums over shown
    class minutes are sums over shown camera minutes, and the minutes are counted distinct."""
    def shown(column: str) -> str:
        return f"CASE WHEN cm.shown THEN cm.{column} ELSE 0 END"

    def total(expression: str, name: str, count: bool = True) -> str:
        summed = f"COALESCE(sum({expression}), 0)"
        return f"CAST({summed} AS BIGINT) AS {name}" if count else f"{summed} AS {name}"

    minutes = "count(DISTINCT CASE WHEN cm.shown THEN cm.minute_start END)"
    rollup = [
        f"CAST({minutes} AS BIGINT) AS minutes",
        "CAST(count(DISTINCT CASE WHEN NOT cm.shown THEN cm.minute_start END) AS BIGINT) "
        "AS hidden_minutes",
        *(total(shown(c), c) for c in shape.counts),
        *(f"sum(CASE WHEN cm.shown THEN cm.{name} END) / NULLIF({minutes}, 0) AS {name}"
          for name, _ in shape.measures),
        *(total(shown(c), c) for c in rule.N_COLS),
        *(total(shown(c), c, count=False) for c in rule.P_COLS),
        total(shown("engagement_sum"), "engagement_sum", count=False),
        *rule._ratios(f"sum({shown(shape.read)})", f"sum({shown('engagement_sum')})",
                      "sum(CASE WHEN cm.shown THEN cm.{c} ELSE 0 END)"),
    ]
    lines = ",\n    ".join
    columns = ["l.id AS lesson_id", *(f"l.{c}" for c in LESSON_COLUMNS), *rollup]
    return (
        f"CREATE VIEW lesson_summaries AS\nSELECT\n    {lines(columns)}\n"
        "FROM lessons AS l\n"
        f"LEFT JOIN {rule.class_rows_sql(shape, 'sqlite')} AS cm "
        "ON cm.classroom_id = l.classroom_id\n"
        "  AND cm.minute_start >= l.starts_at AND cm.minute_start < l.ends_at\n"
        f"GROUP BY l.id, {', '.join(f'l.{c}' for c in LESSON_COLUMNS)}"
    )


def upgrade() -> None:
    op.create_table(
        "lessons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Text(), nullable=False),
        sa.Column("starts_at", _utc(), nullable=False),
        sa.Column("ends_at", _utc(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("group_label", sa.Text(), nullable=True),
        sa.Column("source_key", sa.Text(), nullable=False),
        sa.Column("source_scope", sa.Text(), nullable=False),
        sa.Column("updated_at", _utc(), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_lessons_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["classroom_id"], ["classrooms.id"], name=op.f("fk_lessons_classroom_id_classrooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lessons")),
        sa.UniqueConstraint("source_key", name=op.f("uq_lessons_source_key")),
    )
    op.create_index("ix_lessons_classroom_id_starts_at", "lessons", ["classroom_id", "starts_at"])
    op.create_index(op.f("ix_lessons_source_scope"), "lessons", ["source_scope"])
    op.execute(lesson_summaries_sql(op.get_context().dialect.name))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS lesson_summaries")
    op.drop_index(op.f("ix_lessons_source_scope"), table_name="lessons")
    op.drop_index("ix_lessons_classroom_id_starts_at", table_name="lessons")
    op.drop_table("lessons")
