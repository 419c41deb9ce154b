"""Writing a flush: minute buckets, rejections and partition offsets in ONE transaction.

Exactly-once rests on two rules. (1) Aggregates and the offsets they account for commit together, so
after a crash the database holds both or neither, and the consumer resumes from the stored offset.
(2) Offsets advance by compare-and-set: a flush only moves a partition from the offset this consumer
started from. A consumer that lost its partition in a rebalance without noticing (a "zombie", e.g.
after a long pause) finds the offset moved by the new owner, and its whole flush is rolled back
instead of counting frames twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, insert, update
from sqlalchemy.exc import IntegrityError

from classpulse.db.models import ConsumerOffset
from classpulse.db.writes import MinuteRow, add_minute_rows, add_rejections, load_offsets

log = logging.getLogger(__name__)


class OffsetConflict(Exception):
    """Another consumer moved a partition's stored offset: this consumer's buffer is stale."""


@dataclass(frozen=True)
class OffsetMove:
    """A partition's stored offset before (None: nothing stored yet) and after this flush."""

    expected: int | None
    new: int


class DatabaseSink:
    """The consumer's only writer; one instance per consumer process."""

    def __init__(self, engine: Engine, group_id: str, topic: str) -> None:
        self.engine = engine
        self.group_id = group_id
        self.topic = topic

    def stored_offsets(self, partitions: Iterable[int]) -> dict[int, int]:
        with self.engine.connect() as conn:
            return load_offsets(conn, self.group_id, self.topic, partitions)

    def write(self, rows: list[MinuteRow], rejections: list, offsets: Mapping[int, OffsetMove]
              ) -> None:
        """Commit everything or nothing; OffsetConflict when another consumer got there first."""
        with self.engine.begin() as conn:
            self._advance_offsets(conn, offsets)
            add_minute_rows(conn, rows)
            add_rejections(conn, rejections)

    def _advance_offsets(self, conn: Connection, offsets: Mapping[int, OffsetMove]) -> None:
        table = ConsumerOffset.__table__
        key = and_(table.c.group_id == self.group_id, table.c.topic == self.topic)
        for partition, move in sorted(offsets.items()):
            if move.expected is None:
                # first flush of a partition nobody stored yet; a concurrent insert by another
                # consumer makes this fail with an integrity error, rolled back like a conflict
                try:
                    conn.execute(insert(table).values(group_id=self.group_id, topic=self.topic,
                                                      partition=partition, next_offset=move.new))
                except IntegrityError:
                    raise OffsetConflict(
                        f"partition {partition}: another consumer stored an offset first"
                    ) from None
                continue
            result = conn.execute(
                update(table)
                .where(key, table.c.partition == partition,
                       table.c.next_offset == move.expected)
                .values(next_offset=move.new)
            )
            if result.rowcount != 1:
                raise OffsetConflict(
                    f"partition {partition}: stored offset is no longer {move.expected}"
                )
