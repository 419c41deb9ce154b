"""What both timetable formats produce: planned lessons, the classrooms they may name, one error.

A file is read completely and every row checked before anything is written, so a bad row stops the
import with one line naming the file, the line and the field, and nothing is imported.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from classpulse.errors import UsageError


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
    tz: ZoneInfo


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
    a typo would otherwise open a classroom that no camera will ever fill.
    """

    def __init__(self, rows: Iterable[tuple[str, str, str]]) -> None:
        self._by_id: dict[str, Classroom] = {}
        names: dict[str, list[str]] = {}
        for room_id, name, zone in rows:
            self._by_id[room_id] = Classroom(room_id, name, classroom_zone(room_id, zone))
            names.setdefault(name, []).append(room_id)
        self._by_name = {name: ids[0] for name, ids in names.items() if len(ids) == 1}

    def find(self, value: str) -> Classroom | None:
        room_id = value if value in self._by_id else self._by_name.get(value)
        return None if room_id is None else self._by_id[room_id]

    def unknown(self, value: str) -> str:
        """The refusal for a classroom id or name nobody registered."""
        known = ", ".join(sorted(self._by_id)[:10]) or "none yet"
        return (f"classroom {value!r} is unknown (known ids: {known}); a classroom is registered "
                "when its first camera reports, or fix the name in the file")

    def __bool__(self) -> bool:
        return bool(self._by_id)


def utc_from_local(day: date, clock: time, tz: ZoneInfo) -> datetime | None:
    """A classroom's wall-clock time as a UTC instant; None when that local time does not exist.

    A time that occurs twice (the autumn clock change) is the earlier one.
    """
    local = datetime.combine(day, clock, tzinfo=tz)
    instant = local.astimezone(timezone.utc)
    if instant.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None  # skipped by a spring clock change
    return instant


def key_time(instant: datetime) -> str:
    """An instant as written into ``source_key``: UTC, to the second, ISO 8601."""
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_unique(path: Path, lessons: Iterable[PlannedLesson], field: str) -> None:
    """Refuse a file that states the same lesson twice (it could not be imported the same way)."""
    seen: dict[str, int] = {}
    for lesson in lessons:
        if lesson.source_key in seen:
            raise TimetableError(path, lesson.line, field,
                                 f"the same lesson as line {seen[lesson.source_key]} "
                                 f"({lesson.source_key})")
        seen[lesson.source_key] = lesson.line


def check_text(path: Path, line: int, field: str, value: str) -> str:
    """A label as stored: refused when it holds control characters (line breaks, terminal escape
    sequences), which no timetable label needs and which would garble ``lessons list``."""
    bad = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise TimetableError(path, line, field, f"{value!r} holds the control character "
                             f"{bad!r}; labels are one line of text")
    return value
