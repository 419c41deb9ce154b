"""Writing a timetable into ``lessons`` and reading it back, on PostgreSQL and SQLite.

An import is one transaction: for every scope the file holds (an iCalendar UID, a classroom's day
of a CSV), even one left with no lesson (a series now cancelled), lessons the file no longer states
are deleted (but for those already over, where the caller asks, as an iCalendar import does) and
the rest are inserted or updated in place by their ``source_key``, so a lesson keeps its ``id`` (and
a teacher's bookmark of it) across re-imports. Importing the same file twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, Text, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from classpulse.db.models import Classroom, Lesson
from classpulse.errors import UsageError
from classpulse.lessons.timetable import Classrooms, PlannedLesson

_TABLE = Lesson.__table__
_STATED = ("classroom_id", "starts_at", "ends_at", "title", "subject", "group_label")
_BATCH = 500


@dataclass(frozen=True)
class ImportCounts:
    added: int
    changed: int
    unchanged: int
    removed: int
    kept: int  # lessons the file no longer holds, kept as they had already ended


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
    holds it, but only when it starts before the file's first lesson of its scope: a rolling
    export ("this week on") leaves out the lessons already held, which was no cancellation of
    them, while from its first lesson on the file is the truth. A lesson the file left in its
    span is gone from the timetable (a floating time read anew after the classroom's time zone
    was set, an occurrence newly excluded), and keeping it would double the lesson. A scope the
    file holds no lesson of keeps its ended lessons, as nothing says where its span begins.
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
    wanted = {lesson.source_key for lesson in lessons}
    kept = set() if keep_ended_by is None else _kept(stored, scope_of, wanted, lessons,
                                                     keep_ended_by)
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


def _kept(stored: Mapping[str, tuple[object, ...]], scope_of: Mapping[str, str],
          wanted: set[str], lessons: Sequence[PlannedLesson], ended_by: datetime) -> set[str]:
    """The stored lessons the file no longer holds that stay (see :func:`replace_lessons`): ended
    by ``ended_by`` and starting before the file's first lesson of their scope."""
    first: dict[str, datetime] = {}
    for lesson in lessons:
        if lesson.source_scope not in first or lesson.starts_at < first[lesson.source_scope]:
            first[lesson.source_scope] = lesson.starts_at
    starts, ends = _STATED.index("starts_at"), _STATED.index("ends_at")
    kept = set()
    for key, row in stored.items():
        begins = first.get(scope_of[key])
        if (key not in wanted and row[ends] <= ended_by  # type: ignore[operator]
                and (begins is None or row[starts] < begins)):  # type: ignore[operator]
            kept.add(key)
    return kept


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
