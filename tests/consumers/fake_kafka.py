"""An in-memory stand-in for kafka-python's KafkaConsumer, for unit tests of the consumer loop.

It keeps one log per partition, hands the whole topic to the consumer at the first poll (through
the real rebalance listener), serves records from its positions and records every seek, so a test
can check where the consumer went after a failure. As kafka-python does, it knows a partition's
log end (``highwater``) only once a poll has fetched the partition, and a fetch at a position past
the log's end starts again at its beginning (``auto_offset_reset="earliest"``). ``on_poll`` lets a
test act between polls (repair a database, replace a log as a broker restart would).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import ConsumerRebalanceListener, TopicPartition


@dataclass(frozen=True)
class FakeRecord:
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


Message = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


class FakeKafka:
    def __init__(self, topic: str, logs: dict[int, list[Message]]) -> None:
        self.topic = topic
        self.logs = {p: list(msgs) for p, msgs in logs.items()}
        self.begins = {p: 0 for p in logs}
        self.positions: dict[int, int] = {}
        self.fetched: set[int] = set()  # partitions a poll has fetched: their highwater is known
        self.paused: set[int] = set()
        self.timestamp_ms = 1_700_000_000_000  # the broker's time of every record (the sender's)
        # partition -> the poll that assigns it (default the first): a later one is what an
        # incremental (cooperative) rebalance does
        self.assign_at: dict[int, int] = {}
        self.owned: set[int] = set()
        self.max_per_poll: int | None = None  # fetch at most this many records a poll
        self.seeks: list[tuple[int, int | str]] = []
        self.listener: ConsumerRebalanceListener | None = None
        self.closed = False
        self.polls = 0
        self.on_poll: Callable[[FakeKafka], None] | None = None

    def replace_log(self, partition: int, messages: list[Message]) -> None:
        """What a broker that lost its data shows: a new log from offset 0."""
        self.logs[partition] = list(messages)

    def expire(self, partition: int, upto: int) -> None:
        """What the broker's retention does: the log now begins at ``upto``."""
        self.begins[partition] = upto

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    # --- the KafkaSource protocol ------------------------------------------------------------
    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None:
        assert topics == [self.topic]
        self.listener = listener

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[FakeRecord]]:
        self.polls += 1
        if self.on_poll is not None:
            self.on_poll(self)
        due = {p for p in self.logs
               if p not in self.owned and self.polls >= self.assign_at.get(p, 1)}
        if due:
            self.owned |= due
            assert self.listener is not None
            self.listener.on_partitions_assigned({self._tp(p) for p in due})
        out: dict[TopicPartition, list[FakeRecord]] = {}
        most = min(max_records, self.max_per_poll or max_records)
        for partition, log in sorted(self.logs.items()):
            if partition in self.paused or partition not in self.owned:
                continue
            start = self.positions.get(partition, self.begins[partition])
            # out of range: kafka-python resets by auto_offset_reset
            if not self.begins[partition] <= start <= len(log):
                start = self.begins[partition]
            self.fetched.add(partition)
            take = log[start:start + most - sum(map(len, out.values()))]
            if take:
                out[self._tp(partition)] = [
                    FakeRecord(partition, start + i, self.timestamp_ms, *msg)
                    for i, msg in enumerate(take)]
                self.positions[partition] = start + len(take)
        if not out:
            time.sleep(min(timeout_ms, 5) / 1000)
        return out

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition.partition, offset))
        self.positions[partition.partition] = offset

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(tp.partition for tp in partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(tp.partition for tp in partitions)

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self.seeks.append((tp.partition, "beginning"))
            self.positions[tp.partition] = self.begins[tp.partition]

    def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.begins[tp.partition] for tp in partitions}

    def highwater(self, partition: TopicPartition) -> int | None:
        return len(self.logs[partition.partition]) if partition.partition in self.fetched else None

    def close(self) -> None:
        """As kafka-python's: the group's partitions are revoked first (the listener runs)."""
        if self.owned and self.listener is not None:
            self.listener.on_partitions_revoked({self._tp(p) for p in self.owned})
        self.closed = True
