"""CSV timetables: ``classroom,date,start,end,title`` (and optional ``subject``, ``group``).

``date`` is ``YYYY-MM-DD``; ``start`` and ``end`` are ``HH:MM`` on the classroom's wall clock
(``classrooms.timezone``). A lesson crossing midnight ends on the next day: ``end`` may be
``24:00``, and an end at or before the start is read on the next day (``22:00,01:00``). A row
making a lesson longer than :data:`LONGEST_LESSON` is refused, whichever day it ends on: swapped
times (``09:00,08:45``), a whole day (``00:00,24:00``) or a typo (``01:00,13:45``) are far likelier
than such a lesson. One import replaces what earlier CSV imports stored for each
classroom-day the file lists, by the day the lesson starts (a lesson moved from 09:00 to 09:15 is
then one lesson at 09:15, not two).

The file is read as spreadsheets save it: comma-, semicolon- (Excel in much of Europe) or
tab-separated, the header's names in any case and with spaces around them (each once), and rows
whose every field is empty (``;;;;``, as Excel saves rows it once held) skipped.

A lesson's identity is its classroom and start, and, only where several rows share both (PE for
7B-boys and 7B-girls in the hall at 09:00), what tells those rows apart: their group, or group and
title when the groups do not. The trade-off: a lesson alone at its start keeps its id when its
title or group is edited, and keys stored before groups counted stay valid; but adding or removing
a parallel lesson, or editing the group (or title) that tells parallel lessons apart, makes the
rows of that start new lessons (the old ones are removed, bookmarks of them lost). Rows alike in
classroom, start, group and title are refused as the same lesson.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from classpulse.lessons.timetable import (
    LONGEST_LESSON,
    Classrooms,
    PlannedLesson,
    Timetable,
    TimetableError,
    UnknownRooms,
    check_text,
    check_unique,
    clocks_skip,
    existing_utc,
    key_time,
    read_bytes,
)
from classpulse.years import FIRST_DAY, LAST_DAY

REQUIRED = ("classroom", "date", "start", "end", "title")
OPTIONAL = ("subject", "group")
DELIMITERS = ",;\t"  # what spreadsheets write: comma, semicolon (European Excel), tab
_SHOWN = 80  # characters of a wrong header quoted back
MIDNIGHT = "24:00"  # an end at the end of the row's day


def _date(path: Path, line: int, value: str) -> date:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise TimetableError(path, line, "date", f"{value!r} is not a date YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:  # a mistyped year: stored where no view shows it
        raise TimetableError(path, line, "date", f"{value} is outside the years "
                             f"{FIRST_DAY.year}-{LAST_DAY.year} a timetable may name; fix the "
                             "date")
    return day


def _time(path: Path, line: int, field: str, value: str) -> time:
    try:
        return datetime.strptime(value, "%H:%M").time()
    except ValueError:
        raise TimetableError(path, line, field, f"{value!r} is not a time HH:MM") from None


def _instant(path: Path, line: int, field: str, day: date, clock: time, tz: ZoneInfo) -> datetime:
    local = datetime.combine(day, clock, tzinfo=tz)
    instant = existing_utc(local)
    if instant is None:
        raise TimetableError(path, line, field, clocks_skip(local))
    return instant


def _delimiter(header: str) -> str:
    """The header line's separator; the header alone decides, as its names hold none of them
    while a title may hold a comma in a semicolon-separated file."""
    try:
        return csv.Sniffer().sniff(header, delimiters=DELIMITERS).delimiter
    except csv.Error:  # a single column: nothing to tell, and the header check says what is wrong
        return ","


def _header(path: Path, fields: list[str], line: str, delimiter: str) -> None:
    if not fields:
        raise TimetableError(path, 1, "header", f"the file is empty; its first line must be "
                             f"{','.join(REQUIRED)}")
    twice = next((f for f in fields if fields.count(f) > 1), None)
    if twice is not None:  # the last such column would win, without a word
        raise TimetableError(path, 1, "header", f"column {twice!r} is given "
                             f"{fields.count(twice)} times; keep one")
    missing = [f for f in REQUIRED if f not in fields]
    unknown = [f for f in fields if f not in (*REQUIRED, *OPTIONAL)]
    if missing or unknown:
        wanted = f"{','.join(REQUIRED)} (optionally {', '.join(OPTIONAL)})"
        problem = f"missing {missing}" if missing else f"unknown columns {unknown}"
        shown = line if len(line) <= _SHOWN else f"{line[:_SHOWN]}..."
        raise TimetableError(path, 1, "header", f"{problem} in {shown!r} (read as "
                             f"{delimiter!r}-separated); the columns are {wanted}")


def _row(path: Path, line: int, row: dict[str | None, str | list[str] | None],
         rooms: Classrooms, unknown: UnknownRooms) -> PlannedLesson | None:
    """The row's lesson, or None when its classroom is unknown (noted in ``unknown``)."""
    if row.get(None):
        raise TimetableError(path, line, None, "more fields than the header has columns")
    values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)
              and not isinstance(v, list)}
    for field in REQUIRED:
        if not values.get(field):
            raise TimetableError(path, line, field, "is empty")
    room = rooms.find(values["classroom"])
    if room is None:
        if rooms.ambiguous(values["classroom"]):  # registered: no skip can make this right
            raise TimetableError(path, line, "classroom", rooms.unknown(values["classroom"]))
        unknown.add(values["classroom"], line)
        return None
    day = _date(path, line, values["date"])
    starts_at = _instant(path, line, "start", day, _time(path, line, "start", values["start"]),
                         room.tz)
    wrapped = False  # an end at or before the start, read on the next day
    if values["end"] == MIDNIGHT:
        ends_at = _instant(path, line, "end", day + timedelta(days=1), time(0), room.tz)
    else:
        clock = _time(path, line, "end", values["end"])
        ends_at = _instant(path, line, "end", day, clock, room.tz)
        if ends_at <= starts_at:  # past midnight, or start and end swapped
            wrapped = True
            ends_at = _instant(path, line, "end", day + timedelta(days=1), clock, room.tz)
    if ends_at - starts_at > LONGEST_LESSON:  # every row: 00:00,24:00 and 01:00,13:45 too
        hours, rest = divmod(int((ends_at - starts_at).total_seconds()) // 60, 60)
        said = (f"{values['end']} is not after the start {values['start']}, and on the next day "
                "it would end" if wrapped else f"{values['start']} to {values['end']} makes")
        raise TimetableError(
            path, line, "end", f"{said} a lesson of {hours} h {rest:02d} min, longer than the "
            f"{LONGEST_LESSON.total_seconds() / 3600:g} hours a lesson may last; fix the times"
            + (" (an end past midnight is on the next day)" if wrapped else ""))
    labels = {field: check_text(path, line, field, values.get(field) or "")
              for field in ("title", "subject", "group")}
    return PlannedLesson(
        classroom_id=room.id, starts_at=starts_at, ends_at=ends_at, title=labels["title"],
        subject=labels["subject"] or None, group_label=labels["group"] or None,
        source_key=f"csv:{room.id}/{key_time(starts_at)}",
        source_scope=f"csv:{room.id}/{day.isoformat()}", line=line,
    )


def _told_apart(lessons: list[PlannedLesson]) -> list[PlannedLesson]:
    """The lessons with keys that tell apart those sharing a classroom and start (see above)."""
    slots: dict[str, list[PlannedLesson]] = defaultdict(list)
    for lesson in lessons:
        slots[lesson.source_key].append(lesson)
    keyed = {}
    for slot in slots.values():
        if len(slot) == 1:
            continue
        groups = [lesson.group_label or "" for lesson in slot]
        by_group = len(set(groups)) == len(groups)
        for lesson, group in zip(slot, groups, strict=True):
            suffix = quote(group, safe="") if by_group else (
                f"{quote(group, safe='')}/{quote(lesson.title, safe='')}")
            keyed[lesson.line] = f"{lesson.source_key}/{suffix}"
    return [replace(lesson, source_key=keyed[lesson.line]) if lesson.line in keyed else lesson
            for lesson in lessons]


def _cells(row: dict[str | None, str | list[str] | None]) -> list[str]:
    """Every field of a row, the ones past the header's columns included, stripped."""
    cells: list[str] = []
    for value in row.values():
        cells += [v.strip() for v in (value if isinstance(value, list) else [value or ""])]
    return cells


def read_csv(path: Path, rooms: Classrooms, skip_unknown_rooms: bool = False) -> Timetable:
    """Every lesson of the file, checked; the first bad row raises :class:`TimetableError`, and
    so do rows in unknown classrooms (all named at once) unless ``skip_unknown_rooms``."""
    try:
        text = read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TimetableError(path, None, None, f"is not UTF-8 text ({exc.reason} at byte "
                             f"{exc.start}); save it as UTF-8 CSV") from None
    header = text.splitlines()[0] if text.strip() else ""
    delimiter = _delimiter(header)
    unknown = UnknownRooms()
    lessons = []
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter,
                                skipinitialspace=True)
        reader.fieldnames = [f.strip().lower() for f in reader.fieldnames or []]
        _header(path, reader.fieldnames, header, delimiter)
        for row in reader:
            if not any(_cells(row)):  # ';;;;', as Excel writes a row it once held
                continue
            lesson = _row(path, reader.line_num, row, rooms, unknown)
            if lesson is not None:
                lessons.append(lesson)
    except csv.Error as exc:
        raise TimetableError(path, None, None, f"is not a readable CSV file ({exc})") from None
    if not skip_unknown_rooms:
        unknown.refuse(path, "classroom", rooms)
    lessons = _told_apart(lessons)
    check_unique(path, lessons, "start")
    return Timetable(lessons, frozenset(lesson.source_scope for lesson in lessons),
                     frozenset(lesson.classroom_id for lesson in lessons), unknown)
