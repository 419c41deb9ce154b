"""``small_group_rule``: the one row that says how many faces in view a minute needs to be shown.

The threshold lives in the database, not in each reader's settings, so the dashboard, the analyst
views and ``lesson_summaries`` all hide exactly the same minutes: the ``camera_minutes`` view reads
it (migration ``0006_small_group_rule``). ``classpulse db upgrade`` stores ``MIN_FACES_SHOWN`` here
when it is given; :mod:`classpulse.db.rule` reads and writes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, func
from sqlalchemy.orm import Mapped, mapped_column

from classpulse.db.base import Base, UTCDateTime


class SmallGroupRule(Base):
    """The rule's threshold; ``id`` is always 1, so the table holds one row at most."""

    __tablename__ = "small_group_rule"
    __table_args__ = (
        CheckConstraint("id = 1", name="one_row"),
        # at least 2: one face read at once is one child (migration 0015_closes_after_max_lag)
        CheckConstraint("min_faces_shown >= 2", name="min_faces_shown_two_or_more"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    min_faces_shown: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
