"""CSV timetables: ``classroom,date,start,end,title`` (and optional ``subject``, ``group``).

``date`` is ``YYYY-MM-DD``; ``start`` and ``end`` are ``HH:MM`` on the classroom's wall clock
(``classrooms.timezone``). A lesson's identity is its classroom and start, and one import replaces
what earlier CSV imports stored for each classroom-day the file lists (a lesson moved from 09:00 to
09:15 is then one lesson at 09:15, not two).
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time
from pathlib import Path

from classpulse.lessons.timetable import (
    Classrooms,
    PlannedLesson,
    TimetableError,
    check_text,
    check_unique,
    key_time,
    utc_from_local,
)

REQUIRED = ("classroom", "date", "start", "end", "title")
OPTIONAL = ("subject", "group")


def _date(path: Path, line: int, value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise TimetableError(path, line, "date", f"{value!r} is not a date YYYY-MM-DD") from None


def _time(path: Path, line: int, field: str, value: str) -> time:
    try:
        return datetime.strptime(value, "%H:%M").time()
    except ValueError:
        raise TimetableError(path, line, field, f"{value!r} is not a time HH:MM") from None


def _header(path: Path, fields: list[str] | None) -> None:
    if not fields:
        raise TimetableError(path, 1, "header", f"the file is empty; its first line must be "
                             f"{','.join(REQUIRED)}")
    missing = [f for f in REQUIRED if f not in fields]
    unknown = [f for f in fields if f not in (*REQUIRED, *OPTIONAL)]
    if missing or unknown:
        wanted = f"{','.join(REQUIRED)} (optionally {', '.join(OPTIONAL)})"
        problem = f"missing {missing}" if missing else f"unknown columns {unknown}"
        raise TimetableError(path, 1, "header", f"{problem}; the columns are {wanted}")


def _row(path: Path, line: int, row: dict[str | None, str | list[str] | None],
         rooms: Classrooms) -> PlannedLesson:
    if row.get(None):
        raise TimetableError(path, line, None, "more fields than the header has columns")
    values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)
              and not isinstance(v, list)}
    for field in REQUIRED:
        if not values.get(field):
            raise TimetableError(path, line, field, "is empty")
    room = rooms.find(values["classroom"])
    if room is None:
        raise TimetableError(path, line, "classroom", rooms.unknown(values["classroom"]))
    day = _date(path, line, values["date"])
    instants = []
    for field in ("start", "end"):
        clock = _time(path, line, field, values[field])
        instant = utc_from_local(day, clock, room.tz)
        if instant is None:
            raise TimetableError(path, line, field, f"{day} {values[field]} does not exist in "
                                 f"{room.tz.key} (the clocks go forward then)")
        instants.append(instant)
    starts_at, ends_at = instants
    if ends_at <= starts_at:
        raise TimetableError(path, line, "end", f"{values['end']} is not after the start "
                             f"{values['start']}")
    labels = {field: check_text(path, line, field, values.get(field) or "")
              for field in ("title", "subject", "group")}
    return PlannedLesson(
        classroom_id=room.id, starts_at=starts_at, ends_at=ends_at, title=labels["title"],
        subject=labels["subject"] or None, group_label=labels["group"] or None,
        source_key=f"csv:{room.id}/{key_time(starts_at)}",
        source_scope=f"csv:{room.id}/{day.isoformat()}", line=line,
    )


def read_csv(path: Path, rooms: Classrooms) -> list[PlannedLesson]:
    """Every lesson of the file, checked; the first bad row raises :class:`TimetableError`."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, skipinitialspace=True)
            _header(path, [f.strip() for f in reader.fieldnames or []])
            reader.fieldnames = [f.strip() for f in reader.fieldnames or []]
            lessons = []
            for row in reader:
                lessons.append(_row(path, reader.line_num, row, rooms))
    except UnicodeDecodeError as exc:
        raise TimetableError(path, None, None, f"is not UTF-8 text ({exc.reason} at byte "
                             f"{exc.start}); save it as UTF-8 CSV") from None
    except csv.Error as exc:
        raise TimetableError(path, None, None, f"is not a readable CSV file ({exc})") from None
    check_unique(path, lessons, "start")
    return lessons
