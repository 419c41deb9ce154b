"""Polling on past records the Kafka client cannot parse.

kafka-python raises out of ``poll`` at such a record, and again after every restart, on every
group member, until retention deletes it: one bad message from another client (librdkafka, a
school network's producer) would stop its partition. Worse, once it has raised, kafka-python 3
keeps the failed fetch, and a poll of that partition at the same position spins in it forever:
the partition must be sought past the record before the next poll, so it cannot be found by
polling this client again one partition at a time, and the error does not name it (a bad header
key names no partition or offset). A second client, in no group (``ProbeSource``), finds it. A
failure that it cannot reproduce (a transient corruption on the wire) is raised as before: the
consumer stops uncommitted and its restart reads again from the stored offsets.

Kept apart from the consumer loop (``consumers.runner``), which owns the group's client, the
partitions and their epochs; this module only reads them through what it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from kafka import TopicPartition

from consumers.source import UNREADABLE_ERRORS, KafkaSource, ProbeSource, Record, Unreadable

log = logging.getLogger(__name__)

# how long the probe waits for one record that the broker holds (below the log's end): a new
# client's bootstrap and metadata round trips come first, and a record arrives as soon as they
# are done, so a long wait costs nothing on a quick broker and spares a slow one a crash
PROBE_WAIT_MS = 10_000
# a guard, not a limit met in practice: each round skips at least one record, so a run of bad
# records ends at the log's end; past this many rounds the error is raised as it came
MAX_SKIP_ROUNDS = 10_000


class UnreadableSkipper:
    """The group's ``poll``, going on past records that the client cannot parse: each comes back
    as an ``Unreadable`` record, in the batch where it would have been (its offset moves, and its
    rejection is committed, like any refused record's).

    ``owned`` names the partitions this member has loaded; ``epoch_of`` gives a partition's
    epoch, which the loop renews at every seek and revocation (``FrameConsumer._seek``).
    """

    def __init__(self, kafka: KafkaSource, probe: Callable[[], ProbeSource],
                 owned: Callable[[], Iterable[int]], epoch_of: Callable[[int], int | None],
                 topic: str) -> None:
        self.kafka = kafka
        self._probe = probe
        self._owned = owned
        self._epoch_of = epoch_of
        self._topic = topic

    def poll(self, timeout_ms: int, max_records: int) -> Mapping[TopicPartition, list[Record]]:
        """``poll``; at a record the client cannot parse, the records skipped and what one more
        poll brings (module docstring)."""
        try:
            return self.kafka.poll(timeout_ms=timeout_ms, max_records=max_records)
        except UNREADABLE_ERRORS as exc:
            return self._past_unreadable(exc, max_records)

    def _past_unreadable(self, exc: Exception, most: int) -> dict[TopicPartition, list[Record]]:
        """The records skipped as ``Unreadable``, then what one more poll brings (which drops
        the failed fetch, :meth:`_drop_failed_fetch`); again while that poll finds more it
        cannot parse (a long corrupt batch, ``most`` records a round), each round moving a
        partition on, up to the log's end."""
        out: dict[TopicPartition, list[Record]] = {}
        # a rebalance runs inside a poll: one in _drop_failed_fetch's moves a partition back to
        # its stored offset, or to another member, and what was skipped of it before is read,
        # and skipped and counted, again from there
        epochs = {partition: self._epoch_of(partition) for partition in self._owned()}
        for _ in range(MAX_SKIP_ROUNDS):
            skipped = self._unreadable_records(most)
            if not skipped:
                raise exc
            for tp, records in skipped.items():
                log.warning("unreadable records skipped partition=%d offsets=%d-%d: the Kafka "
                            "client cannot parse them (%s)", tp.partition, records[0].offset,
                            records[-1].offset, exc)
                out.setdefault(tp, []).extend(records)
            polled: Mapping[TopicPartition, list[Record]] | None = None
            try:
                polled = self._drop_failed_fetch(set(out), most)
            except UNREADABLE_ERRORS as again:
                exc = again
            out = {tp: records for tp, records in out.items()
                   if self._epoch_of(tp.partition) == epochs.get(tp.partition)}
            # the next round skips from where a rebalance in this poll left the partitions
            epochs = {partition: self._epoch_of(partition) for partition in self._owned()}
            if polled is None:
                continue
            for tp, records in polled.items():  # fetched from where a rebalance left them
                out.setdefault(tp, []).extend(records)
            return out
        raise exc

    def _drop_failed_fetch(self, skipped: set[TopicPartition], most: int
                           ) -> Mapping[TopicPartition, list[Record]]:
        """One poll with every partition that has records to read away from where it stood.

        kafka-python keeps the fetch that failed, and a poll that finds its partition at that
        offset again spins forever; only a poll at another offset drops it. The skipped
        partitions stand past their bad records already, but a rewind (a conflicting write), a
        log reset or a rebalance may seek them back before the next poll; and a partition whose
        failure the probe did not find again (corrupted on the wire) still stands where it
        failed. So this poll runs at once: the partitions not skipped are moved one record on
        for it and put back after (unless a rebalance inside it moved them meanwhile), and what
        it returns for them is dropped: they read it again from where they were.
        """
        epochs = {partition: self._epoch_of(partition) for partition in self._owned()}
        nudged = {tp: position for tp, position in self._unread_positions().items()
                  if tp not in skipped}
        for tp, position in nudged.items():
            self.kafka.seek(tp, position + 1)
        try:
            polled = self.kafka.poll(timeout_ms=0, max_records=most)
        finally:
            for tp, position in nudged.items():
                if self._epoch_of(tp.partition) == epochs.get(tp.partition):
                    self.kafka.seek(tp, position)
        return {tp: records for tp, records in polled.items() if tp not in nudged}

    def _unreadable_records(self, most: int) -> dict[TopicPartition, list[Record]]:
        """Each owned partition that has records to read is read at this client's position by a
        group-less probe; those whose next records it cannot parse are sought past them (``most``
        at the most), and each of those offsets comes back as an ``Unreadable`` record.

        Every such partition is probed, not only until one fails: the one this client failed on
        must be moved, or its next poll spins. The seek starts no new epoch: skipping a record
        is reading it, and what was read before it stays in the batch. A new probe for each
        failure: one that failed at an offset would spin there if asked about it again (a rewind
        reads the partition again).
        """
        found: dict[TopicPartition, list[Record]] = {}
        probe = self._probe()
        try:
            for tp, position in self._unread_positions().items():
                count = _count_unreadable(probe, tp, position, most)
                if count:
                    self.kafka.seek(tp, position + count)
                    found[tp] = [Unreadable(tp.partition, offset)
                                 for offset in range(position, position + count)]
        finally:
            probe.close()
        return found

    def _unread_positions(self) -> dict[TopicPartition, int]:
        """Where each owned partition (loaded, so not paused) stands, if records are left to
        read there: only those can hold the record the client failed on."""
        positions = {}
        for partition in self._owned():
            tp = TopicPartition(self._topic, partition)
            position, end = self.kafka.position(tp), self.kafka.highwater(tp)
            if position is not None and (end is None or position < end):
                positions[tp] = position
        return positions


def _count_unreadable(probe: ProbeSource, tp: TopicPartition, offset: int, most: int) -> int:
    """How many records from ``offset`` on the probe cannot parse, ``most`` at the most.

    One at a time: kafka-python parses a record batch from its start, so the records after a bad
    one in the same batch fail with it, and a batch that fails its CRC check does not say where
    it ends. Each read seeks first, so the probe never polls again where it failed.
    """
    probe.assign([tp])
    count = 0
    while count < most:
        probe.seek(tp, offset + count)
        try:
            probe.poll(timeout_ms=PROBE_WAIT_MS, max_records=1)
        except UNREADABLE_ERRORS:
            count += 1
        else:
            break  # a record it can read, or none yet
    return count
