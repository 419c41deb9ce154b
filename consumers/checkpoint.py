"""Where each owned partition stands, and committing a flush (quix-streams' Checkpoint, in small).

The checkpoint owns three things the consumer loop must never get out of step: the offset the
database holds for each partition (the compare-and-set's expected value), the next offset after
what the aggregator buffers, and the frames counted recently (duplicate detection). ``commit``
hands the aggregator's buffer, the offset moves, any detected log resets and the new frame keys to
the sink in ONE transaction. A write the database refused leaves everything as it was, to be
committed by the next try with what is counted meanwhile; ``rewind`` forgets what is uncommitted
(but a log reset, unless another consumer's commit came first) and says where to seek.

A log reset is a partition whose log ends below the offset the database stored: the broker lost
its data (the embedded broker keeps it in memory only) or the topic was deleted and recreated.
Waiting at the stored offset would silently skip every frame the new log acknowledges below it,
so the partition restarts from the new log's beginning, loudly (WARNING, metric, a row in
``offset_resets`` written with the offset move). When cameras fill the new log before its end is
seen, the client itself restarts there (``log_replaced``), and the reset is recorded all the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum

from sqlalchemy.exc import SQLAlchemyError

from classpulse.db.engine import failure_reason
from classpulse.db.writes import FrameKey, LogReset, MinuteRow, OffsetConflict, OffsetMove
from consumers.metrics import ConsumerMetrics
from consumers.sink import Commit, DatabaseSink, in_time

log = logging.getLogger(__name__)


class Outcome(Enum):
    """What a commit did. After CONFLICT the caller must rewind (``rewind(reload=True)``); after
    FAILED what it holds is still uncommitted, and the next commit tries it again."""

    NOTHING = "nothing"
    COMMITTED = "committed"
    CONFLICT = "conflict"
    FAILED = "failed"


@dataclass
class DuplicateFilter:
    """Frames counted within the last ``window_ms`` of each camera's event time.

    ``committed`` holds what ``seen_frames`` holds within the window (the table may keep more:
    a commit prunes only the cameras it counts); ``pending`` holds the keys of frames in the
    open buffer, which become committed only with the transaction that counts them.
    """

    window_ms: int
    committed: set[FrameKey] = field(default_factory=set)
    pending: set[FrameKey] = field(default_factory=set)
    newest: dict[str, int] = field(default_factory=dict)  # camera -> newest captured_at seen

    def seen(self, key: FrameKey) -> bool:
        return key in self.committed or key in self.pending

    def add(self, key: FrameKey) -> None:
        self.pending.add(key)
        self.newest[key[0]] = max(self.newest.get(key[0], key[1]), key[1])

    def cutoffs(self) -> dict[str, int]:
        """Per camera, the capture time before which keys are forgotten."""
        return {camera: newest - self.window_ms for camera, newest in self.newest.items()}

    def promote(self) -> None:
        """The pending keys were committed: keep them, forget what fell out of the window."""
        self.committed |= self.pending
        self.pending.clear()
        cut = self.cutoffs()
        self.committed = {k for k in self.committed if k[1] >= cut.get(k[0], k[1])}

    def load(self, keys: Iterable[FrameKey]) -> None:
        """Replace the committed keys with what the database holds. The pending ones stay: a
        partition loaded late (``Checkpoint.assign`` after a database outage) comes while the
        open buffer holds other partitions' frames, and a repeat of one of those must still be
        known (a rewind clears them first)."""
        self.committed = set(keys)
        self.newest = {}
        for camera, captured_at, _ in self.committed | self.pending:
            self.newest[camera] = max(self.newest.get(camera, captured_at), captured_at)


class Checkpoint:
    """Positions and recently counted frames of the partitions one consumer owns."""

    def __init__(self, sink: DatabaseSink, topic: str, duplicate_window_ms: int,
                 metrics: ConsumerMetrics, clock: Callable[[], float]) -> None:
        self.sink = sink
        self.topic = topic
        self.metrics = metrics
        self.clock = clock
        self.frames = DuplicateFilter(duplicate_window_ms)
        self._stored: dict[int, int | None] = {}  # partition -> offset the database holds
        self._next: dict[int, int] = {}  # partition -> next offset after what is buffered
        self._resets: list[LogReset] = []  # detected since the last commit
        self.failure: str | None = None  # why the database refused the last write, if it did

    # --- positions --------------------------------------------------------------------------
    def assign(self, partitions: Iterable[int], within: float | None = None
               ) -> dict[int, int | None]:
        """Load stored offsets and seen frames; where to start reading each partition (None: the
        log's beginning). The caller checks the logs' ends next (``check_log_ends``). The reads
        are given up after ``within`` seconds (``in_time``), nothing changed."""
        wanted = sorted(set(partitions))
        stored, seen = in_time(within, _reader(self.sink, wanted), "assignment's read")
        self.frames.load(seen)
        for partition in wanted:
            self._stored[partition] = stored.get(partition)
            self._next.pop(partition, None)
        log.info("partitions assigned positions=%s",
                 {p: stored.get(p, "earliest") for p in wanted})
        return {p: stored.get(p) for p in wanted}

    def check_log_ends(self, ends: Mapping[int, int | None],
                       beginnings: Callable[[list[int]], Mapping[int, int]]) -> dict[int, int]:
        """Partitions whose log ends below the offset the database holds, and below our
        position, were reset under us: where each restarts (the new log's beginning). A reset
        already found and not yet committed has moved the position to the new log.

        An end between the stored offset and the position past what is buffered is no proof: a
        fetch only brings records below the end it reports, so the end of a log that was not
        replaced fell back (a new partition leader's high watermark lags the old one's for a
        moment). Restarting there would read the whole log again. The position stays: if the log
        was replaced, the next fetch there is out of range, the client restarts at the new log's
        beginning and the records show it (``log_replaced``); seeking back to the end would read
        the buffered records again, as duplicates."""
        behind = {p: end for p, end in ends.items()
                  if end is not None and p in self._stored
                  and min(self._stored[p] or 0, self.position(p) or 0) > end}
        if not behind:
            return {}
        begins = beginnings(sorted(behind))
        return {p: self._reset(p, self.position(p) or 0, end, begins.get(p, 0))
                for p, end in behind.items()}

    def log_replaced(self, partition: int, fetched: int, log_end: int, begin: int) -> None:
        """A fetch after ``fetched`` came back from ``begin`` below it: the client found its
        position past the log's end and restarted at the new log's beginning
        (``auto_offset_reset``). Recorded as a reset; the records stay, they are the new log's
        from its beginning."""
        self._reset(partition, fetched, log_end, begin)

    def _reset(self, partition: int, position: int, log_end: int, begin: int) -> int:
        log.warning("log reset detected topic=%s partition=%d stored_offset=%d log_end_offset=%d;"
                    " restarting from the new log's beginning offset=%d (the broker lost its data"
                    " or the topic was recreated)", self.topic, partition, position, log_end, begin)
        self.metrics.log_resets.labels(str(partition)).inc()
        self._resets.append(LogReset(self.topic, partition, position, log_end, begin,
                                     datetime.fromtimestamp(self.clock(), tz=timezone.utc)))
        self._next[partition] = begin  # commit the move even if the new log stays empty
        return begin

    def position(self, partition: int) -> int | None:
        """Next offset to read: after what is buffered, else what the database holds."""
        return self._next.get(partition, self._stored.get(partition))

    def advance(self, partition: int, next_offset: int) -> None:
        self._next[partition] = next_offset

    def revoke(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for partition in gone:
            self._stored.pop(partition, None)
            self._next.pop(partition, None)
        # a reset still pending (its write failed) is for whoever owns the partition next
        self._resets = [r for r in self._resets if r.partition not in gone]

    def owned(self) -> list[int]:
        return sorted(self._stored)

    # --- commit and rewind --------------------------------------------------------------------
    def commit(self, rows: list[MinuteRow], rejections: list[tuple[datetime, str, str, int]],
               lock_wait_s: float | None = None, within: float | None = None) -> Outcome:
        """Write the buffer with the offset moves in one transaction (``lock_wait_s``:
        ``DatabaseSink.write``). FAILED changes nothing here: the same moves, resets and frame
        keys go with the next try. A write not done within ``within`` seconds is FAILED
        (``in_time``: it may still commit later, which the compare-and-set catches)."""
        moves = {p: OffsetMove(self._stored.get(p), n) for p, n in self._next.items()
                 if n != self._stored.get(p)}
        if not rows and not rejections and not moves and not self._resets:
            return Outcome.NOTHING
        cameras = {camera for camera, _, _ in self.frames.pending}
        forget = {c: cut for c, cut in self.frames.cutoffs().items() if c in cameras}
        commit = Commit(rows, rejections, moves, list(self._resets), sorted(self.frames.pending),
                        forget)
        sink = self.sink
        try:
            in_time(within, lambda: sink.write(commit, lock_wait_s), "flush's write",
                    writes=True)
        except OffsetConflict as exc:
            self.metrics.flush_conflicts.inc()
            log.warning("flush rolled back: %s; re-reading the stored offsets and the frames "
                        "counted", exc)
            return Outcome.CONFLICT
        except SQLAlchemyError as exc:
            self.failure = f"{type(exc).__name__}: {failure_reason(exc)}"
            log.error("database write failed (%s)", self.failure)
            return Outcome.FAILED
        self.failure = None
        for partition, move in moves.items():
            self._stored[partition] = move.new
        self._next.clear()
        self._resets.clear()
        self.frames.promote()
        self.metrics.last_flush.set(self.clock())
        return Outcome.COMMITTED

    def rewind(self, reload: bool, within: float | None = None) -> dict[int, int | None]:
        """Forget what is uncommitted; where to seek each owned partition (None: beginning).

        ``reload`` (after a conflict) re-reads the stored offsets (another consumer may have moved
        them; when the database cannot be read, the last known ones are used) and forgets the log
        resets found since the last commit, whose offsets may be another member's now. Without
        it (a buffer dropped uncommitted: a revocation or an exit while the database is away, an
        error) those resets stay pending: their partitions restart at the new log's beginning
        again and the next commit records them. Seeking to the stored offset, past the new log's
        end, would restart there unnoticed and the reset's row would never be written (as still
        happens when a conflict and a reset coincide). The reads are given up after ``within``
        seconds (``in_time``), as when the database cannot be read.
        """
        restarts = {} if reload else {r.partition: r.restart_offset for r in self._resets}
        self._next = dict(restarts)
        if reload:
            self._resets.clear()
        self.frames.pending.clear()
        owned = self.owned()
        if reload:
            try:
                stored, seen = in_time(within, _reader(self.sink, owned), "rewind's read")
            except SQLAlchemyError as exc:
                log.error("cannot re-read stored offsets (%s); seeking to the last known ones",
                          failure_reason(exc))
            else:
                self.frames.load(seen)
                self._stored.update({p: stored.get(p) for p in owned})
        return {p: restarts.get(p, self._stored.get(p)) for p in owned}


def _reader(sink: DatabaseSink, partitions: list[int]
            ) -> Callable[[], tuple[dict[int, int], list[FrameKey]]]:
    """Reads the stored offsets of ``partitions`` and the frames counted recently, and returns
    them: nothing else (it may run on a thread of its own, ``in_time``)."""
    return lambda: (sink.stored_offsets(partitions), sink.seen_frames())
