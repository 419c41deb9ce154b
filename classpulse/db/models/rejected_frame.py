"""``rejected_frames``: messages the consumer refused, counted per minute, camera and reason."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from classpulse.db.base import Base, UTCDateTime


class RejectedFrame(Base):
    """How many messages were rejected for ``reason`` in one minute.

    ``camera_id`` is free text, deliberately without a foreign key: a rejected message may carry no
    camera header, or a malformed one (the consumer then records ``unknown``).
    The primary key leads with ``minute_start`` so time-range reports need no extra index.
    """

    __tablename__ = "rejected_frames"

    minute_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    camera_id: Mapped[str] = mapped_column(Text, primary_key=True)
    reason: Mapped[str] = mapped_column(Text, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
