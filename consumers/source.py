"""What the consumer reads from Kafka, as types: the records, and the clients that poll them.

The loop polls through these protocols and the judging of a record (``consumers.rejections``)
reads them, so they stand apart from the loop: judging a record needs this much of Kafka, not the
consumer that drives it. Tests meet the protocols with an in-memory broker
(``tests/consumers/fake_kafka.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import CorruptRecordError, UnsupportedCodecError

# what kafka-python raises out of poll() for a record it cannot parse: a record or batch that
# fails its CRC check, a header key that is not UTF-8 (3.x wraps that UnicodeDecodeError in a
# CorruptRecordError, 2.x let it through), or a batch compressed with a codec whose library is
# missing or that kafka-python does not know (the codecs a producer can choose are installed:
# pyproject.toml, kafka-python's extras)
UNREADABLE_ERRORS = (CorruptRecordError, UnicodeDecodeError, UnsupportedCodecError)


class Record(Protocol):
    """What the consumer reads of a Kafka record (kafka-python's ConsumerRecord)."""

    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] | None


@dataclass(frozen=True)
class Unreadable:
    """Stands in for a record the client could not parse, in the batch where the record would
    have been: its offset moves and its rejection is committed together, like any refused
    record's, and a rewind or rebalance that reads the partition again finds it again."""

    partition: int
    offset: int
    timestamp: int = -1  # unknown: the rejection is filed at the record's first poll
    key: bytes | None = None
    value: bytes | None = None
    headers: Sequence[tuple[str, bytes]] | None = None


class ProbeSource(Protocol):
    """The part of a group-less kafka-python KafkaConsumer that the probe uses."""

    def assign(self, partitions: list[TopicPartition]) -> None: ...
    def poll(self, timeout_ms: int, max_records: int) -> Mapping[TopicPartition, list[Record]]: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    def close(self) -> None: ...


class KafkaSource(Protocol):
    """The part of kafka-python's KafkaConsumer the loop uses (tests give it an in-memory one)."""

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None: ...
    def poll(self, timeout_ms: int, max_records: int) -> Mapping[TopicPartition, list[Record]]: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    def position(self, partition: TopicPartition) -> int | None: ...
    def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...
    def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]: ...
    def pause(self, *partitions: TopicPartition) -> None: ...
    def resume(self, *partitions: TopicPartition) -> None: ...
    def highwater(self, partition: TopicPartition) -> int | None: ...
    def close(self) -> None: ...
