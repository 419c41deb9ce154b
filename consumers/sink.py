"""Writing a flush: minute buckets, rejections, partition offsets, log resets and the keys of the
frames counted, in ONE transaction.

Exactly-once rests on two rules. (1) Aggregates and the offsets they account for commit together, so
after a crash the database holds both or neither, and the consumer resumes from the stored offset.
(2) Offsets advance by compare-and-set (:func:`classpulse.db.writes.advance_offsets`): a consumer
that lost its partition without noticing has its whole flush rolled back instead of counting
frames twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from classpulse.db.weights import StoredWeights, load_weights
from classpulse.db.writes import (
    FrameKey,
    LogReset,
    MinuteRow,
    OffsetMove,
    add_log_resets,
    add_minute_rows,
    add_rejections,
    add_seen_frames,
    advance_offsets,
    load_offsets,
    load_seen_frames,
)


@dataclass(frozen=True)
class Commit:
    """Everything one flush writes."""

    rows: Sequence[MinuteRow]
    rejections: Sequence[tuple[datetime, str, str, int]]
    offsets: Mapping[int, OffsetMove]
    resets: Sequence[LogReset] = ()
    seen: Sequence[FrameKey] = ()
    forget_before: Mapping[str, int] = field(default_factory=dict)


class DatabaseSink:
    """The consumer's only writer; one instance per consumer process."""

    def __init__(self, engine: Engine, group_id: str, topic: str) -> None:
        self.engine = engine
        self.group_id = group_id
        self.topic = topic

    def stored_offsets(self, partitions: Iterable[int]) -> dict[int, int]:
        with self.engine.connect() as conn:
            return load_offsets(conn, self.group_id, self.topic, partitions)

    def seen_frames(self) -> list[FrameKey]:
        with self.engine.connect() as conn:
            return load_seen_frames(conn)

    def engagement_weights(self) -> StoredWeights:
        with self.engine.connect() as conn:
            return load_weights(conn)

    def write(self, commit: Commit) -> None:
        """Commit everything or nothing; OffsetConflict when another consumer got there first."""
        with self.engine.begin() as conn:
            advance_offsets(conn, self.group_id, self.topic, commit.offsets)
            add_minute_rows(conn, commit.rows)
            add_rejections(conn, commit.rejections)
            add_log_resets(conn, self.group_id, commit.resets)
            add_seen_frames(conn, commit.seen, commit.forget_before)
