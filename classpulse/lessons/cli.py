"""``classpulse lessons import FILE``, ``lessons list`` and ``lessons remove``: the timetable.

Only argparse here; SQLAlchemy and the iCalendar libraries are imported by the handlers.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from classpulse.errors import UsageError
from classpulse.lessons.timetable import SKIP_UNKNOWN_ROOMS, classroom_zone
from classpulse.safe_text import safe_text
from classpulse.settings import Settings
from classpulse.years import FIRST_DAY, LAST_DAY

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from sqlalchemy import Engine

    from classpulse.lessons.store import ImportCounts, Overlap, StoredLesson
    from classpulse.lessons.timetable import Classroom, Classrooms, Timetable

FORMATS = {".csv": "csv", ".ics": "ics", ".ical": "ics", ".ifb": "ics"}
REMOVE = ("classpulse lessons remove --classroom ID --source csv|ics --from DAY --to DAY")
_LISTED = 10  # lessons a dry run of remove names


def _day(value: str) -> date:
    """A day given on the command line, in the years a timetable may name (a day in 9999 would
    overflow the day after it, which --until and --to compute)."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"{value} is outside {FIRST_DAY} to {LAST_DAY}, the "
                                         "days a timetable may name")
    return day


def register(sub: argparse._SubParsersAction) -> None:
    lessons = sub.add_parser(
        "lessons", help="the timetable: import lessons from CSV or iCalendar, list, remove them",
        description="Lessons let the dashboard and the SQL views speak of 'Tuesday's maths' "
        "instead of minutes. Import a school's timetable as CSV (classroom,date,start,end,title) "
        "or iCalendar (.ics); importing a changed file again updates the lessons it holds.",
    )
    actions = lessons.add_subparsers(dest="lessons_action", metavar="ACTION", required=True)
    importer = actions.add_parser(
        "import", help="read a CSV or .ics timetable into the lessons table (safe to repeat)",
        description="CSV: header classroom,date,start,end,title (optional subject, group); date "
        "YYYY-MM-DD, times HH:MM on the classroom's clock (classrooms.timezone), an end at or "
        "before the start (or 24:00) on the next day, a lesson of up to 12 hours. iCalendar: "
        "weekly and other recurrences with their exceptions; an event's LOCATION names its "
        "classroom unless --classroom is given. A bad row stops the import and nothing is "
        "imported; classrooms must already be registered (their cameras have reported), and "
        f"{SKIP_UNKNOWN_ROOMS} leaves out the lessons of those that are not.",
    )
    importer.add_argument("file", type=Path, help="the timetable, .csv or .ics")
    importer.add_argument("--classroom", default=None,
                          help="iCalendar only: put every event in this classroom (id or name) "
                          "instead of reading LOCATION")
    importer.add_argument("--until", type=_day, default=None,
                          help="iCalendar only: expand recurring events up to this day, the last "
                          "the file is read for: stored lessons after it are kept (default: a "
                          "year after the later of today and the last event start in the file)")
    importer.add_argument("--prune-past", action="store_true",
                          help="iCalendar only: also remove the stored lessons of the file's "
                          "events that have already ended and that the file no longer holds "
                          "(kept by default outside the days each series states: a rolling "
                          "export leaves out the weeks already held, a term's file the other "
                          "terms'); those after --until are kept either way")
    importer.add_argument(SKIP_UNKNOWN_ROOMS, action="store_true",
                          help="leave out the lessons of classrooms nobody registered (rooms "
                          "without a camera in a school-wide export), counted per room, instead "
                          "of refusing the file")
    importer.set_defaults(handler=run_import)
    lister = actions.add_parser("list", help="print the stored lessons, in the classroom's time")
    lister.add_argument("--classroom", default=None, help="only this classroom (id or name)")
    lister.add_argument("--from", dest="since", type=_day, default=None,
                        help="first day, YYYY-MM-DD, on the classroom's clock (the day printed)")
    lister.add_argument("--to", dest="to", type=_day, default=None,
                        help="last day, YYYY-MM-DD, on the classroom's clock, included")
    lister.set_defaults(handler=run_list)
    remover = actions.add_parser(
        "remove", help="remove a classroom's stored lessons (a dry run unless --yes)",
        description="Remove the stored lessons of one classroom that no file you import still "
        "holds, such as a timetable imported once as CSV and once as iCalendar (an import "
        "removes only what its own file held before). Without --yes it only prints what it "
        "would remove. Importing a file that still holds a removed lesson adds it again, "
        "with a new id.",
    )
    remover.add_argument("--classroom", required=True,
                         help="the classroom (id or name)")
    remover.add_argument("--source", choices=("csv", "ics"), default=None,
                         help="only lessons imported from this format (default: any)")
    remover.add_argument("--from", dest="since", type=_day, default=None, metavar="DAY",
                         help="first day, YYYY-MM-DD, on the classroom's clock (default: the "
                         "first stored)")
    remover.add_argument("--to", dest="to", type=_day, default=None, metavar="DAY",
                         help="last day, YYYY-MM-DD, on the classroom's clock, included "
                         "(default: the last stored)")
    remover.add_argument("--yes", action="store_true",
                         help="remove them; without it, print what would be removed")
    remover.set_defaults(handler=run_remove)


def _format(path: Path) -> str:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"{path} is neither .csv nor .ics; export the timetable as CSV "
                         "(classroom,date,start,end,title) or iCalendar")
    if not path.is_file():
        raise UsageError(f"{path} does not exist or is not a file")
    try:  # before the database is touched: a file we may not read is the user's to fix
        with path.open("rb"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror}); let the user running classpulse "
                         "read it (e.g. chmod a+r), or import a readable copy") from None
    return kind


def _migrated_engine(url: str, reading: bool = False) -> Engine:
    """An engine on the consumers' database, once it is known to be reachable and at the newest
    revision: the lessons tables and the classrooms they name must be there. ``reading``: a user
    refused the revision is let through (an analyst's role may read the lessons and classrooms,
    not ``alembic_version``), and the lessons are read as far as that user may."""
    from classpulse.db.engine import make_engine
    from classpulse.db.migrate import Refused, head_revision, require_migrated
    from classpulse.redact import hide_password

    try:
        revision = require_migrated(url)
    except Refused:
        if not reading:
            raise
        return make_engine(url)
    if revision != head_revision():
        raise UsageError(f"database {hide_password(url)} is at revision {revision}, this version "
                         f"needs {head_revision()}; run `classpulse db upgrade` first")
    return make_engine(url)


@contextmanager
def _database_errors(url: str, doing: str, needs: str) -> Iterator[None]:
    """A database error while ``doing`` as one line naming the database and what the user needs,
    instead of a traceback that quotes the SQL and its values (``failure_reason`` keeps the
    driver's first line, e.g. "permission denied for table lessons")."""
    from sqlalchemy.exc import DBAPIError

    from classpulse.db.engine import failure_reason
    from classpulse.redact import hide_password

    try:
        yield
    except DBAPIError as exc:
        raise UsageError(
            f"cannot {doing} database {hide_password(url)}: {failure_reason(exc)}; {needs}"
        ) from None


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    path: Path = args.file
    kind = _format(path)
    if kind == "csv" and (args.classroom or args.until or args.prune_past):
        raise UsageError("--classroom, --until and --prune-past apply to iCalendar files only; a "
                         "CSV row names its classroom and date, and a CSV import replaces the "
                         "classroom-days it lists")
    url = settings.database_url
    with _database_errors(
        url, f"import {path} into",
        "nothing was imported. Import as a user that may write the lessons table, such as the "
        "tables' owner (with compose: the migrate service, README.md \"Timetables and lessons\")",
    ):
        return _import(args, path, kind, url)


def _import(args: argparse.Namespace, path: Path, kind: str, url: str) -> int:
    """:func:`run_import` once the file and the flags are known to be usable."""
    from classpulse.lessons.csv_timetable import read_csv
    from classpulse.lessons.ics_timetable import read_ics
    from classpulse.lessons.store import (
        adopt_scopes,
        known_classrooms,
        overlapping_lessons,
        replace_lessons,
    )

    now = datetime.now(timezone.utc)
    engine = _migrated_engine(url)
    try:
        with engine.begin() as conn:
            rooms = known_classrooms(conn)
            read: Timetable
            room = None
            if kind == "csv":
                read = read_csv(path, rooms, args.skip_unknown_rooms)
                _check_zones(rooms, read, room)
                counts = replace_lessons(conn, read.lessons, read.scopes)
            else:
                if args.classroom is not None:
                    room = _classroom(rooms, args.classroom)
                read = read_ics(path, rooms, room, args.until, args.skip_unknown_rooms,
                                today=now.date())
                _check_zones(rooms, read, room)
                adopt_scopes(conn, read.adopted_scopes)
                counts = replace_lessons(
                    conn, read.lessons, read.scopes, None if args.prune_past else now,
                    read.series_spans, read.until, read.stated_only)
            lessons = read.lessons
            overlaps = overlapping_lessons(conn, [lesson.classroom_id for lesson in lessons])
    finally:
        engine.dispose()
    rooms_named = ", ".join(sorted({lesson.classroom_id for lesson in lessons})) or "none"
    print(f"{path.name}: {len(lessons)} lessons in {rooms_named}: {counts.added} new, "
          f"{counts.changed} changed, {counts.unchanged} unchanged, {counts.removed} removed")
    for note in _notes(read, rooms, counts):
        print(f"  {note}")
    _warn_overlaps(overlaps)
    return 0


def _check_zones(rooms: Classrooms, read: Timetable, room: Classroom | None) -> None:
    """Read the zone of every classroom the file uses, before anything is stored: a zone Python
    cannot load (``europe/berlin``) refuses the import in one line. Times with a TZID or a ``Z``
    never read it, and such a file was stored, leaving ``lessons list`` refused."""
    used = {lesson.classroom_id for lesson in read.lessons} | ({room.id} if room else set())
    for room_id in sorted(used):
        if (found := rooms.find(room_id)) is not None:
            _ = found.tz  # read for its one-line UsageError

def _notes(read: Timetable, rooms: Classrooms, counts: ImportCounts) -> list[str]:
    """What the import did besides storing lessons, one line each: classrooms whose wall-clock
    times met the UTC a new classroom starts on, rooms skipped, an iCalendar file's skips, and
    the ended lessons it kept."""
    from classpulse.lessons.ics_timetable import LONGEST_LESSON, IcsImport

    notes = []
    ics = read if isinstance(read, IcsImport) else None
    on_utc = sorted(room_id for room_id in read.wall_clock_rooms
                    if (found := rooms.find(room_id)) is not None and found.tz.key == "UTC")
    if on_utc:  # a new classroom's zone: often not set yet, and times land hours off
        times = "their times" if ics is None else "their times without a time zone (no TZID or Z)"
        notes.append(f"classroom(s) {', '.join(on_utc)} keep the time zone UTC, a new classroom's "
                     f"default: {times} were read as UTC; if their clocks are elsewhere, set "
                     "classrooms.timezone and import again")
    if (skipped := read.unknown_rooms.note()) is not None:
        notes.append(skipped)
    if ics is not None:
        if ics.skipped_all_day:
            notes.append(f"skipped {ics.skipped_all_day} all-day event(s)")
        if ics.skipped_cancelled:
            notes.append(f"skipped {ics.skipped_cancelled} cancelled occurrence(s)")
        if ics.skipped_instant:
            notes.append(f"skipped {ics.skipped_instant} occurrence(s) that end as they start "
                         "(no DTEND or DURATION, or a zero one: a deadline or a reminder), which "
                         "are no lessons")
        if ics.skipped_long:
            notes.append(f"skipped {ics.skipped_long} occurrence(s) longer than "
                         f"{LONGEST_LESSON.total_seconds() / 3600:g} hours, which are no lessons")
        if counts.kept:
            notes.append(f"kept {counts.kept} lesson(s) that have ended though the file no "
                         "longer holds them (--prune-past removes them)")
        if counts.beyond:
            notes.append(f"kept {counts.beyond} stored lesson(s) after {ics.until}, the last day "
                         "the file was read for (--until)")
        if ics.lessons:
            notes.append(f"recurring events expanded up to {ics.until} (--until)")
    return notes


def _warn_overlaps(overlaps: list[Overlap], shown: int = 5) -> None:
    """Overlapping lessons are kept (the file says so), but the minutes they share count in
    both, so the person importing hears of it, in the classroom's time."""
    if not overlaps:
        return
    print(f"warning: {len(overlaps)} pair(s) of stored lessons overlap; the minutes they share "
          "count in both lessons' numbers:", file=sys.stderr)
    for o in overlaps[:shown]:
        zone = classroom_zone(o.classroom_id, o.timezone)
        (t1, s1, e1, f1), (t2, s2, e2, f2) = o.first, o.second
        print(f"  {safe_text(o.classroom_id)}: {t1!r} {s1.astimezone(zone):%a %d %b %Y %H:%M}-"
              f"{e1.astimezone(zone):%H:%M} ({f1}) and {t2!r} "
              f"{s2.astimezone(zone):%a %d %b %Y %H:%M}-{e2.astimezone(zone):%H:%M} ({f2})",
              file=sys.stderr)
    if len(overlaps) > shown:
        print(f"  ... and {len(overlaps) - shown} more", file=sys.stderr)
    print("Fix the timetable and import it again, or remove the lessons that should go: "
          f"{REMOVE} (a dry run until --yes)", file=sys.stderr)


def _classroom(rooms: Classrooms, value: str) -> Classroom:
    """``--classroom``'s classroom, by id or name; one line when none (or several) answer."""
    room = rooms.find(value)
    if room is None:
        raise UsageError(f"--classroom: {rooms.unknown(value)}")
    return room


def _days(args: argparse.Namespace) -> None:
    if args.since is not None and args.to is not None and args.to < args.since:
        raise UsageError(f"--to {args.to} is before --from {args.since}; swap them")


def run_remove(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.lessons.store import known_classrooms, remove_lessons

    _days(args)
    url = settings.database_url
    with _database_errors(url, "remove lessons from",
                          "nothing was removed. Remove them as a user that may write the lessons "
                          "table, such as the tables' owner (with compose: the migrate service)"):
        engine = _migrated_engine(url)
        try:
            with engine.begin() as conn:
                room = _classroom(known_classrooms(conn), args.classroom)
                # the zone only for days on its clock: a classroom whose stored zone is bad
                # keeps its whole removal, say of lessons an import stored with that zone
                since, before = (_utc_bounds(args.since, args.to, room.tz)
                                 if args.since is not None or args.to is not None
                                 else (None, None))
                found = remove_lessons(conn, room.id, args.source, since, before, args.yes)
        finally:
            engine.dispose()
    which = room.id + (f", imported from {args.source}" if args.source else "")
    if args.since is not None or args.to is not None:
        which += f", {args.since or 'the first day'} to {args.to or 'the last day'}"
    if not found:
        print(f"no stored lesson of {which}; nothing was removed")
        return 0
    if args.source is None and args.since is None and args.to is None:
        which += ", every stored lesson of the classroom"
    sources = Counter(lesson.source for lesson in found)
    # how many of each format, as the list below names at most _LISTED of them
    per_source = "" if args.source is not None else " (" + ", ".join(
        f"{count} from {source}" for source, count in sorted(sources.items())) + ")"
    if args.yes:
        print(f"removed {len(found)} lesson(s){per_source} of {which}")
        return 0
    print(f"would remove {len(found)} lesson(s){per_source} of {which}; nothing was removed yet, "
          "run again with --yes to remove them:")
    for lesson in found[:_LISTED]:
        print(f"  {_when(lesson)} {lesson.title!r} ({lesson.source}, lesson {lesson.id})")
    if len(found) > _LISTED:
        print(f"  ... and {len(found) - _LISTED} more")
    return 0


def _utc_bounds(since: date | None, to: date | None, tz: ZoneInfo | None
                ) -> tuple[datetime | None, datetime | None]:
    """``--from`` and ``--to``, days on a classroom's clock, as UTC bounds ``[since, before)``:
    its days' midnights with the classroom's zone ``tz``; with None (lessons of any classroom),
    a day wider on each side, as every zone lies within a day of UTC, for the caller to keep each
    lesson by its classroom's day."""
    wider = timedelta(days=1) if tz is None else timedelta(0)
    zone = timezone.utc if tz is None else tz

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)

    return (None if since is None else midnight(since - wider),
            None if to is None else midnight(to + timedelta(days=1) + wider))


def _when(lesson: StoredLesson) -> str:
    try:
        tz, shown = classroom_zone(lesson.classroom_id, lesson.timezone), ""
    except UsageError:  # a bad stored zone: the dry run of a removal still names its lessons
        tz, shown = timezone.utc, " UTC"
    start, end = lesson.starts_at.astimezone(tz), lesson.ends_at.astimezone(tz)
    return f"{start:%a %Y-%m-%d %H:%M}-{end:%H:%M}{shown}"


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.lessons.store import known_classrooms, list_lessons

    _days(args)
    # the days are each classroom's own, as printed: each lesson is kept by its local day below
    since, before = _utc_bounds(args.since, args.to, None)
    url = settings.database_url
    with _database_errors(url, "read the lessons of",
                          "list them as a user that may read the lessons and classrooms tables"):
        engine = _migrated_engine(url, reading=True)
        try:
            with engine.connect() as conn:
                # by id or name, as `lessons remove` takes it; one unknown is an error, not a
                # list that is empty as if the classroom had no lessons
                room = (None if args.classroom is None
                        else _classroom(known_classrooms(conn), args.classroom).id)
                stored = list_lessons(conn, room, since, before)
        finally:
            engine.dispose()
    lessons, unknown = [], {}
    for lesson in stored:
        try:
            tz = classroom_zone(lesson.classroom_id, lesson.timezone)
        except UsageError as exc:  # that classroom's lessons in UTC, said; the others as they are
            unknown[lesson.classroom_id] = str(exc)
            tz = ZoneInfo("UTC")
        start, end = lesson.starts_at.astimezone(tz), lesson.ends_at.astimezone(tz)
        if (args.since or start.date()) <= start.date() <= (args.to or start.date()):
            lessons.append((lesson, tz, start, end))
    if not lessons:
        filtered = args.classroom is not None or args.since is not None or args.to is not None
        print("no stored lesson matches --classroom/--from/--to" if filtered else
              "no lessons stored; import a timetable with: classpulse lessons import FILE")
        return 0
    rows = [("id", "classroom", "day", "time", "title", "subject", "group")]
    for lesson, tz, start, end in lessons:
        # the import refuses control characters, but a label changed in the database by SQL can
        # hold any: an escape sequence acting on the terminal, a line break or U+202E garbling
        # the table are shown escaped
        rows.append((str(lesson.id), safe_text(lesson.classroom_id), f"{start:%a %Y-%m-%d}",
                     f"{start:%H:%M}-{end:%H:%M} {tz.key}", safe_text(lesson.title),
                     safe_text(lesson.subject or ""), safe_text(lesson.group_label or "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    for message in unknown.values():
        print(f"classpulse lessons: {safe_text(message)}; its lessons are listed in UTC above",
              file=sys.stderr)
    return 0
