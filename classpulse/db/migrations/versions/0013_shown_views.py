"""Views of the shown minutes only, for analysts who must not see hidden ones.

Revision ID: 0013_shown_views
Revises: 0012_engagement_weights
Create Date: 2026-12-07

``camera_minutes`` and ``class_minutes`` carry every minute and say in ``shown`` which ones the
small-group rule hides; whoever can select from them can read a hidden minute's counts. Analysts
get ``shown_camera_minutes`` and ``shown_class_minutes`` instead: the same columns, the shown rows
only. They filter on ``shown`` and nothing else, so the rule stays decided in ``camera_minutes``
alone. Every column of a shown row is safe to show: a shown class minute is made of its shown
cameras' minutes only (``0011_class_of_shown_cameras``). ``classpulse db grant-reader ROLE``
(:data:`classpulse.db.roles.READER`) gives a PostgreSQL role these views and the rollups, which
sum shown minutes only, and nothing else; PostgreSQL reads a view's tables with the view owner's
rights, so the role needs no right on ``camera_minutes`` or ``emotion_minutes`` itself.

On PostgreSQL both are ``security_barrier`` views. Without it the planner may evaluate a reader's
own condition before ``shown`` (a cheap one first), on hidden rows too: ``WHERE 1 / (faces - 60) >
0`` failing with "division by zero" would tell that a hidden minute saw 60 faces, and a function
that raises a notice would print every hidden row. With it, only leakproof conditions (the
comparisons of text, timestamps and numbers) go below the filter, so a filter on ``classroom_id``
and ``minute_start`` still reads one index range.

PostgreSQL fixes a view's columns when it is created and refuses to drop a view others are built
on: a later revision that rebuilds ``camera_minutes`` or ``class_minutes`` with DROP VIEW drops
these first and creates them again afterwards (:func:`drop_views`, :func:`create_views`, through
``context.script.get_revision("0013_shown_views").module``); a dropped view loses its grants, so
that revision's notes tell operators to run ``classpulse db grant-reader`` again. SQLite has no
roles; the views exist there too so that analysts' queries run on both.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_shown_views"
down_revision: str | None = "0012_engagement_weights"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = (("shown_camera_minutes", "camera_minutes"), ("shown_class_minutes", "class_minutes"))


def create_views(dialect: str) -> None:
    """The shown views over the current ``camera_minutes`` and ``class_minutes``."""
    barrier = " WITH (security_barrier)" if dialect == "postgresql" else ""
    for name, source in VIEWS:
        op.execute(f"CREATE VIEW {name}{barrier} AS SELECT * FROM {source} WHERE shown")


def drop_views() -> None:
    """Before ``camera_minutes`` or ``class_minutes`` is dropped (PostgreSQL refuses otherwise)."""
    for name, _ in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")


def upgrade() -> None:
    create_views(op.get_context().dialect.name)


def downgrade() -> None:
    drop_views()
