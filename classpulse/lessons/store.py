"""Writing a timetable into ``lessons`` and reading it back, on PostgreSQL and SQLite.

An import is one transaction: for every scope the file holds (an iCalendar UID, a classroom's day
of a CSV), even one left with no lesson (a series now cancelled), lessons the file no longer states
are deleted (but for those already over, where the caller asks, as an iCalendar import does unless
``--prune-past``) and the rest are inserted or updated in place by their ``source_key``, so a
lesson keeps its ``id`` (and a teacher's bookmark of it) across re-imports. Importing the same file
twice changes nothing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, Text, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from classpulse.db.models import Classroom, Lesson
from classpulse.errors import UsageError
from classpulse.lessons.timetable import KEY_TIME, UTC_KEY_TIME, Classrooms, PlannedLesson

_TABLE = Lesson.__table__
_STATED = ("classroom_id", "starts_at", "ends_at", "title", "subject", "group_label")
_BATCH = 500
# the UTC offsets time zones use: a floating time and the instant it was on some classroom's clock
# lie at most this far apart (UTC-12 to UTC+14)
_OFFSETS = (timedelta(hours=-12), timedelta(hours=14))
# how far one zone's offsets lie apart over a year: its clock change (Antarctica/Troll's, 2 h)
_CLOCK_CHANGE = timedelta(hours=2)


@dataclass(frozen=True)
class ImportCounts:
    added: int
    changed: int
    unchanged: int
    removed: int
    kept: int  # lessons of its scopes the file no longer holds, kept as they had ended (iCalendar)


def known_classrooms(conn: Connection) -> Classrooms:
    table = Classroom.__table__
    rows = conn.execute(select(table.c.id, table.c.name, table.c.timezone)).all()
    return Classrooms((str(i), str(n), str(z)) for i, n, z in rows)


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` (as in classpulse.db.writes)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise UsageError(f"database dialect {conn.dialect.name!r} is not supported; use PostgreSQL "
                     "or SQLite")


def _stated(lesson: PlannedLesson) -> tuple[object, ...]:
    return tuple(getattr(lesson, column) for column in _STATED)


def adopt_scopes(conn: Connection, classroom_id: str, renamed: Mapping[str, str]) -> None:
    """Move the classroom's lessons stored under each old scope to its new one, their keys
    following (a key is its scope, ``/``, and the occurrence), so that they keep their ids.

    An iCalendar import with ``--classroom`` puts the classroom in its UIDs' scopes, as per-room
    exports may share UIDs; lessons an earlier version imported without it are found again this
    way, and only this classroom's: another room's under the same UID are not this file's.
    """
    if not renamed:
        return
    key = _TABLE.c.source_key
    conn.execute(
        update(_TABLE)
        .where(_TABLE.c.source_scope == bindparam("old_scope"),
               _TABLE.c.classroom_id == classroom_id)
        .values(source_scope=bindparam("new_scope"),
                source_key=bindparam("new_prefix", type_=Text) + func.substr(key, bindparam("cut")),
                updated_at=func.now()),
        [{"old_scope": old, "new_scope": new, "new_prefix": new, "cut": len(old) + 1}
         for old, new in renamed.items()],
    )


def replace_lessons(conn: Connection, lessons: Sequence[PlannedLesson],
                    scopes: Iterable[str] = (), keep_ended_by: datetime | None = None
                    ) -> ImportCounts:
    """Make the stored lessons of the file's scopes exactly the file's (caller's transaction).

    ``scopes`` adds those the file speaks for without a lesson in them: a UID whose occurrences
    are all cancelled must lose its stored lessons, which its lessons' scopes alone would miss.
    With ``keep_ended_by``, a stored lesson that had ended by then stays though the file no longer
    holds it: a rolling export ("this week on") leaves out the lessons already held, an export cut
    by ``--until`` those after it, and one term's file the other term's, none of which cancels
    them. Lessons an earlier version keyed by the UTC instant of a floating time are found again
    under their wall-clock keys first (:func:`_adopted`), so a classroom's new time zone moves
    them instead of keeping them beside their new selves.
    """
    replaced = sorted({*scopes, *(lesson.source_scope for lesson in lessons)})
    stored: dict[str, tuple[object, ...]] = {}
    scope_of: dict[str, str] = {}
    for lo in range(0, len(replaced), _BATCH):
        rows = conn.execute(
            select(_TABLE.c.source_key, _TABLE.c.source_scope, *(_TABLE.c[c] for c in _STATED))
            .where(_TABLE.c.source_scope.in_(replaced[lo:lo + _BATCH]))
        ).all()
        stored.update({row[0]: tuple(row[2:]) for row in rows})
        scope_of.update({row[0]: row[1] for row in rows})
    adopted = _adopted(stored, scope_of, lessons)
    if adopted:
        conn.execute(
            update(_TABLE).where(_TABLE.c.source_key == bindparam("old_key"))
            .values(source_key=bindparam("new_key"), updated_at=func.now()),
            [{"old_key": old, "new_key": new} for old, new in adopted.items()],
        )
        for old, new in adopted.items():
            stored[new] = stored.pop(old)
    wanted = {lesson.source_key for lesson in lessons}
    ended = _STATED.index("ends_at")
    kept = set() if keep_ended_by is None else {
        key for key, row in stored.items()
        if key not in wanted and row[ended] <= keep_ended_by}
    gone = sorted(set(stored) - wanted - kept)
    for lo in range(0, len(gone), _BATCH):
        conn.execute(delete(_TABLE).where(_TABLE.c.source_key.in_(gone[lo:lo + _BATCH])))
    fresh = [lesson for lesson in lessons if stored.get(lesson.source_key) != _stated(lesson)]
    if fresh:
        insert = _insert(conn, _TABLE)
        upsert = insert.on_conflict_do_update(
            index_elements=["source_key"],
            set_={**{c: insert.excluded[c] for c in (*_STATED, "source_scope")},
                  "updated_at": func.now()},
        )
        for lo in range(0, len(fresh), _BATCH):
            conn.execute(upsert, [
                {**{c: getattr(lesson, c) for c in _STATED}, "source_key": lesson.source_key,
                 "source_scope": lesson.source_scope}
                for lesson in fresh[lo:lo + _BATCH]
            ])
    added = sum(1 for lesson in fresh if lesson.source_key not in stored)
    return ImportCounts(added=added, changed=len(fresh) - added,
                        unchanged=len(lessons) - len(fresh), removed=len(gone), kept=len(kept))


def _key_time(key: str, scope: str) -> tuple[datetime, bool] | None:
    """The slot an iCalendar ``source_key`` of ``scope`` ends in, and whether it is floating (a
    wall-clock time, no ``Z``); None for any other key."""
    prefix = f"{scope}/"
    if source_of(scope) != "ics" or not key.startswith(prefix):
        return None
    written = key[len(prefix):]
    floating = not written.endswith("Z")
    try:
        return datetime.strptime(written, KEY_TIME if floating else UTC_KEY_TIME), floating
    except ValueError:
        return None


def _adopted(stored: Mapping[str, tuple[object, ...]], scope_of: Mapping[str, str],
             lessons: Sequence[PlannedLesson]) -> dict[str, str]:
    """The stored keys an earlier version gave floating iCalendar times, each with the key the
    file's lesson of that slot has now (see :func:`classpulse.lessons.ics_timetable._identity`).

    That version keyed a floating slot by the UTC instant it was on the classroom's clock then,
    and nothing recorded which zone that was (``classrooms.timezone`` holds today's). Whatever zone
    it was, a stored UTC key of the scope and the file's wall-clock slot of the same lesson lie
    that zone's UTC offset apart, one of :data:`_OFFSETS`; and a classroom's keys were made under
    one zone, as its times were read on one clock. So the offset most of a classroom's pairs share
    is taken as its zone's, and a pair is the same lesson when its offset lies within a clock
    change (:data:`_CLOCK_CHANGE`) of it: the nearest first, each key once. A weekly series offers
    one pair per lesson; a daily one, stored on a clock far from UTC (Samoa's), also each lesson
    with the day before's key, 24 h off the true offset, which the vote leaves out. Only stored UTC
    keys the file does not hold and wall-clock keys not stored take part, so importing a file
    again adopts nothing, and a lesson whose slot the file gives a zone (a TZID, or Z) keeps its
    UTC key.
    """
    wanted = {lesson.source_key for lesson in lessons}
    fresh: dict[str, list[tuple[datetime, str]]] = defaultdict(list)  # scope: (slot, new key)
    for lesson in lessons:
        found = _key_time(lesson.source_key, lesson.source_scope)
        if found is not None and found[1] and lesson.source_key not in stored:
            fresh[lesson.source_scope].append((found[0], lesson.source_key))
    if not fresh:
        return {}
    for slots in fresh.values():
        slots.sort()
    pairs: list[tuple[timedelta, str, str, str]] = []  # offset, classroom, old key, new key
    for key, scope in scope_of.items():
        found = _key_time(key, scope) if scope in fresh and key not in wanted else None
        if found is None or found[1]:
            continue
        slots = fresh[scope]
        for slot, new in slots[bisect_left(slots, (found[0] + _OFFSETS[0],)):]:
            if slot - found[0] > _OFFSETS[1]:
                break
            pairs.append((slot - found[0], str(stored[key][0]), key, new))
    votes = Counter((classroom, offset) for offset, classroom, _, _ in pairs)
    usual: dict[str, timedelta] = {}
    for classroom, offset in sorted(votes, key=lambda v: (-votes[v], abs(v[1]), v[1])):
        usual.setdefault(classroom, offset)
    adopted: dict[str, str] = {}
    taken: set[str] = set()
    for offset, classroom, old, new in sorted(
            pairs, key=lambda p: (abs(p[0] - usual[p[1]]), p[2], p[3])):
        if abs(offset - usual[classroom]) <= _CLOCK_CHANGE and old not in adopted \
                and new not in taken:
            adopted[old] = new
            taken.add(new)
    return adopted


@dataclass(frozen=True)
class StoredLesson:
    id: int
    classroom_id: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    title: str
    subject: str | None
    group_label: str | None
    source: str  # the format it was imported from: a SOURCES name, or ``other``


def list_lessons(
    conn: Connection, classroom_id: str | None = None, since: datetime | None = None,
    before: datetime | None = None,
) -> list[StoredLesson]:
    """Stored lessons in start order, optionally of one classroom and within ``[since, before)``."""
    rooms = Classroom.__table__
    query = (
        select(_TABLE.c.id, _TABLE.c.classroom_id, rooms.c.timezone, _TABLE.c.starts_at,
               _TABLE.c.ends_at, _TABLE.c.title, _TABLE.c.subject, _TABLE.c.group_label,
               _TABLE.c.source_key)
        .join(rooms, rooms.c.id == _TABLE.c.classroom_id)
        .order_by(_TABLE.c.starts_at, _TABLE.c.classroom_id, _TABLE.c.id)
    )
    if classroom_id is not None:
        query = query.where(_TABLE.c.classroom_id == classroom_id)
    if since is not None:
        query = query.where(_TABLE.c.starts_at >= since)
    if before is not None:
        query = query.where(_TABLE.c.starts_at < before)
    return [StoredLesson(*row[:-1], source_of(row[-1])) for row in conn.execute(query).all()]


# the file formats a lesson may come from, by the start of its source_key (``ics@`` is an
# iCalendar import with --classroom); what ``lessons remove --source`` names
SOURCES: dict[str, tuple[str, ...]] = {"csv": ("csv:",), "ics": ("ics:", "ics@")}


def source_of(source_key: str) -> str:
    """The format a stored lesson was imported from (:data:`SOURCES`), or ``other``."""
    return next((name for name, prefixes in SOURCES.items()
                 if source_key.startswith(prefixes)), "other")


def remove_lessons(conn: Connection, classroom_id: str, source: str | None,
                   since: datetime | None, before: datetime | None, apply: bool
                   ) -> list[StoredLesson]:
    """The classroom's stored lessons from ``source`` (a :data:`SOURCES` name; None: any) that
    start in ``[since, before)``, in start order; deleted too when ``apply`` (caller's
    transaction). What no file still holds (a timetable imported twice, once per format) can go
    no other way: an import removes only what its own scopes held."""
    found = [lesson for lesson in list_lessons(conn, classroom_id, since, before)
             if source is None or lesson.source == source]
    if apply:
        ids = [lesson.id for lesson in found]
        for lo in range(0, len(ids), _BATCH):
            conn.execute(delete(_TABLE).where(_TABLE.c.id.in_(ids[lo:lo + _BATCH])))
    return found


@dataclass(frozen=True)
class Overlap:
    """Two stored lessons of one classroom whose times overlap: the minutes they share count in
    both lessons' numbers."""

    classroom_id: str
    timezone: str
    first: tuple[str, datetime, datetime, str]  # title, starts_at, ends_at, source (SOURCES)
    second: tuple[str, datetime, datetime, str]


def overlapping_lessons(conn: Connection, classroom_ids: Sequence[str]) -> list[Overlap]:
    """Pairs of the classrooms' stored lessons that overlap in time, whatever file they came from
    (a timetable imported once as CSV and once as iCalendar overlaps itself), in start order."""
    if not classroom_ids:
        return []
    a, b, rooms = _TABLE.alias("a"), _TABLE.alias("b"), Classroom.__table__
    rows = conn.execute(
        select(a.c.classroom_id, rooms.c.timezone, a.c.title, a.c.starts_at, a.c.ends_at,
               a.c.source_key, b.c.title, b.c.starts_at, b.c.ends_at, b.c.source_key)
        .join(b, and_(b.c.classroom_id == a.c.classroom_id,
                      b.c.starts_at < a.c.ends_at, a.c.starts_at < b.c.ends_at,
                      # each pair once: b is the later lesson (or, starting together, the newer)
                      (b.c.starts_at > a.c.starts_at)
                      | ((b.c.starts_at == a.c.starts_at) & (b.c.id > a.c.id))))
        .join(rooms, rooms.c.id == a.c.classroom_id)
        .where(a.c.classroom_id.in_(sorted(set(classroom_ids))))
        .order_by(a.c.starts_at, a.c.classroom_id, b.c.starts_at)
    ).all()
    return [Overlap(r[0], r[1], (r[2], r[3], r[4], source_of(r[5])),
                    (r[6], r[7], r[8], source_of(r[9]))) for r in rows]
