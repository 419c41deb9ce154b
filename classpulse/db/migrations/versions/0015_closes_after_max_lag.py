"""A minute closes once no consumer can add to it; a threshold of one face is refused; a
classroom's time zone is no POSIX offset.

Revision ID: 0015_closes_after_max_lag
Revises: 0014_closed_minutes
Create Date: 2026-12-09

**Closed minutes.** 0014 let a minute into ``camera_minutes`` 70 seconds after its start, but a
consumer counts a frame up to ``--max-lag`` (120 s) after its capture, by the frame's own
``captured_at``: a camera whose clock runs a minute slow, or a consumer catching up after a restart,
added to minutes the views already showed, and two readings of such a minute could be subtracted
(one child's expressions) or see ``shown`` flip. Now ``camera_minutes``, and every view built on
it, holds a minute from :data:`CLOSES_AFTER_S` seconds after its start, by the database's clock:
its 60 seconds, the 120 of ``--max-lag``, then two 5-second flush intervals for the frame's batch
to be analysed and committed (``classpulse.flags.MINUTE_CLOSES_AFTER_START_S``; the dashboard's
charts end at the same instant, ``dashboard.periods.closed_until``, and
``consumers.config.ConsumerConfig.check`` refuses a ``--max-lag`` and ``--flush-interval`` that
would write later). What can still add to a closed minute: a flush the database refused and that
goes through once it takes writes again (the counts wait in memory; frames read again keep the
verdict of their first read), a batch whose analysis takes longer than a flush interval, and a
consumer whose clock runs behind the database's (it judges a frame's age by its own clock). The
views are dropped and made again, so they lose their grants: ``classpulse db upgrade
--app-roles`` (compose's ``migrate``) grants the dashboard's and the consumers' roles again;
operators run ``classpulse db grant-reader`` again for analysts (README, "Upgrading").

**The small-group threshold is at least 2** (``ck_small_group_rule_min_faces_shown_two_or_more``,
was ``>= 1``): the rule exists so that no chart describes a single child, which a threshold of 1
allowed. A stored threshold below 2 is raised to 2 by this upgrade (logged as a warning), so
minutes with one face read at once are hidden from now on; the downgrade keeps the value.

**Time zones** (PostgreSQL; SQLite has no check, and its views cut days in UTC whatever the zone):
``ck_classrooms_timezone_known`` accepts POSIX specifications such as ``GMT+1`` or
``UTC+01:00``, which PostgreSQL reads with the sign inverted (one hour WEST of Greenwich) and
Python's zone database, hence the dashboard, refuses. ``ck_classrooms_timezone_no_posix_offset``
now refuses a zone with a digit in it, except the IANA names that hold one (``Etc/GMT+1``, which
both read as UTC-1, ``EST5EDT`` ...). The upgrade stops, changing nothing, while a classroom holds
such a zone, naming it and the fix.

Numbers and patterns are written out here, not imported, so this revision keeps meaning what it
meant when it shipped. The downgrade restores 0014's views and checks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import ModuleType

from alembic import context, op
from sqlalchemy import text

from classpulse.errors import UsageError

revision: str = "0015_closes_after_max_lag"
down_revision: str | None = "0014_closed_minutes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

# a minute's 60 seconds, --max-lag's 120, then two 5-second flush intervals of a consumer
CLOSES_AFTER_S = 190
MIN_FACES_FLOOR = 2
RULE_TABLE = "small_group_rule"
OLD_RULE_CHECK = ("ck_small_group_rule_min_faces_shown_positive", "min_faces_shown >= 1")
RULE_CHECK = ("ck_small_group_rule_min_faces_shown_two_or_more",
              f"min_faces_shown >= {MIN_FACES_FLOOR}")
# the IANA names with a digit: Etc/GMT+N and Etc/GMT-N (UTC-N and UTC+N, as POSIX reads them),
# the zero offsets, and the four US zones named in POSIX style
ZONE_CHECK = ("ck_classrooms_timezone_no_posix_offset",
              "timezone !~ '[0-9]' OR timezone ~ "
              "'^((Etc/)?GMT[+-]?0|Etc/GMT([+]([1-9]|1[0-2])|-([1-9]|1[0-4]))"
              "|EST5EDT|CST6CDT|MST7MDT|PST8PDT)$'")


def _module(name: str) -> ModuleType:
    return context.script.get_revision(name).module


def _drop_views() -> None:
    """Every view, before ``small_group_rule`` is rebuilt (SQLite checks the views on a rename)."""
    _module("0013_shown_views").drop_views()
    _module("0008_faces_read")._drop_views()


def _create_views(closes_after_s: int) -> None:
    """0014's views (0011's shape, closed minutes only), each minute from ``closes_after_s``."""
    views = _module("0008_faces_read")
    view_shape = _module("0014_closed_minutes").shape(views, views._modules()[0])._replace(
        closes_after_s=closes_after_s)
    dialect = op.get_context().dialect.name
    views._create_views(dialect, view_shape)
    _module("0013_shown_views").create_views(dialect)


def _rule_check(old: tuple[str, str], new: tuple[str, str]) -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint(op.f(old[0]), RULE_TABLE, type_="check")
        op.create_check_constraint(op.f(new[0]), RULE_TABLE, new[1])
        return
    # SQLite changes a constraint by rebuilding the table; nothing references this one
    with op.batch_alter_table(RULE_TABLE, recreate="always") as batch:
        batch.drop_constraint(op.f(old[0]), type_="check")
        batch.create_check_constraint(op.f(new[0]), new[1])


def _raise_threshold() -> None:
    bind = op.get_bind()
    low = bind.execute(text(f"SELECT min_faces_shown FROM {RULE_TABLE} "
                            f"WHERE min_faces_shown < {MIN_FACES_FLOOR}")).scalar_one_or_none()
    if low is None:
        return
    bind.execute(text(f"UPDATE {RULE_TABLE} SET min_faces_shown = {MIN_FACES_FLOOR}, "
                      "updated_at = CURRENT_TIMESTAMP"))
    log.warning("small-group rule: stored MIN_FACES_SHOWN=%d raised to %d, the least that keeps "
                "a chart from describing one child", low, MIN_FACES_FLOOR)


def _refuse_posix_zones() -> None:
    found = op.get_bind().execute(text(
        f"SELECT id, timezone FROM classrooms WHERE NOT ({ZONE_CHECK[1]}) ORDER BY id")).all()
    if found:
        listed = ", ".join(f"{room!r} ({zone!r})" for room, zone in found)
        raise UsageError(
            f"classrooms {listed} have a POSIX time zone, which PostgreSQL reads with the sign "
            "inverted (GMT+1 is UTC-1) and the dashboard refuses; set classrooms.timezone to an "
            "IANA name such as Europe/Berlin, then run `classpulse db upgrade` again")


def upgrade() -> None:
    postgresql = op.get_context().dialect.name == "postgresql"
    if postgresql:
        _refuse_posix_zones()  # first: nothing is changed, or said to be, before it
    _raise_threshold()
    _drop_views()
    _rule_check(OLD_RULE_CHECK, RULE_CHECK)
    if postgresql:
        op.create_check_constraint(op.f(ZONE_CHECK[0]), "classrooms", ZONE_CHECK[1])
    _create_views(CLOSES_AFTER_S)


def downgrade() -> None:
    _drop_views()
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint(op.f(ZONE_CHECK[0]), "classrooms", type_="check")
    _rule_check(RULE_CHECK, OLD_RULE_CHECK)
    _create_views(_module("0014_closed_minutes").CLOSES_AFTER_S)
