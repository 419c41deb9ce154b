"""``engagement_weights``: the one row of weights every consumer scores engagement with.

The weights live in the database, not in each process's settings, so the consumers that sum
engagement and the dashboard that explains it name the same weights (migration
``0012_engagement_weights``). ``classpulse db upgrade`` stores ``ENGAGEMENT_WEIGHTS`` here when it
is given; :mod:`classpulse.db.weights` reads and writes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Double, Integer, func
from sqlalchemy.orm import Mapped, mapped_column

from classpulse.db.base import Base, UTCDateTime
from classpulse.emotions import EMOTIONS


class EngagementWeights(Base):
    """Each emotion's weight (``w_<emotion>``, in [0, 1]); ``id`` is always 1: one row at most."""

    __tablename__ = "engagement_weights"
    __table_args__ = (
        CheckConstraint("id = 1", name="one_row"),
        *(CheckConstraint(f"w_{e} >= 0 AND w_{e} <= 1", name=f"w_{e}_in_0_1")
          for e in EMOTIONS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    w_angry: Mapped[float] = mapped_column(Double)
    w_disgust: Mapped[float] = mapped_column(Double)
    w_fear: Mapped[float] = mapped_column(Double)
    w_happy: Mapped[float] = mapped_column(Double)
    w_sad: Mapped[float] = mapped_column(Double)
    w_surprise: Mapped[float] = mapped_column(Double)
    w_neutral: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
