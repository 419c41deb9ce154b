"""Writing a timetable into ``lessons`` and reading it back, on PostgreSQL and SQLite.

An import is one transaction: for every scope the file holds (an iCalendar UID, a classroom's day
of a CSV), even one left with no lesson (a series now cancelled), lessons the file no longer states
are deleted (but for those already over and outside the days its series state, where the caller
asks, as an iCalendar import does unless ``--prune-past``; those after the last day the file was
read for, ``--until``; and, for a UID the file gives no series for, those of occurrences it does
not state) and the rest are inserted or updated in place by their ``source_key``, so a lesson
keeps its ``id`` (and a teacher's bookmark of it) across re-imports. Importing the same file twice
changes nothing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from classpulse.db.models import Classroom, Lesson
from classpulse.errors import UsageError
from classpulse.lessons.timetable import (
    KEY_TIME,
    UTC_KEY_TIME,
    Classrooms,
    PlannedLesson,
    classroom_zone,
)

_TABLE = Lesson.__table__
_STATED = ("classroom_id", "starts_at", "ends_at", "title", "subject", "group_label")
_BATCH = 500


@dataclass(frozen=True)
class ImportCounts:
    added: int
    changed: int
    unchanged: int
    removed: int
    kept: int  # lessons of its scopes the file no longer holds, kept as they had ended (iCalendar)
    beyond: int = 0  # lessons of its scopes after the last day the file was read for, kept


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


def adopt_scopes(conn: Connection, renamed: Iterable[tuple[str, str, str]]) -> None:
    """Move each classroom's lessons stored under an old scope to the new one, (old scope, new
    scope, classroom), their keys following (a key is its scope, ``/``, and the occurrence), so
    that they keep their ids.

    An iCalendar import with ``--classroom`` puts the classroom in its UIDs' scopes, as per-room
    exports may share UIDs, and one without reads LOCATION: the same export imported both ways
    finds the other's lessons again this way, and only the classroom's: another room's under the
    same UID are not this file's. A key already stored under its new form (both imports were
    made before this adoption existed) stays where it is, beside it.
    """
    by_old: dict[tuple[str, str], str] = {(old, room): new for old, new, room in renamed}
    olds = sorted({old for old, _ in by_old})
    rows: list[tuple[str, str, str]] = []
    for lo in range(0, len(olds), _BATCH):
        rows += [(str(k), str(sc), str(r)) for k, sc, r in conn.execute(
            select(_TABLE.c.source_key, _TABLE.c.source_scope, _TABLE.c.classroom_id)
            .where(_TABLE.c.source_scope.in_(olds[lo:lo + _BATCH]))).all()]
    moves = {key: (by_old[scope, room], by_old[scope, room] + key[len(scope):])
             for key, scope, room in rows if (scope, room) in by_old}
    targets = sorted(new_key for _, new_key in moves.values())
    taken: set[str] = set()
    for lo in range(0, len(targets), _BATCH):
        taken.update(str(k) for (k,) in conn.execute(
            select(_TABLE.c.source_key).where(_TABLE.c.source_key.in_(targets[lo:lo + _BATCH]))))
    params = []
    for old_key, (new_scope, new_key) in sorted(moves.items()):
        if new_key not in taken:
            taken.add(new_key)
            params.append({"old_key": old_key, "new_scope": new_scope, "new_key": new_key})
    if params:
        conn.execute(update(_TABLE).where(_TABLE.c.source_key == bindparam("old_key"))
                     .values(source_scope=bindparam("new_scope"),
                             source_key=bindparam("new_key"), updated_at=func.now()), params)


def replace_lessons(conn: Connection, lessons: Sequence[PlannedLesson],
                    scopes: Iterable[str] = (), keep_ended_by: datetime | None = None,
                    series_spans: Mapping[str, Sequence[tuple[datetime, datetime]]] | None = None,
                    read_until: date | None = None,
                    stated_only: Mapping[str, Collection[str]] | None = None) -> ImportCounts:
    """Make the stored lessons of the file's scopes exactly the file's (caller's transaction).

    ``scopes`` adds those the file speaks for without a lesson in them: a UID whose occurrences
    are all cancelled must lose its stored lessons, which its lessons' scopes alone would miss.
    With ``keep_ended_by``, a stored lesson that had ended by then stays though the file no longer
    holds it: a rolling export ("this week on") leaves out the lessons already held, an export cut
    by ``--until`` those after it, and one term's file the other term's, none of which cancels
    them. But not within a span of its scope's ``series_spans`` (UTC instants ``[from, to)``: the
    days each of the file's series states every lesson of): there a lesson the file no longer
    holds was moved or cancelled (a series whose time was changed for all its events would
    otherwise show every past lesson twice, at the old time and the new). A stored lesson
    whose key is, exactly, another form of a lesson's key now (an earlier
    version's UTC key of a floating time; a slot the file now gives a zone, or no longer does) is
    found again under its new key first (:func:`_adopted`), keeping its id, instead of being kept
    beside its new self.

    ``read_until`` is the last day the file was read for (``--until``, or the default horizon):
    a stored lesson starting after it, on its classroom's clock, is kept, as the file says nothing
    of it (a nearer ``--until`` removed the lessons a file still holds after it). A scope of
    ``stated_only`` (a UID the file gives no series for) replaces only the stored lessons whose
    keys it lists.
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
    adopted = _adopted(conn, stored, scope_of, lessons)
    if adopted:
        conn.execute(
            update(_TABLE).where(_TABLE.c.source_key == bindparam("old_key"))
            .values(source_key=bindparam("new_key"), updated_at=func.now()),
            [{"old_key": old, "new_key": new} for old, new in adopted.items()],
        )
        for old, new in adopted.items():
            stored[new] = stored.pop(old)
            scope_of[new] = scope_of.pop(old)
    for key in [key for key, scope in scope_of.items()
                if scope in (stated_only or {}) and key not in stated_only[scope]]:
        del stored[key]  # an occurrence the file does not state: not this import's
    wanted = {lesson.source_key for lesson in lessons}
    ended = _STATED.index("ends_at")
    kept = set() if keep_ended_by is None else {
        key for key, row in stored.items()
        if key not in wanted and row[ended] <= keep_ended_by}
    kept -= _within_series({key: stored[key] for key in kept}, scope_of, series_spans or {})
    beyond = set() if read_until is None else _after(
        conn, {key: row for key, row in stored.items() if key not in wanted}, read_until)
    kept -= beyond
    gone = sorted(set(stored) - wanted - kept - beyond)
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
                        unchanged=len(lessons) - len(fresh), removed=len(gone), kept=len(kept),
                        beyond=len(beyond))


def _after(conn: Connection, stored: Mapping[str, tuple[object, ...]], day: date) -> set[str]:
    """The stored keys (rows of :data:`_STATED`) of lessons that start after ``day`` on their
    classroom's clock."""
    zones = _zones(conn, {str(row[0]) for row in stored.values()})
    starts = _STATED.index("starts_at")
    after = set()
    for key, row in stored.items():
        zone = zones.get(str(row[0]), timezone.utc)
        following = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        if row[starts] >= following:  # type: ignore[operator]
            after.add(key)
    return after


def _within_series(stored: Mapping[str, tuple[object, ...]], scope_of: Mapping[str, str],
                   series_spans: Mapping[str, Sequence[tuple[datetime, datetime]]]) -> set[str]:
    """The stored keys (rows of :data:`_STATED`) that start within a span of their scope: each
    looked up by bisection in its scope's spans joined where they overlap (a reused UID gives
    each of its events a span, up to MAX_OCCURRENCES of them)."""
    joined: dict[str, tuple[list[datetime], list[datetime]]] = {}  # per scope: firsts, ends
    for scope, spans in series_spans.items():
        firsts: list[datetime] = []
        ends: list[datetime] = []
        for first, following in sorted(spans):
            if ends and first <= ends[-1]:
                ends[-1] = max(ends[-1], following)
            else:
                firsts.append(first)
                ends.append(following)
        joined[scope] = firsts, ends
    starts = _STATED.index("starts_at")
    within = set()
    for key, row in stored.items():
        firsts, ends = joined.get(scope_of[key], ([], []))
        at = bisect_right(firsts, row[starts]) - 1
        if at >= 0 and row[starts] < ends[at]:  # type: ignore[operator]
            within.add(key)
    return within


def _key_time(key: str, scope: str) -> tuple[datetime, bool] | None:
    """The slot an iCalendar ``source_key`` of ``scope`` ends in (naive: a wall-clock time, or a
    UTC one), and whether it is floating (no ``Z``); None for any other key."""
    prefix = f"{scope}/"
    if source_of(scope) != "ics" or not key.startswith(prefix):
        return None
    written = key[len(prefix):]
    floating = not written.endswith("Z")
    try:
        return datetime.strptime(written, KEY_TIME if floating else UTC_KEY_TIME), floating
    except ValueError:
        return None


def _utc_time(wall: datetime, zone: tzinfo) -> datetime:
    """A wall-clock time read on ``zone``'s clock as a naive UTC time, as every version computed
    it (the earlier of a time the autumn change repeats; one the spring change skips at the
    offset before it)."""
    return wall.replace(tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)


def _exact(walls: Sequence[tuple[datetime, str, str]], instants: Mapping[datetime, str],
           zone_of: Callable[[str], tzinfo | None]) -> dict[str, str]:
    """Each floating key of ``walls`` (wall-clock time, classroom, key), read on the clock
    ``zone_of`` gives its classroom, with the UTC key of ``instants`` (naive UTC time: key) that
    is exactly that instant; each key paired once, in key order."""
    pairs: dict[str, str] = {}
    taken: set[str] = set()
    for wall, classroom, key in sorted(walls, key=lambda w: w[2]):
        zone = zone_of(classroom)
        other = None if zone is None else instants.get(_utc_time(wall, zone))
        if other is not None and other not in taken:
            pairs[key] = other
            taken.add(other)
    return pairs


def _adopted(conn: Connection, stored: Mapping[str, tuple[object, ...]],
             scope_of: Mapping[str, str], lessons: Sequence[PlannedLesson]) -> dict[str, str]:
    """The stored iCalendar keys that are, in another form, the key a lesson of the file has now
    (see :func:`classpulse.lessons.ics_timetable._identity`), each with that key.

    A slot is keyed by its wall-clock time when the file gives it no zone, in UTC when it does;
    an earlier version keyed floating slots in UTC too, on the classroom's clock of that time,
    which nothing recorded. Within one scope, a key is adopted only on an exact instant, never
    a near one (a moved lesson is another slot, and an ended one stays where it was held):

    - a new floating key takes a stored UTC key (an earlier version's, or this one's for a slot
      the file gave a zone) that is its wall-clock time read on the clock of the lesson's
      classroom, or read as UTC: earlier versions read floating times on the classroom's zone,
      and a classroom starts on UTC until its zone is set. Per scope, the reading with more exact
      matches is taken (a tie: the classroom's zone), and only its matches;
    - a new UTC key (the file now gives the slot a zone) takes a stored floating key that is that
      instant read on the clock of the stored lesson's classroom.

    Only stored keys the file does not hold and new keys not stored take part, each once, so
    importing a file again adopts nothing.
    """
    wanted = {lesson.source_key for lesson in lessons}
    new_walls: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    new_instants: dict[str, dict[datetime, str]] = defaultdict(dict)
    for lesson in lessons:
        found = _key_time(lesson.source_key, lesson.source_scope)
        if found is None or lesson.source_key in stored:
            continue
        slot, floating = found
        if floating:
            new_walls[lesson.source_scope].append((slot, lesson.classroom_id, lesson.source_key))
        else:
            new_instants[lesson.source_scope][slot] = lesson.source_key
    old_walls: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    old_instants: dict[str, dict[datetime, str]] = defaultdict(dict)
    for key, scope in scope_of.items():
        found = _key_time(key, scope) if key not in wanted else None
        if found is None:
            continue
        slot, floating = found
        if floating and scope in new_instants:
            old_walls[scope].append((slot, str(stored[key][0]), key))
        elif not floating and scope in new_walls:
            old_instants[scope][slot] = key
    if not old_walls and not old_instants:
        return {}
    rooms = {room for walls in (*new_walls.values(), *old_walls.values()) for _, room, _ in walls}
    zones = _zones(conn, rooms)
    adopted: dict[str, str] = {}
    for scope, instants in old_instants.items():
        here = _exact(new_walls[scope], instants, zones.get)
        utc = _exact(new_walls[scope], instants, lambda _: timezone.utc)
        adopted.update({old: new for new, old in (here if len(here) >= len(utc) else utc).items()})
    for scope, walls in old_walls.items():
        adopted.update(_exact(walls, new_instants[scope], zones.get))
    return adopted


def _zones(conn: Connection, rooms: Iterable[str]) -> dict[str, ZoneInfo]:
    """The time zones the classrooms have now."""
    table = Classroom.__table__
    wanted = sorted(set(rooms))
    zones: dict[str, ZoneInfo] = {}
    for lo in range(0, len(wanted), _BATCH):
        rows = conn.execute(select(table.c.id, table.c.timezone)
                            .where(table.c.id.in_(wanted[lo:lo + _BATCH]))).all()
        zones.update({str(room): classroom_zone(str(room), str(zone)) for room, zone in rows})
    return zones


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
