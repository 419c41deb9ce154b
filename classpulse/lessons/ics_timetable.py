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
(an occurrence newly excluded by EXDATE, or a whole series now cancelled, disappears).

Two exporter habits outside RFC 5545 are read as the exporter means them. A UID reused by several
events without RECURRENCE-ID (one per weekly slot of a course, say) would keep only the first
event in the expansion; each is expanded on its own instead and its lessons keyed by their start,
the identity a single event already has, so no lesson is lost and re-imports stay idempotent. Only
a RECURRENCE-ID under such a UID is refused, as nothing says which series it changes. And a bare
date as a timed series' UNTIL means through that day, not up to its midnight.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

from classpulse.lessons.timetable import (
    Classroom,
    Classrooms,
    PlannedLesson,
    Timetable,
    TimetableError,
    UnknownRooms,
    check_text,
    check_unique,
    key_time,
)

# an unbounded weekly series is expanded this far past the last event start in the file
DEFAULT_HORIZON = timedelta(days=365)
_BEGIN_EVENT = re.compile(r"^BEGIN:VEVENT\s*$", re.IGNORECASE)
_END_OF_DAY = time(23, 59, 59)  # a bare-date UNTIL of a timed series: the last second of that day


@dataclass(frozen=True)
class IcsImport(Timetable):
    """The lessons of one file, what was skipped, and how far recurrences were expanded."""

    skipped_all_day: int
    skipped_cancelled: int
    until: date


@dataclass(frozen=True)
class _Event:
    """A VEVENT of the file with the line it starts on, and whether its classroom is registered."""

    component: Any
    line: int
    known_room: bool


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


def _vevents(calendar: Any, lines: list[str]) -> list[tuple[Any, int]]:
    """Every VEVENT of the file with the line it begins on."""
    starts = [n for n, text in enumerate(lines, start=1) if _BEGIN_EVENT.match(text)]
    return list(zip(calendar.walk("VEVENT"), starts, strict=False))


def _events(path: Path, vevents: list[tuple[Any, int]], lines: list[str], rooms: Classrooms,
            classroom: Classroom | None) -> list[_Event]:
    """Every timed VEVENT, checked: the fields a lesson needs are there and readable. One in a
    classroom nobody registered is checked no further: it is refused or skipped as a whole."""
    events = []
    for component, line in vevents:
        for name, message in getattr(component, "errors", []):
            raise TimetableError(path, _property_line(lines, line, name), name, message)
        if component.get("DTSTART") is None:
            raise TimetableError(path, line, "DTSTART", "the event has no start")
        if not _is_timed(component):
            continue  # all-day: not a lesson, counted by the caller
        if not _text(component, "UID"):
            raise TimetableError(path, line, "UID", "the event has no UID, so a re-import could "
                                 "not find its lessons again")
        room = classroom
        if room is None:
            location = _text(component, "LOCATION")
            if not location:
                raise TimetableError(path, line, "LOCATION", "the event names no classroom; "
                                     "give one with --classroom ID")
            room = rooms.find(location)
            if room is None:
                events.append(_Event(component, line, known_room=False))
                continue
        if not _text(component, "SUMMARY"):
            raise TimetableError(path, line, "SUMMARY", "the event has no title")
        if component.get("DTEND") is None and component.get("DURATION") is None:
            raise TimetableError(path, line, "DTEND", "the event has neither an end nor a "
                                 "DURATION")
        _check_length(path, lines, line, component, room)
        events.append(_Event(component, line, known_room=True))
    return events


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


def _floating(value: datetime) -> bool:
    """A time without a zone (no TZID, no Z): the classroom's wall clock says when it is."""
    return value.tzinfo is None or value.utcoffset() is None


def _utc(value: datetime, room: Classroom) -> datetime:
    """An event time as a UTC instant; a floating time is on the classroom's wall clock."""
    if _floating(value):
        value = value.replace(tzinfo=room.tz)
    return value.astimezone(timezone.utc)


def _until_through_the_day(component: Any) -> None:
    """Make a bare-date UNTIL of a timed series the end of that day in the series' zone.

    RFC 5545 wants UNTIL of DTSTART's type; exporters that write a date mean "through that day",
    but the expansion reads it as that day's midnight and would drop the day's lesson. Only the
    parsed copy in memory changes.
    """
    start = component["DTSTART"].dt
    rules = component.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        until = rule.get("UNTIL", [None])[0]
        if isinstance(until, date) and not isinstance(until, datetime):
            rule["UNTIL"] = [datetime.combine(until, _END_OF_DAY, start.tzinfo)]


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


def _expand(path: Path, lines: list[str], calendar: Any, first: date, last: date) -> list[Any]:
    try:
        return list(recurring_ical_events.of(calendar).between(first, last + timedelta(days=1)))
    except recurring_ical_events.InvalidCalendar as exc:
        raise TimetableError(path, None, "RRULE",
                             f"cannot expand the recurrences ({exc})") from None
    except ZoneInfoNotFoundError:  # the expansion moves every time into the calendar's zone
        field = "X-WR-TIMEZONE"
        line = next((n for n, text in enumerate(lines, start=1)
                     if text.upper().startswith(f"{field}:")), None)
        raise TimetableError(path, line, field,
                             f"{_text(calendar, field)!r} is not an IANA time zone name; set it "
                             "to one such as Europe/Berlin, or remove it") from None


def _alone(calendar: Any, component: Any) -> Any:
    """A copy of the calendar (its properties and time zones) holding only this event."""
    alone = icalendar.Calendar()
    alone.update(calendar)
    for sub in calendar.subcomponents:
        if sub.name != "VEVENT":
            alone.add_component(sub)
    alone.add_component(component)
    return alone


def _reused_uids(path: Path, vevents: list[tuple[Any, int]], lines: list[str]
                 ) -> dict[str, list[tuple[Any, int]]]:
    """The UIDs of several events without RECURRENCE-ID, with those events (see the module's
    docstring); a RECURRENCE-ID under such a UID is refused, as no series is surely its own."""
    masters: dict[str, list[tuple[Any, int]]] = defaultdict(list)
    for component, line in vevents:
        if component.get("RECURRENCE-ID") is None and _text(component, "UID"):
            masters[_text(component, "UID")].append((component, line))
    reused = {uid: found for uid, found in masters.items() if len(found) > 1}
    for component, line in vevents:
        uid = _text(component, "UID")
        if component.get("RECURRENCE-ID") is not None and uid in reused:
            where = " and ".join(str(n) for _, n in reused[uid])
            raise TimetableError(path, _property_line(lines, line, "RECURRENCE-ID"),
                                 "RECURRENCE-ID", f"UID {uid!r} names several events without "
                                 f"RECURRENCE-ID (lines {where}), so which series this changes "
                                 "is unknown; give each series its own UID")
    return reused


def read_ics(path: Path, rooms: Classrooms, classroom: Classroom | None = None,
             until: date | None = None, skip_unknown_rooms: bool = False) -> IcsImport:
    """Every lesson the file's events hold, recurrences expanded up to ``until`` (included).

    ``until`` defaults to a year after the last event start in the file, which bounds a series
    without an end; series with UNTIL or COUNT end where they say. Events in classrooms nobody
    registered are refused, all named at once, unless ``skip_unknown_rooms``: then their lessons
    are counted and left out.
    """
    calendar, lines = _parse(path)
    vevents = _vevents(calendar, lines)
    scopes = frozenset(f"ics:{uid}" for component, _ in vevents
                       if (uid := _text(component, "UID")))
    events = _events(path, vevents, lines, rooms, classroom)
    unknown = UnknownRooms()
    if not skip_unknown_rooms:
        for event in events:
            if not event.known_room:
                unknown.add(_text(event.component, "LOCATION"),
                            _property_line(lines, event.line, "LOCATION"))
        unknown.refuse(path, "LOCATION", rooms)
    reused = _reused_uids(path, vevents, lines)
    first_line: dict[str, int] = {}  # where messages about a UID's occurrences point
    for event in events:
        first_line.setdefault(_text(event.component, "UID"), event.line)
        _until_through_the_day(event.component)
    all_day = sum(1 for component, _ in vevents if not _is_timed(component))
    if not events:
        return IcsImport([], scopes, frozenset(), unknown, all_day, 0, until or date.min)
    first, last = _window(events, until)
    occurrences = [(o, first_line[uid]) for o in _expand(path, lines, calendar, first, last)
                   if (uid := _text(o, "UID")) in first_line and uid not in reused]
    for component, line in (event for found in reused.values() for event in found):
        alone = _alone(calendar, component)
        occurrences += [(o, line) for o in _expand(path, lines, alone, first, last)]
    lessons, wall_clock, cancelled = [], set(), 0
    for occurrence, line in occurrences:
        uid = _text(occurrence, "UID")
        if not _is_timed(occurrence):
            continue
        if _text(occurrence, "STATUS").upper() == "CANCELLED":
            cancelled += 1
            continue
        room = classroom or rooms.find(_text(occurrence, "LOCATION"))
        if room is None:  # every event was checked: only --skip-unknown-rooms lets one through
            unknown.add(_text(occurrence, "LOCATION"), line)
            continue
        start, end = occurrence.get("DTSTART").dt, occurrence.get("DTEND").dt
        if _floating(start) or _floating(end):
            wall_clock.add(room.id)
        starts_at, ends_at = _utc(start, room), _utc(end, room)
        if ends_at <= starts_at:
            raise TimetableError(path, line, "DTEND", f"the occurrence starting "
                                 f"{starts_at:%Y-%m-%d %H:%M} UTC does not end after it starts")
        recurrence = occurrence.get("RECURRENCE-ID")
        identity = _utc(recurrence.dt, room) if recurrence is not None else starts_at
        subject = _category(occurrence)
        lessons.append(PlannedLesson(
            classroom_id=room.id, starts_at=starts_at, ends_at=ends_at,
            title=check_text(path, line, "SUMMARY", _text(occurrence, "SUMMARY")),
            subject=None if subject is None else check_text(path, line, "CATEGORIES", subject),
            group_label=None,
            source_key=f"ics:{uid}/{key_time(identity)}", source_scope=f"ics:{uid}", line=line,
        ))
    check_unique(path, lessons, "DTSTART")
    return IcsImport(lessons, scopes, frozenset(wall_clock), unknown, all_day, cancelled, last)
