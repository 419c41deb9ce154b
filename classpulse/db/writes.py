"""The consumer's write API: camera registration, additive minute upserts, rejections, offsets
(compare-and-set), log resets and the frames remembered for duplicate detection.

Every function takes a :class:`~sqlalchemy.Connection` inside a transaction the caller owns
(``with engine.begin() as conn:``), so a sink writes a flush's buckets and its partitions' next
offsets atomically: after a crash either both are in the database or neither is. The minute and
rejection writes are ADDITIVE (``existing + new``), because two flushes, or two consumers after a
rebalance, may each hold part of the same camera-minute.

Works on PostgreSQL and SQLite; both speak ``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from classpulse.db.models import (
    Camera,
    Classroom,
    ConsumerOffset,
    EmotionMinute,
    OffsetReset,
    RejectedFrame,
    SeenFrame,
)
from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from classpulse.flags import MINUTE_CLOSES_AFTER_START_S

log = logging.getLogger(__name__)

N_COLUMNS: tuple[str, ...] = tuple(f"n_{e}" for e in EMOTIONS)
P_COLUMNS: tuple[str, ...] = tuple(f"p_{e}" for e in EMOTIONS)
REFUSED_COLUMNS: tuple[str, ...] = ("refused_small", "refused_turned", "refused_uncertain")
ADDITIVE_COLUMNS: tuple[str, ...] = (
    "frames", "frames_with_faces", "faces", "faces_read", "frames_with_read_faces",
    *REFUSED_COLUMNS, *N_COLUMNS, *P_COLUMNS, "engagement_sum",
)
# Whether the stored minute ``{minute}`` has closed: the views' test (migration 0006's
# ``_closed``, with 0015's seconds, classpulse.flags.MINUTE_CLOSES_AFTER_START_S), on the
# database's clock. On PostgreSQL at the instant the row is written (``clock_timestamp()``), not
# at the flush transaction's start as ``now()`` would be: a flush that began before the minute
# closed, or waited for another's lock on it, and adds to it after, changes a minute readers
# already see. SQLite reads 'now' once per statement, and commits as soon as it ends.
_CLOSED = {
    "postgresql": f"{{minute}} <= clock_timestamp() - interval '{MINUTE_CLOSES_AFTER_START_S} "
                  "seconds'",
    "sqlite": f"{{minute}} <= strftime('%Y-%m-%d %H:%M:%f', 'now', "
              f"'-{MINUTE_CLOSES_AFTER_START_S} seconds')",
}


@dataclass(frozen=True)
class MinuteRow:
    """One camera's counts and sums for one UTC minute in one classroom, as the consumer hands
    them over.

    ``faces`` counts every face in view; ``faces_read`` those the readability gate passed (in
    ``frames_with_read_faces`` frames) and ``refused`` the others per reason (too small, turned
    away or bowed, uncertain), so ``faces == faces_read + sum(refused)``. ``n`` counts READ faces by
    top emotion and ``p`` sums each emotion's probability over them, both in EMOTIONS order; so
    does ``engagement_sum``. A row that leaves the gate's counts out read every face (as rows
    written before the gate did). ``minute_start`` must be aware and on the minute; it is
    normalised to UTC.
    """

    camera_id: str
    classroom_id: str
    minute_start: datetime
    frames: int
    frames_with_faces: int
    faces: int
    n: tuple[int, ...]
    p: tuple[float, ...]
    engagement_sum: float
    faces_read: int | None = None
    frames_with_read_faces: int | None = None
    refused: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        start = self.minute_start
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError(f"minute_start {start.isoformat()} is naive; give an aware UTC time")
        if start.second or start.microsecond:
            raise ValueError(f"minute_start {start.isoformat()} is not on a whole minute")
        object.__setattr__(self, "minute_start", start.astimezone(timezone.utc))
        if len(self.n) != len(EMOTIONS) or len(self.p) != len(EMOTIONS):
            raise ValueError(
                f"n and p need {len(EMOTIONS)} values each (EMOTIONS order), "
                f"got {len(self.n)} and {len(self.p)}"
            )
        if self.faces_read is None:
            object.__setattr__(self, "faces_read", self.faces - sum(self.refused))
        if self.frames_with_read_faces is None:
            object.__setattr__(self, "frames_with_read_faces", self.frames_with_faces)
        if len(self.refused) != len(REFUSED_COLUMNS):
            raise ValueError(f"refused needs {len(REFUSED_COLUMNS)} counts "
                             f"({', '.join(REFUSED_COLUMNS)}), got {len(self.refused)}")
        counts = (self.frames, self.frames_with_faces, self.faces, self.faces_read,
                  self.frames_with_read_faces, *self.refused, *self.n)
        if min(counts) < 0:
            raise ValueError(f"negative count in {self!r}")
        if self.faces_read + sum(self.refused) != self.faces:
            raise ValueError(f"faces_read {self.faces_read} plus refused {self.refused} is not "
                             f"faces {self.faces}")

    def values(self) -> dict[str, Any]:
        """The row as ``emotion_minutes`` column values."""
        out: dict[str, Any] = {
            "camera_id": self.camera_id,
            "classroom_id": self.classroom_id,
            "minute_start": self.minute_start,
            "frames": self.frames,
            "frames_with_faces": self.frames_with_faces,
            "faces": self.faces,
            "faces_read": self.faces_read,
            "frames_with_read_faces": self.frames_with_read_faces,
            "engagement_sum": self.engagement_sum,
        }
        out.update(zip(REFUSED_COLUMNS, self.refused, strict=True))
        out.update(zip(N_COLUMNS, self.n, strict=True))
        out.update(zip(P_COLUMNS, self.p, strict=True))
        return out


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise UsageError(f"database dialect {name!r} is not supported; use PostgreSQL or SQLite")


def ensure_cameras(conn: Connection, cameras: Iterable[tuple[str, str]]) -> None:
    """Register unseen (camera_id, classroom_id) pairs; existing rows are never touched.

    New classrooms and cameras get their id as name (and UTC as time zone); operators' later edits
    survive because conflicts do nothing. A camera already registered to another classroom stays
    there: it is an operator's decision, and the minute rows carry the classroom they reported.
    """
    pairs = sorted(set(cameras))
    if not pairs:
        return
    classrooms = sorted({classroom for _, classroom in pairs})
    classroom_table = Classroom.__table__
    conn.execute(
        _insert(conn, classroom_table).on_conflict_do_nothing(index_elements=["id"]),
        [{"id": c, "name": c} for c in classrooms],
    )
    conn.execute(
        _insert(conn, Camera.__table__).on_conflict_do_nothing(index_elements=["id"]),
        [{"id": cam, "classroom_id": room, "name": cam} for cam, room in pairs],
    )


def _merge(rows: Sequence[MinuteRow]) -> list[dict[str, Any]]:
    """Sum rows that share a (camera, minute, classroom) so one statement never hits the same key
    twice.

    The result is sorted by key so concurrent writers lock rows in the same order (no deadlock).
    """
    merged: dict[tuple[str, datetime, str], dict[str, Any]] = {}
    for row in rows:
        key = (row.camera_id, row.minute_start, row.classroom_id)
        values = row.values()
        if key not in merged:
            merged[key] = values
            continue
        into = merged[key]
        for column in ADDITIVE_COLUMNS:
            into[column] += values[column]
    return [merged[key] for key in sorted(merged)]


def _revised(conn: Connection, table: Table) -> Any:
    """The existing row's ``revised`` once this write adds to it: set when its minute has closed
    (:data:`_CLOSED`), kept once set."""
    closed = _CLOSED[conn.dialect.name].format(minute=f"{table.name}.minute_start")
    return literal_column(f"{table.name}.revised OR ({closed})")


def add_minute_rows(conn: Connection, rows: Sequence[MinuteRow], *,
                    revise: bool = True) -> None:
    """Add counts and sums into ``emotion_minutes`` (insert, or add to the existing row).

    Also registers any camera or classroom not seen before, so the foreign keys always hold.
    ``updated_at`` is the database's clock (PostgreSQL's ``now()``, the flush transaction's
    start; SQLite's ``CURRENT_TIMESTAMP``, UTC to the second), never the consumer's: the
    dashboard (:func:`dashboard.sql.fetch_last_write`) judges how old a write is against the
    database's clock, and a consumer whose clock ran ahead would be called fresh minutes after it
    stopped, one running behind stale while it writes.

    Adding to a minute that has closed by the database's clock marks it ``revised``, and the
    views hide it from then on: they held it already (shown or hidden), and two readings,
    before and after, would differ by the late counts (a flush retried after an outage, a slow
    batch, a consumer whose clock runs behind; one child's expression, at worst). The counts are
    kept, never dropped. A camera's first write of a minute, however late, is no revision:
    nobody saw that camera's minute before. Its classroom's minute may have been shown already,
    made of the other cameras (one whose consumer restarted and caught up), and then sums one
    camera more: the difference between two readings is that camera's whole minute, which the
    rule judges on its own, never a child's expression; marking it would hide, after every
    database outage, every camera of a classroom but the first to write each minute.

    ``revise`` False marks nothing: ``classpulse consume --backfill`` (``ConsumerConfig.backfill``,
    handed down by :class:`consumers.sink.DatabaseSink`) counts recorded footage, so every flush
    after a minute's first adds to a minute closed long ago, and marking them would hide most of
    the recording; the database is one nobody reads while it fills, so no reading before a write
    can be compared with one after.
    """
    values = _merge(rows)
    if not values:
        return
    ensure_cameras(conn, {(v["camera_id"], v["classroom_id"]) for v in values})
    table = EmotionMinute.__table__
    stmt = _insert(conn, table).values(updated_at=func.now())
    added: dict[str, Any] = {
        **{c: table.c[c] + stmt.excluded[c] for c in ADDITIVE_COLUMNS},
        "updated_at": func.now(),
    }
    if revise:
        added["revised"] = _revised(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["camera_id", "minute_start", "classroom_id"], set_=added)
    conn.execute(stmt, values)
    log.debug("minute rows added rows=%d", len(values))


def add_rejections(conn: Connection, rows: Iterable[tuple[datetime, str, str, int]]) -> None:
    """Add (minute_start, camera_id, reason, count) rejection counts; same key, counts add up."""
    merged: dict[tuple[datetime, str, str], int] = {}
    for minute_start, camera_id, reason, count in rows:
        key = (minute_start.astimezone(timezone.utc), camera_id, reason)
        merged[key] = merged.get(key, 0) + count
    if not merged:
        return
    table = RejectedFrame.__table__
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["minute_start", "camera_id", "reason"],
        set_={"count": table.c["count"] + stmt.excluded["count"]},
    )
    conn.execute(
        stmt,
        [
            {"minute_start": m, "camera_id": cam, "reason": reason, "count": count}
            for (m, cam, reason), count in sorted(merged.items())
        ],
    )


def load_offsets(
    conn: Connection, group_id: str, topic: str, partitions: Iterable[int]
) -> dict[int, int]:
    """Stored next offsets for ``partitions``; a partition never stored is absent from the dict."""
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    table = ConsumerOffset.__table__
    result = conn.execute(
        select(table.c.partition, table.c.next_offset).where(
            table.c.group_id == group_id,
            table.c.topic == topic,
            table.c.partition.in_(wanted),
        )
    )
    return {int(partition): int(offset) for partition, offset in result}


def other_groups(conn: Connection, group_id: str, topic: str) -> list[str]:
    """The consumer groups other than ``group_id`` with offsets stored for ``topic``."""
    table = ConsumerOffset.__table__
    result = conn.execute(select(table.c.group_id).distinct().where(
        table.c.topic == topic, table.c.group_id != group_id).order_by(table.c.group_id))
    return [str(group) for (group,) in result]


class OffsetConflict(Exception):
    """Another consumer moved a partition's stored offset: this consumer's buffer is stale."""


class FrameConflict(OffsetConflict):
    """Another consumer counted a copy of a frame this flush counts (the same camera, capture
    time and sequence number, on another partition) since this consumer last read
    ``seen_frames``. Handled as an offset conflict: the flush rolls back, and the consumer
    re-reads the stored offsets and the counted frames, so the copy is dropped when read again."""


@dataclass(frozen=True)
class OffsetMove:
    """A partition's stored offset before (None: nothing stored yet) and after a flush."""

    expected: int | None
    new: int


def advance_offsets(conn: Connection, group_id: str, topic: str,
                    moves: Mapping[int, OffsetMove]) -> None:
    """Move each partition's stored offset by compare-and-set; OffsetConflict if any moved.

    A flush only moves a partition from the offset this consumer started from. A consumer that
    lost its partition in a rebalance without noticing (a "zombie", e.g. after a long pause) finds
    the offset moved by the new owner, and the caller's whole transaction is rolled back instead
    of counting frames twice.
    """
    table = ConsumerOffset.__table__
    key = and_(table.c.group_id == group_id, table.c.topic == topic)
    for partition, move in sorted(moves.items()):
        if move.expected is None:
            # first flush of a partition nobody stored yet; a concurrent insert by another
            # consumer fails with an integrity error, rolled back like a conflict
            try:
                conn.execute(insert(table).values(group_id=group_id, topic=topic,
                                                  partition=partition, next_offset=move.new))
            except IntegrityError:
                raise OffsetConflict(
                    f"partition {partition}: another consumer stored an offset first"
                ) from None
            continue
        result = conn.execute(
            update(table)
            .where(key, table.c.partition == partition, table.c.next_offset == move.expected)
            .values(next_offset=move.new)
        )
        if result.rowcount != 1:
            raise OffsetConflict(
                f"partition {partition}: stored offset is no longer {move.expected}"
            )


@dataclass(frozen=True)
class LogReset:
    """A partition whose log no longer holds the stored offset (broker data lost, topic
    recreated): the consumer restarted it at ``restart_offset``, the new log's beginning.
    ``stored_offset`` is the consumer's position when it found the reset: the stored offset, or
    past it by the frames counted since the last commit."""

    topic: str
    partition: int
    stored_offset: int
    log_end_offset: int
    restart_offset: int
    detected_at: datetime


def add_log_resets(conn: Connection, group_id: str, resets: Sequence[LogReset]) -> None:
    """Record detected log resets in ``offset_resets`` for operators to query."""
    if resets:
        conn.execute(insert(OffsetReset.__table__), [
            {"group_id": group_id, "topic": r.topic, "partition": r.partition,
             "stored_offset": r.stored_offset, "log_end_offset": r.log_end_offset,
             "restart_offset": r.restart_offset, "detected_at": r.detected_at}
            for r in resets
        ])


FrameKey = tuple[str, int, int]  # (camera id, captured_at ms, seq): one frame of one camera


def add_seen_frames(conn: Connection, keys: Iterable[FrameKey],
                    forget_before: Mapping[str, int]) -> None:
    """Remember counted frames for duplicate detection, and forget each camera's frames captured
    before its ``forget_before`` time (ms), so the table holds one window per camera.

    A key already stored means another consumer counted a copy of the frame (a key the caller
    knew of would not have been counted): :class:`FrameConflict`, and the caller's transaction,
    which counted the copy, rolls back. On PostgreSQL an insert of a key another transaction holds
    uncommitted waits for it, so of two consumers counting copies at once one commits."""
    table = SeenFrame.__table__
    for camera, cutoff in sorted(forget_before.items()):
        conn.execute(delete(table).where(table.c.camera_id == camera,
                                         table.c.captured_at_ms < cutoff))
    rows = [{"camera_id": c, "captured_at_ms": t, "seq": s} for c, t, s in sorted(set(keys))
            if t >= forget_before.get(c, t)]
    if not rows:
        return
    stored = _insert_new(conn, table, rows,
                         one_by_one=not conn.dialect.insert_executemany_returning)
    if len(stored) < len(rows):
        copies = [(r["camera_id"], r["captured_at_ms"], r["seq"]) for r in rows
                  if (r["camera_id"], r["captured_at_ms"], r["seq"]) not in stored]
        camera, captured_at_ms, seq = copies[0]
        more = ", ..." if len(copies) > 1 else ""
        raise FrameConflict(
            f"{len(copies)} frame(s) counted here were counted by another consumer first "
            f"(camera {camera!r} captured_at {captured_at_ms} seq {seq}{more})")


def _insert_new(conn: Connection, table: Table, rows: list[dict[str, Any]], one_by_one: bool
                ) -> set[FrameKey]:
    """The keys of ``rows`` that went in; a key already stored is skipped, not an error.

    One statement with RETURNING where the database returns rows from many (PostgreSQL; SQLite
    from 3.35); ``one_by_one`` on an older SQLite (Debian 11 and Ubuntu 20.04 ship 3.34 and 3.31),
    an INSERT per key judged by its row count: without it every flush there failed."""
    stmt = _insert(conn, table).on_conflict_do_nothing()
    if one_by_one:
        return {(r["camera_id"], r["captured_at_ms"], r["seq"]) for r in rows
                if conn.execute(stmt, r).rowcount}
    returned = conn.execute(stmt.returning(table.c.camera_id, table.c.captured_at_ms,
                                           table.c.seq), rows)
    return {(str(c), int(t), int(s)) for c, t, s in returned}


def load_seen_frames(conn: Connection) -> list[FrameKey]:
    """Every remembered frame key (one duplicate window per camera)."""
    table = SeenFrame.__table__
    result = conn.execute(select(table.c.camera_id, table.c.captured_at_ms, table.c.seq))
    return [(str(c), int(t), int(s)) for c, t, s in result]
