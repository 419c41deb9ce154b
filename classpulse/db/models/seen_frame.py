"""``seen_frames``: the frames counted recently per camera, to drop a producer's repeats.

A producer without idempotence that retries a send can publish one frame twice or more. A frame is
identified by (camera, captured_at, seq); the consumer remembers each counted frame for a window
(in event time, per camera) and writes the keys in the same transaction as the aggregates that
counted them, so repeats are dropped across consumer restarts too. Keys only, never pixels.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from classpulse.db.base import Base


class SeenFrame(Base):
    """One counted frame's identity; rows that fall out of the window are deleted."""

    __tablename__ = "seen_frames"

    camera_id: Mapped[str] = mapped_column(Text, primary_key=True)
    captured_at_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
