"""iCalendar (.ics) timetables, as school timetabling systems export them.

Parsing is ``icalendar``'s and recurrence expansion (RRULE, RDATE, EXDATE, moved or changed single
occurrences through RECURRENCE-ID) is ``recurring-ical-events``'; nothing here parses iCalendar
text. An event's classroom is its LOCATION (a classroom id or name), or ``--classroom`` for a
calendar exported per room. Only the event's summary, time, place and first category are read:
never its description, organizer or attendees, which may name people.

Times. Times with a TZID or in UTC are taken as they are; a TZID that neither the file's VTIMEZONEs
nor the IANA database know is refused (icalendar would leave the time floating). Floating times (no
zone) are on the classroom's wall clock, like CSV times; X-WR-TIMEZONE, which some exporters add to
say whose clock that is, is refused when it names another zone than the classroom's, as either
reading could be hours off. A time that a spring clock change skips is refused. Times with seconds
are widened to whole minutes (the start down, the end up), as a lesson holds the minutes it
touches. All-day and cancelled events, occurrences longer than :data:`LONGEST_LESSON` (a term, a
trip), and events that end as they start (a deadline, a reminder) are not lessons and are skipped
and counted; a cancelled event needs no LOCATION, SUMMARY or end, which exporters leave empty. A
changed occurrence (RECURRENCE-ID) that states no end lasts as long as its series, as calendar
programs read it (:func:`_lengthen_changes`). A day of an all-day series given a time and an
end (or DURATION) is a lesson; given a start alone, it is skipped and counted.

Identity. A lesson's identity is its event's UID and its occurrence's RECURRENCE-ID, its slot in
the series (an event that is no series: its start), so importing a changed export again updates
the same lessons, also one whose classroom changed. One import replaces what is stored for each
UID it holds up to the last day it is read for (an occurrence newly excluded by EXDATE, or a
whole series now cancelled, disappears; the CLI keeps those already over unless
``--prune-past``, and those after ``--until``), or, for a UID the file gives no series for (one
changed occurrence, as Outlook sends it), the occurrences it states only. With ``--classroom``
the classroom is part of the identity, as per-room exports may share UIDs and one room's import
must not take another's lessons over. A slot with a zone is keyed in UTC; a floating one by its
wall-clock time, without an offset (:func:`_identity`), as it stays the same slot when the
classroom's time zone is set or changed: the lessons move in place and keep their ids. A stored
key that is exactly another form of a new one (an earlier version's UTC key of a floating time, a
slot the file now gives a zone or no longer does) is adopted by
:func:`classpulse.lessons.store.replace_lessons`. Two RECURRENCE-IDs the expansion hands on need
reading: a change with RANGE=THISANDFUTURE gives its own to every later occurrence it moves,
whose slots are found by taking the move back off (:func:`_range_moves`); and a date (a timed day
of an all-day series) is that day's midnight on the classroom's clock, floating.

Two exporter habits outside RFC 5545 are read as the exporter means them. A UID reused by several
events without RECURRENCE-ID (one per weekly slot of a course, say) would keep only the first
event in the expansion; each is expanded on its own instead and its lessons keyed by their start,
the identity an occurrence already has, and, where several share a start (parallel groups), their
classroom, or classroom and title (:func:`_told_apart`), so no lesson is lost and re-imports stay
idempotent. Only
a RECURRENCE-ID under such a UID is refused, as nothing says which series it changes. And a bare
date as a timed series' UNTIL means through that day, not up to its midnight.

Hostile files end in one line, never in a hang or a flood: days outside :data:`FIRST_DAY` to
:data:`LAST_DAY` (which overflow), rules that start an event more than once a day or never move on
(INTERVAL=0 never ends), and a file expanding to more than :data:`MAX_OCCURRENCES` are refused
before or while expanding; each UID is expanded on its own, so memory holds one UID's occurrences
at a time; and :class:`_CpuLimit` ends what no count can (a rule no day matches).
"""

from __future__ import annotations

import re
import signal
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

from classpulse.lessons.timetable import (
    LONGEST_LESSON,
    Classroom,
    Classrooms,
    PlannedLesson,
    Timetable,
    TimetableError,
    UnknownRooms,
    check_text,
    check_unique,
    clocks_skip,
    existing_utc,
    floating_key_time,
    key_time,
    read_bytes,
)
from classpulse.years import FIRST_DAY, LAST_DAY

# an unbounded weekly series is expanded this far past the later of the file's last event start
# and today (a series begun years ago runs on through the current term)
DEFAULT_HORIZON = timedelta(days=365)
# occurrences one file may expand to: 50 classrooms' school year, 35 lessons a week, is 70,000
MAX_OCCURRENCES = 100_000
# CPU time the expansion may take: a rule that matches no day (BYMONTH=2;BYMONTHDAY=30) sends
# dateutil searching up to the year 9999, seconds each time, without producing anything to count
EXPANSION_CPU_SECONDS = 120.0
_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")  # finer ones repeat within a day
_TIMES_OF_DAY = ("BYHOUR", "BYMINUTE", "BYSECOND")  # several values: several starts a day
_BEGIN_EVENT = re.compile(r"^BEGIN:VEVENT\s*$", re.IGNORECASE)
# the file's lines as icalendar splits them (CRLF or LF only): str.splitlines() also splits on
# U+2028, NEL, FF and VT, which a title may hold, and the lines named after one were off
_NEWLINE = re.compile(r"\r?\n")
# what an event states once: given twice, which one counts is anyone's guess
_ONCE = ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID")
_END_OF_DAY = time(23, 59, 59)  # a bare-date UNTIL of a timed series: the last second of that day
_SHOWN = 120  # characters of a library's message quoted back


@dataclass(frozen=True)
class IcsImport(Timetable):
    """The lessons of one file, what was skipped, and how far recurrences were expanded.

    ``until`` ends the window the file speaks for: stored lessons of its scopes after that day
    are kept, as the file was not read that far. ``adopted_scopes`` holds (scope, scope now,
    classroom): the same export imported once with ``--classroom`` and once without stores a
    UID's lessons under ``ics@<classroom>:<UID>`` and ``ics:<UID>``, and each import finds the
    classroom's lessons under the other scope again, so they keep their ids instead of being
    doubled. ``series_spans`` holds, per scope, the days each of its series states every lesson
    of (:func:`_series_span`): a stored lesson there that the file no longer holds is gone, ended
    or not. ``stated_only`` holds the scopes of UIDs the file gives no series for (only changed
    occurrences, as Outlook sends one changed lesson), with the keys of the occurrences it
    states: only those are replaced.
    """

    skipped_all_day: int
    skipped_cancelled: int
    skipped_long: int
    skipped_instant: int  # occurrences that end as they start: a deadline, a reminder
    until: date
    adopted_scopes: Sequence[tuple[str, str, str]]
    series_spans: Mapping[str, Sequence[tuple[datetime, datetime]]]
    stated_only: Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class _Event:
    """A timed VEVENT of the file with the line it starts on, and its classroom: None when the
    classroom it names is not registered, and for a cancelled event, which holds no lesson and so
    needs no classroom, title or end: only the slot it cancels."""

    component: Any
    line: int
    room: Classroom | None
    cancelled: bool = False


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    if isinstance(value, list):  # a property given twice; the first one counts
        value = value[0]
    return str(value).strip() if value is not None else ""


def _one_line(problem: object) -> str:
    """A library's message as one line: icalendar quotes the offending text, line breaks and all."""
    text = " ".join(str(problem).split())
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def _name(component: Any) -> str:
    """The event as messages name it: its title and UID."""
    return f"{_text(component, 'SUMMARY')!r} (UID {_text(component, 'UID')!r})"


def _property_line(lines: list[str], start: int, name: str, nth: int = 1) -> int:
    """The line of the ``nth`` ``name`` inside the event starting at line ``start`` (1-based)."""
    pattern = re.compile(rf"^{re.escape(name)}[;:]", re.IGNORECASE)
    for number in range(start, len(lines) + 1):
        text = lines[number - 1]
        if pattern.match(text):
            nth -= 1
            if nth == 0:
                return number
        if number > start and text.upper().startswith("END:VEVENT"):
            break
    return start


def _properties(component: Any, name: str) -> list[Any]:
    """Every ``name`` property of the event: RRULE, RDATE and EXDATE may be given several times."""
    found = component.get(name)
    return found if isinstance(found, list) else [] if found is None else [found]


def _times(component: Any, name: str) -> list[tuple[str | None, date]]:
    """The days and times a property states, each with the TZID it was given: an RDATE or EXDATE
    line lists several, and a PERIOD counts by its start and, when stated, its end."""
    times = []
    for prop in _properties(component, name):
        tzid = prop.params.get("TZID")
        for value in getattr(prop, "dts", [prop]):
            stated = value.dt
            times += [(tzid, part) for part in (stated if isinstance(stated, tuple) else (stated,))
                      if isinstance(part, date)]  # a PERIOD's duration is no time
    return times


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _room_day(value: date, room: Classroom | None) -> date:
    """The day ``value`` falls on, on the classroom's clock: a date's or a floating time's own,
    a time with a zone where the classroom is (on its own zone without a known classroom)."""
    if not isinstance(value, datetime) or _floating(value) or room is None:
        return _day(value)
    return value.astimezone(room.tz).date()


def _parse(path: Path) -> tuple[Any, list[str]]:
    raw = read_bytes(path)
    try:  # the library would read other bytes as U+FFFD, and a title would be stored garbled
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TimetableError(path, raw.count(b"\n", 0, exc.start) + 1, None,
                             f"is not UTF-8 text ({exc.reason} at byte {exc.start}), as "
                             "iCalendar files are; export or save it as UTF-8") from None
    try:
        calendar = icalendar.Calendar.from_ical(raw)
    except ValueError as exc:
        raise TimetableError(path, None, None,
                             f"is not an iCalendar file ({_one_line(exc)})") from None
    if calendar.name != "VCALENDAR":
        raise TimetableError(path, 1, None, f"holds a {calendar.name}, not a VCALENDAR")
    return calendar, _NEWLINE.split(raw.decode("utf-8"))


def _x_wr_zone(path: Path, lines: list[str], calendar: Any) -> ZoneInfo | None:
    """The zone the file's X-WR-TIMEZONE names, if it has one; an unknown name is refused."""
    field = "X-WR-TIMEZONE"
    name = _text(calendar, field)
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        line = next((n for n, text in enumerate(lines, start=1)
                     if text.upper().startswith(f"{field}:")), None)
        raise TimetableError(path, line, field, f"{name!r} is not an IANA time zone name; set it "
                             "to one such as Europe/Berlin, or remove it") from None


def _cancelled(component: Any) -> bool:
    return _text(component, "STATUS").upper() == "CANCELLED"


def _is_timed(component: Any) -> bool:
    start = component.get("DTSTART")
    return start is not None and isinstance(start.dt, datetime)


def _vevents(calendar: Any, lines: list[str]) -> list[tuple[Any, int]]:
    """Every VEVENT of the file with the line it begins on."""
    starts = [n for n, text in enumerate(lines, start=1) if _BEGIN_EVENT.match(text)]
    return list(zip(calendar.walk("VEVENT"), starts, strict=False))


def _events(path: Path, vevents: list[tuple[Any, int]], lines: list[str], rooms: Classrooms,
            classroom: Classroom | None, x_wr: ZoneInfo | None) -> list[_Event]:
    """Every timed VEVENT, checked: the fields a lesson needs are there and readable. One in a
    classroom nobody registered is checked no further: it is refused or skipped as a whole."""
    events = []
    for component, line in vevents:
        for name, message in getattr(component, "errors", []):
            # a line icalendar could not split into name and value comes without a name
            where = _property_line(lines, line, name) if name else line
            raise TimetableError(path, where, name or None, _one_line(message))
        _check_once(path, lines, line, component)
        if component.get("DTSTART") is None:
            raise TimetableError(path, line, "DTSTART", "the event has no start")
        if not _is_timed(component):
            continue  # all-day: not a lesson, counted by the caller
        if not _text(component, "UID"):
            raise TimetableError(path, line, "UID", "the event has no UID, so a re-import could "
                                 "not find its lessons again")
        if _cancelled(component):  # exporters leave a cancelled override's LOCATION, SUMMARY empty
            _check_zones(path, lines, line, component, None, x_wr)
            events.append(_Event(component, line, None, cancelled=True))
            continue
        room = classroom
        if room is None:
            location = _text(component, "LOCATION")
            if not location:
                raise TimetableError(path, line, "LOCATION", "the event names no classroom; "
                                     "give one with --classroom ID")
            room = rooms.find(location)
            if room is None:
                if rooms.ambiguous(location):  # registered: no skip can make this right
                    raise TimetableError(path, _property_line(lines, line, "LOCATION"),
                                         "LOCATION", rooms.unknown(location))
                events.append(_Event(component, line, None))
                continue
        if not _text(component, "SUMMARY"):
            raise TimetableError(path, line, "SUMMARY", "the event has no title")
        _check_zones(path, lines, line, component, room, x_wr)
        events.append(_Event(component, line, room))
    return events


def _check_once(path: Path, lines: list[str], line: int, component: Any) -> None:
    """Refuse what no event can be read as: a start, end, length or changed occurrence given
    twice (which one counts is a guess, and the libraries fail on the pair), a RECURRENCE-ID
    that is a PERIOD (it names no single occurrence), and a UID with control characters (a NUL
    fails PostgreSQL, whose message blames permissions)."""
    for field in _ONCE:
        found = component.get(field)
        if isinstance(found, list):
            raise TimetableError(path, _property_line(lines, line, field, 2), field,
                                 f"{_name(component)} gives {field} {len(found)} times; an event "
                                 f"has one {field}: keep the right one")
    recurrence = component.get("RECURRENCE-ID")
    if recurrence is not None and isinstance(recurrence.dt, tuple):
        raise TimetableError(path, _property_line(lines, line, "RECURRENCE-ID"), "RECURRENCE-ID",
                             f"{recurrence.to_ical().decode()} is a PERIOD, which names no "
                             "single occurrence; give the start of the occurrence it changes")
    uid = _text(component, "UID")
    if uid:
        check_text(path, _property_line(lines, line, "UID"), "UID", uid,
                   "a UID is one line of text: fix it, or export the file again")


def _check_zones(path: Path, lines: list[str], line: int, component: Any, room: Classroom | None,
                 x_wr: ZoneInfo | None) -> None:
    """Refuse a TZID no zone answers to, which icalendar leaves floating and would put on the
    classroom's clock without a word, and floating times X-WR-TIMEZONE says are on another (of an
    event with a classroom: a cancelled one holds no lesson whose time could be misread)."""
    for field in ("DTSTART", "DTEND", "RECURRENCE-ID", "RDATE", "EXDATE"):
        for tzid, value in _times(component, field):
            if tzid is not None and isinstance(value, datetime) and value.tzinfo is None:
                raise TimetableError(path, _property_line(lines, line, field), field,
                                     f"TZID {tzid!r} is neither an IANA time zone nor defined "
                                     "by a VTIMEZONE in the file; use a zone name such as "
                                     "Europe/Berlin")
    if (room is not None and x_wr is not None and x_wr.key != room.tz.key
            and _floating(component["DTSTART"].dt)):
        raise TimetableError(path, _property_line(lines, line, "DTSTART"), "DTSTART",
                             f"a time without a zone is read on the clock of classroom "
                             f"{room.id!r} ({room.tz.key}), but the file's X-WR-TIMEZONE says "
                             f"{x_wr.key}; "
                             "give the events a TZID, or set classrooms.timezone to the zone "
                             "the file means")


def _check_bounds(path: Path, lines: list[str], component: Any, line: int) -> None:
    """Refuse what would overflow, hang or flood the expansion: days outside FIRST_DAY..LAST_DAY,
    an end DURATION puts there, and a rule that repeats within a day or never moves on.

    Every event the expansion reads is checked, in an unknown classroom and all-day ones too.
    """
    for field in ("DTSTART", "DTEND", "RECURRENCE-ID", "RDATE"):
        for _, value in _times(component, field):
            if not FIRST_DAY <= _day(value) <= LAST_DAY:
                raise TimetableError(path, _property_line(lines, line, field), field,
                                     f"{_day(value).isoformat()} is outside the years "
                                     f"{FIRST_DAY.year}-{LAST_DAY.year} a timetable may name; "
                                     "fix the date")
    duration = component.get("DURATION")
    if duration is not None:
        try:
            inside = _day(component["DTSTART"].dt + duration.dt) <= LAST_DAY
        except OverflowError:
            inside = False
        if not inside:
            raise TimetableError(path, _property_line(lines, line, "DURATION"), "DURATION",
                                 f"{duration.to_ical().decode()} ends the event after "
                                 f"{LAST_DAY.year}; give its real length")
    _check_rule(path, lines, component, line)


def _check_rule(path: Path, lines: list[str], component: Any, line: int) -> None:
    """One RRULE, at most daily, moving on: at most one start a day per event, whatever the
    rule's other parts say, so one UID's expansion stays small."""
    rules = _properties(component, "RRULE")
    if not rules:
        return
    where = _property_line(lines, line, "RRULE")
    if len(rules) > 1:
        raise TimetableError(path, where, "RRULE", f"{_name(component)} has {len(rules)} RRULEs; "
                             "give each series its own event")
    rule = rules[0]
    freq = str(rule.get("FREQ", [""])[0]).upper()
    if not freq:
        raise TimetableError(path, where, "RRULE", f"the rule of {_name(component)} has no FREQ")
    if freq not in _FREQUENCIES:
        raise TimetableError(path, where, "RRULE", f"FREQ={freq} repeats {_name(component)} "
                             "more often than daily, as no lesson does; export one event per "
                             "lesson")
    interval = rule.get("INTERVAL", [1])[0]
    if interval < 1:
        raise TimetableError(path, where, "RRULE", f"INTERVAL={interval} never moves the series "
                             f"{_name(component)} on; use 1 or more")
    for part in _TIMES_OF_DAY:
        values = rule.get(part, [])
        if len(values) > 1:
            raise TimetableError(path, where, "RRULE", f"{part}={','.join(map(str, values))} "
                                 f"starts {_name(component)} several times a day; export one "
                                 "event per lesson time")


def _check_length(path: Path, lines: list[str], line: int, component: Any,
                  room: Classroom) -> None:
    """Refuse an event that ends before it starts (the expansion would quietly swap the two).

    One that ends as it starts, or states no end (RFC 5545: it ends at its start), is a
    deadline or a reminder, no lesson: its occurrences are skipped and counted. A changed
    occurrence without an end was given its series' length first (:func:`_lengthen_changes`).
    """
    stated = _stated_end(path, lines, line, component, room)
    if stated is not None and stated[2] < stated[1]:
        field, start, _ = stated
        raise TimetableError(path, _property_line(lines, line, field), field,
                             f"the event starting {start:%Y-%m-%d %H:%M} UTC does not end after "
                             "it starts")


def _stated_end(path: Path, lines: list[str], line: int, component: Any, room: Classroom
                ) -> tuple[str, datetime, datetime] | None:
    """The field a timed event's end comes from, with its start and end as UTC instants (a
    floating time on ``room``'s clock); None when it states no end."""
    start = _instant(path, lines, line, "DTSTART", component.get("DTSTART").dt, room,
                     _tzid(component, "DTSTART"))
    if component.get("DTEND") is not None:
        field, end = "DTEND", component.get("DTEND").dt
        if not isinstance(end, datetime):
            raise TimetableError(path, _property_line(lines, line, field), field,
                                 "a date without a time ends a timed event")
        return field, start, _instant(path, lines, line, field, end, room, _tzid(component, field))
    if component.get("DURATION") is not None:
        return "DURATION", start, start + component.get("DURATION").dt
    return None


def _lengthen_changes(path: Path, lines: list[str], vevents: list[tuple[Any, int]],
                      events: list[_Event]) -> None:
    """Give each changed occurrence (RECURRENCE-ID) that states no end its series' length, as
    calendar programs do: exporters write a moved lesson's new DTSTART alone. Read as ending at
    its start, it was skipped as a reminder, and the stored lesson it moves deleted with it.

    Refused where the file does not hold its series (the length is nowhere; Outlook sends one
    changed lesson alone) or the series is cancelled without an end (exporters leave it out, no
    deadline is meant); and a change that ends as it starts, unless its series does too (a
    deadline moved): skipped, it would delete the lesson it changes. A change of an all-day
    series (a day is no lesson's length) is skipped and counted, as its series' days are. A
    change cancelled, or in a classroom nobody registered (skipped), holds no lesson and needs
    no end. Only the parsed copy in memory changes.
    """
    series = {_text(c, "UID"): (c, line) for c, line in vevents
              if c.get("RECURRENCE-ID") is None and _text(c, "UID")}
    room_of = {id(event.component): event.room for event in events}
    for event in events:
        change = event.component
        if change.get("RECURRENCE-ID") is None or event.room is None or event.cancelled:
            continue
        own = _stated_end(path, lines, event.line, change, event.room)
        if own is not None and own[2] != own[1]:
            continue  # its own length (one ending before it starts: _check_length refuses)
        master, line = series.get(_text(change, "UID"), (None, event.line))
        length = None
        if master is not None and _is_timed(master):
            room = room_of.get(id(master)) or event.room
            _check_length(path, lines, line, master, room)  # no length taken from a backward end
            stated = _stated_end(path, lines, line, master, room)
            if stated is not None:
                length = stated[2] - stated[1]
            elif not _cancelled(master):  # a cancelled one leaves its end out, not a deadline
                length = timedelta(0)
        if own is None and length is not None:
            change.add("DURATION", length)
            continue
        if own is not None and length == timedelta(0):
            continue  # a deadline's change: skipped and counted as its series' occurrences
        if master is not None and not _is_timed(master):
            # of an all-day series (a holiday): none of its days was a lesson, so skipping the
            # change, counted, removes none; refused, it blocked every lesson of the file
            continue
        occurrence = (f"{_name(change)} changes the occurrence "
                      f"{change['RECURRENCE-ID'].to_ical().decode()} (RECURRENCE-ID)")
        if own is not None:
            field = own[0]
            raise TimetableError(
                path, _property_line(lines, event.line, field), field,
                f"{occurrence} to end as it starts ({change[field].to_ical().decode()}), so it "
                "would be no lesson and the stored one it changes would be removed; give it its "
                "end, or cancel it with STATUS:CANCELLED")
        if master is None:
            source = "the file holds no series of its UID to take the length from"
        else:
            source = f"its series (line {line}) is cancelled and states no end either"
        raise TimetableError(
            path, event.line, "DTEND",
            f"{occurrence} to start {change['DTSTART'].to_ical().decode()} but states neither "
            f"DTEND nor DURATION, and {source}; give it a DTEND, or export the whole series")


def _floating(value: datetime) -> bool:
    """A time without a zone (no TZID, no Z): the classroom's wall clock says when it is."""
    return value.tzinfo is None or value.utcoffset() is None


def _utc(value: datetime, room: Classroom) -> datetime:
    """An event time as a UTC instant; a floating time is on the classroom's wall clock."""
    if _floating(value):
        value = value.replace(tzinfo=room.tz)
    return value.astimezone(timezone.utc)


def _tzid(component: Any, field: str) -> str | None:
    """The TZID ``field`` is given with, as the file names its zone."""
    prop = component.get(field)
    return None if prop is None else prop.params.get("TZID")


def _instant(path: Path, lines: list[str], line: int, field: str, value: datetime,
             room: Classroom, tzid: str | None = None) -> datetime:
    """A lesson's start or end as a UTC instant, refused when its clock skips that time (the
    arithmetic would move it by the clock change, or make the lesson end before it starts), in
    a message naming the zone as the file does (``tzid``; a VTIMEZONE's zone has no other)."""
    local = value.replace(tzinfo=room.tz) if _floating(value) else value
    instant = existing_utc(local)
    if instant is None:
        raise TimetableError(path, _property_line(lines, line, field), field,
                             clocks_skip(local, None if _floating(value) else tzid))
    return instant


def _in_utc(value: datetime) -> bool:
    """A time in UTC (``Z``, or a zone such as ``Etc/UTC`` or ``GMT`` that is UTC all year),
    which says nothing of the classroom's day."""
    return value.tzinfo is not None and all(
        value.tzinfo.utcoffset(datetime(value.year, month, 1)) == timedelta(0)
        for month in (1, 7))


def _until_as_meant(component: Any, room: Classroom | None) -> None:
    """Make a timed series' UNTIL comparable with its DTSTART as exporters mean it (RFC 5545
    wants UNTIL of DTSTART's type, and the expansion compares them as written):

    - a bare date is through that day, on the start's zone, or on the classroom's clock for a
      start in UTC (read as that day's midnight, it dropped the day's lesson; read on UTC, it
      kept the next morning's lesson east of Greenwich, such as Tokyo's Monday 08:00, Sunday
      23:00 UTC);
    - a UTC time for a floating start is that instant on the classroom's clock (exporters write
      the last start converted to UTC; compared with the wall-clock start as written, the last
      lesson was dropped east of Greenwich).

    Without a known classroom only the bare date is changed, on the start's zone. Only the
    parsed copy in memory changes.
    """
    if not _is_timed(component):
        return
    start = component["DTSTART"].dt
    for rule in _properties(component, "RRULE"):
        until = rule.get("UNTIL", [None])[0]
        if isinstance(until, datetime):
            if _floating(start) and not _floating(until) and room is not None:
                rule["UNTIL"] = [until.astimezone(room.tz).replace(tzinfo=None)]
        elif isinstance(until, date):
            if _in_utc(start) and room is not None:
                rule["UNTIL"] = [datetime.combine(until, _END_OF_DAY, room.tz).astimezone(
                    start.tzinfo)]
            else:
                rule["UNTIL"] = [datetime.combine(until, _END_OF_DAY, start.tzinfo)]


def _last_day(path: Path, events: list[_Event], until: date | None, today: date) -> date:
    """The last day expanded: ``until``, or a year after the later of the last event start and
    ``today``; at most LAST_DAY.

    From the last start alone, a weekly series begun over a year ago without an end was expanded
    up to a day already past, and the current term had no lessons. An ``until`` before the
    file's first lesson is refused: it would import nothing.
    """
    held = [e for e in events if not e.cancelled] or events  # a cancelled one holds no lesson
    starts = [_room_day(e.component["DTSTART"].dt, e.room) for e in events]
    first = min([_room_day(e.component["DTSTART"].dt, e.room) for e in held]
                + [_room_day(value, e.room) for e in held
                   for _, value in _times(e.component, "RDATE")])
    if until is not None and until < first:
        raise TimetableError(path, None, "--until", f"{until} is before the file's first lesson "
                             f"({first}): no lesson would be imported; pass a later day")
    return min(until if until is not None else max(*starts, today) + DEFAULT_HORIZON, LAST_DAY)


def _category(component: Any) -> str | None:
    categories = component.get("CATEGORIES")
    if categories is None:
        return None
    if isinstance(categories, list):
        categories = categories[0]
    names = [str(c).strip() for c in getattr(categories, "cats", [])]
    return next((n for n in names if n), None)


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


def _units(path: Path, lines: list[str], vevents: list[tuple[Any, int]], events: list[_Event],
           reused: dict[str, list[tuple[Any, int]]]) -> list[tuple[list[Any], int]]:
    """What is expanded on its own, with the line its messages point to: every event of a UID
    with a timed one together (a series and the occurrences it moves), or, under a reused UID,
    each event alone. Each event in them is checked by :func:`_check_bounds` first."""
    first_line: dict[str, int] = {}
    room_of: dict[int, Classroom | None] = {}
    for event in events:
        first_line.setdefault(_text(event.component, "UID"), event.line)
        room_of[id(event.component)] = event.room
    together: dict[str, list[Any]] = defaultdict(list)
    for component, line in vevents:
        uid = _text(component, "UID")
        if uid in first_line:
            _check_bounds(path, lines, component, line)
            _until_as_meant(component, room_of.get(id(component)))
            if uid not in reused:
                together[uid].append(component)
    return [(components, first_line[uid]) for uid, components in together.items()] + [
        ([component], line) for uid, found in reused.items() if uid in first_line
        for component, line in found]


def _alone(calendar: Any, others: list[Any], components: list[Any]) -> Any:
    """A calendar with the file's properties and time zones (``others``) and these events only.

    X-WR-TIMEZONE is left out, as the expansion would move floating times onto its clock:
    :func:`_check_zones` made sure that, where it matters, it is the classroom's.
    """
    alone = icalendar.Calendar()
    alone.update(calendar)
    alone.pop("X-WR-TIMEZONE", None)
    for sub in [*others, *components]:
        alone.add_component(sub)
    return alone


def _expand(path: Path, alone: Any, last: date, line: int) -> list[Any]:
    """The occurrences of one unit from FIRST_DAY through the day after ``last``, which
    :func:`_through` cuts on each classroom's clock (a day in UTC ends at another time)."""
    try:
        return list(recurring_ical_events.of(alone).between(FIRST_DAY,
                                                            last + timedelta(days=2)))
    except (ValueError, TypeError, OverflowError) as exc:  # what the checks could not foresee
        event = alone.walk("VEVENT")[0]
        raise TimetableError(path, line, None, f"cannot expand the recurrences of {_name(event)} "
                             f"({_one_line(exc)}); check its RRULE, RDATE and EXDATE") from None


_Handler = Callable[[int, FrameType | None], Any] | int | None  # what signal.signal returns


class _CpuLimit:
    """Ends the expansion with one :class:`TimetableError` once it has used ``seconds`` of CPU.

    dateutil looks for a rule's next day in plain Python that produces nothing to count while it
    searches, so only a signal interrupts it: SIGVTALRM, on CPU time, leaves SIGALRM to others.
    It fires again every second in case library code swallows the error, and the error replaces
    any other it was wrapped in on the way out. Signals reach the main thread only, where the CLI
    reads files.
    """

    def __init__(self, path: Path, seconds: float) -> None:
        self._seconds = seconds
        self._error = TimetableError(
            path, None, None, f"expanding its recurrences took more than {seconds:g} s of CPU "
            "time; a rule that matches no day (such as BYMONTH=2;BYMONTHDAY=30) searches up to "
            "the year 9999: fix such RRULEs, or split the file")
        self._expired = False
        self._previous: _Handler = None

    def __enter__(self) -> None:
        self._previous = signal.signal(signal.SIGVTALRM, self._expire)
        signal.setitimer(signal.ITIMER_VIRTUAL, self._seconds, 1.0)

    def _expire(self, signum: int, frame: FrameType | None) -> None:
        self._expired = True
        raise self._error

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, signal.SIG_DFL if self._previous is None
                      else self._previous)
        if self._expired and error is not self._error:
            raise self._error from None


def _day_bounds(value: datetime, room: Classroom) -> tuple[datetime, datetime]:
    """The classroom's day ``value`` falls on (a floating time's own, one with a zone's there),
    as the UTC instants of its first and next midnight."""
    zone = room.tz
    day = _room_day(value, room)
    first, following = (datetime.combine(d, time(0), tzinfo=zone).astimezone(timezone.utc)
                        for d in (day, day + timedelta(days=1)))
    return first, following


def _through(occurrences: list[Any], last: date, rooms: Classrooms,
             classroom: Classroom | None) -> list[Any]:
    """The occurrences that start on ``last`` or before, on their classroom's clock (a floating
    time on its own, one in a room nobody registered on its own zone)."""
    return [occurrence for occurrence in occurrences
            if _room_day(occurrence["DTSTART"].dt,
                         classroom or rooms.find(_text(occurrence, "LOCATION"))) <= last]


def _series_span(components: list[Any], occurrences: list[Any], rooms: Classrooms,
                 classroom: Classroom | None) -> tuple[datetime, datetime] | None:
    """The days a unit's series states every lesson of, as UTC instants ``[from, to)``: from the
    day of its start (DTSTART of an event without RECURRENCE-ID) through that of its last
    occurrence expanded, on its classroom's clock; None without a timed series in a known room.

    An occurrence the series no longer yields there was moved or cancelled: a series whose time
    was changed for all its events must not leave its past lessons at the old time beside the
    new. Before and after it the file says nothing (a term's file, a rolling export, --until);
    a moved occurrence (RECURRENCE-ID) states its own slot only, and an RDATE an extra lesson.
    A series cancelled as a whole states no lesson, so no span: the lessons already held stay;
    an occurrence cancelled on its own (its last included) is within its series' days.
    """
    def room_of(component: Any) -> Classroom | None:
        return classroom or rooms.find(_text(component, "LOCATION"))

    series = [(c, room) for c in components
              if c.get("RECURRENCE-ID") is None and _is_timed(c) and not _cancelled(c)
              and (room := room_of(c)) is not None]
    if not series:
        return None
    starts = [_day_bounds(c["DTSTART"].dt, room)[0] for c, room in series]
    # a cancelled occurrence often names no classroom (exporters empty its LOCATION): it is read
    # on its series' classroom's clock
    ends = [_day_bounds(o["DTSTART"].dt, room_of(o) or series[0][1])[1] for o in occurrences
            if _is_timed(o)]
    return (min(starts), max(ends)) if ends else None


def _scope(uid: str, classroom: Classroom | None) -> str:
    """What one import replaces for a UID: ``ics:<UID>``, or with ``--classroom``
    ``ics@<classroom id, percent-encoded>:<UID>``, which no other classroom's UID can spell."""
    return f"ics:{uid}" if classroom is None else f"ics@{quote(classroom.id, safe='')}:{uid}"


def _as_time(value: date) -> datetime:
    """A date-valued RECURRENCE-ID (a timed change of an all-day series) as the start of that day,
    floating, so on the classroom's clock; a time as it is."""
    return value if isinstance(value, datetime) else datetime.combine(value, time())


def _range_key(prop: Any) -> tuple[str, bytes]:
    """A RECURRENCE-ID as the expansion copies it onto the occurrences it moves."""
    return str(prop.params.get("TZID") or ""), prop.to_ical()


@dataclass(frozen=True)
class _Move:
    """What a RECURRENCE-ID;RANGE=THISANDFUTURE change does to its series (:func:`_range_moves`):
    the later occurrences move by ``by``; its own occurrence starts at ``start``."""

    by: timedelta
    start: date


def _range_moves(components: list[Any]) -> dict[tuple[str, bytes], _Move]:
    """How far each RECURRENCE-ID;RANGE=THISANDFUTURE of a unit moves its occurrences.

    The expansion moves every later occurrence by the change's DTSTART minus its RECURRENCE-ID
    and gives it the change's RECURRENCE-ID, so the occurrences after it would share one key; the
    move taken back off such an occurrence's start gives its own slot in the series. Computed as
    ``recurring-ical-events`` computes it (a floating time takes the other's zone, a date is
    midnight), and added there to the series' own start, in the series' zone: so it is taken back
    in the zone the moved occurrence comes in, which is exact. The change's own occurrence keeps
    the change's DTSTART, whose zone may be another: its slot is its RECURRENCE-ID, never a move
    taken back (on another zone's clock, a move across its clock change lands an hour off).
    """
    moves = {}
    for component in components:
        prop = component.get("RECURRENCE-ID")
        start = component.get("DTSTART")
        if prop is None or start is None or prop.params.get("RANGE") != "THISANDFUTURE":
            continue
        begins, slot = _as_time(start.dt), _as_time(prop.dt)
        if _floating(begins) != _floating(slot):
            zone = slot.tzinfo if _floating(begins) else begins.tzinfo
            begins, slot = (v.replace(tzinfo=zone) if _floating(v) else v for v in (begins, slot))
        moves[_range_key(prop)] = _Move(begins - slot, start.dt)
    return moves


def _slot(occurrence: Any, moves: Mapping[tuple[str, bytes], _Move]) -> date | None:
    """The occurrence's own slot in its series (its RECURRENCE-ID, or where a THISANDFUTURE
    change moved it from: see :func:`_range_moves`); None for an event that is no series."""
    prop = occurrence.get("RECURRENCE-ID")
    if prop is None:
        return None
    move = moves.get(_range_key(prop)) if prop.params.get("RANGE") == "THISANDFUTURE" else None
    start = occurrence["DTSTART"].dt
    if move is None or _same_time(start, move.start):  # no move, or the change itself
        return prop.dt
    return start - move.by


def _same_time(one: date, other: date) -> bool:
    """The same time given the same way: both floating, or both aware and the same instant."""
    if not (isinstance(one, datetime) and isinstance(other, datetime)):
        return False
    return _floating(one) == _floating(other) and one == other


def _identity(when: datetime) -> str:
    """An occurrence's slot as its ``source_key`` ends: a floating time (no TZID, no Z) as the
    wall-clock time it is, without an offset, so that setting the classroom's time zone later
    moves the lesson in place instead of giving it a new identity; a time with a zone as its UTC
    instant."""
    return floating_key_time(when) if _floating(when) else key_time(when)


def _minute_floor(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def _minute_ceil(instant: datetime) -> datetime:
    floor = _minute_floor(instant)
    return floor if floor == instant else floor + timedelta(minutes=1)


def read_ics(path: Path, rooms: Classrooms, classroom: Classroom | None = None,
             until: date | None = None, skip_unknown_rooms: bool = False,
             today: date | None = None) -> IcsImport:
    """Every lesson the file's events hold, recurrences expanded up to ``until`` (included).

    ``until`` defaults to a year after the later of the last event start in the file and
    ``today`` (the caller's clock; UTC's day when not given), which bounds a series without an
    end; series with UNTIL or COUNT end where they say. Events in classrooms nobody registered
    are refused, all named at once, unless ``skip_unknown_rooms``: then their lessons are counted
    and left out. Call it on the main thread (see :class:`_CpuLimit`).
    """
    if today is None:
        today = datetime.now(timezone.utc).date()
    calendar, lines = _parse(path)
    x_wr = _x_wr_zone(path, lines, calendar)
    vevents = _vevents(calendar, lines)
    events = _events(path, vevents, lines, rooms, classroom, x_wr)
    uids = {uid for component, _ in vevents if (uid := _text(component, "UID"))}
    scopes = frozenset(_scope(uid, classroom) for uid in uids)
    adopted = _adopted_scopes(uids, events, classroom)
    unknown = UnknownRooms()
    if not skip_unknown_rooms:
        for event in events:
            if event.room is None and not event.cancelled:
                unknown.add(_text(event.component, "LOCATION"),
                            _property_line(lines, event.line, "LOCATION"))
        unknown.refuse(path, "LOCATION", rooms)
    reused = _reused_uids(path, vevents, lines)
    units = _units(path, lines, vevents, events, reused)
    _lengthen_changes(path, lines, vevents, events)
    for event in events:
        if event.room is not None and not event.cancelled:
            _check_length(path, lines, event.line, event.component, event.room)
    all_day = sum(1 for component, _ in vevents if not _is_timed(component))
    if not events:
        return IcsImport([], scopes, frozenset(), unknown, all_day, 0, 0, 0, until or LAST_DAY,
                         adopted, {}, {})
    last = _last_day(path, events, until, today)
    others = [sub for sub in calendar.subcomponents if sub.name != "VEVENT"]
    lessons: list[PlannedLesson] = []
    wall_clock: set[str] = set()
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    stated_only: dict[str, set[str]] = {}
    expanded = cancelled = too_long = instant = 0
    with _CpuLimit(path, EXPANSION_CPU_SECONDS):
        for components, line in units:
            uid = _text(components[0], "UID")
            scope = _scope(uid, classroom)
            if not any(c.get("RECURRENCE-ID") is None for c in components):
                stated_only[scope] = set()  # no series: the file states these occurrences only
            moves = _range_moves(components)
            occurrences = _through(_expand(path, _alone(calendar, others, components), last,
                                           line), last, rooms, classroom)
            span = _series_span(components, occurrences, rooms, classroom)
            if span is not None:  # a reused UID's series each state their own days
                spans[scope].append(span)
            expanded += len(occurrences)
            if expanded > MAX_OCCURRENCES:
                raise TimetableError(path, None, None, f"its events expand to more than "
                                     f"{MAX_OCCURRENCES} occurrences up to {last}; pass an "
                                     "earlier --until (the stored lessons after it are kept), "
                                     "or split the file")
            for occurrence in occurrences:
                if not _is_timed(occurrence):
                    continue
                key = f"{scope}/{_identity(_slot_time(occurrence, moves))}"
                if scope in stated_only:
                    stated_only[scope].add(key)
                if _cancelled(occurrence):
                    cancelled += 1
                    continue
                room = classroom or rooms.find(_text(occurrence, "LOCATION"))
                if room is None:  # every event was checked: only --skip-unknown-rooms gets here
                    unknown.add(_text(occurrence, "LOCATION"), line)
                    continue
                lesson = _lesson(path, lines, line, occurrence, room, key, scope,
                                 _end_field(components, occurrence))
                if lesson is _Skip.LONG:
                    too_long += 1
                    continue
                if lesson is _Skip.INSTANT:
                    instant += 1
                    continue
                assert isinstance(lesson, PlannedLesson)
                if _floating(occurrence["DTSTART"].dt) or _floating(occurrence["DTEND"].dt):
                    wall_clock.add(room.id)
                lessons.append(lesson)
    lessons = _told_apart(lessons, {_scope(uid, classroom) for uid in reused})
    check_unique(path, lessons, "DTSTART")
    return IcsImport(lessons, scopes, frozenset(wall_clock), unknown, all_day, cancelled, too_long,
                     instant, last, adopted, dict(spans),
                     {scope: frozenset(keys) for scope, keys in stated_only.items()})


class _Skip(Enum):
    """An occurrence that is no lesson: longer than any (a term, a trip), or without length."""

    LONG = "long"
    INSTANT = "instant"


def _adopted_scopes(uids: set[str], events: list[_Event], classroom: Classroom | None
                    ) -> list[tuple[str, str, str]]:
    """(the scope another import gave a UID, its scope now, the classroom whose lessons move).

    With ``--classroom``, ``ics:<UID>`` (an import reading LOCATION, or an earlier version's);
    without, ``ics@<room>:<UID>`` for each classroom the UID's events name, an import of the
    same room's export with ``--classroom``. Only that classroom's lessons are taken: another
    room's under the same UID are not this file's.
    """
    if classroom is not None:
        return [(_scope(uid, None), _scope(uid, classroom), classroom.id) for uid in sorted(uids)]
    named = {(_text(e.component, "UID"), e.room) for e in events if e.room is not None}
    return sorted((_scope(uid, room), _scope(uid, None), room.id) for uid, room in named)


def _slot_time(occurrence: Any, moves: Mapping[tuple[str, bytes], _Move]) -> datetime:
    slot = _slot(occurrence, moves)
    return occurrence["DTSTART"].dt if slot is None else _as_time(slot)


def _source(components: list[Any], occurrence: Any) -> Any:
    """The event of the unit an occurrence comes from: the change whose RECURRENCE-ID it bears
    (the expansion copies it), or else the series'."""
    prop = occurrence.get("RECURRENCE-ID")
    if prop is not None:
        for component in components:
            own = component.get("RECURRENCE-ID")
            if own is not None and _range_key(own) == _range_key(prop):
                return component
    return next((c for c in components if c.get("RECURRENCE-ID") is None), components[0])


def _end_field(components: list[Any], occurrence: Any) -> str:
    """The field the occurrence's end comes from, for messages: the expansion turns a DURATION
    into a DTEND, and a message naming DTEND sent the user looking for a line that is not
    there."""
    source = _source(components, occurrence)
    return "DTEND" if source.get("DTEND") is not None or source.get("DURATION") is None \
        else "DURATION"


def _told_apart(lessons: list[PlannedLesson], reused: set[str]) -> list[PlannedLesson]:
    """The lessons, those of a reused UID (:func:`_reused_uids`) that share a slot told apart
    by their classroom, or classroom and title where the classroom does not (PE boys in 7A and
    PE girls in 7B under one course's UID), as the CSV import tells parallel groups apart. A
    lesson alone at its slot keeps its key; lessons alike in all three stay alike, and are
    refused as one lesson stated twice."""
    slots: dict[str, list[int]] = defaultdict(list)
    for at, lesson in enumerate(lessons):
        if lesson.source_scope in reused:
            slots[lesson.source_key].append(at)
    keyed: dict[int, str] = {}
    for key, shared in slots.items():
        if len(shared) == 1:
            continue
        for suffixes in ([quote(lessons[at].classroom_id, safe="") for at in shared],
                         [f"{quote(lessons[at].classroom_id, safe='')}/"
                          f"{quote(lessons[at].title, safe='')}" for at in shared]):
            if len(set(suffixes)) == len(suffixes):
                keyed.update({at: f"{key}/{suffix}" for at, suffix in zip(shared, suffixes,
                                                                          strict=True)})
                break
    return [replace(lesson, source_key=keyed[at]) if at in keyed else lesson
            for at, lesson in enumerate(lessons)]


def _lesson(path: Path, lines: list[str], line: int, occurrence: Any, room: Classroom,
            key: str, scope: str, end_field: str) -> PlannedLesson | _Skip:
    """The lesson an occurrence is, in whole minutes, or why it is none."""
    starts_at = _instant(path, lines, line, "DTSTART", occurrence["DTSTART"].dt, room,
                         _tzid(occurrence, "DTSTART"))
    ends_at = _instant(path, lines, line, end_field, occurrence["DTEND"].dt, room,
                       _tzid(occurrence, "DTEND"))
    if ends_at < starts_at:
        raise TimetableError(path, _property_line(lines, line, end_field), end_field,
                             f"the occurrence starting {starts_at:%Y-%m-%d %H:%M} UTC does not "
                             "end after it starts")
    if ends_at == starts_at:
        return _Skip.INSTANT
    if ends_at - starts_at > LONGEST_LESSON:
        return _Skip.LONG
    subject = _category(occurrence)
    return PlannedLesson(
        classroom_id=room.id, starts_at=_minute_floor(starts_at), ends_at=_minute_ceil(ends_at),
        title=check_text(path, line, "SUMMARY", _text(occurrence, "SUMMARY")),
        subject=None if subject is None else check_text(path, line, "CATEGORIES", subject),
        group_label=None, source_key=key, source_scope=scope, line=line,
    )
