"""The consumer loop: poll -> validate -> decode -> detect -> classify -> aggregate -> sink.

One batch at a time: frames of a batch are decoded in a small thread pool (OpenCV releases the GIL),
detected together and their faces classified together. Buckets and the partitions' next offsets are
written in one transaction every ``flush_interval_s`` (so the dashboard sees the open minute live),
when partitions are revoked, and at exit. Positions come from the database on every assignment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from kafka import ConsumerRebalanceListener
from sqlalchemy.exc import SQLAlchemyError

from classpulse.emotions import weights_vector
from classpulse.kafka_connect import connect_with_retry
from classpulse.settings import Settings
from classpulse.wire import DEFAULT_MAX_BYTES, FrameMessage, FrameRejected, decode_jpeg
from classpulse.wire import parse_message as parse_frame
from consumers.aggregate import MinuteAggregator
from consumers.analyze import FrameAnalyzer
from consumers.gate import FrameReading
from consumers.metrics import ConsumerMetrics
from consumers.sink import DatabaseSink, OffsetConflict, OffsetMove

log = logging.getLogger(__name__)
STALE = "stale"
ANALYSIS_FAILED = "analysis_failed"


@dataclass(frozen=True)
class ConsumerConfig:
    """How one consumer batches, flushes and behaves; built once from the command line."""

    group_id: str = "classpulse"
    batch_frames: int = 16
    batch_wait_ms: int = 250
    flush_interval_s: float = 5.0
    max_lag_s: float = 120.0
    exit_when_idle_s: float | None = None
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 10_000
    decode_threads: int = 2
    max_message_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class ConsumerReport:
    """What one run did, for the exit summary and tests."""

    frames: int = 0
    faces: int = 0
    faces_read: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    flushes: int = 0
    conflicts: int = 0


class _Rebalance(ConsumerRebalanceListener):
    """kafka-python rebalance callbacks, forwarded to the consumer (flush on revoke, seek on
    assign)."""

    def __init__(self, owner: FrameConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.owner.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner.on_assigned(assigned)


class FrameConsumer:
    """One member of the consumer group; ``run`` blocks until ``stop`` is set or it goes idle."""

    def __init__(self, settings: Settings, config: ConsumerConfig, analyzer: FrameAnalyzer,
                 sink: DatabaseSink, metrics: ConsumerMetrics | None = None,
                 clock: Callable[[], float] = time.time,
                 on_commit: Callable[[list[int], float], None] | None = None) -> None:
        self.settings = settings
        self.config = config
        self.analyzer = analyzer
        self.sink = sink
        self.metrics = metrics or ConsumerMetrics()
        self.clock = clock
        self.report = ConsumerReport()
        self._agg = MinuteAggregator(weights_vector(settings.engagement_weights))
        self._stored: dict[int, int | None] = {}  # partition -> offset the database holds
        self._next: dict[int, int] = {}  # partition -> next offset after what is buffered
        self._generation = 0  # bumped on every assignment; older fetched records are dropped
        self._consumer: Any = None
        self._last_activity = time.monotonic()
        # latency probe for `classpulse bench pipeline`: captured_at of the frames in the buffer,
        # handed over with the commit time after each successful flush; off (None) in production
        self._on_commit = on_commit
        self._buffered_captures: list[int] = []
        # set at the group's first assignment: joining a group takes seconds, so a benchmark
        # times from here and starts live cameras only once someone is there to read them
        self.assigned = threading.Event()
        self.assigned_at: float | None = None  # time.monotonic() of that first assignment

    # --- Kafka client and rebalances -------------------------------------------------------
    def _connect(self) -> Any:
        from kafka import KafkaConsumer

        cfg = self.config
        bootstrap = self.settings.kafka_bootstrap_servers
        consumer = connect_with_retry(
            lambda: KafkaConsumer(
                bootstrap_servers=bootstrap,
                group_id=cfg.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=cfg.batch_frames,
                max_poll_interval_ms=cfg.max_poll_interval_ms,
                session_timeout_ms=cfg.session_timeout_ms,
                heartbeat_interval_ms=max(1000, cfg.session_timeout_ms // 4),
                max_partition_fetch_bytes=max(cfg.max_message_bytes + 1024, 1_048_576),
                client_id=f"classpulse-consumer-{cfg.group_id}",
            ),
            bootstrap,
        )
        consumer.subscribe([self.settings.kafka_topic], listener=_Rebalance(self))
        return consumer

    def on_revoked(self, revoked: Any) -> None:
        log.info("partitions revoked partitions=%s", sorted(tp.partition for tp in revoked))
        self.flush()
        for tp in revoked:
            self._stored.pop(tp.partition, None)
            self._next.pop(tp.partition, None)

    def on_assigned(self, assigned: Any) -> None:
        self._generation += 1
        self._last_activity = time.monotonic()
        self._seek_to_stored(list(assigned))
        if not self.assigned.is_set():
            self.assigned_at = time.monotonic()
            self.assigned.set()

    def _seek_to_stored(self, partitions: list[Any]) -> None:
        """Position each partition at the offset stored in the database, or its beginning."""
        stored = self.sink.stored_offsets(tp.partition for tp in partitions)
        for tp in partitions:
            offset = stored.get(tp.partition)
            self._stored[tp.partition] = offset
            self._next.pop(tp.partition, None)
            if offset is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)
        log.info("partitions assigned positions=%s",
                 {tp.partition: stored.get(tp.partition, "earliest") for tp in partitions})

    # --- the loop ---------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> ConsumerReport:
        self._consumer = self._connect()
        pool = ThreadPoolExecutor(self.config.decode_threads, thread_name_prefix="decode")
        last_flush = time.monotonic()
        try:
            while not stop.is_set():
                generation, batch = self._poll_batch(stop)
                if batch:
                    self._process(batch, generation, pool)
                    self._last_activity = time.monotonic()  # processing time is not idleness
                if time.monotonic() - last_flush >= self.config.flush_interval_s:
                    self.flush()
                    last_flush = time.monotonic()
                idle = self.config.exit_when_idle_s
                # idleness counts only once the group gave us partitions (joining takes a while)
                if (idle is not None and self._generation > 0
                        and time.monotonic() - self._last_activity > idle):
                    log.info("no message for %.0f s, exiting", idle)
                    break
            self.flush()
        finally:
            pool.shutdown(wait=True)
            self._consumer.close()
        return self.report

    def _poll_batch(self, stop: threading.Event) -> tuple[int, list[Any]]:
        """Up to ``batch_frames`` records or whatever came within ``batch_wait_ms``."""
        cfg = self.config
        deadline = time.monotonic() + cfg.batch_wait_ms / 1000
        batch: list[Any] = []
        generation = self._generation
        while len(batch) < cfg.batch_frames and not stop.is_set():
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            polled = self._consumer.poll(timeout_ms=remaining_ms,
                                         max_records=cfg.batch_frames - len(batch))
            if self._generation != generation:  # a rebalance happened inside poll
                batch, generation = [], self._generation
            for records in polled.values():
                batch.extend(records)
        return generation, batch

    def _process(self, batch: list[Any], generation: int, pool: ThreadPoolExecutor) -> None:
        if generation != self._generation:
            return
        started = time.monotonic()
        now_ms = int(self.clock() * 1000)
        accepted: list[FrameMessage] = []
        for record in batch:
            self._next[record.partition] = record.offset + 1
            message = self._accept(record, now_ms)
            if message is not None:
                accepted.append(message)
        decoded = list(pool.map(self._decode, accepted))
        frames = [(m, rgb) for m, rgb in zip(accepted, decoded, strict=True) if rgb is not None]
        readings = self._analyze([rgb for _, rgb in frames], [m for m, _ in frames])
        for (message, _), reading in zip(frames, readings, strict=True):
            if reading is None:
                continue
            self._agg.add_frame(message.camera, message.classroom, message.captured_at_ms,
                                reading)
            if self._on_commit is not None:
                self._buffered_captures.append(message.captured_at_ms)
            self.report.frames += 1
            self.report.faces += reading.faces
            self.report.faces_read += len(reading.probs)
            self.metrics.frames.labels(message.camera).inc()
            self.metrics.faces.labels(message.camera).inc(reading.faces)
        if frames:
            newest = max(m.captured_at_ms for m, _ in frames)
            self.metrics.event_lag.set(max(0.0, now_ms - newest) / 1000)
        self.metrics.batch_seconds.observe(time.monotonic() - started)
        self.metrics.batch_frames.observe(len(batch))
        self._update_lag()

    def _accept(self, record: Any, now_ms: int) -> FrameMessage | None:
        """The validated message, or None after counting why it was skipped."""
        try:
            message = parse_frame(record.key, record.value, record.headers,
                                  self.config.max_message_bytes)
        except FrameRejected as exc:
            at = record.timestamp if isinstance(record.timestamp, int) and record.timestamp > 0 \
                else now_ms
            self._reject(at, exc.camera, exc.reason.value, record)
            return None
        if now_ms - message.captured_at_ms > self.config.max_lag_s * 1000:
            self._reject(message.captured_at_ms, message.camera, STALE, record)
            return None
        return message

    def _decode(self, message: FrameMessage) -> np.ndarray | None:
        try:
            return decode_jpeg(message)
        except FrameRejected as exc:
            self._reject(message.captured_at_ms, message.camera, exc.reason.value, None)
            return None

    def _reject(self, at_ms: int, camera: str | None, reason: str, record: Any) -> None:
        self._agg.add_rejection(at_ms, camera, reason)
        self.report.rejected[reason] += 1
        self.metrics.rejected.labels(reason).inc()
        if record is not None:
            log.debug("rejected partition=%d offset=%d reason=%s", record.partition,
                      record.offset, reason)

    def _analyze(self, frames: list[np.ndarray], messages: list[FrameMessage]
                 ) -> list[FrameReading | None]:
        """Batch analysis; if the batch fails, frame by frame, so one bad frame costs only
        itself (counted as ``analysis_failed``) and never the consumer."""
        try:
            return list(self.analyzer.analyze(frames))
        except Exception:
            log.exception("batch analysis failed frames=%d; retrying frame by frame", len(frames))
        results: list[FrameReading | None] = []
        for rgb, message in zip(frames, messages, strict=True):
            try:
                results.append(self.analyzer.analyze([rgb])[0])
            except Exception as exc:
                log.warning("frame analysis failed camera=%s seq=%d error=%r", message.camera,
                            message.seq, exc)
                self._reject(message.captured_at_ms, message.camera, ANALYSIS_FAILED, None)
                results.append(None)
        return results

    def _update_lag(self) -> None:
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            position = self._next.get(tp.partition, self._stored.get(tp.partition))
            if high is not None and position is not None:
                self.metrics.records_lag.labels(str(tp.partition)).set(max(0, high - position))

    # --- the sink ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Write buffered buckets and offsets in one transaction; on failure, drop the buffer
        and rewind to the stored offsets so the same messages are processed again."""
        moves = {p: OffsetMove(self._stored.get(p), n) for p, n in self._next.items()
                 if n != self._stored.get(p)}
        if self._agg.empty() and not moves:
            return
        try:
            self.sink.write(self._agg.rows(), self._agg.rejections(), moves)
        except OffsetConflict as exc:
            self.report.conflicts += 1
            self.metrics.flush_conflicts.inc()
            log.warning("flush rolled back: %s; re-reading stored offsets", exc)
            self._rewind()
        except SQLAlchemyError as exc:
            log.error("database write failed (%s); rewinding to stored offsets",
                      type(exc).__name__)
            self._rewind(reload=False)
            time.sleep(1.0)
        else:
            for partition, move in moves.items():
                self._stored[partition] = move.new
            self.report.flushes += 1
            self.metrics.last_flush.set(self.clock())
            if self._on_commit is not None:
                self._on_commit(self._buffered_captures, self.clock())
        finally:
            self._agg.clear()
            self._next.clear()
            self._buffered_captures = []

    def _rewind(self, reload: bool = True) -> None:
        self._generation += 1
        owned = list(self._consumer.assignment())
        if reload:
            try:
                self._seek_to_stored(owned)
                return
            except SQLAlchemyError:
                log.error("cannot re-read stored offsets; seeking to the last known ones")
        for tp in owned:
            offset = self._stored.get(tp.partition)
            if offset is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)
