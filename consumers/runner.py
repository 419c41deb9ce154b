"""The consumer loop: poll -> validate -> decode -> detect -> classify -> aggregate -> commit.

Two batches at a time: while a worker decodes (in a small thread pool; OpenCV releases the GIL)
and analyses one batch, its frames detected together and their faces classified together, the
loop's thread polls the next (consumers/batch.py says what may happen before the analysis is
done). The aggregator's buffer is committed by the checkpoint (with the partitions' offsets, in one
transaction) every ``flush_interval_s`` (so a minute's counts are in soon after it ends; between a
batch's counting and the next one's start), when partitions are revoked, and at exit.

A commit the database refuses (it is away, a table is locked) keeps the buffer: the loop goes on
counting into it and tries again, less often the longer it fails (``RETRY_MAX_S``), so frames
read in time during an outage are counted when it ends instead of being read again late and
refused as stale. Past ``max_uncommitted_records`` the partitions are paused until a commit goes
through, so memory stays bounded. Only a conflict (another consumer committed first) rewinds the
partitions to the stored offsets; so does a revocation or an exit that finds the database away,
which drops the buffer: its records are read again, by whoever owns them. Positions come from the
database on every assignment. A record the Kafka client cannot parse is skipped and counted as
``unreadable`` (``consumers.unreadable``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from kafka import ConsumerRebalanceListener, TopicPartition

from classpulse.db.engine import failure_reason
from classpulse.db.weights import StoredWeights, check_consumer_weights, weights_text
from classpulse.emotions import weights_vector
from classpulse.errors import UsageError
from classpulse.kafka_connect import connect_with_retry
from classpulse.settings import Settings
from classpulse.topic_presence import TOPIC_CHECK_S
from classpulse.wire import FrameMessage, FrameRejected
from consumers.aggregate import MinuteAggregator
from consumers.batch import DUPLICATE, EXPIRED, STALE, Analyzer, Batch, Rejection, analyse
from consumers.checkpoint import Checkpoint, Outcome
from consumers.config import ConsumerConfig
from consumers.first_reads import FirstReads
from consumers.gate import FrameReading
from consumers.memory import release_free_memory
from consumers.metrics import ConsumerMetrics
from consumers.rejections import RejectionLog, judge, repeat
from consumers.report import Buffered, ConsumerReport
from consumers.sink import DatabaseSink
from consumers.source import KafkaSource, ProbeSource, Record
from consumers.topic_presence import TopicPresence
from consumers.unreadable import UnreadableSkipper

log = logging.getLogger(__name__)
# the first wait before the database is tried again (stored offsets, a refused flush); a flush
# refused again waits twice as long as the last time, RETRY_MAX_S at the most
RETRY_AFTER_DB_ERROR_S = 1.0
RETRY_MAX_S = 15.0
# of the time a rebalance callback gives its write (``FrameConsumer._callback_wait_s``), the share
# a statement may wait for a lock: a wait for a lock held elsewhere then fails on the database's
# own timeout, rolled back, before the write is given up, instead of committing after it was
LOCK_WAIT_SHARE = 0.8
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
                 probe: Callable[[], ProbeSource] | None = None,
                 topic_exists: Callable[[], bool | None] | None = None,
                 topic_check_s: float = TOPIC_CHECK_S) -> None:
        self.settings = settings
        self.config = config
        self.analyzer = analyzer
        self.metrics = metrics or ConsumerMetrics()
        self.clock = clock
        self.report = ConsumerReport()
        self.checkpoint = Checkpoint(sink, settings.kafka_topic,
                                     int(config.duplicate_window_s * 1000), self.metrics, clock)
        self._agg = MinuteAggregator(weights_vector(settings.engagement_weights))
        self._buffered = Buffered()
        self._connect = connect or self._connect_kafka
        self._probe = probe or self._connect_probe
        # whether the broker lists the frames topic (TopicPresence), every topic_check_s; by
        # default asked of the broker the group's client reads, none with a client of the tests'
        if topic_exists is None and connect is None:
            topic_exists = self._list_topic
        self._presence = None if topic_exists is None else TopicPresence(
            settings.kafka_topic, settings.kafka_bootstrap_servers, topic_exists, self.metrics,
            topic_check_s)
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
        # when each record not yet committed was first polled: records read again (a conflicting
        # flush, a rebalance) are judged by that clock, not the later one
        self._first_reads = FirstReads()
        self._consumer: KafkaSource | None = None
        self._inflight: Batch | None = None  # polled, judged, in the worker's analysis
        # flushes the database refused in a row (the buffer is kept meanwhile), and the
        # time.monotonic() before which the next is not tried
        self._failures = 0
        self._retry_at = 0.0
        self._holding = False  # partitions paused: the buffer holds max_uncommitted_records
        # the run is ending without what it holds, its last flush refused: the revocations of
        # kafka-python's close() drop it without trying the database again (after an error
        # they still commit what is left, a pending log reset)
        self._leaving = False
        self._rejections = RejectionLog()
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
        """The group's client, once the frames topic is known to exist with ClassPulse's
        retention (``require_topic``): subscribing to a missing topic would have a broker with
        ``auto.create.topics.enable`` create it with the broker's retention (a week on Apache
        Kafka). Nor may the client ask the broker to create it later, the topic deleted under it
        (``allow_auto_create_topics``: kafka-python's default is to ask)."""
        from kafka import KafkaConsumer

        from classpulse.topics import require_topic

        cfg = self.config
        bootstrap = self.settings.kafka_bootstrap_servers
        consumer = connect_with_retry(
            lambda: KafkaConsumer(
                bootstrap_servers=bootstrap,
                group_id=cfg.group_id,
                allow_auto_create_topics=False,
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
        try:
            require_topic(bootstrap, self.settings.kafka_topic)
        except UsageError:
            consumer.close()
            raise
        return consumer

    def _connect_probe(self) -> ProbeSource:
        """A second client, in no group (joining none, it costs the group no rebalance); it
        never asks the broker to create a topic either."""
        from kafka import KafkaConsumer

        return KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                             allow_auto_create_topics=False,
                             enable_auto_commit=False,
                             max_partition_fetch_bytes=self._fetch_bytes(),
                             client_id=f"classpulse-probe-{self.config.group_id}")

    def _list_topic(self) -> bool | None:
        from classpulse.topics import topic_exists

        return topic_exists(self.settings.kafka_bootstrap_servers, self.settings.kafka_topic)

    def _fetch_bytes(self) -> int:
        return max(self.config.max_message_bytes + 1024, 1_048_576)

    @property
    def kafka(self) -> KafkaSource:
        assert self._consumer is not None, "run() connects the Kafka client"
        return self._consumer

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.settings.kafka_topic, partition)

    def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Commit what is counted before the partitions go, if that is quick; else drop it.

        kafka-python runs this on its event loop, which also sends the group's heartbeats: a
        flush that waits here longer than the session timeout gets this member expelled, and
        every member rebalances again. So the database gets a quarter of it
        (``_callback_wait_s``), in wall time: the write runs on a thread of its own (``in_time``:
        reaching the database, the pool's ping, a connect and every statement included), and one
        not done by then is given up as FAILED. It is tried during the backoff after a refused
        flush (``_retry_at``) too: the database may be back, and a buffer dropped unwritten hands
        its frames to a new owner that may find them older than ``--max-lag``, skipped as stale
        (lost to the counts), where this member read them in time; not once the run is leaving
        without what it holds (``_leaving``: the report says so). Nothing here sleeps. A flush
        given up is safe: the buffer is dropped (it mixes the partitions' counts, so all of it), the
        partitions kept are sought back to their stored offsets, and the revoked ones are read
        from there by their new owner; a write given up that commits later anyway makes the next
        commit of its partitions conflict, and read again from what it stored. A conflict reads
        the stored offsets again (in what is left of the quarter) before the kept partitions are
        sought there.
        """
        partitions = sorted(tp.partition for tp in revoked)
        log.info("partitions revoked partitions=%s", partitions)
        for partition in partitions:  # what is fetched or in analysis may be another member's now
            self._new_epoch(partition)
        with self._commit_lock:
            if self._leaving:
                self._drop_buffer(but=partitions)
            else:
                self._commit_at_revocation(partitions)
        self.checkpoint.revoke(partitions)
        for partition in partitions:
            self._unloaded.discard(partition)
            # another member's lag now: a frozen value here misled a sum or max over consumers
            self.metrics.forget_partition(partition)
            self._unchecked.discard(partition)
            self._fetched.pop(partition, None)

    def _commit_at_revocation(self, partitions: list[int]) -> None:
        """The revocation's write, under ``_commit_lock``, in its share of the session timeout
        (:meth:`on_revoked`); what it could not commit is dropped, to be read again."""
        wait = self._callback_wait_s()
        deadline = time.monotonic() + wait
        outcome = self._commit(lock_wait_s=wait * LOCK_WAIT_SHARE, within=wait)
        if outcome is Outcome.COMMITTED:
            self._settle(self._take_buffer(), self.clock())
        elif outcome is Outcome.CONFLICT:
            self.report.conflicts += 1
            self._drop_buffer(but=partitions, reload_within=deadline - time.monotonic())
        elif outcome is Outcome.FAILED:
            self._refused()
            if self._buffered.records:
                log.warning("dropping %d uncommitted records at the revocation (%s); "
                            "they are read again from the stored offsets",
                            self._buffered.records, self.checkpoint.failure)
            self._drop_buffer(but=partitions)

    def _callback_wait_s(self) -> float:
        """How long a rebalance callback waits for the database: a quarter of the session
        timeout (and no longer than a flush may)."""
        return min(self.config.db_timeout_s, self.config.session_timeout_ms / 4000)

    def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        # kafka-python runs this on its IO thread, where blocking client calls (log bounds) are
        # refused: seek to the stored offsets here, check the logs' ends after the poll
        self._last_activity = time.monotonic()
        self._unloaded |= {tp.partition for tp in assigned}
        self._load_positions(within=self._callback_wait_s())
        if not self.assigned.is_set():
            self.assigned_at = time.monotonic()
            self.assigned.set()

    def _load_positions(self, within: float | None = None) -> None:
        """Seek the assigned partitions whose stored offsets are not loaded yet.

        While the database is away (a rebalance during a PostgreSQL restart) they stay paused,
        and the loop tries again after each poll: this runs inside kafka-python's rebalance
        callback on its event loop, where waiting for the database to come back would stop the
        heartbeats, and raising would end the process (kafka-python raises the callback's error
        out of ``poll``). So there the reads are given up after ``within`` seconds (wall time,
        ``in_time``) and count as the database away; the loop's own tries wait as long as the
        engine lets them (its connect, statement and TCP timeouts), so a read that is merely
        slow (many frames counted recently) gets done there. A later try seeks only partitions
        that were paused, so records already fetched for the others stay in the batch.
        """
        from sqlalchemy.exc import SQLAlchemyError

        partitions = sorted(self._unloaded)
        tps = [self._tp(p) for p in partitions]
        try:
            starts = self.checkpoint.assign(partitions, within)
        except SQLAlchemyError as exc:
            self.kafka.pause(*tps)
            self._load_again_at = time.monotonic() + RETRY_AFTER_DB_ERROR_S
            log.warning("cannot load the stored offsets of partitions=%s (%s); they wait, "
                        "paused, for the database", partitions,
                        f"{type(exc).__name__}: {failure_reason(exc)}")
            return
        self._unloaded.clear()
        if self._holding:  # the buffer is full: they wait with the others
            self.kafka.pause(*tps)
        else:
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
        self._warn_of_other_groups()
        self._consumer = self._connect()
        skipper = UnreadableSkipper(self._consumer, self._probe, self.checkpoint.owned,
                                    self._epochs.get, self.settings.kafka_topic)
        self._consumer.subscribe([self.settings.kafka_topic], listener=_Rebalance(self))
        if self._presence is not None:
            self._presence.start()
        decode = ThreadPoolExecutor(self.config.decode_threads, thread_name_prefix="decode")
        worker = ThreadPoolExecutor(1, thread_name_prefix="analyse")
        last_flush = time.monotonic()
        try:
            while not stop.is_set():
                records = self._poll_batch(stop, skipper)
                self._finish_inflight()
                now = time.monotonic()
                if now - last_flush >= self.config.flush_interval_s and now >= self._retry_at:
                    # between batches: the flush's trim and the soak's probe (bench soak) see
                    # what stays allocated, not a batch's working set
                    epochs = dict(self._epochs)
                    self._check_log_resets({p: self.kafka.highwater(self._tp(p))
                                            for p in self.checkpoint.owned()})
                    records = self._still_current(records, epochs)  # reset: read again
                    outcome = self.flush()
                    if outcome is Outcome.FAILED:
                        log.warning("keeping %d uncommitted records for the next try, in %.0f s",
                                    self._buffered.records, self._retry_at - time.monotonic())
                    if outcome is Outcome.CONFLICT:  # rewound: there is work to read again
                        self._last_activity = time.monotonic()
                    else:  # waiting for the database (a lock, a timeout) is no idleness
                        self._last_activity += time.monotonic() - now
                    last_flush = time.monotonic()
                    records = self._still_current(records, epochs)  # rewound: read again
                if records:
                    self._inflight = self._start(records, decode, worker)
                    self._last_activity = time.monotonic()
                if self._holding:
                    # paused for a full buffer, not for want of messages: Kafka holds more
                    self._last_activity = time.monotonic()
                idle = self.config.exit_when_idle_s
                # idleness counts only once the group gave us partitions (joining takes a while)
                if (idle is not None and self.assigned.is_set() and self._inflight is None
                        and time.monotonic() - self._last_activity > idle):
                    log.info("no message for %.0f s, exiting", idle)
                    break
            self._finish_inflight()
            held = {p: self.checkpoint.position(p) for p in self.checkpoint.owned()}
            records_held = self._buffered.records
            outcome = self.flush()
            if outcome is Outcome.FAILED:
                self._leave_uncommitted()
            elif outcome is Outcome.CONFLICT:
                self._left_by_conflict(held, records_held)
        except BaseException:
            # kafka-python's close() revokes the partitions, and a revoke flushes: it must not
            # commit the offsets of a batch that an error (a bug, a second Ctrl-C) cut short
            self._inflight = None
            self._discard_open_buffer()
            raise
        finally:
            if self._presence is not None:
                self._presence.stop()
            worker.shutdown(wait=True)
            decode.shutdown(wait=True)
            self._consumer.close()
        return self.report

    def _leave_uncommitted(self) -> None:
        """Exit with the buffer the database refused: said in the report (``classpulse consume``
        exits non-zero with it), dropped before kafka-python's close revokes the partitions, so
        that the revocation does not try the database again and hold up the exit."""
        self.report.uncommitted = self._buffered.records
        self.report.failure = self.checkpoint.failure
        log.error("exiting with %d records uncommitted: the database refused the last flush "
                  "(%s); the next run reads them again from the stored offsets",
                  self.report.uncommitted, self.report.failure)
        self._leaving = True
        self._discard_open_buffer()

    def _left_by_conflict(self, held: Mapping[int, int | None], records: int) -> None:
        """The exit's flush conflicted: another consumer (or a write of ours given up at a
        revocation that committed late) stored other offsets first, and the partitions were
        rewound to them. The records between those and where this run had read (``held``, the
        positions before the flush; ``records`` at the most) are committed by no one yet: said
        in the report as uncommitted (``classpulse consume`` exits non-zero with them), read
        again by the partitions' next owner."""
        behind = 0
        for partition, was in held.items():
            now = self.checkpoint.position(partition)
            if was is not None:
                behind += max(0, was - now) if now is not None else records
        self.report.uncommitted = max(0, min(records, behind))
        self.report.conflict = bool(self.report.uncommitted)
        if self.report.uncommitted:
            log.error("exiting with %d records uncommitted: another consumer committed their "
                      "partitions' offsets first (the last flush conflicted); whoever owns them "
                      "next reads them again from the stored offsets", self.report.uncommitted)

    def _discard_open_buffer(self) -> None:
        """Forget what is counted but not committed; a restart reads it again from the stored
        offsets. After a flush under way on another thread, never inside it (``flush``)."""
        with self._commit_lock:
            self._take_buffer()
            self.checkpoint.rewind(reload=False)

    def _poll_batch(self, stop: threading.Event, skipper: UnreadableSkipper) -> list[Record]:
        """Up to ``batch_frames`` records or whatever came within ``batch_wait_ms``, polled
        through ``skipper`` (past records the client cannot parse)."""
        cfg = self.config
        deadline = time.monotonic() + cfg.batch_wait_ms / 1000
        batch: list[Record] = []
        while len(batch) < cfg.batch_frames and not stop.is_set():
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            epochs = dict(self._epochs)
            polled = skipper.poll(remaining_ms, cfg.batch_frames - len(batch))
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

    def _check_continuity(self, polled: Mapping[int, list[Record]]) -> None:
        """Records that do not continue where their partition's last fetch ended.

        From below it, they are a new log's: the broker restarted empty and cameras refilled it
        before its end was seen below ours, so the client restarted its fetch at the new log's
        beginning. Without a look, the reset would pass unrecorded and the new records be judged
        by the old ones' first reads. What was fetched from the old log is still counted; the new
        log is read on from here.

        From above it: offsets that hold no record for us. Those below the log's first offset
        were deleted by the broker's retention before they were read (an outage longer than the
        retention; the client restarted at the log's first offset): they are counted as
        ``expired``, with the records after them, so that the rejections tell how long the
        outage really was. The others are no frames that anyone sent: a transaction's commit
        or abort marker, records that compaction removed. They pass uncounted (``_gap``).
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
                self._gap(partition, fetched, first)
            self._fetched[partition] = records[-1].offset + 1

    def _gap(self, partition: int, fetched: int, first: int) -> None:
        """Offsets ``fetched`` to ``first`` - 1 came with no record: those below the log's first
        offset (asked of the broker, on this thread: not in a callback) expired."""
        begin = self._log_beginnings([partition]).get(partition)
        if begin is None:  # the broker cannot say: nothing is counted rather than made up
            log.warning("offsets %d-%d of partition=%d held no record; the broker cannot say "
                        "whether its retention deleted them, so they are not counted as "
                        "expired", fetched, first - 1, partition)
            return
        expired = min(begin, first) - fetched
        if expired <= 0:  # transaction markers or compaction: no frame is missing
            log.debug("offsets %d-%d of partition=%d hold no record (transaction markers or "
                      "compaction)", fetched, first - 1, partition)
            return
        log.warning("records expired unread partition=%d offsets=%d-%d: the broker's retention "
                    "deleted them before they were read", partition, fetched, fetched + expired - 1)
        epoch, start, count = self._gaps.get(partition, (-1, fetched, 0))
        if epoch != self._epochs.get(partition):
            start, count = fetched, 0
        self._gaps[partition] = (self._epochs[partition], start, count + expired)

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
            batch.polled[record.partition] += 1
            if record.timestamp >= 0:
                batch.appended[record.partition] = max(
                    record.timestamp, batch.appended.get(record.partition, record.timestamp))
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
                self._buffered.records += batch.polled[partition]
        for rejection in batch.rejections:
            if rejection.partition not in moved:
                self._rejections.tell(rejection.partition, rejection.offset, rejection.camera,
                                      rejection.reason, rejection.detail)
                self._reject(rejection.at_ms, rejection.camera, rejection.reason,
                             rejection.count)
        # the times the event lag runs from: the capture of the frames read in time, counted or
        # refused for their pixels; where there are none (every record refused as stale), when
        # the broker took the records: a consumer an hour behind kept the small lag of its last
        # counted frame, and the alert on it never fired, while a camera whose clock runs behind
        # (its frames stale as they arrive) is no lag
        lag_from_ms = [message.captured_at_ms for partition, message in batch.accepted
                       if partition not in moved]
        if not lag_from_ms:
            lag_from_ms = [ms for p, ms in batch.appended.items() if p not in moved]
        if not lag_from_ms:  # a broker that stamps no time: the stale frames' capture
            lag_from_ms = [r.at_ms for r in batch.rejections
                           if r.reason == STALE and r.partition not in moved]
        for (partition, message), result in zip(batch.accepted, analysed.results, strict=True):
            if partition in moved:
                continue
            if isinstance(result, FrameRejected):  # its pixels
                self._rejections.tell(partition, None, message.camera, result.reason.value,
                                      result.detail)
                self._reject(message.captured_at_ms, message.camera, result.reason.value)
            elif isinstance(result, str):  # a repeat of a counted frame, or analysis failed
                self._rejections.tell(partition, None, message.camera, result,
                                      repeat(message) if result == DUPLICATE else "")
                self._reject(message.captured_at_ms, message.camera, result)
            else:
                self._count(partition, message, result)
        self._hold_if_full()
        if lag_from_ms:
            self.metrics.event_lag.set(max(0.0, batch.now_ms - max(lag_from_ms)) / 1000)
        self.metrics.batch_seconds.observe(analysed.seconds)
        self.metrics.batch_frames.observe(batch.records)
        self._update_lag()

    def _accept(self, record: Record, now_ms: int) -> FrameMessage | Rejection:
        """The validated message, or why it is skipped; judged by the clock of the record's first
        poll (``FirstReads``), not ``now_ms``, when it is read again."""
        read_ms = self._first_reads.judged_at(record.partition, record.offset, now_ms)
        return judge(record, read_ms, max_lag_s=self.config.max_lag_s,
                     max_clock_skew_s=self.settings.max_clock_skew_s,
                     max_message_bytes=self.config.max_message_bytes)

    def _count(self, partition: int, message: FrameMessage, reading: FrameReading) -> None:
        """Add one analysed frame to the buffer, unless a copy of it was counted already."""
        key = _key(message)
        if self.checkpoint.frames.seen(key):  # two copies in one batch
            self._rejections.tell(partition, None, message.camera, DUPLICATE, repeat(message))
            self._reject(message.captured_at_ms, message.camera, DUPLICATE)
            return
        self.checkpoint.frames.add(key)
        self._agg.add_frame(message.camera, message.classroom, message.captured_at_ms, reading)
        buffered = self._buffered
        if self._on_commit is not None:
            buffered.captures.append(message.captured_at_ms)
        buffered.frames += 1
        buffered.faces += reading.faces
        buffered.faces_read += len(reading.probs)
        buffered.camera_frames[message.camera] += 1

    def _warn_of_other_groups(self) -> None:
        """Say so when another consumer group stored offsets of this topic: each group reads
        every frame, and though a frame is counted once (``seen_frames``), every group that
        reads it late or second adds it to ``rejected_frames`` as stale or duplicate (one stray
        --group's replay made 80% of the frames "stale" there), and each lost race rolls back a
        flush. Not refused: a group renamed on purpose leaves its old offsets behind."""
        groups = self.checkpoint.sink.other_groups()
        if groups:
            log.warning("consumer groups %s also stored offsets of topic=%s: every group reads "
                        "every frame, so rejected_frames counts a frame read by two groups as "
                        "stale or duplicate once more; run one group (this one: group=%s), and "
                        "forget one no longer used with DELETE FROM consumer_offsets WHERE "
                        "group_id = '...'", ",".join(repr(g) for g in groups),
                        self.settings.kafka_topic, self.config.group_id)

    def _reject(self, at_ms: int, camera: str | None, reason: str, count: int = 1) -> None:
        self._agg.add_rejection(at_ms, camera, reason, count)
        self._buffered.rejected[reason] += count

    def _update_lag(self) -> None:
        for partition in self.checkpoint.owned():
            high = self.kafka.highwater(self._tp(partition))
            position = self.checkpoint.position(partition)
            if high is not None and position is not None:
                self.metrics.records_lag.labels(str(partition)).set(max(0, high - position))

    # --- commit -----------------------------------------------------------------------------
    def flush(self) -> Outcome:
        """Commit the buffer with the offsets, periodically and at exit.

        Refused by the database, everything is kept, to go with the next try (``_refused``):
        dropped and read again, the records would be judged by the clock of their first poll,
        but those first polled once the outage is over would be late, and refused as stale.
        Another consumer's commit came first (CONFLICT): the buffer is dropped and the partitions
        read again from the stored offsets, each record judged as at its first poll.

        Under ``_commit_lock``: kafka-python runs the revoke's flush on its IO thread while the
        loop's thread waits in ``poll``, and a second Ctrl-C there sends the loop's thread to
        ``_discard_open_buffer`` at once; without the lock the discard could clear the offset
        moves between the flush's reading of the rows and of the moves, and the rows be
        committed without them (counted again after a restart)."""
        with self._commit_lock:
            outcome = self._commit()
            committed_at = self.clock()
            buffered = self._buffered if outcome is Outcome.FAILED else self._take_buffer()
            release_free_memory()  # the batches' freed arrays (consumers/memory.py)
            if outcome is Outcome.FAILED:
                self._refused()
            elif outcome is Outcome.CONFLICT:
                self.report.conflicts += 1
                self._seek(self.checkpoint.rewind(reload=True))
            else:
                self._refresh_weights()
                if outcome is Outcome.COMMITTED:
                    self._settle(buffered, committed_at)
            return outcome

    def _commit(self, lock_wait_s: float | None = None, within: float | None = None) -> Outcome:
        return self.checkpoint.commit(self._agg.rows(), self._agg.rejections(), lock_wait_s,
                                      within)

    def _take_buffer(self) -> Buffered:
        """The open buffer's counts, the aggregator emptied; partitions paused for a full buffer
        read on."""
        buffered, self._buffered = self._buffered, Buffered()
        self._agg.clear()
        if self._holding:
            self._holding = False
            self.kafka.resume(*self._loaded())
        return buffered

    def _loaded(self) -> list[TopicPartition]:
        """The owned partitions whose stored offsets are loaded (the others wait, paused)."""
        return [self._tp(p) for p in self.checkpoint.owned() if p not in self._unloaded]

    def _settle(self, buffered: Buffered, committed_at: float) -> None:
        """What a commit makes final: the report, the metrics, the first reads forgotten."""
        self._failures, self._retry_at = 0, 0.0
        self.report.add(buffered)
        self.report.flushes += 1
        for camera, frames in buffered.camera_frames.items():
            self.metrics.frames.labels(camera).inc(frames)
        self.metrics.faces.inc(buffered.faces)
        for reason, count in buffered.rejected.items():
            self.metrics.rejected.labels(reason).inc(count)
        self._first_reads.committed({p: self.checkpoint.position(p)
                                     for p in self.checkpoint.owned()}, keep=self._unloaded)
        if self._on_commit is not None:
            self._on_commit(buffered.captures, committed_at)

    def _refused(self) -> None:
        """A flush the database refused: the next waits twice as long as the last, at most
        ``RETRY_MAX_S`` (a database that is back is found within that)."""
        self.report.failed_flushes += 1
        self._failures += 1
        wait = min(RETRY_MAX_S, RETRY_AFTER_DB_ERROR_S * 2 ** min(self._failures - 1, 16))
        self._retry_at = time.monotonic() + wait

    def _drop_buffer(self, but: Collection[int] = (), reload_within: float | None = None) -> None:
        """Forget the open buffer; the partitions it read (but those in ``but``, being revoked)
        read again from their stored offsets: those read again from the database within
        ``reload_within`` seconds (after a conflict: another consumer moved them), else the last
        known ones."""
        self._take_buffer()
        reload = reload_within is not None
        starts = self.checkpoint.rewind(reload=reload, within=reload_within)
        self._seek({p: offset for p, offset in starts.items() if p not in but})

    def _hold_if_full(self) -> None:
        """Pause the partitions while the buffer holds ``max_uncommitted_records``: while the
        database refuses it, it would grow as long as the outage lasts. Records not polled wait
        in Kafka and are judged when they are first polled (stale if the outage outlasts
        ``--max-lag`` by then)."""
        if self._buffered.records < self.config.max_uncommitted_records:
            return
        if not self._holding:
            log.warning("%d records uncommitted (the database refused %d flushes in a row): no "
                        "more are read until a flush goes through", self._buffered.records,
                        self._failures)
        self._holding = True
        self.kafka.pause(*self._loaded())  # again: partitions assigned meanwhile too

    def _refresh_weights(self) -> None:
        """Weights stored while running (``db upgrade --engagement-weights``) score the frames
        counted after the next flush; what was committed keeps the weights it was scored with, so
        a change is at most one flush interval off the time it was stored. The database away, or
        its row deleted: the weights in use stay, the error swallowed here (raised, it would end
        the consumer over a setting)."""
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


def _key(message: FrameMessage) -> tuple[str, int, int]:
    return (message.camera, message.captured_at_ms, message.seq)

