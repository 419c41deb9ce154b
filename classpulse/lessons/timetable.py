"""What both timetable formats produce: planned lessons, the classrooms they may name, one error.

A file is read completely and every row checked before anything is written, so a bad row stops the
import with one line naming the file, the line and the field, and nothing is imported.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from classpulse.errors import UsageError

# the import's opt-in for a school-wide export that names rooms without a camera
SKIP_UNKNOWN_ROOMS = "--skip-unknown-rooms"
# a longer lesson is a term, a trip or a mistake: an iCalendar occurrence that long is skipped and
# counted, and a CSV row that long (an end past midnight included) is refused
LONGEST_LESSON = timedelta(hours=12)
# a year of 30 classrooms' lessons, exported one event each, is about 5 MiB; the file is read
# into memory whole, so a much larger one is refused instead
MAX_FILE_BYTES = 16 * 1024 * 1024


class TimetableError(UsageError):
    """A timetable row the import cannot take; the message names the file, line and field."""

    def __init__(self, path: Path, line: int | None, field: str | None, problem: str) -> None:
        where = path.name
        if line is not None:
            where += f" line {line}"
        if field is not None:
            where += f", {field}"
        super().__init__(f"{where}: {problem}; nothing was imported")


@dataclass(frozen=True)
class PlannedLesson:
    """One lesson as a timetable file states it, with its identity for re-imports.

    ``source_key`` and ``source_scope`` are explained in :mod:`classpulse.db.models.lesson`.
    """

    classroom_id: str
    starts_at: datetime  # aware, UTC
    ends_at: datetime  # aware, UTC
    title: str
    subject: str | None
    group_label: str | None
    source_key: str
    source_scope: str
    line: int  # where the file states it, for messages


@dataclass(frozen=True)
class Classroom:
    id: str
    name: str
    zone: str  # classrooms.timezone as stored: checked when this classroom's clock is read

    @property
    def tz(self) -> ZoneInfo:
        """The classroom's zone, or one :class:`UsageError` naming this classroom alone (a bad
        zone of one classroom must not refuse the others, :func:`classroom_zone`)."""
        return classroom_zone(self.id, self.zone)


def classroom_zone(room_id: str, zone: str) -> ZoneInfo:
    """A classroom's ``timezone`` as a zone Python can compute with, or one :class:`UsageError`.

    PostgreSQL's check accepts names Python's zone database has not (POSIX rules such as
    ``UTC+3``), and SQLite checks nothing, so a stored zone can still fail here.
    """
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"classroom {room_id!r} has time zone {zone!r}, which is not an IANA zone "
            "name; set classrooms.timezone to one such as Europe/Berlin"
        ) from None


class Classrooms:
    """The classrooms the database knows, found by id or, failing that, by a unique name.

    Timetables name rooms as people do ("Room 12"); cameras report ids ("room-12"). Operators set
    ``classrooms.name``, so either works. A room nobody has registered is refused, never created:
    a typo would otherwise open a classroom that no camera will ever fill. A name several
    classrooms share finds none of them: it is refused as ambiguous, never skipped as unknown.
    """

    def __init__(self, rows: Iterable[tuple[str, str, str]]) -> None:
        self._by_id: dict[str, Classroom] = {}
        names: dict[str, list[str]] = {}
        for room_id, name, zone in rows:
            self._by_id[room_id] = Classroom(room_id, name, zone)  # its zone checked when read
            names.setdefault(name, []).append(room_id)
        self._by_name = {name: ids[0] for name, ids in names.items() if len(ids) == 1}
        self._shared = {name: sorted(ids) for name, ids in names.items() if len(ids) > 1}

    def find(self, value: str) -> Classroom | None:
        room_id = value if value in self._by_id else self._by_name.get(value)
        return None if room_id is None else self._by_id[room_id]

    def ambiguous(self, value: str) -> bool:
        """``value`` is no classroom's id but the name of several."""
        return value not in self._by_id and value in self._shared

    def known(self) -> str:
        """The registered ids, the first ten, for a message that refuses a name."""
        return ", ".join(sorted(self._by_id)[:10]) or "none yet"

    def unknown(self, value: str) -> str:
        """The refusal for a classroom id or name that :meth:`find` does not find: nobody
        registered it, or (:meth:`ambiguous`) several classrooms bear that name."""
        if self.ambiguous(value):
            ids = ", ".join(self._shared[value])
            return (f"classroom name {value!r} is ambiguous: classrooms {ids} all bear it; name "
                    "the classroom by its id instead, or give the classrooms distinct names "
                    "(classrooms.name)")
        return (f"classroom {value!r} is unknown (known ids: {self.known()}); a classroom is "
                "registered when its first camera reports, or fix the name in the file")

    def __bool__(self) -> bool:
        return bool(self._by_id)


class UnknownRooms:
    """The classroom names of a file that nobody registered, with the first line naming each and
    how many lessons they hold.

    A school-wide export names the gym and the library too, rooms without a camera. They are
    refused together, so one fix covers them all, or, with ``--skip-unknown-rooms``, skipped and
    counted, so the rooms with cameras can be piloted without editing the export.
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, int]] = {}  # name: (first line, lessons)

    def add(self, name: str, line: int) -> None:
        first, count = self._seen.get(name, (line, 0))
        self._seen[name] = (first, count + 1)

    def refuse(self, path: Path, field: str, rooms: Classrooms) -> None:
        """Raise one :class:`TimetableError` naming every unknown room, if there is any."""
        if not self._seen:
            return
        advice = (f"(known ids: {rooms.known()}); a classroom is registered when its first camera "
                  f"reports: fix the names in the file, or pass {SKIP_UNKNOWN_ROOMS} to import "
                  "the other classrooms' lessons")
        if len(self._seen) == 1:
            ((name, (line, _)),) = self._seen.items()
            raise TimetableError(path, line, field, f"classroom {name!r} is unknown {advice}")
        names = ", ".join(f"{name!r} (line {line})" for name, (line, _) in self._seen.items())
        raise TimetableError(path, None, field, f"classrooms {names} are unknown {advice}")

    def note(self) -> str | None:
        """What ``--skip-unknown-rooms`` left out, in one line; None when nothing was."""
        if not self._seen:
            return None
        total = sum(count for _, count in self._seen.values())
        rooms = ", ".join(f"{name!r} {count}" for name, (_, count) in self._seen.items())
        return (f"skipped {total} lesson(s) in classrooms nobody registered ({SKIP_UNKNOWN_ROOMS})"
                f": {rooms}")


@dataclass(frozen=True)
class Timetable:
    """What a file holds for the import.

    ``scopes`` are every ``source_scope`` the file speaks for, including those it leaves with no
    lesson (an iCalendar event whose every occurrence is cancelled): their stored lessons go.
    ``wall_clock_rooms`` are the classrooms whose times were read on their own clock, which is
    only right once ``classrooms.timezone`` is set.
    """

    lessons: list[PlannedLesson]
    scopes: frozenset[str]
    wall_clock_rooms: frozenset[str]
    unknown_rooms: UnknownRooms


def read_bytes(path: Path) -> bytes:
    """The file's bytes, or one :class:`TimetableError` when it is larger than any timetable."""
    with path.open("rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise TimetableError(path, None, None, f"is larger than {MAX_FILE_BYTES // 2**20} MiB, "
                             "more than a school's year of lessons; split it (one file per "
                             "classroom, say)")
    return raw


def existing_utc(local: datetime) -> datetime | None:
    """An aware wall-clock time as a UTC instant; None when its zone skips that time (a spring
    clock change), which the arithmetic would otherwise quietly move by the change.

    A time that occurs twice (the autumn clock change) is the earlier one.
    """
    instant = local.astimezone(timezone.utc)
    if instant.astimezone(local.tzinfo).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return instant


KEY_TIME = "%Y-%m-%dT%H:%M:%S"  # a time in ``source_key``: ISO 8601 to the second
UTC_KEY_TIME = f"{KEY_TIME}Z"


def key_time(instant: datetime) -> str:
    """An instant as written into ``source_key``: UTC, to the second, ISO 8601."""
    return instant.astimezone(timezone.utc).strftime(UTC_KEY_TIME)


def floating_key_time(wall: datetime) -> str:
    """A floating time (no zone: the classroom's wall clock) as written into ``source_key``: ISO
    8601 to the second without an offset, so no UTC key (which ends in ``Z``) reads the same, and
    a change of the classroom's time zone leaves it as it is."""
    return wall.strftime(KEY_TIME)


def clocks_skip(local: datetime, zone_name: str | None = None) -> str:
    """Why an aware wall-clock time that :func:`existing_utc` refuses cannot be a lesson's.

    ``zone_name`` is the zone as the file names it: a zone a VTIMEZONE defines has no IANA key,
    and no name of its own for a time it skips (the message said "in None").
    """
    zone = zone_name or getattr(local.tzinfo, "key", None) or local.tzname()
    return f"{local:%Y-%m-%d %H:%M} does not exist in {zone} (the clocks go forward then)"


def check_unique(path: Path, lessons: Iterable[PlannedLesson], field: str) -> None:
    """Refuse a file that states the same lesson twice (it could not be imported the same way)."""
    seen: dict[str, int] = {}
    for lesson in lessons:
        if lesson.source_key in seen:
            raise TimetableError(path, lesson.line, field,
                                 f"the same lesson as line {seen[lesson.source_key]} "
                                 f"({lesson.source_key})")
        seen[lesson.source_key] = lesson.line


def check_text(path: Path, line: int, field: str, value: str,
               advice: str = "labels are one line of text") -> str:
    """A label as stored: refused when it holds control characters (line breaks, terminal escape
    sequences), which no timetable label needs and which would garble ``lessons list``; an
    identifier too, as PostgreSQL refuses a NUL in text with a message about permissions."""
    bad = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise TimetableError(path, line, field, f"{value!r} holds the control character "
                             f"{bad!r}; {advice}")
    return value
