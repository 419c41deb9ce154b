"""A minute enters the views only once it has closed.

Revision ID: 0014_closed_minutes
Revises: 0013_shown_views
Create Date: 2026-12-08

Consumers add to the minute under way at every flush (every 5 s), and the small-group rule judges
it on its faces so far. Two readings of it some seconds apart could be subtracted to give the
emotions of the faces read in between: one child's, once the class has left mid-minute. The
dashboard's charts already waited for a minute to close; the views did not, so a lesson's row
while the lesson ran (``lesson_summaries``, which the dashboard's lessons view shows), today's
``class_days`` row and the analysts' ``shown_*`` views could be read twice within the minute.

Now ``camera_minutes`` holds a minute from :data:`CLOSES_AFTER_S` seconds after its start, by the
database's clock: its 60 seconds and then 10 more, two flush intervals of a consumer
(``classpulse.flags.FLUSH_INTERVAL_S``), for the last frame of the minute to be analysed and
written (the dashboard ended its charts at the same instant then). Every view is built on
``camera_minutes``, so all of them follow: a lesson's row and today's row sum, and count as
hidden, closed minutes only. A consumer that writes into a minute later than that still changes a
closed minute: one counting frames up to ``--max-lag`` (120 s) old, from a camera whose clock runs
slow or after a restart or a backlog, one with a longer ``--flush-interval``, a busy CPU.
``0015_closes_after_max_lag`` closes a minute only once ``--max-lag`` has passed. The views are
dropped and made again, so they lose their grants: ``classpulse db upgrade --app-roles``
(compose's ``migrate``) grants the services' roles again, and operators run ``classpulse db
grant-reader`` again for analysts (README, "Upgrading").

The seconds are written out here, not imported, so this revision keeps meaning what it meant when
it shipped. The downgrade restores 0011's views (and 0013's on top of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from alembic import context, op

revision: str = "0014_closed_minutes"
down_revision: str | None = "0013_shown_views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a minute's 60 seconds, then two 5-second flush intervals of a consumer
CLOSES_AFTER_S = 70


def _module(name: str) -> ModuleType:
    return context.script.get_revision(name).module


def shape(faces_read: ModuleType, rule: ModuleType) -> Any:
    """The views' shape from this revision on: 0011's, each minute once it has closed."""
    return _module("0011_class_of_shown_cameras").shape(faces_read, rule)._replace(
        closes_after_s=CLOSES_AFTER_S)


def _rebuild(closed: bool) -> None:
    views, shown = _module("0008_faces_read"), _module("0013_shown_views")
    rule = views._modules()[0]
    view_shape = shape(views, rule)
    if not closed:
        view_shape = view_shape._replace(closes_after_s=0)
    dialect = op.get_context().dialect.name
    shown.drop_views()
    views._drop_views()
    views._create_views(dialect, view_shape)
    shown.create_views(dialect)


def upgrade() -> None:
    _rebuild(closed=True)


def downgrade() -> None:
    _rebuild(closed=False)
