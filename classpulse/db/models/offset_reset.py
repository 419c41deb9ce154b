"""``offset_resets``: every time a consumer found a partition's log reset under its stored offset.

A broker that lost its data (the embedded one keeps it in memory only) or a topic deleted and
recreated starts its log again from offset 0, below the offset the database stored. The consumer
then restarts that partition from the new log's beginning and writes one row here, in the same
transaction as the offset move, so an operator can see when it happened and what was skipped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from classpulse.db.base import Base, UTCDateTime


class OffsetReset(Base):
    """One detected reset: the stored offset, where the new log ended, where reading restarted."""

    __tablename__ = "offset_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    group_id: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(Text)
    partition: Mapped[int] = mapped_column(Integer)
    stored_offset: Mapped[int] = mapped_column(BigInteger)
    log_end_offset: Mapped[int] = mapped_column(BigInteger)
    restart_offset: Mapped[int] = mapped_column(BigInteger)
