"""An in-memory stand-in for kafka-python's KafkaConsumer, for unit tests of the consumer loop.

It keeps one log per partition, hands the whole topic to the consumer at the first poll (through
the real rebalance listener), serves records from its positions and records every seek, so a test
can check where the consumer went after a failure. As kafka-python does, it knows a partition's
log end (``highwater``) only once a poll has fetched the partition, and a fetch at a position past
the log's end starts again at its beginning (``auto_offset_reset="earliest"``). ``on_poll`` lets a
test act between polls (repair a database, replace a log as a broker restart would).

Records it cannot parse fail as kafka-python 3's do: a header key given as bytes is decoded
strictly as UTF-8, and offsets marked ``corrupt`` fail a CRC check. ``poll`` returns the records
before such a record first and raises the error at the next poll (``PartitionRecords.take``); it
raises at once when none came before. A poll of that partition, unpaused, at the same position
afterwards fails the test: kafka-python spins there forever. ``probe`` gives a second,
group-less client on the same logs. Offsets in ``markers`` hold no record a consumer sees (a
transaction's commit marker): a fetch passes over them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import CorruptRecordError


@dataclass(frozen=True)
class FakeRecord:
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


# a header key given as bytes is what a client other than kafka-python may put on the wire
Message = tuple[bytes | None, bytes | None, list[tuple[str | bytes, bytes]]]


class FakeKafka:
    def __init__(self, topic: str, logs: dict[int, list[Message]]) -> None:
        self.topic = topic
        self.logs = {p: list(msgs) for p, msgs in logs.items()}
        self.begins = {p: 0 for p in logs}
        self.corrupt: dict[int, range] = {}  # partition -> offsets of a batch that fails its CRC
        self.markers: dict[int, set[int]] = {}  # partition -> offsets of transaction markers
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
        self.probes = 0  # clients made by ``probe``
        self._failed: tuple[int, int, CorruptRecordError] | None = None  # raised at the next poll
        self._stuck: dict[int, int] = {}  # partition -> offset where a poll raised

    def probe(self) -> FakeKafka:
        """A second client in no group, reading the same logs (assigned, not subscribed)."""
        self.probes += 1
        other = FakeKafka(self.topic, {})
        other.logs, other.begins, other.corrupt = self.logs, self.begins, self.corrupt
        other.timestamp_ms = self.timestamp_ms
        return other

    def replace_log(self, partition: int, messages: list[Message]) -> None:
        """What a broker that lost its data shows: a new log from offset 0."""
        self.logs[partition] = list(messages)

    def expire(self, partition: int, upto: int) -> None:
        """What the broker's retention does: the log now begins at ``upto``."""
        self.begins[partition] = upto

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    def _fetchable(self, partition: int) -> bool:
        return partition in self.owned and partition not in self.paused

    def _read(self, partition: int, offset: int) -> FakeRecord:
        """The record at ``offset``, parsed as kafka-python parses it."""
        batch = self.corrupt.get(partition, range(0))
        if offset in batch:
            raise CorruptRecordError(f"Record batch for partition {self._tp(partition)} at offset "
                                     f"{batch.start} failed crc check")
        key, value, headers = self.logs[partition][offset]
        try:
            parsed = [(k.decode("utf-8") if isinstance(k, bytes) else k, v) for k, v in headers]
        except UnicodeDecodeError as exc:
            raise CorruptRecordError(f"Found invalid record structure: {exc!r}") from exc
        return FakeRecord(partition, offset, self.timestamp_ms, key, value, parsed)

    def _raise_failed(self) -> None:
        """The error kept from the last poll, or the spin of a poll where one was raised."""
        if self._failed is not None:
            (partition, offset, exc), self._failed = self._failed, None
            self._stuck[partition] = offset
            if self._fetchable(partition) and self.positions.get(partition) == offset:
                raise exc
        for partition, offset in list(self._stuck.items()):
            if partition not in self.owned or self.positions.get(partition) != offset:
                del self._stuck[partition]  # sought or taken away: the failed fetch is dropped
            elif partition not in self.paused:
                raise AssertionError(f"polled partition {partition} again at offset {offset}, "
                                     "where it failed: kafka-python would spin forever")

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
        if due and self.listener is not None:  # a probe is assigned its partitions instead
            self.owned |= due
            self.listener.on_partitions_assigned({self._tp(p) for p in due})
        self._raise_failed()
        out: dict[TopicPartition, list[FakeRecord]] = {}
        most = min(max_records, self.max_per_poll or max_records)
        for partition, log in sorted(self.logs.items()):
            if not self._fetchable(partition):
                continue
            start = self.positions.get(partition, self.begins[partition])
            # out of range: kafka-python resets by auto_offset_reset
            if not self.begins[partition] <= start <= len(log):
                start = self.begins[partition]
            self.fetched.add(partition)
            records: list[FakeRecord] = []
            budget, offset = most - sum(map(len, out.values())), start
            try:
                while offset < len(log) and len(records) < budget:
                    if offset not in self.markers.get(partition, ()):
                        records.append(self._read(partition, offset))
                    offset += 1
            except CorruptRecordError as exc:
                self.positions[partition] = offset
                if not records and not out:
                    self._stuck[partition] = offset
                    raise
                self._failed = (partition, offset, exc)
            if records:
                out[self._tp(partition)] = records
                self.positions[partition] = offset
            if self._failed is not None:
                break
        if not out:
            time.sleep(min(timeout_ms, 5) / 1000)
        return out

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.owned = {tp.partition for tp in partitions}

    def position(self, partition: TopicPartition) -> int | None:
        return self.positions.get(partition.partition, self.begins[partition.partition])

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
