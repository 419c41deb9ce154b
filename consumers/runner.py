"""The consumer loop: poll -> validate -> decode -> detect -> classify -> aggregate -> commit.

Two batches at a time: while a worker decodes (in a small thread pool; OpenCV releases the GIL)
and analyses one batch, its frames detected together and their faces classified together, the
loop's thread polls the next (consumers/batch.py says what may happen before the analysis is
done). The aggregator's buffer is committed by the checkpoint (with the partitions' offsets, in one
transaction) every ``flush_interval_s`` (so a minute's counts are in soon after it ends; between a
batch's counting and the next one's start), when partitions are revoked, and at exit; a failed
commit rewinds the partitions to the stored offsets (a partition whose log was found reset: to the
new log's beginning). Positions come from the database on every assignment. A record the Kafka
client cannot parse is skipped and counted as ``unreadable`` (``FrameConsumer._poll``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import CorruptRecordError

from classpulse.db.weights import StoredWeights, check_consumer_weights, weights_text
from classpulse.emotions import weights_vector
from classpulse.errors import UsageError
from classpulse.kafka_connect import connect_with_retry
from classpulse.settings import Settings
from classpulse.wire import FrameMessage, FrameRejected, in_time_range
from classpulse.wire import parse_message as parse_frame
from consumers.aggregate import MinuteAggregator
from consumers.batch import (
    DUPLICATE,
    EXPIRED,
    FUTURE,
    STALE,
    UNREADABLE,
    Analyzer,
    Batch,
    Rejection,
    analyse,
)
from consumers.checkpoint import Checkpoint, Outcome
from consumers.config import ConsumerConfig
from consumers.first_reads import FirstReads
from consumers.gate import FrameReading
from consumers.memory import release_free_memory
from consumers.metrics import ConsumerMetrics
from consumers.sink import DatabaseSink

log = logging.getLogger(__name__)
RETRY_AFTER_DB_ERROR_S = 1.0
# what kafka-python raises out of poll() for a record it cannot parse: a record or batch that
# fails its CRC check, or a header key that is not UTF-8 (3.x wraps that UnicodeDecodeError in a
# CorruptRecordError, 2.x let it through)
UNREADABLE_ERRORS = (CorruptRecordError, UnicodeDecodeError)
# how long the probe waits for one record that the broker holds (below the log's end): a new
# client's bootstrap and metadata round trips come first, and a record arrives as soon as they
# are done, so a long wait costs nothing on a quick broker and spares a slow one a crash
PROBE_WAIT_MS = 10_000
# a guard, not a limit met in practice: each round skips at least one record, so a run of bad
# records ends at the log's end; past this many rounds the error is raised as it came
MAX_SKIP_ROUNDS = 10_000


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


@dataclass
class Tally:
    """Frames and faces counted, and messages rejected by reason."""

    frames: int = 0
    faces: int = 0
    faces_read: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.frames += other.frames
        self.faces += other.faces
        self.faces_read += other.faces_read
        self.rejected.update(other.rejected)


@dataclass
class ConsumerReport(Tally):
    """What one run committed, for the exit summary and tests."""

    flushes: int = 0
    conflicts: int = 0
    failed_flushes: int = 0


@dataclass
class _Buffered(Tally):
    """Counts of the open buffer; they reach the report only when it commits."""

    captures: list[int] = field(default_factory=list)


class _Rebalance(ConsumerRebalanceListener):
    """kafka-python rebalance callbacks, forwarded to the consumer (flush on revoke, seek on
    assign)."""

    def __init__(self, owner: FrameConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.owner.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.owner.on_assigned(assigned)


class FrameConsumer:
    """One member of the consumer group; ``run`` blocks until ``stop`` is set or it goes idle."""

    def __init__(self, settings: Settings, config: ConsumerConfig, analyzer: Analyzer,
                 sink: DatabaseSink, metrics: ConsumerMetrics | None = None,
                 clock: Callable[[], float] = time.time,
                 on_commit: Callable[[list[int], float], None] | None = None,
                 connect: Callable[[], KafkaSource] | None = None,
                 probe: Callable[[], ProbeSource] | None = None) -> None:
        self.settings = settings
        self.config = config
        self.analyzer = analyzer
        self.metrics = metrics or ConsumerMetrics()
        self.clock = clock
        self.report = ConsumerReport()
        self.checkpoint = Checkpoint(sink, settings.kafka_topic,
                                     int(config.duplicate_window_s * 1000), self.metrics, clock)
        self._agg = MinuteAggregator(weights_vector(settings.engagement_weights))
        self._buffered = _Buffered()
        self._connect = connect or self._connect_kafka
        self._probe = probe or self._connect_probe
        # partition -> its epoch, renewed by every seek and revocation: records fetched or
        # analysed under an older epoch are dropped (_poll_batch, _finish_inflight), because the
        # partition reads again from where it was moved, or is another member's now
        self._epochs: dict[int, int] = {}
        self._epoch_numbers = itertools.count()
        self._unchecked: set[int] = set()  # assigned partitions whose log end is not known yet
        # partition -> offset after its last record fetched, or where it was sought: a fetch
        # that comes back from below it read a new log (_check_continuity)
        self._fetched: dict[int, int] = {}
        # partition -> (its epoch, first offset, records) of a gap found by the last polls: the
        # broker's retention deleted them unread; counted with the records after them (_start)
        self._gaps: dict[int, tuple[int, int, int]] = {}
        # assigned partitions whose stored offsets could not be read yet (database away): paused
        # until they are, tried again from _load_again_at (time.monotonic())
        self._unloaded: set[int] = set()
        self._load_again_at = 0.0
        # when each record not yet committed was first polled: records read again (a failed or
        # conflicting flush, a rebalance) are judged by that clock, not the later one
        self._first_reads = FirstReads()
        self._consumer: KafkaSource | None = None
        self._inflight: Batch | None = None  # polled, judged, in the worker's analysis
        # a flush (on this thread, or kafka-python's for a revoke) and a discard never interleave
        self._commit_lock = threading.Lock()
        self._last_activity = time.monotonic()
        # probe for `classpulse bench pipeline` (latency) and `bench soak` (memory after a flush):
        # captured_at of the frames in the buffer, handed over with the commit time after each
        # successful flush, once freed memory is returned; off (None) in production
        self._on_commit = on_commit
        # set at the group's first assignment: joining a group takes seconds, so a benchmark
        # times from here and starts live cameras only once someone is there to read them
        self.assigned = threading.Event()
        self.assigned_at: float | None = None  # time.monotonic() of that first assignment

    # --- Kafka client and rebalances -------------------------------------------------------
    def _connect_kafka(self) -> KafkaSource:
        from kafka import KafkaConsumer

        cfg = self.config
        bootstrap = self.settings.kafka_bootstrap_servers
        return connect_with_retry(
            lambda: KafkaConsumer(
                bootstrap_servers=bootstrap,
                group_id=cfg.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=cfg.batch_frames,
                max_poll_interval_ms=cfg.max_poll_interval_ms,
                session_timeout_ms=cfg.session_timeout_ms,
                heartbeat_interval_ms=max(1000, cfg.session_timeout_ms // 4),
                max_partition_fetch_bytes=self._fetch_bytes(),
                client_id=f"classpulse-consumer-{cfg.group_id}",
            ),
            bootstrap,
        )

    def _connect_probe(self) -> ProbeSource:
        """A second client, in no group (joining none, it costs the group no rebalance)."""
        from kafka import KafkaConsumer

        return KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                             enable_auto_commit=False,
                             max_partition_fetch_bytes=self._fetch_bytes(),
                             client_id=f"classpulse-probe-{self.config.group_id}")

    def _fetch_bytes(self) -> int:
        return max(self.config.max_message_bytes + 1024, 1_048_576)

    @property
    def kafka(self) -> KafkaSource:
        assert self._consumer is not None, "run() connects the Kafka client"
        return self._consumer

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.settings.kafka_topic, partition)

    def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        partitions = sorted(tp.partition for tp in revoked)
        log.info("partitions revoked partitions=%s", partitions)
        for partition in partitions:  # what is fetched or in analysis may be another member's now
            self._new_epoch(partition)
        self.flush()
        self.checkpoint.revoke(partitions)
        for partition in partitions:
            self._unloaded.discard(partition)
            self._unchecked.discard(partition)
            self._fetched.pop(partition, None)

    def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        # kafka-python runs this on its IO thread, where blocking client calls (log bounds) are
        # refused: seek to the stored offsets here, check the logs' ends after the poll
        self._last_activity = time.monotonic()
        self._unloaded |= {tp.partition for tp in assigned}
        self._load_positions()
        if not self.assigned.is_set():
            self.assigned_at = time.monotonic()
            self.assigned.set()

    def _load_positions(self) -> None:
        """Seek the assigned partitions whose stored offsets are not loaded yet.

        While the database is away (a rebalance during a PostgreSQL restart) they stay paused,
        and the loop tries again after each poll: this runs inside kafka-python's rebalance
        callback on its event loop, where waiting for the database to come back would stop the
        heartbeats (one failed try blocks up to the connect timeout), and raising would end the
        process (kafka-python raises the callback's error out of ``poll``). A later try
        seeks only partitions that were paused, so records already fetched for the others stay
        in the batch.
        """
        from sqlalchemy.exc import SQLAlchemyError

        partitions = sorted(self._unloaded)
        tps = [self._tp(p) for p in partitions]
        try:
            starts = self.checkpoint.assign(partitions)
        except SQLAlchemyError as exc:
            self.kafka.pause(*tps)
            self._load_again_at = time.monotonic() + RETRY_AFTER_DB_ERROR_S
            log.warning("cannot load the stored offsets of partitions=%s (%s); they wait, "
                        "paused, for the database", partitions, type(exc).__name__)
            return
        self._unloaded.clear()
        self.kafka.resume(*tps)
        # below the stored offsets: counted, by someone
        self._first_reads.committed(starts, keep=self.checkpoint.owned())
        self._seek(starts)
        self._unchecked |= set(starts)

    def _log_beginnings(self, partitions: list[int]) -> dict[int, int]:
        """Each partition's first offset; empty when the broker cannot say right now."""
        from kafka.errors import KafkaError

        try:
            found = self.kafka.beginning_offsets([self._tp(p) for p in partitions])
        except KafkaError as exc:
            log.warning("cannot read log offsets (%r); checking again later", exc)
            return {}
        return {tp.partition: offset for tp, offset in found.items()}

    def _new_epoch(self, partition: int) -> None:
        self._epochs[partition] = next(self._epoch_numbers)

    def _moved_since(self, epochs: Mapping[int, int]) -> set[int]:
        """Partitions sought or revoked since ``epochs`` was taken."""
        return {p for p, epoch in self._epochs.items() if epochs.get(p) != epoch}

    def _seek(self, positions: Mapping[int, int | None]) -> None:
        """Move the partitions (None: to the log's beginning), each into a new epoch."""
        for partition, offset in positions.items():
            self._new_epoch(partition)
            if offset is None:
                self._fetched.pop(partition, None)
                self.kafka.seek_to_beginning(self._tp(partition))
            else:
                self._fetched[partition] = offset
                self.kafka.seek(self._tp(partition), offset)

    def _check_log_resets(self, ends: Mapping[int, int | None]) -> None:
        """A log that ends below our position was reset under us (broker restarted empty, topic
        recreated): restart those partitions from the new log's beginning."""
        restarts = self.checkpoint.check_log_ends(ends, self._log_beginnings)
        self._seek(restarts)
        for partition in restarts:
            self._first_reads.forget(partition)  # a new log: its offsets start again

    def _check_new_assignment(self) -> None:
        """After an assignment, once a fetch has told each partition's log end: the stored offsets
        against it.

        The end comes from the fetch responses (``highwater``), not from a ListOffsets request
        (``end_offsets``): the embedded broker answers the latter with the last record batch's
        first offset + 1, below the real end whenever a producer packed several frames into one
        batch, which would pass for a reset and read the whole log again. A partition is checked
        before any of its records is counted: records come only with a fetch response, and a
        fetch at an offset past a reset log's end restarts at its beginning
        (``auto_offset_reset``) and brings the end with it.
        """
        ends = {p: self.kafka.highwater(self._tp(p)) for p in self._unchecked}
        known = {p: end for p, end in ends.items() if end is not None}
        self._unchecked -= set(known)
        if known:
            self._check_log_resets(known)

    # --- the loop ---------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> ConsumerReport:
        stored = self.checkpoint.sink.engagement_weights()
        check_consumer_weights(self.settings, stored)
        self._use_weights(stored)
        self._consumer = self._connect()
        self._consumer.subscribe([self.settings.kafka_topic], listener=_Rebalance(self))
        decode = ThreadPoolExecutor(self.config.decode_threads, thread_name_prefix="decode")
        worker = ThreadPoolExecutor(1, thread_name_prefix="analyse")
        last_flush = time.monotonic()
        try:
            while not stop.is_set():
                records = self._poll_batch(stop)
                self._finish_inflight()
                if time.monotonic() - last_flush >= self.config.flush_interval_s:
                    # between batches: the flush's trim and the soak's probe (bench soak) see
                    # what stays allocated, not a batch's working set
                    epochs = dict(self._epochs)
                    self._check_log_resets({p: self.kafka.highwater(self._tp(p))
                                            for p in self.checkpoint.owned()})
                    records = self._still_current(records, epochs)  # reset: read again
                    self.flush()
                    last_flush = time.monotonic()
                    records = self._still_current(records, epochs)  # rewound: read again
                if records:
                    self._inflight = self._start(records, decode, worker)
                    self._last_activity = time.monotonic()
                idle = self.config.exit_when_idle_s
                # idleness counts only once the group gave us partitions (joining takes a while)
                if (idle is not None and self.assigned.is_set() and self._inflight is None
                        and time.monotonic() - self._last_activity > idle):
                    log.info("no message for %.0f s, exiting", idle)
                    break
            self._finish_inflight()
            self.flush()
        except BaseException:
            # kafka-python's close() revokes the partitions, and a revoke flushes: it must not
            # commit the offsets of a batch that an error (a bug, a second Ctrl-C) cut short
            self._inflight = None
            self._discard_open_buffer()
            raise
        finally:
            worker.shutdown(wait=True)
            decode.shutdown(wait=True)
            self._consumer.close()
        return self.report

    def _discard_open_buffer(self) -> None:
        """Forget what is counted but not committed; a restart reads it again from the stored
        offsets. After a flush under way on another thread, never inside it (``flush``)."""
        with self._commit_lock:
            self._agg.clear()
            self._buffered = _Buffered()
            self.checkpoint.rewind(reload=False)

    def _poll_batch(self, stop: threading.Event) -> list[Record]:
        """Up to ``batch_frames`` records or whatever came within ``batch_wait_ms``."""
        cfg = self.config
        deadline = time.monotonic() + cfg.batch_wait_ms / 1000
        batch: list[Record] = []
        while len(batch) < cfg.batch_frames and not stop.is_set():
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            epochs = dict(self._epochs)
            polled = self._poll(remaining_ms, cfg.batch_frames - len(batch))
            read_ms = int(self.clock() * 1000)
            for records in polled.values():
                for record in records:
                    self._first_reads.judged_at(record.partition, record.offset, read_ms)
            if self._unloaded and time.monotonic() >= self._load_again_at:
                self._load_positions()
            # a rebalance or a seek in this poll: what came before for those partitions is
            # dropped; this poll's records were fetched from where they were moved to
            batch = self._still_current(batch, epochs)
            epochs = dict(self._epochs)
            if self._unchecked:  # may restart partitions whose log was reset: read them again
                self._check_new_assignment()
                batch = self._still_current(batch, epochs)
            current = {tp.partition: records for tp, records in polled.items()
                       if records and self._epochs.get(tp.partition) == epochs.get(tp.partition)}
            self._check_continuity(current)
            batch += [r for records in current.values() for r in records]
        return batch

    def _poll(self, timeout_ms: int, max_records: int) -> Mapping[TopicPartition, list[Record]]:
        """``poll``, going on past records that the client cannot parse.

        kafka-python raises out of ``poll`` at such a record, and again after every restart, on
        every group member, until retention deletes it: one bad message from another client
        (librdkafka, a school network's producer) would stop its partition. Worse, once it has
        raised, kafka-python 3 keeps the failed fetch, and a poll of that partition at the same
        position spins in it forever: the partition must be sought past the record before the
        next poll, so it cannot be found by polling this client again one partition at a time,
        and the error does not name it (a bad header key names no partition or offset). A
        second client (``_unreadable_records``) finds it. A failure that it cannot reproduce (a
        transient corruption on the wire) is raised as before: the consumer stops uncommitted and
        its restart reads again from the stored offsets.
        """
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
        for _ in range(MAX_SKIP_ROUNDS):
            skipped = self._unreadable_records(most)
            if not skipped:
                raise exc
            for tp, records in skipped.items():
                log.warning("unreadable records skipped partition=%d offsets=%d-%d: the Kafka "
                            "client cannot parse them (%s)", tp.partition, records[0].offset,
                            records[-1].offset, exc)
                out.setdefault(tp, []).extend(records)
            try:
                polled = self._drop_failed_fetch(set(out), most)
            except UNREADABLE_ERRORS as again:
                exc = again
                continue
            for tp, records in polled.items():
                out.setdefault(tp, []).extend(records)
            return out
        raise exc

    def _drop_failed_fetch(self, skipped: set[TopicPartition], most: int
                           ) -> Mapping[TopicPartition, list[Record]]:
        """One poll with every partition that has records to read away from where it stood.

        kafka-python keeps the fetch that failed, and a poll that finds its partition at that
        offset again spins forever; only a poll at another offset drops it. The skipped
        partitions stand past their bad records already, but a rewind (a failed write), a log
        reset or a rebalance may seek them back before the next poll; and a partition whose
        failure the probe did not find again (corrupted on the wire) still stands where it
        failed. So this poll runs at once: the partitions not skipped are moved one record on
        for it and put back after (unless a rebalance inside it moved them meanwhile), and what
        it returns for them is dropped: they read it again from where they were.
        """
        epochs = dict(self._epochs)
        nudged = {tp: position for tp, position in self._unread_positions().items()
                  if tp not in skipped}
        for tp, position in nudged.items():
            self.kafka.seek(tp, position + 1)
        try:
            polled = self.kafka.poll(timeout_ms=0, max_records=most)
        finally:
            for tp, position in nudged.items():
                if self._epochs.get(tp.partition) == epochs.get(tp.partition):
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
        for partition in self.checkpoint.owned():
            tp = self._tp(partition)
            position, end = self.kafka.position(tp), self.kafka.highwater(tp)
            if position is not None and (end is None or position < end):
                positions[tp] = position
        return positions

    def _check_continuity(self, polled: Mapping[int, list[Record]]) -> None:
        """Records that do not continue where their partition's last fetch ended.

        From below it, they are a new log's: the broker restarted empty and cameras refilled it
        before its end was seen below ours, so the client restarted its fetch at the new log's
        beginning. Without a look, the reset would pass unrecorded and the new records be judged
        by the old ones' first reads. What was fetched from the old log is still counted; the new
        log is read on from here.

        From above it, the records between were deleted by the broker's retention before they
        were read (an outage longer than the retention): the client restarted at the log's
        first offset. They are counted as ``expired``, with the records after them, so that the
        rejections tell how long the outage really was.
        """
        for partition, records in polled.items():
            fetched = self._fetched.get(partition)
            first = records[0].offset
            if fetched is not None and first < fetched:
                end = self.kafka.highwater(self._tp(partition))
                self.checkpoint.log_replaced(partition, fetched,
                                             records[-1].offset + 1 if end is None else end,
                                             first)
                self._first_reads.forget(partition)
                if self._inflight is not None:
                    # its frames of the old log still count, but its end is the old log's: it
                    # would move the offset past the new log's end (a second reset found)
                    self._inflight.ends.pop(partition, None)
            elif fetched is not None and first > fetched:
                log.warning("records expired unread partition=%d offsets=%d-%d: the broker's "
                            "retention deleted them before they were read", partition, fetched,
                            first - 1)
                epoch, start, count = self._gaps.get(partition, (-1, fetched, 0))
                if epoch != self._epochs.get(partition):
                    start, count = fetched, 0
                self._gaps[partition] = (self._epochs[partition], start, count + first - fetched)
            self._fetched[partition] = records[-1].offset + 1

    def _still_current(self, records: list[Record], epochs: Mapping[int, int]) -> list[Record]:
        """``records`` without those of partitions sought or revoked since ``epochs``."""
        moved = self._moved_since(epochs)
        return [r for r in records if r.partition not in moved] if moved else records

    def _start(self, records: list[Record], decode: ThreadPoolExecutor,
               worker: ThreadPoolExecutor) -> Batch:
        """Judge the records here and hand the accepted frames to the worker; nothing is counted
        yet (``_finish_inflight``)."""
        now_ms = int(self.clock() * 1000)
        batch = Batch(now_ms, len(records))
        for record in records:
            batch.ends[record.partition] = record.offset + 1
            judged = self._accept(record, now_ms)
            if isinstance(judged, Rejection):
                batch.rejections.append(judged)
            else:
                batch.accepted.append((record.partition, judged))
        batch.epochs = {p: self._epochs.get(p, -1) for p in batch.ends}
        for partition, (epoch, start, count) in self._gaps.items():
            if partition in batch.ends and epoch == batch.epochs[partition]:
                batch.rejections.append(Rejection(partition, start, now_ms, None, EXPIRED,
                                                  count))
        self._gaps.clear()  # the others' records were dropped: they are read, and found, again
        messages = [m for _, m in batch.accepted]
        repeats = [self.checkpoint.frames.seen(_key(m)) for m in messages]
        batch.analysed = worker.submit(analyse, self.analyzer, messages, repeats, decode)
        return batch

    def _finish_inflight(self) -> None:
        """Wait for the batch in analysis, then count it and move its offsets, except for the
        partitions sought or revoked since it was polled: those read their records again, or
        are another member's now."""
        batch, self._inflight = self._inflight, None
        if batch is None or batch.analysed is None:
            return
        analysed = batch.analysed.result()
        self._last_activity = time.monotonic()  # processing time is not idleness
        moved = self._moved_since(batch.epochs) & set(batch.epochs)
        if moved:
            log.info("dropped the analysed records of partitions=%s: they were sought or "
                     "revoked since they were polled, and are read again", sorted(moved))
        for partition, end in batch.ends.items():
            if partition not in moved:
                self.checkpoint.advance(partition, end)
        for rejection in batch.rejections:
            if rejection.partition not in moved:
                log.debug("rejected partition=%d offset=%d reason=%s", rejection.partition,
                          rejection.offset, rejection.reason)
                self._reject(rejection.at_ms, rejection.camera, rejection.reason,
                             rejection.count)
        captures: list[int] = []
        for (partition, message), result in zip(batch.accepted, analysed.results, strict=True):
            if partition in moved:
                continue
            if isinstance(result, str):
                self._reject(message.captured_at_ms, message.camera, result)
            else:
                self._count(message, result)
                captures.append(message.captured_at_ms)
        if captures:
            self.metrics.event_lag.set(max(0.0, batch.now_ms - max(captures)) / 1000)
        self.metrics.batch_seconds.observe(analysed.seconds)
        self.metrics.batch_frames.observe(batch.records)
        self._update_lag()

    def _accept(self, record: Record, now_ms: int) -> FrameMessage | Rejection:
        """The validated message, or why it is skipped; judged by the clock of the record's first
        poll (``FirstReads``), not ``now_ms``, when it is read again."""
        def refused(at_ms: int, camera: str | None, reason: str) -> Rejection:
            return Rejection(record.partition, record.offset, at_ms, camera, reason)

        read_ms = self._first_reads.judged_at(record.partition, record.offset, now_ms)
        if isinstance(record, Unreadable):  # nothing of it is known, not even its camera
            return refused(read_ms, None, UNREADABLE)
        try:
            message = parse_frame(record.key, record.value, record.headers,
                                  self.config.max_message_bytes)
        except FrameRejected as exc:
            # the broker's timestamp is whatever the sender set: used only when it is a real time
            at = record.timestamp if in_time_range(record.timestamp) else read_ms
            return refused(at, exc.camera, exc.reason.value)
        if read_ms - message.captured_at_ms > self.config.max_lag_s * 1000:
            return refused(message.captured_at_ms, message.camera, STALE)
        if message.captured_at_ms - read_ms > self.settings.max_clock_skew_s * 1000:
            # counted in the minute it was read: a future minute would not exist yet
            return refused(read_ms, message.camera, FUTURE)
        return message

    def _count(self, message: FrameMessage, reading: FrameReading) -> None:
        """Add one analysed frame to the buffer, unless a copy of it was counted already."""
        key = _key(message)
        if self.checkpoint.frames.seen(key):  # two copies in one batch
            self._reject(message.captured_at_ms, message.camera, DUPLICATE)
            return
        self.checkpoint.frames.add(key)
        self._agg.add_frame(message.camera, message.classroom, message.captured_at_ms, reading)
        if self._on_commit is not None:
            self._buffered.captures.append(message.captured_at_ms)
        self._buffered.frames += 1
        self._buffered.faces += reading.faces
        self._buffered.faces_read += len(reading.probs)
        self.metrics.frames.labels(message.camera).inc()
        self.metrics.faces.labels(message.camera).inc(reading.faces)

    def _reject(self, at_ms: int, camera: str | None, reason: str, count: int = 1) -> None:
        self._agg.add_rejection(at_ms, camera, reason, count)
        self._buffered.rejected[reason] += count
        self.metrics.rejected.labels(reason).inc(count)

    def _update_lag(self) -> None:
        for partition in self.checkpoint.owned():
            high = self.kafka.highwater(self._tp(partition))
            position = self.checkpoint.position(partition)
            if high is not None and position is not None:
                self.metrics.records_lag.labels(str(partition)).set(max(0, high - position))

    # --- commit -----------------------------------------------------------------------------
    def flush(self) -> None:
        """Commit the buffer with the offsets; on failure drop it and rewind (``Checkpoint.rewind``)
        so the same messages are processed again, each judged as at its first poll.

        Under ``_commit_lock``: kafka-python runs the revoke's flush on its IO thread while the
        loop's thread waits in ``poll``, and a second Ctrl-C there sends the loop's thread to
        ``_discard_open_buffer`` at once; without the lock the discard could clear the offset
        moves between the flush's reading of the rows and of the moves, and the rows be
        committed without them (counted again after a restart)."""
        with self._commit_lock:
            outcome = self.checkpoint.commit(self._agg.rows(), self._agg.rejections())
            committed_at = self.clock()
            buffered, self._buffered = self._buffered, _Buffered()
            self._agg.clear()
            release_free_memory()  # the batches' freed arrays (consumers/memory.py)
            if outcome in (Outcome.COMMITTED, Outcome.NOTHING):
                self._refresh_weights()
            if outcome is Outcome.COMMITTED:
                self.report.add(buffered)
                self.report.flushes += 1
                self._first_reads.committed({p: self.checkpoint.position(p)
                                             for p in self.checkpoint.owned()},
                                            keep=self._unloaded)
                if self._on_commit is not None:
                    self._on_commit(buffered.captures, committed_at)
            elif outcome is Outcome.CONFLICT:
                self.report.conflicts += 1
                self._seek(self.checkpoint.rewind(reload=True))
            elif outcome is Outcome.FAILED:
                self.report.failed_flushes += 1
                self._seek(self.checkpoint.rewind(reload=False))
                time.sleep(RETRY_AFTER_DB_ERROR_S)
            if outcome in (Outcome.CONFLICT, Outcome.FAILED):
                self._last_activity = time.monotonic()  # rewound: there is work to read again

    def _refresh_weights(self) -> None:
        """Weights stored while running (``db upgrade --engagement-weights``) score the frames
        counted after the next flush; what was committed keeps the weights it was scored with, so
        a change is at most one flush interval off the time it was stored. The database away, or
        its row deleted: the weights in use stay (this runs in rebalance callbacks too, where an
        error would end the process)."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            stored = self.checkpoint.sink.engagement_weights()
        except SQLAlchemyError:  # the flushes say the database is away
            return
        except UsageError as exc:
            log.warning("%s; scoring with the weights in use", exc)
            return
        if weights_vector(stored.weights) != tuple(self._agg.weights):
            self._use_weights(stored)

    def _use_weights(self, stored: StoredWeights) -> None:
        self._agg.set_weights(weights_vector(stored.weights))
        log.info("engagement weights %s (stored %s)", weights_text(stored.weights),
                 stored.updated_at.isoformat(timespec="seconds"))


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


def _key(message: FrameMessage) -> tuple[str, int, int]:
    return (message.camera, message.captured_at_ms, message.seq)
