"""The small-group rule's threshold, as the database holds it (``small_group_rule``).

The rule itself is decided in SQL, in the ``camera_minutes`` view (migration
``0006_small_group_rule``); every reader (the dashboard, the analyst views, ``lesson_summaries``)
selects ``shown`` from there, and the dashboard ``told`` (may a hidden minute say why its faces
were not read; ``0017_revised_minutes``, which also hides a minute added to after it closed).
This module only reads the threshold (the dashboard says it in words) and stores it
(``classpulse db upgrade`` with ``MIN_FACES_SHOWN`` given).
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, func, select, update

from classpulse.db.models import SmallGroupRule
from classpulse.errors import UsageError
from classpulse.settings import MIN_FACES_SHOWN_LEAST, Settings

log = logging.getLogger(__name__)

_TABLE = SmallGroupRule.__table__


def requested_min_faces(settings: Settings) -> int | None:
    """``MIN_FACES_SHOWN`` when a flag or the environment gave it; None when only defaulted.

    A default must not overwrite a threshold an operator stored earlier.
    """
    return settings.min_faces_shown if "min_faces_shown" in settings.explicit else None


def load_min_faces(conn: Connection) -> int:
    """The stored threshold; a database without the rule's row cannot show anything safely."""
    value = conn.execute(select(_TABLE.c.min_faces_shown)).scalar_one_or_none()
    if value is None:
        raise UsageError(
            "the database holds no small-group rule (table small_group_rule is empty), so every "
            "minute is hidden; store one with `classpulse db upgrade --min-faces-shown 3`"
        )
    return int(value)


def store_min_faces(conn: Connection, min_faces: int) -> None:
    """Set the threshold (in the caller's transaction); the row is created if it went missing.
    Below :data:`MIN_FACES_SHOWN_LEAST` is refused here, before the database's check would fail
    the whole upgrade with a driver's message."""
    if min_faces < MIN_FACES_SHOWN_LEAST:
        raise UsageError(
            f"MIN_FACES_SHOWN (or --min-faces-shown) {min_faces} would show minutes in which a "
            f"camera read one face at a time, a single child's; give {MIN_FACES_SHOWN_LEAST} or "
            "more")
    changed = conn.execute(
        update(_TABLE).values(min_faces_shown=min_faces, updated_at=func.now())
    ).rowcount
    if not changed:
        conn.execute(_TABLE.insert().values(id=1, min_faces_shown=min_faces))
    log.info("small-group rule stored min_faces_shown=%d", min_faces)
