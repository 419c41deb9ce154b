"""Writing a flush: minute buckets, rejections, partition offsets, log resets and the keys of the
frames counted, in ONE transaction.

Exactly-once rests on two rules. (1) Aggregates and the offsets they account for commit together, so
after a crash the database holds both or neither, and the consumer resumes from the stored offset.
(2) Offsets advance by compare-and-set (:func:`classpulse.db.writes.advance_offsets`): of two
consumers that counted the same records (one lost its partition without noticing), only the first
to commit moves the offset; the other's whole flush rolls back, and it re-reads the stored offsets.
The first may be the one that lost the partition, if it flushes before the new owner does: its
counts stand, and the new owner's flush, which holds the same records, is the one rolled back.
Either way each record is counted once. The keys of the frames counted go in with the counts, and
a key another consumer stored first (a copy of the frame on another partition) rolls the flush
back the same way (:class:`~classpulse.db.writes.FrameConflict`), so each frame counts once too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from classpulse.db.engine import SQLITE_BUSY_TIMEOUT_MS
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
    other_groups,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class NoAnswer(SQLAlchemyError):
    """The database did not answer within the time given (``in_time``); handled as any error of
    the database's (the flush failed, the offsets could not be read)."""


def in_time(seconds: float | None, call: Callable[[], T], what: str, writes: bool = False) -> T:
    """``call()``'s result, or :class:`NoAnswer` once ``seconds`` have passed without one.

    For kafka-python's rebalance callbacks, which run on the event loop that sends the group's
    heartbeats: the statement timeout and the busy timeout bound a wait for a lock, but not the
    pool's ping or a connect to a server that stopped answering, nor several statements in a row.
    ``call`` runs on a daemon thread of its own (one that hangs must not hold up the process's
    exit) and may only read what it is given and return its result: what the caller owns is
    changed by the caller, after the result is in, so a call given up changes nothing but the
    database. A write given up may still commit later; the compare-and-set on the offsets makes
    the next commit of its partitions (ours or their next owner's) conflict and read again.
    ``seconds`` None: called here, unbounded.
    """
    if seconds is None:
        return call()
    if seconds <= 0:
        raise NoAnswer(f"no time left to wait for the database ({what})")
    future: Future[T] = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the caller, who decides
                future.set_exception(exc)

    threading.Thread(target=run, name=f"db-{what}", daemon=True).start()
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        future.add_done_callback(lambda done: _answered_late(done, what, seconds, writes))
        raise NoAnswer(f"no answer from the database within {seconds:.1f} s ({what}); it is "
                       "unreachable or hung") from None


def _answered_late(done: Future[object], what: str, seconds: float, writes: bool) -> None:
    """Logs only (it runs on the call's thread): the caller has gone on without the result."""
    if done.exception() is None:
        log.warning("the database answered the %s given up after %.1f s, late%s", what, seconds,
                    ": what it wrote stands, and the next commit of its partitions conflicts and "
                    "reads again from the stored offsets" if writes else "")
    else:
        log.info("the %s given up after %.1f s failed later too (%s)", what, seconds,
                 type(done.exception()).__name__)


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
    """The consumer's only writer; one instance per consumer process.

    ``backfill`` (``ConsumerConfig.backfill``, ``classpulse consume --backfill``): its writes into
    minutes already closed mark none revised (:func:`~classpulse.db.writes.add_minute_rows`)."""

    def __init__(self, engine: Engine, group_id: str, topic: str, backfill: bool = False) -> None:
        self.engine = engine
        self.group_id = group_id
        self.topic = topic
        self.backfill = backfill

    def stored_offsets(self, partitions: Iterable[int]) -> dict[int, int]:
        with self.engine.connect() as conn:
            return load_offsets(conn, self.group_id, self.topic, partitions)

    def other_groups(self) -> list[str]:
        with self.engine.connect() as conn:
            return other_groups(conn, self.group_id, self.topic)

    def seen_frames(self) -> list[FrameKey]:
        with self.engine.connect() as conn:
            return load_seen_frames(conn)

    def engagement_weights(self) -> StoredWeights:
        with self.engine.connect() as conn:
            return load_weights(conn)

    def write(self, commit: Commit, lock_wait_s: float | None = None) -> None:
        """Commit everything or nothing; OffsetConflict (FrameConflict among them) when another
        consumer got there first.

        ``lock_wait_s`` bounds, for this write only, how long a statement may wait (PostgreSQL's
        ``statement_timeout``, SQLite's busy timeout, which is where its writer waits) instead of
        the engine's own bound: a flush inside a rebalance callback holds up the group's
        heartbeats while it waits."""
        with self.engine.begin() as conn:
            if lock_wait_s is not None:
                _bound_waits(conn, round(lock_wait_s * 1000))
            try:
                advance_offsets(conn, self.group_id, self.topic, commit.offsets)
                add_rejections(conn, commit.rejections)
                add_log_resets(conn, self.group_id, commit.resets)
                add_seen_frames(conn, commit.seen, commit.forget_before)
                # last, just before the commit: it judges by the database clock whether a minute
                # it adds to has closed (and marks it revised), and the seen-frames insert above
                # may wait on another consumer's lock; a minute that closes between this
                # statement and the commit is the only one it cannot see
                add_minute_rows(conn, commit.rows, revise=not self.backfill)
            finally:
                if lock_wait_s is not None and conn.dialect.name == "sqlite":
                    # a connection setting, not a transaction's: the pool hands it out again
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def _bound_waits(conn: Connection, ms: int) -> None:
    if conn.dialect.name == "postgresql":  # SET LOCAL ends with the transaction
        conn.execute(text(f"SET LOCAL statement_timeout = {max(1, ms)}"))
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {max(1, ms)}")
