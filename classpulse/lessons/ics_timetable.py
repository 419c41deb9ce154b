"""iCalendar (.ics) timetables, as school timetabling systems export them.

Parsing is ``icalendar``'s and recurrence expansion (RRULE, RDATE, EXDATE, moved or changed single
occurrences through RECURRENCE-ID) is ``recurring-ical-events``'; nothing here parses iCalendar
text. An event's classroom is its LOCATION (a classroom id or name), or ``--classroom`` for a
calendar exported per room. Times with a TZID or in UTC are taken as they are; floating times (no
zone) are read on the classroom's wall clock. All-day and cancelled events are not lessons and are
skipped (and counted). Only the event's summary, time, place and first category are read: never
its description, organizer or attendees, which may name people.

A lesson's identity is its event's UID and its occurrence's RECURRENCE-ID, so importing a changed
export again updates the same lessons; one import replaces everything stored for each UID it holds
(an occurrence newly excluded by EXDATE disappears).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import icalendar
import recurring_ical_events

from classpulse.lessons.timetable import (
    Classroom,
    Classrooms,
    PlannedLesson,
    TimetableError,
    check_text,
    check_unique,
    key_time,
)

# an unbounded weekly series is expanded this far past the last event start in the file
DEFAULT_HORIZON = timedelta(days=365)
_BEGIN_EVENT = re.compile(r"^BEGIN:VEVENT\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class IcsImport:
    """The lessons of one file, what was skipped, and how far recurrences were expanded."""

    lessons: list[PlannedLesson]
    skipped_all_day: int
    skipped_cancelled: int
    until: date


@dataclass(frozen=True)
class _Event:
    """A VEVENT of the file with the line it starts on and the classroom it belongs to."""

    component: Any
    line: int
    room: Classroom


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    if isinstance(value, list):  # a property given twice; the first one counts
        value = value[0]
    return str(value).strip() if value is not None else ""


def _property_line(lines: list[str], start: int, name: str) -> int:
    """The line of ``name`` inside the event starting at line ``start`` (1-based)."""
    pattern = re.compile(rf"^{re.escape(name)}[;:]", re.IGNORECASE)
    for number in range(start, len(lines) + 1):
        text = lines[number - 1]
        if pattern.match(text):
            return number
        if number > start and text.upper().startswith("END:VEVENT"):
            break
    return start


def _parse(path: Path) -> tuple[Any, list[str]]:
    raw = path.read_bytes()
    try:
        calendar = icalendar.Calendar.from_ical(raw)
    except ValueError as exc:
        raise TimetableError(path, None, None, f"is not an iCalendar file ({exc})") from None
    if calendar.name != "VCALENDAR":
        raise TimetableError(path, 1, None, f"holds a {calendar.name}, not a VCALENDAR")
    return calendar, raw.decode("utf-8", errors="replace").splitlines()


def _is_timed(component: Any) -> bool:
    start = component.get("DTSTART")
    return start is not None and isinstance(start.dt, datetime)


def _events(path: Path, calendar: Any, lines: list[str], rooms: Classrooms,
            classroom: Classroom | None) -> Iterator[_Event]:
    """Every timed VEVENT, checked: the fields a lesson needs are there and readable."""
    starts = [n for n, text in enumerate(lines, start=1) if _BEGIN_EVENT.match(text)]
    for component, line in zip(calendar.walk("VEVENT"), starts, strict=False):
        for name, message in getattr(component, "errors", []):
            raise TimetableError(path, _property_line(lines, line, name), name, message)
        if component.get("DTSTART") is None:
            raise TimetableError(path, line, "DTSTART", "the event has no start")
        if not _is_timed(component):
            continue  # all-day: not a lesson, counted by the caller
        if not _text(component, "UID"):
            raise TimetableError(path, line, "UID", "the event has no UID, so a re-import could "
                                 "not find its lessons again")
        if not _text(component, "SUMMARY"):
            raise TimetableError(path, line, "SUMMARY", "the event has no title")
        if component.get("DTEND") is None and component.get("DURATION") is None:
            raise TimetableError(path, line, "DTEND", "the event has neither an end nor a "
                                 "DURATION")
        room = classroom
        if room is None:
            location = _text(component, "LOCATION")
            if not location:
                raise TimetableError(path, line, "LOCATION", "the event names no classroom; "
                                     "give one with --classroom ID")
            room = rooms.find(location)
            if room is None:
                raise TimetableError(path, _property_line(lines, line, "LOCATION"), "LOCATION",
                                     rooms.unknown(location))
        _check_length(path, lines, line, component, room)
        yield _Event(component, line, room)


def _check_length(path: Path, lines: list[str], line: int, component: Any,
                  room: Classroom) -> None:
    """Refuse an event that ends before it starts (the expansion would quietly swap the two)."""
    start = _utc(component.get("DTSTART").dt, room)
    if component.get("DTEND") is not None:
        field, end = "DTEND", component.get("DTEND").dt
        if not isinstance(end, datetime):
            raise TimetableError(path, _property_line(lines, line, field), field,
                                 "a date without a time ends a timed event")
        end = _utc(end, room)
    else:
        field, end = "DURATION", start + component.get("DURATION").dt
    if end <= start:
        raise TimetableError(path, _property_line(lines, line, field), field,
                             f"the event starting {start:%Y-%m-%d %H:%M} UTC does not end after "
                             "it starts")


def _utc(value: datetime, room: Classroom) -> datetime:
    """An event time as a UTC instant; a floating time is on the classroom's wall clock."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=room.tz)
    return value.astimezone(timezone.utc)


def _window(events: list[_Event], until: date | None) -> tuple[date, date]:
    starts = [e.component.get("DTSTART").dt for e in events]
    first = min(s.date() for s in starts)
    last = until if until is not None else max(s.date() for s in starts) + DEFAULT_HORIZON
    return first, last


def _category(component: Any) -> str | None:
    categories = component.get("CATEGORIES")
    if categories is None:
        return None
    if isinstance(categories, list):
        categories = categories[0]
    names = [str(c).strip() for c in getattr(categories, "cats", [])]
    return next((n for n in names if n), None)


def read_ics(path: Path, rooms: Classrooms, classroom: Classroom | None = None,
             until: date | None = None) -> IcsImport:
    """Every lesson the file's events hold, recurrences expanded up to ``until`` (included).

    ``until`` defaults to a year after the last event start in the file, which bounds a series
    without an end; series with UNTIL or COUNT end where they say.
    """
    calendar, lines = _parse(path)
    events = list(_events(path, calendar, lines, rooms, classroom))
    by_uid = {}
    for event in events:
        by_uid.setdefault(_text(event.component, "UID"), event)
    all_day = sum(1 for c in calendar.walk("VEVENT") if not _is_timed(c))
    if not events:
        return IcsImport([], all_day, 0, until or date.min)
    first, last = _window(events, until)
    try:
        occurrences = list(recurring_ical_events.of(calendar).between(
            first, last + timedelta(days=1)))
    except recurring_ical_events.InvalidCalendar as exc:
        raise TimetableError(path, None, "RRULE",
                             f"cannot expand the recurrences ({exc})") from None
    lessons, cancelled = [], 0
    for occurrence in occurrences:
        uid = _text(occurrence, "UID")
        if not _is_timed(occurrence) or uid not in by_uid:
            continue
        event = by_uid[uid]
        if _text(occurrence, "STATUS").upper() == "CANCELLED":
            cancelled += 1
            continue
        room = event.room if classroom is not None else (
            rooms.find(_text(occurrence, "LOCATION")) or event.room)
        starts_at = _utc(occurrence.get("DTSTART").dt, room)
        ends_at = _utc(occurrence.get("DTEND").dt, room)
        if ends_at <= starts_at:
            raise TimetableError(path, event.line, "DTEND", f"the occurrence starting "
                                 f"{starts_at:%Y-%m-%d %H:%M} UTC does not end after it starts")
        recurrence = occurrence.get("RECURRENCE-ID")
        identity = _utc(recurrence.dt, room) if recurrence is not None else starts_at
        subject = _category(occurrence)
        lessons.append(PlannedLesson(
            classroom_id=room.id, starts_at=starts_at, ends_at=ends_at,
            title=check_text(path, event.line, "SUMMARY", _text(occurrence, "SUMMARY")),
            subject=None if subject is None else check_text(path, event.line, "CATEGORIES",
                                                            subject),
            group_label=None,
            source_key=f"ics:{uid}/{key_time(identity)}", source_scope=f"ics:{uid}",
            line=event.line,
        ))
    check_unique(path, lessons, "RECURRENCE-ID")
    return IcsImport(lessons, all_day, cancelled, last)
