"""``consumer_offsets``: the next Kafka offset per consumer group, topic and partition.

Written in the same transaction as the minute aggregates it accounts for; this table, not Kafka's
committed offsets, is where a consumer resumes, which is what makes the aggregates exactly-once.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from classpulse.db.base import Base


class ConsumerOffset(Base):
    """The offset of the next message to read (Kafka's convention: last processed + 1)."""

    __tablename__ = "consumer_offsets"

    group_id: Mapped[str] = mapped_column(Text, primary_key=True)
    topic: Mapped[str] = mapped_column(Text, primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_offset: Mapped[int] = mapped_column(BigInteger)
