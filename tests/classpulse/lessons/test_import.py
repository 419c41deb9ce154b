"""``classpulse lessons import`` and ``lessons list`` on real CSV and iCalendar files, both DBs.

The sample files in ``data/`` are what a school's timetabling system exports: a weekly iCalendar
timetable with an excluded week, a moved lesson, a cancelled one, an all-day event and the names of
people in fields ClassPulse must never store; a CSV with optional columns and a room named by its
display name; and one malformed file of each format.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from classpulse.cli import main

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    status = main(["lessons", *args, "--database-url", url, "--log-level", "WARNING"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def stored(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, classroom_id, starts_at, ends_at, title, subject, group_label, "
            "source_key FROM lessons ORDER BY starts_at, classroom_id")).mappings().all()
    out = []
    for row in rows:
        row = dict(row)
        for key in ("starts_at", "ends_at"):  # SQLite gives text, PostgreSQL aware datetimes
            value = row[key]
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            row[key] = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        out.append(row)
    return out


def kept_line(lessons: int) -> str:
    """The import's line on the ended lessons it kept though the file no longer holds them."""
    return (f"  kept {lessons} lesson(s) that have ended though the file no longer holds them "
            "(--prune-past removes them)")


def local(row: dict, zone: ZoneInfo = BERLIN) -> str:
    start, end = row["starts_at"].astimezone(zone), row["ends_at"].astimezone(zone)
    return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}"


def test_ics_weekly_timetable_with_its_exceptions(data: Path,
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, url, "import", str(data / "timetable-7b.ics"))
    assert status == 0
    assert out.splitlines()[0] == (
        "timetable-7b.ics: 10 lessons in 7B: 10 new, 0 changed, 0 unchanged, 0 removed")
    assert "skipped 1 all-day event(s)" in out and "skipped 1 cancelled occurrence(s)" in out
    rows = stored(engine)
    maths = [local(r) for r in rows if r["title"] == "Maths"]
    # weekly on Mondays, 17 March excluded, 24 March moved to 11:00; Berlin's clocks change on
    # 30 March and the lesson stays at 09:40 local
    assert maths == ["2025-03-03 09:40-10:25", "2025-03-10 09:40-10:25", "2025-03-24 11:00-11:45",
                     "2025-03-31 09:40-10:25", "2025-04-07 09:40-10:25"]
    assert [r["starts_at"].astimezone(UTC).hour for r in rows if r["title"] == "Maths"] == [
        8, 8, 10, 7, 7]
    english = [local(r) for r in rows if r["title"] == "English"]
    # Tuesdays and Thursdays, six in all, 11 March cancelled; LOCATION names the room by its name
    assert english == ["2025-03-04 08:10-08:55", "2025-03-06 08:10-08:55",
                       "2025-03-13 08:10-08:55", "2025-03-18 08:10-08:55",
                       "2025-03-20 08:10-08:55"]
    assert {r["classroom_id"] for r in rows} == {"7B"}
    assert {r["subject"] for r in rows if r["title"] == "Maths"} == {"Mathematics"}
    moved = next(r for r in rows if local(r).startswith("2025-03-24"))
    assert moved["source_key"] == "ics:maths-7b-2025@school.example/2025-03-24T08:40:00Z"


def test_ics_never_stores_people(data: Path, url: str, engine: Engine,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, url, "import", str(data / "timetable-7b.ics"))[0] == 0
    with engine.connect() as conn:
        cells = [str(v) for row in conn.execute(text("SELECT * FROM lessons")).all() for v in row]
    assert cells
    for name in ("Ms Example", "Pupil Name", "pupil@school.example", "compasses"):
        assert not any(name in cell for cell in cells), name


def test_ics_reimport_is_idempotent_and_a_changed_export_updates_in_place(data: Path,
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, url, "import", str(data / "timetable-7b.ics"))[0] == 0
    first = {r["source_key"]: r for r in stored(engine)}
    status, out, _ = run(capsys, url, "import", str(data / "timetable-7b.ics"))
    assert status == 0 and "10 lessons in 7B: 0 new, 0 changed, 10 unchanged, 0 removed" in out
    assert {r["source_key"]: r for r in stored(engine)} == first
    # the school's next export: 10 March excluded too, English renamed; same file name as before.
    # The lessons are over by now, so the excluded one goes only with --prune-past
    export = tmp_path / "timetable-7b.ics"
    shutil.copy(data / "timetable-7b-changed.ics", export)
    status, out, _ = run(capsys, url, "import", str(export), "--prune-past")
    assert status == 0 and "9 lessons in 7B: 0 new, 5 changed, 4 unchanged, 1 removed" in out
    after = {r["source_key"]: r for r in stored(engine)}
    gone = set(first) - set(after)
    assert gone == {"ics:maths-7b-2025@school.example/2025-03-10T08:40:00Z"}
    for key, row in after.items():
        assert row["id"] == first[key]["id"]  # bookmarked lessons keep their id
        assert row["title"] == ("English literature" if key.startswith("ics:english") else "Maths")


def test_ics_classroom_option_and_until(data: Path, url: str, engine: Engine,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, url, "import", str(data / "timetable-7b.ics"),
                         "--classroom", "7A", "--until", "2025-03-13")
    assert status == 0
    assert "5 lessons in 7A" in out and "expanded up to 2025-03-13" in out
    rows = stored(engine)
    assert [local(r)[:10] for r in rows] == [
        "2025-03-03", "2025-03-04", "2025-03-06", "2025-03-10", "2025-03-13"]
    assert {r["classroom_id"] for r in rows} == {"7A"}  # LOCATION is not read then
    status, _, err = run(capsys, url, "import", str(data / "timetable-7b.ics"),
                         "--classroom", "9Z")
    assert status == 2 and "--classroom: classroom '9Z' is unknown" in err


def test_csv_timetable_in_each_classrooms_time_zone(data: Path,
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, url, "import", str(data / "timetable.csv"))
    assert status == 0
    assert out.strip() == "timetable.csv: 5 lessons in 7A, room-12: 5 new, 0 changed, " \
        "0 unchanged, 0 removed"
    rows = stored(engine)
    by_room = {(r["classroom_id"], r["title"], r["starts_at"].astimezone(UTC).strftime(
        "%Y-%m-%d %H:%M")) for r in rows}
    assert by_room == {
        ("7A", "Maths", "2025-03-03 07:00"),  # 08:00 in Berlin
        ("7A", "English", "2025-03-03 07:50"),
        ("7A", "Maths", "2025-03-04 07:00"),
        ("room-12", "Art", "2025-03-03 18:15"),  # 13:15 in New York, named "Room 12"
        ("room-12", "History, modern", "2025-03-04 14:00"),
    }
    maths = [r for r in rows if r["title"] == "Maths"]
    assert {(r["subject"], r["group_label"]) for r in maths} == {("Mathematics", "7A-1")}
    english = next(r for r in rows if r["title"] == "English")
    assert (english["subject"], english["group_label"]) == (None, None)


def test_csv_reimport_and_a_moved_lesson(data: Path,
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, url, "import", str(data / "timetable.csv"))[0] == 0
    first = {r["source_key"]: r["id"] for r in stored(engine)}
    assert "0 new, 0 changed, 5 unchanged, 0 removed" in run(
        capsys, url, "import", str(data / "timetable.csv"))[1]
    changed = tmp_path / "timetable.csv"
    changed.write_text(
        (data / "timetable.csv").read_text(encoding="utf-8")
        .replace("7A,2025-03-03,08:50,09:35,English,,", "7A,2025-03-03,09:00,09:45,English,,")
        .replace("Room 12,2025-03-03,13:15,14:00,Art,,", "Room 12,2025-03-03,13:15,14:00,Music,,"),
        encoding="utf-8")
    status, out, _ = run(capsys, url, "import", str(changed))
    assert status == 0
    assert "5 lessons in 7A, room-12: 1 new, 1 changed, 3 unchanged, 1 removed" in out
    rows = stored(engine)
    assert [local(r) for r in rows if r["title"] == "English"] == ["2025-03-03 09:00-09:45"]
    music = next(r for r in rows if r["title"] == "Music")
    assert music["id"] == first[music["source_key"]]  # retitled in place


def test_a_removed_lessons_id_is_not_given_to_the_next_lesson(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A teacher bookmarked Art (``&lesson=<its id>``); a re-import removes it and adds History.
    Before migration 0018 SQLite gave History Art's id, the largest one + 1, and the bookmark
    opened History; now it opens no lesson, on both databases."""
    day = CSV_HEAD + "7A,2025-03-03,08:00,08:45,Maths\n"
    assert run(capsys, url, "import", str(write(
        tmp_path, "t.csv", day + "7A,2025-03-03,09:00,09:45,Art\n")))[0] == 0
    first = {r["title"]: r["id"] for r in stored(engine)}
    assert first["Art"] > first["Maths"]
    status, out, _ = run(capsys, url, "import", str(write(
        tmp_path, "t.csv", day + "7A,2025-03-03,10:00,10:45,History\n")))
    assert status == 0 and "1 new, 0 changed, 1 unchanged, 1 removed" in out
    now = {r["title"]: r["id"] for r in stored(engine)}
    assert now["Maths"] == first["Maths"] and now["History"] > first["Art"]


@pytest.mark.parametrize(("name", "message"), [
    ("timetable-bad.csv",
     "timetable-bad.csv line 4, start: '9.30' is not a time HH:MM; nothing was imported"),
    ("timetable-bad.ics",
     "timetable-bad.ics line 17, DTEND: the event starting 2025-03-06 10:00 UTC does not "
     "end after it starts; nothing was imported"),
])
def test_a_bad_row_stops_the_import_and_nothing_is_imported(data: Path,
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    status, out, err = run(capsys, url, "import", str(data / name))
    assert status == 2 and out == ""
    assert err.strip() == f"classpulse lessons: {message}"
    assert "\n" not in err.strip() and "Traceback" not in err
    assert stored(engine) == []  # the good rows before it were not imported either


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


CSV_HEAD = "classroom,date,start,end,title\n"


@pytest.mark.parametrize(("body", "message"), [
    (CSV_HEAD + "7A,2025-03-03,08:00,08:45,Maths\n9Z,2025-03-03,08:00,08:45,Maths\n",
     "line 3, classroom: classroom '9Z' is unknown (known ids: 7A, 7B, room-12)"),
    (CSV_HEAD + "7A,03/03/2025,08:00,08:45,Maths\n",
     "line 2, date: '03/03/2025' is not a date YYYY-MM-DD"),
    # a mistyped year was stored where no week opens (1025 at 08:06:32 UTC, Berlin's old local
    # mean time), and 9999-12-31 23:00 ended in OverflowError's traceback
    (CSV_HEAD + "7A,1025-03-04,08:00,08:45,Maths\n",
     "line 2, date: 1025-03-04 is outside the years 2000-2099 a timetable may name; fix the date"),
    (CSV_HEAD + "7A,9999-12-31,23:00,00:30,Maths\n",
     "line 2, date: 9999-12-31 is outside the years 2000-2099 a timetable may name; fix the date"),
    (CSV_HEAD + "7A,2025-03-03,09:00,08:45,Maths\n", "line 2, end: 08:45 is not after the start"),
    (CSV_HEAD + "7A,2025-03-03,08:00,08:45,\n", "line 2, title: is empty"),
    (CSV_HEAD + "7A,2025-03-30,02:30,03:15,Maths\n",
     "line 2, start: 2025-03-30 02:30 does not exist in Europe/Berlin"),
    (CSV_HEAD + "7A,2025-03-03,08:00,08:45,Maths\n7A,2025-03-03,08:00,08:50,Maths\n",
     "line 3, start: the same lesson as line 2"),
    ("room,date,start,end,title\n7A,2025-03-03,08:00,08:45,Maths\n",
     "line 1, header: missing ['classroom']"),
    (CSV_HEAD + "7A,2025-03-03,08:00,08:45,Maths,extra\n",
     "line 2: more fields than the header has columns"),
    (CSV_HEAD + '7A,2025-03-03,08:00,08:45,"Maths\x1b[2J"\n',
     "line 2, title: 'Maths\\x1b[2J' holds the control character '\\x1b'"),
    (CSV_HEAD + '7A,2025-03-03,08:00,08:45,"Maths\nand more"\n',
     "line 3, title: 'Maths\\nand more' holds the control character '\\n'"),
])
def test_csv_errors_name_the_line_and_field(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, body: str,
    message: str
) -> None:
    status, _, err = run(capsys, url, "import", str(write(tmp_path, "t.csv", body)))
    assert status == 2
    assert err.startswith(f"classpulse lessons: t.csv {message}"), err
    assert err.rstrip().endswith("nothing was imported") and err.count("\n") == 1
    assert stored(engine) == []


ICS_EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//t//EN
BEGIN:VEVENT
UID:e1@t
DTSTAMP:20250220T120000Z
{fields}
END:VEVENT
END:VCALENDAR
"""


@pytest.mark.parametrize(("fields", "message"), [
    ("DTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths",
     "line 4, LOCATION: the event names no classroom; give one with --classroom ID"),
    ("DTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths\nLOCATION:Gym",
     "line 10, LOCATION: classroom 'Gym' is unknown"),
    ("DTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nLOCATION:7A",
     "line 4, SUMMARY: the event has no title"),
    ("DTSTART:2025-03-03 08:00\nDTEND:20250303T084500Z\nSUMMARY:Maths\nLOCATION:7A",
     "line 7, DTSTART: Wrong datetime format: 2025-03-03 08:00"),
    ("DTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nRRULE:FREQ=SOMETIMES\nSUMMARY:Maths"
     "\nLOCATION:7A", "line 9, RRULE: Expected frequency"),
    # a calendar property, after the event here: it was a ZoneInfoNotFoundError traceback
    ("DTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths\nLOCATION:7A"
     "\nEND:VEVENT\nX-WR-TIMEZONE:Mars/Olympus\nBEGIN:VEVENT\nUID:e2@t\nDTSTART;VALUE=DATE:20250303",
     "line 12, X-WR-TIMEZONE: 'Mars/Olympus' is not an IANA time zone name"),
])
def test_ics_errors_name_the_line_and_field(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, fields: str,
    message: str
) -> None:
    path = write(tmp_path, "t.ics", ICS_EVENT.format(fields=fields))
    status, _, err = run(capsys, url, "import", str(path))
    assert status == 2
    assert err.startswith(f"classpulse lessons: t.ics {message}"), err
    assert err.rstrip().endswith("nothing was imported") and err.count("\n") == 1
    assert stored(engine) == []


def test_floating_ics_times_are_on_the_classrooms_clock(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fields = "DTSTART:20250303T080000\nDTEND:20250303T084500\nSUMMARY:Maths\nLOCATION:Room 12"
    path = write(tmp_path, "t.ics", ICS_EVENT.format(fields=fields))
    assert run(capsys, url, "import", str(path))[0] == 0
    (row,) = stored(engine)
    assert row["classroom_id"] == "room-12"
    assert row["starts_at"] == datetime(2025, 3, 3, 13, 0, tzinfo=UTC)  # 08:00 in New York


def test_files_that_are_not_timetables(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = run(capsys, url, "import", str(write(tmp_path, "t.ics", "hello\n")))
    assert status == 2 and "t.ics: is not an iCalendar file" in err
    status, _, err = run(capsys, url, "import", str(write(tmp_path, "t.xlsx", "x")))
    assert status == 2 and "is neither .csv nor .ics" in err
    status, _, err = run(capsys, url, "import", str(tmp_path / "missing.csv"))
    assert status == 2 and "does not exist" in err
    latin = tmp_path / "latin.csv"
    latin.write_bytes((CSV_HEAD + "7A,2025-03-03,08:00,08:45,Fran\xe7ais\n").encode("latin-1"))
    status, _, err = run(capsys, url, "import", str(latin))
    assert status == 2 and "is not UTF-8 text" in err and "save it as UTF-8" in err
    # a Latin-1 iCalendar file was imported with its titles garbled (Math\ufffdmatiques)
    latin = tmp_path / "latin.ics"
    latin.write_bytes(ICS_EVENT.format(fields="DTSTART:20250303T080000Z\nDTEND:20250303T084500Z"
                                       "\nSUMMARY:Math\xe9matiques\nLOCATION:7A").encode("latin-1"))
    status, out, err = run(capsys, url, "import", str(latin))
    assert (status, out) == (2, "")
    assert err == ("classpulse lessons: latin.ics line 9: is not UTF-8 text (invalid "
                   "continuation byte at byte 151), as iCalendar files are; export or save it as "
                   "UTF-8; nothing was imported\n")


def test_list_shows_lessons_in_the_classrooms_time(data: Path,
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, url, "list")[1].strip() == (
        "no lessons stored; import a timetable with: classpulse lessons import FILE")
    assert run(capsys, url, "import", str(data / "timetable.csv"))[0] == 0
    status, out, _ = run(capsys, url, "list", "--classroom", "room-12")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["id", "classroom", "day", "time", "title", "subject", "group"]
    assert "Mon 2025-03-03  13:15-14:00 America/New_York  Art" in lines[1]
    assert "History, modern  History" in lines[2] and len(lines) == 3
    status, out, _ = run(capsys, url, "list", "--from", "2025-03-04", "--to", "2025-03-04")
    assert len(out.splitlines()) == 1 + 2  # 7A's Maths and Room 12's History that day


def test_list_shows_labels_changed_by_sql_escaped_and_letters_as_written(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The import refuses control characters, but a title changed by SQL reached the terminal
    raw: an escape sequence cleared it, a line break or U+2028 split a row in two, U+202E turned
    the rest of the row around."""
    body = (CSV_HEAD.replace("title", "title,subject,group") +
            "7A,2025-03-03,08:00,08:45,Français,Deutsch für Anfänger,Gruppe Müller\n")
    assert run(capsys, url, "import", str(write(tmp_path, "t.csv", body)))[0] == 0
    status, out, _ = run(capsys, url, "list")
    assert status == 0 and "Français  Deutsch für Anfänger  Gruppe Müller" in out
    with engine.begin() as conn:
        conn.execute(text("UPDATE lessons SET title = :t, subject = :s, group_label = :g"),
                      {"t": "\x1b[2J\x1b]0;owned\x07Maths\nforged row", "s": "\u202eArt",
                       "g": "7A\u2028\u2029x\u200b"})
    status, out, _ = run(capsys, url, "list")
    assert status == 0
    assert not any(c in out for c in "\x1b\x07\u202e\u2028\u2029\u200b")
    assert len(out.splitlines()) == 2  # the header and one row
    assert out.splitlines()[1].endswith(
        "\\x1b[2J\\x1b]0;owned\\x07Maths\\nforged row  \\u202eArt  7A\\u2028\\u2029x\\u200b")


def test_overlapping_lessons_are_imported_with_a_warning(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The minutes two lessons share count in both lessons' numbers: the import says which, in
    the classroom's time; lessons that only touch (one ends as the next starts) do not overlap."""
    body = CSV_HEAD + ("7A,2025-03-03,08:00,09:00,Maths\n7A,2025-03-03,08:45,09:30,Physics\n"
                       "7A,2025-03-03,09:30,10:15,Art\n7B,2025-03-03,08:00,09:00,Maths\n")
    status, out, err = run(capsys, url, "import", str(write(tmp_path, "t.csv", body)))
    assert status == 0 and "4 new" in out
    assert len(stored(engine)) == 4
    assert err.splitlines() == [
        "warning: 1 pair(s) of stored lessons overlap; the minutes they share count in both "
        "lessons' numbers:",
        "  7A: 'Maths' Mon 03 Mar 2025 08:00-09:00 (csv) and 'Physics' Mon 03 Mar 2025 "
        "08:45-09:30 (csv)",
        "Fix the timetable and import it again, or remove the lessons that should go: classpulse "
        "lessons remove --classroom ID --source csv|ics --from DAY --to DAY (a dry run until "
        "--yes)",
    ]
    fixed = CSV_HEAD + ("7A,2025-03-03,08:00,08:45,Maths\n7A,2025-03-03,08:45,09:30,Physics\n"
                        "7A,2025-03-03,09:30,10:15,Art\n7B,2025-03-03,08:00,09:00,Maths\n")
    status, out, err = run(capsys, url, "import", str(write(tmp_path, "t.csv", fixed)))
    assert status == 0 and "1 changed" in out and err == ""


def test_an_overlap_warning_shows_a_classroom_id_escaped(
    capsys: pytest.CaptureFixture[str]
) -> None:
    """A classroom id comes from a camera's config: a line break or an escape sequence in it
    forged a line of the warning or acted on the terminal."""
    from classpulse.lessons.cli import _warn_overlaps
    from classpulse.lessons.store import Overlap

    at = datetime(2025, 3, 3, 8, tzinfo=UTC)
    lesson = ("Maths", at, at + timedelta(hours=1), "csv")
    _warn_overlaps([Overlap("7A\n\x1b[2Jforged", "UTC", lesson, lesson)])
    err = capsys.readouterr().err
    assert "  7A\\n\\x1b[2Jforged: 'Maths' Mon 03 Mar 2025 08:00-09:00 (csv)" in err
    assert "\x1b" not in err and len(err.splitlines()) == 3


def test_a_csv_for_a_classroom_still_on_utc_says_so(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A classroom starts on UTC until an operator sets its zone: a Berlin school importing
    08:00 before that gets a lesson at 09:00 local, so the import says which rooms were read as
    UTC; rooms with a zone set are not named."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE classrooms SET timezone = 'UTC' WHERE id = '7B'"))
    body = CSV_HEAD + "7B,2025-03-03,08:00,08:45,Maths\n7A,2025-03-03,08:00,08:45,Maths\n"
    status, out, _ = run(capsys, url, "import", str(write(tmp_path, "t.csv", body)))
    assert status == 0
    assert out.splitlines()[1] == (
        "  classroom(s) 7B keep the time zone UTC, a new classroom's default: their times were "
        "read as UTC; if their clocks are elsewhere, set classrooms.timezone and import again")
    assert [r["starts_at"].hour for r in stored(engine)] == [7, 8]  # 7A in Berlin, 7B on UTC


def test_list_from_and_to_are_the_classrooms_days(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The days printed are the classroom's, so --from/--to are too: an evening lesson in New
    York (02:00 UTC the next day) belongs to the day it is printed on; they were UTC days."""
    body = CSV_HEAD + ("room-12,2025-03-04,21:00,21:45,Evening class\n"
                       "7A,2025-03-05,00:30,01:15,Night owls\n")  # 23:30 UTC on the 4th
    assert run(capsys, url, "import", str(write(tmp_path, "t.csv", body)))[0] == 0
    status, out, _ = run(capsys, url, "list", "--from", "2025-03-04", "--to", "2025-03-04")
    assert status == 0
    (line,) = out.splitlines()[1:]
    assert "Tue 2025-03-04  21:00-21:45 America/New_York  Evening class" in line
    status, out, _ = run(capsys, url, "list", "--from", "2025-03-05")
    (line,) = out.splitlines()[1:]
    assert "Wed 2025-03-05  00:30-01:15 Europe/Berlin  Night owls" in line


def test_list_with_a_zone_python_cannot_load_lists_that_classroom_in_utc(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """SQLite stores any zone; Python's zone database has no `UTC+3`, which was a
    ZoneInfoNotFoundError traceback, then a one-line refusal that listed no classroom at all (a
    review: PostgreSQL stores `CEST`, which Python has not either). That classroom's lessons are
    now listed in UTC, said in one line; the others as they are. PostgreSQL accepted the POSIX
    zone (read as UTC-3) until migration 0015's check, which now refuses it."""
    assert run(capsys, url, "import", str(write(
        tmp_path, "t.csv", CSV_HEAD + "7A,2025-03-03,08:00,08:45,Maths\n"
        "7B,2025-03-03,09:00,09:45,Art\n")))[0] == 0
    posix = text("UPDATE classrooms SET timezone = 'UTC+3' WHERE id = '7A'")
    if engine.dialect.name == "postgresql":
        with (pytest.raises(IntegrityError, match="ck_classrooms_timezone_no_posix_offset"),
              engine.begin() as conn):
            conn.execute(posix)
        posix = text("UPDATE classrooms SET timezone = 'CEST' WHERE id = '7A'")
    with engine.begin() as conn:
        conn.execute(posix)
    zone = "UTC+3" if engine.dialect.name == "sqlite" else "CEST"
    status, out, err = run(capsys, url, "list")
    assert status == 0
    rows = [line.split()[1:] for line in out.splitlines()[1:]]
    # imported on Berlin's clock (08:00 CET is 07:00 UTC); 7B as before
    assert rows == [["7A", "Mon", "2025-03-03", "07:00-07:45", "UTC", "Maths"],
                    ["7B", "Mon", "2025-03-03", "09:00-09:45", "Europe/Berlin", "Art"]]
    assert err == (f"classpulse lessons: classroom '7A' has time zone '{zone}', which is not an "
                   "IANA zone name; set classrooms.timezone to one such as Europe/Berlin; its "
                   "lessons are listed in UTC above\n")


def test_a_misspelt_zone_refuses_its_own_classroom_only(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Both databases store 'europe/berlin' (PostgreSQL reads it; Python's zones do not). Every
    classroom's zone was checked at once, so every import and removal was refused, whichever
    classrooms it named; now only that classroom's are."""
    set_zone(engine, "europe/berlin", room="7B")
    status, out, _ = run(capsys, url, "import", str(write(tmp_path, "a.csv", CSV_HEAD +
                                                          "7A,2025-03-03,08:00,08:45,Maths\n")))
    assert status == 0 and "1 new" in out
    assert run(capsys, url, "remove", "--classroom", "7A", "--yes")[:2] == (
        0, "removed 1 lesson(s) (1 from csv) of 7A, every stored lesson of the classroom\n")
    status, out, err = run(capsys, url, "import", str(write(tmp_path, "b.csv", CSV_HEAD + (
        "7A,2025-03-03,08:00,08:45,Maths\n7B,2025-03-03,08:00,08:45,Maths\n"))))
    assert (status, out) == (2, "") and err == (
        "classpulse lessons: classroom '7B' has time zone 'europe/berlin', which is not an IANA "
        "zone name; set classrooms.timezone to one such as Europe/Berlin\n")
    assert stored(engine) == []  # the file is refused whole, 7A's row too


def test_an_ics_file_with_zoned_times_for_a_classroom_with_a_bad_zone_is_refused(
    data: Path, url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its TZID times never read 7B's zone, so the file was stored, and `lessons list` refused
    afterwards; its zone is read up front for each classroom the file uses, as before."""
    set_zone(engine, "europe/berlin", room="7B")
    refused = (2, "", "classpulse lessons: classroom '7B' has time zone 'europe/berlin', which "
               "is not an IANA zone name; set classrooms.timezone to one such as Europe/Berlin\n")
    assert run(capsys, url, "import", str(data / "timetable-7b.ics")) == refused
    assert run(capsys, url, "import", str(data / "timetable-7b.ics"), "--classroom", "7B") == (
        refused)
    assert stored(engine) == []
    status, out, _ = run(capsys, url, "import", str(data / "timetable-7b.ics"), "--classroom",
                         "7A")  # a file naming another room only: 7B's zone is not its concern
    assert status == 0 and "lessons in 7A" in out


def test_a_classroom_with_a_bad_zone_has_its_lessons_removed_without_days(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`remove --classroom 7B` read 7B's zone even without --from/--to, so lessons stored before
    its zone went bad could not be removed; the dry run shows their times in UTC."""
    assert run(capsys, url, "import", str(write(tmp_path, "t.csv", CSV_HEAD + (
        "7B,2025-03-03,08:00,08:45,Maths\n"))))[0] == 0
    set_zone(engine, "europe/berlin", room="7B")
    status, out, _ = run(capsys, url, "remove", "--classroom", "7B")
    assert status == 0 and out.splitlines()[1] == (
        f"  Mon 2025-03-03 07:00-07:45 UTC 'Maths' (csv, lesson {stored(engine)[0]['id']})")
    status, _, err = run(capsys, url, "remove", "--classroom", "7B", "--from", "2025-03-03")
    assert status == 2 and err.count("\n") == 1 and "'europe/berlin'" in err
    assert run(capsys, url, "remove", "--classroom", "7B", "--yes")[:2] == (
        0, "removed 1 lesson(s) (1 from csv) of 7B, every stored lesson of the classroom\n")
    assert stored(engine) == []


def test_list_takes_a_classroom_by_id_or_name_and_refuses_an_unknown_one(data: Path,
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lessons remove` took a name, `lessons list` only an id: a name or a typo listed nothing
    and said "no stored lesson matches", exit 0, as if the classroom had no lessons."""
    assert run(capsys, url, "import", str(data / "timetable.csv"))[0] == 0
    by_id = run(capsys, url, "list", "--classroom", "room-12")
    assert by_id[0] == 0 and len(by_id[1].splitlines()) == 3
    assert run(capsys, url, "list", "--classroom", "Room 12") == by_id
    status, out, err = run(capsys, url, "list", "--classroom", "NOPE")
    assert (status, out) == (2, "") and err == (
        "classpulse lessons: --classroom: classroom 'NOPE' is unknown (known ids: 7A, 7B, "
        "room-12); a classroom is registered when its first camera reports, or fix the name in "
        "the file\n")
    assert run(capsys, url, "list", "--classroom", "7B")[1] == (
        "no stored lesson matches --classroom/--from/--to\n")  # a known classroom, no lessons


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None,
                    reason="root reads any file; setpriv is needed to drop that power")
def test_a_timetable_the_user_may_not_read_is_one_line(url: str, tmp_path: Path) -> None:
    """It was a PermissionError traceback. Root reads any file, so as root the command runs
    without the capability that lets it (setpriv), as a school's operator account would."""
    path = write(tmp_path, "t.csv", CSV_HEAD + "7A,2025-03-03,08:00,08:45,Maths\n")
    path.chmod(0)
    command = [str(Path(sys.executable).with_name("classpulse")), "lessons", "import", str(path),
               "--database-url", url]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CLASSPULSE_"))}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"classpulse lessons: cannot read {path} (Permission denied); let the "
                           "user running classpulse read it (e.g. chmod a+r), or import a "
                           "readable copy\n")


def test_a_user_that_may_not_write_the_lessons_gets_one_line(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A database refusal (compose's dashboard or consumer role, a read-only SQLite file) was a
    traceback quoting the INSERT and its values. It is one line naming the database, what the
    database said and who may import; the reader can still list."""
    path = write(tmp_path, "t.csv", CSV_HEAD + "7A,2025-03-03,08:00,08:45,Maths\n")
    role = f"timetable_reader_{uuid.uuid4().hex[:8]}"
    if engine.dialect.name == "sqlite":
        reader = url.replace("sqlite:///", "sqlite:///file:", 1) + "?mode=ro&uri=true"
        refusal = "attempt to write a readonly database"
    else:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        reader = engine.url.set(username=role).render_as_string(hide_password=False)
        refusal = "permission denied for table lessons"
    try:
        status, out, err = run(capsys, reader, "import", str(path))
        assert (status, out) == (2, "")
        assert err == (f"classpulse lessons: cannot import {path} into database {reader}: "
                       f"{refusal}; nothing was imported. Import as a user that may write the "
                       "lessons table, such as the tables' owner (with compose: the migrate "
                       "service, README.md \"Timetables and lessons\")\n")
        assert stored(engine) == []
        assert run(capsys, reader, "list")[:2] == (
            0, "no lessons stored; import a timetable with: classpulse lessons import FILE\n")
    finally:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text(f'DROP OWNED BY "{role}"'))
                conn.execute(text(f'DROP ROLE "{role}"'))


def calendar(*events: str) -> str:
    """An iCalendar file of these VEVENTs, each given as its property lines (UID included)."""
    blocks = "".join(f"BEGIN:VEVENT\nDTSTAMP:20250220T120000Z\n{fields}\nEND:VEVENT\n"
                     for fields in events)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\n{blocks}END:VCALENDAR\n"


def keys(engine: Engine) -> list[str]:
    return [row["source_key"] for row in stored(engine)]


def test_a_series_cancelled_as_a_whole_loses_its_stored_lessons(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A UID whose every occurrence is cancelled holds no lesson, but it is in the file: what was
    stored for it goes. Its scope was built from the lessons left, so it stayed ('0 removed')."""
    a = "UID:a@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths\nLOCATION:7A"
    b = "UID:b@t\nDTSTART:20250304T080000Z\nDTEND:20250304T084500Z\nSUMMARY:Art\nLOCATION:7A"
    assert run(capsys, url, "import", str(write(tmp_path, "t.ics", calendar(a, b))))[0] == 0
    assert keys(engine) == ["ics:a@t/2025-03-03T08:00:00Z", "ics:b@t/2025-03-04T08:00:00Z"]
    path = write(tmp_path, "t.ics", calendar(f"{a}\nSTATUS:CANCELLED", b))
    status, out, _ = run(capsys, url, "import", str(path), "--prune-past")  # 2025 is over
    assert status == 0
    assert out.splitlines()[0] == "t.ics: 1 lessons in 7A: 0 new, 0 changed, 1 unchanged, 1 removed"
    assert "skipped 1 cancelled occurrence(s)" in out
    assert keys(engine) == ["ics:b@t/2025-03-04T08:00:00Z"]
    # its last lesson cancelled on its own (an override) is within the series' days: it goes
    weekly = f"{a}\nRRULE:FREQ=WEEKLY;COUNT=4"
    assert "4 new" in run(capsys, url, "import", str(write(tmp_path, "t.ics",
                                                           calendar(weekly, b))))[1]
    status, out, _ = run(capsys, url, "import", str(write(tmp_path, "t.ics", calendar(
        weekly, b, "UID:a@t\nRECURRENCE-ID:20250324T080000Z\nDTSTART:20250324T080000Z"
        "\nDTEND:20250324T084500Z\nSTATUS:CANCELLED"))))
    assert status == 0 and "1 removed" in out and "kept" not in out
    # a series held for weeks, then cancelled as a whole: it states no lesson, so those held stay
    status, out, _ = run(capsys, url, "import", str(write(
        tmp_path, "t.ics", calendar(f"{weekly}\nSTATUS:CANCELLED", b))))
    assert status == 0 and "0 removed" in out and "kept 3 lesson(s)" in out


def test_floating_ics_times_in_a_classroom_still_on_utc_say_so(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Floating times are read on the classroom's clock exactly like CSV times, so a classroom
    still on UTC is named the same way; one whose events carry a zone (Z) is not."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE classrooms SET timezone = 'UTC' WHERE id IN ('7A', '7B')"))
    body = calendar(
        "UID:f@t\nDTSTART:20250303T080000\nDTEND:20250303T084500\nSUMMARY:Maths\nLOCATION:7B",
        "UID:z@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Art\nLOCATION:7A",
        "UID:n@t\nDTSTART:20250303T080000\nDTEND:20250303T084500\nSUMMARY:Art\nLOCATION:7B"
        "\nRRULE:FREQ=WEEKLY;COUNT=2")
    status, out, _ = run(capsys, url, "import", str(write(tmp_path, "t.ics", body)))
    assert status == 0
    assert out.splitlines()[1] == (
        "  classroom(s) 7B keep the time zone UTC, a new classroom's default: their times "
        "without a time zone (no TZID or Z) were read as UTC; if their clocks are elsewhere, set "
        "classrooms.timezone and import again")
    assert "7A" not in out.splitlines()[1]


def test_events_that_reuse_a_uid_are_all_imported(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An exporter that gives a course's Monday and Thursday series one UID: the expansion kept
    only the first event, and Thursday's lessons were lost without a word. Each is kept, keyed by
    its start, and importing the file again changes nothing."""
    body = calendar(
        "UID:maths@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths"
        "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT=2",
        "UID:maths@t\nDTSTART:20250306T100000Z\nDTEND:20250306T104500Z\nSUMMARY:Maths"
        "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT=2")
    path = write(tmp_path, "t.ics", body)
    status, out, _ = run(capsys, url, "import", str(path))
    assert status == 0 and "4 lessons in 7A: 4 new" in out
    assert keys(engine) == ["ics:maths@t/2025-03-03T08:00:00Z", "ics:maths@t/2025-03-06T10:00:00Z",
                            "ics:maths@t/2025-03-10T08:00:00Z", "ics:maths@t/2025-03-13T10:00:00Z"]
    assert "0 new, 0 changed, 4 unchanged, 0 removed" in run(capsys, url, "import", str(path))[1]


@pytest.mark.parametrize(("second", "message"), [
    ("UID:m@t\nRECURRENCE-ID:20250310T080000Z\nDTSTART:20250310T090000Z\nDTEND:20250310T094500Z"
     "\nSUMMARY:Maths\nLOCATION:7A",
     "t.ics line 24, RECURRENCE-ID: UID 'm@t' names several events without RECURRENCE-ID (lines 4 "
     "and 13), so which series this changes is unknown; give each series its own UID; nothing "
     "was imported"),
    ("UID:m@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths\nLOCATION:7A",
     "t.ics line 13, DTSTART: the same lesson as line 4 (ics:m@t/2025-03-03T08:00:00Z); nothing "
     "was imported"),
])
def test_a_reused_uid_that_cannot_be_told_apart_is_refused(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, second: str,
    message: str
) -> None:
    """A moved occurrence under a reused UID could belong to either series, and two events alike
    in UID and start are one lesson stated twice: one line naming the lines, nothing imported."""
    series = ("UID:m@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths"
              "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT=2")
    other = ("UID:m@t\nDTSTART:20250306T100000Z\nDTEND:20250306T104500Z\nSUMMARY:Maths"
             "\nLOCATION:7A")
    events = (series, second) if "RECURRENCE-ID" not in second else (series, other, second)
    status, _, err = run(capsys, url, "import", str(write(tmp_path, "t.ics", calendar(*events))))
    assert (status, err) == (2, f"classpulse lessons: {message}\n")
    assert stored(engine) == []


def test_two_groups_in_one_room_at_the_same_time(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """PE for the boys and the girls in one hall at 09:00 were 'the same lesson'. Their groups
    (or, without groups, their titles) tell them apart; a lesson alone at its start keeps its
    key, so it is retitled and regrouped in place, and so is a parallel lesson retitled."""
    body = CSV_HEAD.replace("title", "title,group") + (
        "7A,2025-03-03,09:00,09:45,PE,7B-boys\n7A,2025-03-03,09:00,09:45,PE,7B-girls\n"
        "7A,2025-03-04,10:00,10:45,Choir,\n7A,2025-03-04,10:00,10:45,Band,\n"
        "7A,2025-03-05,08:00,08:45,Maths,7A-1\n")
    status, out, err = run(capsys, url, "import", str(write(tmp_path, "t.csv", body)))
    assert status == 0 and "5 lessons in 7A: 5 new" in out
    assert "warning: 2 pair(s) of stored lessons overlap" in err
    first = {r["source_key"]: r for r in stored(engine)}
    assert sorted(first) == [
        "csv:7A/2025-03-03T08:00:00Z/7B-boys", "csv:7A/2025-03-03T08:00:00Z/7B-girls",
        "csv:7A/2025-03-04T09:00:00Z//Band", "csv:7A/2025-03-04T09:00:00Z//Choir",
        "csv:7A/2025-03-05T07:00:00Z"]
    assert "0 new, 0 changed, 5 unchanged, 0 removed" in run(
        capsys, url, "import", str(write(tmp_path, "t.csv", body)))[1]
    edited = (body.replace("PE,7B-girls", "Gymnastics,7B-girls")
              .replace("Maths,7A-1", "Algebra,7A-2"))
    status, out, _ = run(capsys, url, "import", str(write(tmp_path, "t.csv", edited)))
    assert status == 0 and "0 new, 2 changed, 3 unchanged, 0 removed" in out
    after = {r["source_key"]: r for r in stored(engine)}
    assert {k: r["id"] for k, r in after.items()} == {k: r["id"] for k, r in first.items()}
    assert after["csv:7A/2025-03-05T07:00:00Z"]["group_label"] == "7A-2"


@pytest.mark.parametrize("body", [
    "Classroom;Date;Start;End;Title;Group\n"
    '7A;2025-03-03;08:00;08:45;"History, modern";7A-1\n',
    " CLASSROOM , date , Start , END , Title , group \n"
    '7A,2025-03-03,08:00,08:45,"History, modern",7A-1\n',
    "classroom\tdate\tstart\tend\ttitle\tgroup\n"
    "7A\t2025-03-03\t08:00\t08:45\tHistory, modern\t7A-1\n",
])
def test_csv_as_spreadsheets_save_it(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, body: str
) -> None:
    """European Excel saves with semicolons, and people capitalise headers: both read."""
    path = tmp_path / "t.csv"
    path.write_text(body, encoding="utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    status, out, _ = run(capsys, url, "import", str(path))
    assert status == 0 and "1 new" in out
    ((classroom, title, group, start),) = [
        (r["classroom_id"], r["title"], r["group_label"], local(r)) for r in stored(engine)]
    assert (classroom, title, group, start) == ("7A", "History, modern", "7A-1",
                                               "2025-03-03 08:00-08:45")


def test_a_wrong_csv_header_is_quoted_back(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = "Room;Date;Start;End;Title\n7A;2025-03-03;08:00;08:45;Maths\n"
    status, _, err = run(capsys, url, "import", str(write(tmp_path, "t.csv", body)))
    assert (status, err) == (2, (
        "classpulse lessons: t.csv line 1, header: missing ['classroom'] in "
        "'Room;Date;Start;End;Title' (read as ';'-separated); the columns are "
        "classroom,date,start,end,title (optionally subject, group); nothing was imported\n"))


UNKNOWN_ADVICE = ("(known ids: 7A, 7B, room-12); a classroom is registered when its first camera "
                  "reports: fix the names in the file, or pass --skip-unknown-rooms to import the "
                  "other classrooms' lessons; nothing was imported\n")


def test_a_school_wide_csv_names_every_unknown_room_or_skips_them(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A school's export names rooms without a camera: all are named in one line (the first one
    was), and --skip-unknown-rooms imports the rest, counting what it left out per room."""
    path = write(tmp_path, "t.csv", CSV_HEAD + (
        "Gym,2025-03-03,08:00,08:45,PE\n7A,2025-03-03,08:00,08:45,Maths\n"
        "Hall,2025-03-03,10:00,10:45,Choir\nGym,2025-03-04,08:00,08:45,PE\n"))
    status, out, err = run(capsys, url, "import", str(path))
    assert (status, out) == (2, "")
    assert err == ("classpulse lessons: t.csv, classroom: classrooms 'Gym' (line 2), 'Hall' "
                   f"(line 4) are unknown {UNKNOWN_ADVICE}")
    assert stored(engine) == []
    status, out, _ = run(capsys, url, "import", str(path), "--skip-unknown-rooms")
    assert status == 0
    assert out.splitlines() == [
        "t.csv: 1 lessons in 7A: 1 new, 0 changed, 0 unchanged, 0 removed",
        "  skipped 3 lesson(s) in classrooms nobody registered (--skip-unknown-rooms): 'Gym' 2, "
        "'Hall' 1"]
    assert keys(engine) == ["csv:7A/2025-03-03T07:00:00Z"]


def test_a_school_wide_ics_names_every_unknown_room_or_skips_them(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = calendar(
        "UID:pe@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:PE\nLOCATION:Gym"
        "\nRRULE:FREQ=WEEKLY;COUNT=3",
        "UID:m@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths\nLOCATION:7A")
    path = write(tmp_path, "t.ics", body)
    status, _, err = run(capsys, url, "import", str(path))
    assert (status, err) == (
        2, f"classpulse lessons: t.ics line 10, LOCATION: classroom 'Gym' is unknown "
        f"{UNKNOWN_ADVICE}")
    status, out, _ = run(capsys, url, "import", str(path), "--skip-unknown-rooms")
    assert status == 0 and out.splitlines()[:2] == [
        "t.ics: 1 lessons in 7A: 1 new, 0 changed, 0 unchanged, 0 removed",
        "  skipped 3 lesson(s) in classrooms nobody registered (--skip-unknown-rooms): 'Gym' 3"]
    assert keys(engine) == ["ics:m@t/2025-03-03T08:00:00Z"]


@pytest.mark.parametrize(("start", "end"), [
    ("DTSTART;TZID=Europe/Berlin:20250303T094000", "DTEND;TZID=Europe/Berlin:20250303T102500"),
    ("DTSTART:20250303T094000", "DTEND:20250303T102500"),  # floating: 7A's clock, Berlin
])
def test_a_bare_date_until_keeps_that_days_lesson(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, start: str,
    end: str
) -> None:
    """`UNTIL=20250317` on a timed series means through 17 March; it ended at its midnight."""
    body = calendar(f"UID:m@t\n{start}\n{end}\nSUMMARY:Maths\nLOCATION:7A"
                    "\nRRULE:FREQ=WEEKLY;UNTIL=20250317")
    assert run(capsys, url, "import", str(write(tmp_path, "t.ics", body)))[0] == 0
    assert [local(r) for r in stored(engine)] == [
        "2025-03-03 09:40-10:25", "2025-03-10 09:40-10:25", "2025-03-17 09:40-10:25"]


def test_a_utc_until_of_a_floating_series_keeps_its_last_lesson(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Exporters write UNTIL as the last start in UTC: 31 March 08:00 in Berlin (summer time) is
    06:00Z. The expansion compared it with the floating 08:00 as written and dropped the lesson."""
    body = calendar("UID:m@t\nDTSTART:20250303T080000\nDTEND:20250303T084500\nSUMMARY:Maths"
                    "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;UNTIL=20250331T060000Z")
    assert run(capsys, url, "import", str(write(tmp_path, "t.ics", body)))[0] == 0
    assert [local(r) for r in stored(engine)] == [
        f"2025-03-{day:02d} 08:00-08:45" for day in (3, 10, 17, 24, 31)]


@pytest.mark.parametrize(("zone", "start", "until", "days"), [
    # Monday 08:00 in Tokyo is Sunday 23:00 UTC: UNTIL=20250323 (a Sunday) and --until
    # 2025-03-16 each took the next Monday's lesson, on its UTC day
    ("Asia/Tokyo", ":20250302T230000Z", ";UNTIL=20250323", ["03", "10", "17"]),
    ("Asia/Tokyo", ";TZID=Etc/UTC:20250302T230000", ";UNTIL=20250323", ["03", "10", "17"]),
    ("Asia/Tokyo", ":20250302T230000Z", ";COUNT=10 --until 2025-03-16", ["03", "10"]),
    # Monday 20:00 in New York is Tuesday 00:00-01:00 UTC: --until 2025-03-10 left out the 10th
    ("America/New_York", ":20250304T010000Z", ";COUNT=10 --until 2025-03-10", ["03", "10"]),
    # ... and --until 2025-03-03, the first lesson's own day there, was refused as before it
    ("America/New_York", ":20250304T010000Z", ";COUNT=10 --until 2025-03-03", ["03"]),
])
def test_days_of_a_series_in_utc_end_on_the_classrooms_clock(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, zone: str,
    start: str, until: str, days: list[str]
) -> None:
    set_zone(engine, zone)
    rule, _, flag = until.partition(" ")
    body = calendar(f"UID:m@t\nDTSTART{start}\nDURATION:PT45M\nSUMMARY:Maths\nLOCATION:7A"
                    f"\nRRULE:FREQ=WEEKLY{rule}")
    status, _, err = run(capsys, url, "import", str(write(tmp_path, "t.ics", body)),
                         *flag.split())
    assert (status, err) == (0, "")
    assert [local(r, ZoneInfo(zone))[:10] for r in stored(engine)] == [
        f"2025-03-{day}" for day in days]
    # an --until before the first lesson on the classroom's clock imports nothing: refused
    status, out, err = run(capsys, url, "import", str(write(tmp_path, "t.ics", body)),
                           "--until", "2025-03-02")
    assert (status, out) == (2, "") and "--until: 2025-03-02 is before the file's first" in err
    assert len(stored(engine)) == len(days)


def test_per_room_exports_that_share_a_uid_keep_their_own_lessons(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two rooms' exports both name UID physics@t: importing 7B's moved 7A's lessons into 7B
    (same key) or removed them (same scope). With --classroom the room is part of both."""
    series = ("UID:physics@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Physics"
              "\nRRULE:FREQ=WEEKLY;COUNT=2")
    lab_a = write(tmp_path, "7a.ics", calendar(series))
    lab_b = write(tmp_path, "7b.ics", calendar(series.replace("T08", "T10")))
    assert run(capsys, url, "import", str(lab_a), "--classroom", "7A")[0] == 0
    first = {r["source_key"]: r["id"] for r in stored(engine)}
    status, out, _ = run(capsys, url, "import", str(lab_b), "--classroom", "7B")
    assert status == 0 and "2 lessons in 7B: 2 new, 0 changed, 0 unchanged, 0 removed" in out
    assert [(r["classroom_id"], r["source_key"]) for r in stored(engine)] == [
        ("7A", "ics@7A:physics@t/2025-03-03T08:00:00Z"),
        ("7B", "ics@7B:physics@t/2025-03-03T10:00:00Z"),
        ("7A", "ics@7A:physics@t/2025-03-10T08:00:00Z"),
        ("7B", "ics@7B:physics@t/2025-03-10T10:00:00Z")]
    status, out, _ = run(capsys, url, "import", str(lab_a), "--classroom", "7A")
    assert status == 0 and "2 lessons in 7A: 0 new, 0 changed, 2 unchanged, 0 removed" in out
    assert {r["source_key"]: r["id"] for r in stored(engine) if r["classroom_id"] == "7A"} == first


def test_lessons_stored_before_the_classroom_scoped_them_keep_their_ids(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before, a --classroom import stored `ics:<UID>/<start>` in scope `ics:<UID>`, as an import
    reading LOCATION still does. The room's export imported with --classroom finds its lessons
    there again: they keep their ids (and bookmarks); the UID's lessons in other rooms stay."""
    series = ("UID:physics@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Physics"
              "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT=2")
    other_room = series.replace("7A", "7B").replace("T08", "T10")
    school = write(tmp_path, "school.ics", calendar(series, other_room))
    assert run(capsys, url, "import", str(school))[0] == 0
    before = {r["starts_at"]: (r["id"], r["source_key"]) for r in stored(engine)}
    assert {key for _, key in before.values()} == {
        "ics:physics@t/2025-03-03T08:00:00Z", "ics:physics@t/2025-03-10T08:00:00Z",
        "ics:physics@t/2025-03-03T10:00:00Z", "ics:physics@t/2025-03-10T10:00:00Z"}
    room = write(tmp_path, "7a.ics", calendar(series))
    status, out, _ = run(capsys, url, "import", str(room), "--classroom", "7A")
    assert status == 0 and "2 lessons in 7A: 0 new, 0 changed, 2 unchanged, 0 removed" in out
    after = {r["starts_at"]: (r["id"], r["source_key"]) for r in stored(engine)}
    assert {start: ident for start, (ident, _) in after.items()} == {
        start: ident for start, (ident, _) in before.items()}
    assert sorted(key for _, key in after.values()) == [
        "ics:physics@t/2025-03-03T10:00:00Z", "ics:physics@t/2025-03-10T10:00:00Z",
        "ics@7A:physics@t/2025-03-03T08:00:00Z", "ics@7A:physics@t/2025-03-10T08:00:00Z"]


def test_a_rolling_export_keeps_the_lessons_already_held(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An export that starts "this week" leaves out the lessons already held; re-importing it
    removed them, and their numbers with them. They are kept, and counted, unless --prune-past."""
    start = datetime.now(UTC).date() - timedelta(days=15)  # then -8, -1 and +6 days
    def weekly(day: date, count: int) -> Path:
        return write(tmp_path, "t.ics", calendar(
            f"UID:r@t\nDTSTART:{day:%Y%m%d}T080000Z\nDTEND:{day:%Y%m%d}T084500Z\nSUMMARY:Maths"
            f"\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT={count}"))
    assert "4 lessons in 7A: 4 new" in run(capsys, url, "import", str(weekly(start, 4)))[1]
    rolled = weekly(start + timedelta(days=21), 2)  # +6 and +13 days
    status, out, _ = run(capsys, url, "import", str(rolled))
    assert status == 0 and out.splitlines()[:2] == [
        "t.ics: 2 lessons in 7A: 1 new, 0 changed, 1 unchanged, 0 removed",
        kept_line(3)]
    assert len(stored(engine)) == 5
    status, out, _ = run(capsys, url, "import", str(rolled), "--prune-past")
    assert status == 0 and "0 new, 0 changed, 2 unchanged, 3 removed" in out
    assert [r["starts_at"].date() for r in stored(engine)] == [
        start + timedelta(days=21), start + timedelta(days=28)]


def test_a_series_whose_time_changed_for_all_its_events_replaces_its_past_lessons(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Maths moved from 08:00 to 08:15 for all its events, as calendars edit a series: every past
    lesson was kept at 08:00 beside its new self at 08:15 ("kept 40 lesson(s) that have ended"),
    two Maths lessons overlapping in each week, and the change since the previous lesson compared
    a lesson with its own copy. The series states its lessons from its first day: those at the
    old time go, ended or not. Lessons of a series before its first day are still kept (a term's
    file), and so are the other series' lessons."""
    def series(start: str, first: str = "20250106", count: int = 40) -> str:
        return (f"UID:m@t\nDTSTART;TZID=Europe/Berlin:{first}T{start}\nDTEND;TZID=Europe/Berlin:"
                f"{first}T0930{start[4:]}\nSUMMARY:Maths\nLOCATION:7A\n"
                f"RRULE:FREQ=WEEKLY;COUNT={count}")
    art = ("UID:a@t\nDTSTART;TZID=Europe/Berlin:20250107T100000\nDTEND;TZID=Europe/Berlin:"
           "20250107T104500\nSUMMARY:Art\nLOCATION:7A")
    path = write(tmp_path, "t.ics", calendar(series("080000"), art))
    assert "41 lessons in 7A: 41 new" in run(capsys, url, "import", str(path))[1]
    path = write(tmp_path, "t.ics", calendar(series("081500"), art))
    status, out, err = run(capsys, url, "import", str(path))
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == (
        "t.ics: 41 lessons in 7A: 40 new, 0 changed, 1 unchanged, 40 removed")
    assert "kept" not in out and "overlap" not in out
    maths = [local(r) for r in stored(engine) if r["title"] == "Maths"]
    assert len(maths) == 40 and {m[10:] for m in maths} == {" 08:15-09:30"}
    # the next term's file of the same series: this term's lessons, before its start, are kept
    path = write(tmp_path, "t.ics", calendar(series("081500", "20251103", 4)))
    status, out, _ = run(capsys, url, "import", str(path))
    assert status == 0 and out.splitlines()[:2] == [
        "t.ics: 4 lessons in 7A: 4 new, 0 changed, 0 unchanged, 0 removed",
        kept_line(40)]
    assert len(stored(engine)) == 45


def test_a_reused_uids_series_each_state_their_own_days(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A file giving one UID to an autumn and a spring series (events without RECURRENCE-ID)
    stated the days between them too, and removed the winter term's lessons of that UID."""
    def term(first: str) -> str:
        return (f"UID:r@t\nDTSTART:{first}T080000Z\nDTEND:{first}T084500Z\nSUMMARY:Maths"
                "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT=3")
    assert run(capsys, url, "import", str(write(tmp_path, "t.ics", calendar(term("20250106")))))[
        0] == 0
    status, out, _ = run(capsys, url, "import", str(write(
        tmp_path, "t.ics", calendar(term("20240902"), term("20250407")))))
    assert status == 0 and "6 new, 0 changed, 0 unchanged, 0 removed" in out
    assert "kept 3 lesson(s)" in out and len(stored(engine)) == 9


def test_hostile_ics_and_days_out_of_range_are_one_line(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """INTERVAL=0 never finished; --until 9999-12-31 overflowed computing the day after."""
    path = write(tmp_path, "t.ics", calendar(
        "UID:a@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths\nLOCATION:7A"
        "\nRRULE:FREQ=WEEKLY;INTERVAL=0"))
    assert run(capsys, url, "import", str(path)) == (2, "", (
        "classpulse lessons: t.ics line 11, RRULE: INTERVAL=0 never moves the series 'Maths' "
        "(UID 'a@t') on; use 1 or more; nothing was imported\n"))
    assert stored(engine) == []
    for args in (("import", str(path), "--until", "9999-12-31"), ("list", "--to", "9999-12-31")):
        with pytest.raises(SystemExit) as exited:
            run(capsys, url, *args)
        err = capsys.readouterr().err
        assert exited.value.code == 2 and err.count("\n") == 1, err
        assert ("9999-12-31 is outside 2000-01-01 to 2099-12-31, the days a timetable may "
                "name") in err


def set_zone(engine: Engine, zone: str, room: str = "7A") -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE classrooms SET timezone = :z WHERE id = :id"),
                     {"z": zone, "id": room})


# floating times (no TZID, no Z), on 7A's clock: a weekly series with one lesson moved (a floating
# RECURRENCE-ID), and a single lesson
FLOATING = calendar(
    "UID:m@t\nDTSTART:20250303T090000\nDTEND:20250303T094500\nSUMMARY:Maths\nLOCATION:7A"
    "\nRRULE:FREQ=WEEKLY;COUNT=3",
    "UID:m@t\nRECURRENCE-ID:20250310T090000\nDTSTART:20250310T113000\nDTEND:20250310T121500"
    "\nSUMMARY:Maths\nLOCATION:7A",
    "UID:h@t\nDTSTART:20250304T100000\nDTEND:20250304T104500\nSUMMARY:History\nLOCATION:7A")
FLOATING_KEYS = ["ics:m@t/2025-03-03T09:00:00", "ics:h@t/2025-03-04T10:00:00",
                 "ics:m@t/2025-03-10T09:00:00", "ics:m@t/2025-03-17T09:00:00"]
FLOATING_TIMES = [("Maths", "2025-03-03 09:00-09:45"), ("History", "2025-03-04 10:00-10:45"),
                  ("Maths", "2025-03-10 11:30-12:15"), ("Maths", "2025-03-17 09:00-09:45")]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])  # east and west of UTC
def test_a_classrooms_new_time_zone_moves_its_lessons_in_place(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, zone: str
) -> None:
    """Imported while 7A was on UTC, the file was imported again once 7A's zone was set, as the
    import's own note advises: floating times were keyed by their UTC instant, so every key
    changed and the ended lessons under the old keys were kept beside the new ones, each lesson
    twice. A floating slot is keyed by its wall-clock time: the lessons move, keeping their ids."""
    set_zone(engine, "UTC")
    path = write(tmp_path, "t.ics", FLOATING)
    assert "4 lessons in 7A: 4 new" in run(capsys, url, "import", str(path))[1]
    first = {r["source_key"]: r["id"] for r in stored(engine)}
    assert sorted(first) == sorted(FLOATING_KEYS)
    set_zone(engine, zone)
    status, out, err = run(capsys, url, "import", str(path))
    assert (status, err) == (0, "")  # nothing overlaps
    assert out.splitlines()[0] == "t.ics: 4 lessons in 7A: 0 new, 4 changed, 0 unchanged, 0 removed"
    assert "kept" not in out
    rows = stored(engine)
    assert {r["source_key"]: r["id"] for r in rows} == first
    assert [(r["title"], local(r, ZoneInfo(zone))) for r in rows] == FLOATING_TIMES


def utc_keys(engine: Engine, zone: str) -> None:
    """Rewrite the stored floating keys as the version before them wrote them: the UTC instant
    the wall-clock slot was on ``zone``'s clock."""
    with engine.begin() as conn:
        for ident, key in conn.execute(text("SELECT id, source_key FROM lessons")).all():
            scope, _, slot = key.rpartition("/")
            instant = datetime.fromisoformat(slot).replace(tzinfo=ZoneInfo(zone))
            conn.execute(text("UPDATE lessons SET source_key = :k WHERE id = :i"), {
                "i": ident, "k": f"{scope}/{instant.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"})


@pytest.mark.parametrize(("then", "now", "changes"), [
    ("UTC", "Europe/Berlin", "0 new, 4 changed, 0 unchanged"),
    ("UTC", "America/New_York", "0 new, 4 changed, 0 unchanged"),
    ("Europe/Berlin", "Europe/Berlin", "0 new, 0 changed, 4 unchanged"),  # no zone change
])
def test_lessons_an_earlier_version_keyed_in_utc_are_found_again(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, then: str,
    now: str, changes: str
) -> None:
    """A database holds floating lessons under the UTC keys an earlier version gave them, with
    the zone 7A had then, which nothing recorded. The next import finds each again, whatever that
    zone was: it keeps its id and takes its wall-clock key; nothing is kept twice."""
    set_zone(engine, then)
    path = write(tmp_path, "t.ics", FLOATING)
    assert "4 lessons in 7A: 4 new" in run(capsys, url, "import", str(path))[1]
    utc_keys(engine, then)
    before = {r["starts_at"]: r["id"] for r in stored(engine)}
    assert not any(key in FLOATING_KEYS for key in keys(engine))
    set_zone(engine, now)
    status, out, err = run(capsys, url, "import", str(path))
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == f"t.ics: 4 lessons in 7A: {changes}, 0 removed"
    assert "kept" not in out
    rows = stored(engine)
    assert sorted(r["source_key"] for r in rows) == sorted(FLOATING_KEYS)
    assert sorted(r["id"] for r in rows) == sorted(before.values())
    assert [(r["title"], local(r, ZoneInfo(now))) for r in rows] == FLOATING_TIMES
    assert "0 new, 0 changed, 4 unchanged, 0 removed" in run(capsys, url, "import", str(path))[1]


def daily(first: str, count: int) -> str:
    """A daily lesson at 09:00 on 7A's clock (floating) from ``first`` (YYYYMMDD) on."""
    return calendar(f"UID:d@t\nDTSTART:{first}T090000\nDTEND:{first}T094500\nSUMMARY:Maths"
                    f"\nLOCATION:7A\nRRULE:FREQ=DAILY;COUNT={count}")


@pytest.mark.parametrize(("then", "now", "changes"), [
    ("Pacific/Apia", "Pacific/Apia", "1 new, 0 changed, 4 unchanged"),  # UTC+13, no change
    ("Pacific/Auckland", "Pacific/Auckland", "1 new, 0 changed, 4 unchanged"),  # UTC+13 in March
    ("UTC", "Pacific/Apia", "1 new, 4 changed, 0 unchanged"),
])
def test_a_daily_series_keyed_in_utc_far_from_it_keeps_each_days_id(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, then: str,
    now: str, changes: str
) -> None:
    """Stored on a clock 13 hours ahead of UTC, each daily lesson's old UTC key lay 13 hours
    before its slot and 11 hours after the next day's; a file starting a day earlier than the
    stored lessons made both offsets equally common, and the vote between them, taking the
    smaller, gave every lesson the id of the day after it. A key is now adopted on its exact
    instant only, on the classroom's clock or UTC."""
    set_zone(engine, then)
    assert "4 lessons in 7A: 4 new" in run(
        capsys, url, "import", str(write(tmp_path, "t.ics", daily("20250304", 4))))[1]
    utc_keys(engine, then)
    by_day = {local(r, ZoneInfo(then))[:10]: r["id"] for r in stored(engine)}
    set_zone(engine, now)
    longer = write(tmp_path, "t.ics", daily("20250303", 5))
    status, out, err = run(capsys, url, "import", str(longer))
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == f"t.ics: 5 lessons in 7A: {changes}, 0 removed"
    assert "kept" not in out
    now_by_day = {local(r, ZoneInfo(now))[:10]: r["id"] for r in stored(engine)}
    assert sorted(now_by_day) == [f"2025-03-0{day}" for day in range(3, 8)]
    assert {day: ident for day, ident in now_by_day.items() if day != "2025-03-03"} == by_day
    assert "0 new, 0 changed, 5 unchanged, 0 removed" in run(capsys, url, "import", str(longer))[1]


def test_keys_an_earlier_version_wrote_on_another_clock_are_not_guessed(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Keys written on Samoa's clock, the classroom on UTC since: neither clock a key is read on
    now gives their instants, so no lesson takes another's id. The file no longer holds them under
    those keys: those on the days the series states are gone, ended or not; the first, at 09:00 in
    Samoa, is 20:00 UTC the day before the series' first, and is kept (--prune-past removes it)."""
    set_zone(engine, "Pacific/Apia")
    path = write(tmp_path, "t.ics", daily("20250303", 5))
    assert "5 lessons in 7A: 5 new" in run(capsys, url, "import", str(path))[1]
    utc_keys(engine, "Pacific/Apia")
    before = {r["id"]: r["starts_at"] for r in stored(engine)}
    set_zone(engine, "UTC")
    status, out, _ = run(capsys, url, "import", str(path))
    assert status == 0 and "5 lessons in 7A: 5 new, 0 changed, 0 unchanged, 4 removed" in out
    assert "kept 1 lesson(s)" in out
    held = {(r["id"], r["starts_at"]) for r in stored(engine)} & set(before.items())
    assert held == {(i, at) for i, at in before.items() if at == min(before.values())}
    assert len(stored(engine)) == 6
    assert "0 new, 0 changed, 5 unchanged, 1 removed" in run(
        capsys, url, "import", str(path), "--prune-past")[1]
    assert sorted(keys(engine)) == [f"ics:d@t/2025-03-0{day}T09:00:00" for day in range(3, 8)]


def zoned(body: str, how: str) -> str:
    """The floating times of an iCalendar file on Berlin's clock given that zone: as a TZID
    (``tzid``) or in UTC (``utc``)."""
    def given(match: re.Match[str]) -> str:
        if how == "tzid":
            return f"{match[1]};TZID=Europe/Berlin:{match[2]}"
        wall = datetime.strptime(match[2], "%Y%m%dT%H%M%S").replace(tzinfo=BERLIN)
        return f"{match[1]}:{wall.astimezone(UTC):%Y%m%dT%H%M%SZ}"

    return re.sub(r"^(DTSTART|DTEND|RECURRENCE-ID|RDATE):(\d{8}T\d{6})$", given, body,
                  flags=re.MULTILINE)


@pytest.mark.parametrize("how", ["tzid", "utc"])
def test_a_file_that_gives_its_floating_times_a_zone_keeps_its_lessons(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, how: str
) -> None:
    """An export that wrote floating times and now writes the same times with their zone (a TZID,
    or in UTC): the new UTC keys never met the stored wall-clock ones, so every lesson was new
    and every ended one kept beside it. A stored wall-clock key on the classroom's clock that is
    exactly the new instant is the same lesson."""
    path = write(tmp_path, "t.ics", FLOATING)
    assert "4 lessons in 7A: 4 new" in run(capsys, url, "import", str(path))[1]
    before = {r["starts_at"]: r["id"] for r in stored(engine)}
    path = write(tmp_path, "t.ics", zoned(FLOATING, how))
    status, out, err = run(capsys, url, "import", str(path))
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == "t.ics: 4 lessons in 7A: 0 new, 0 changed, 4 unchanged, 0 removed"
    assert "kept" not in out
    rows = stored(engine)
    assert {r["starts_at"]: r["id"] for r in rows} == before
    assert all(key.endswith("Z") for key in keys(engine))
    assert [(r["title"], local(r)) for r in rows] == FLOATING_TIMES
    assert "0 new, 0 changed, 4 unchanged, 0 removed" in run(capsys, url, "import", str(path))[1]


def test_a_file_that_drops_its_zone_keeps_its_lessons(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The other way round: times with a TZID, keyed in UTC, now floating on the classroom's
    clock: each new wall-clock key read on that clock is exactly a stored UTC key."""
    path = write(tmp_path, "t.ics", zoned(FLOATING, "tzid"))
    assert "4 lessons in 7A: 4 new" in run(capsys, url, "import", str(path))[1]
    before = {r["starts_at"]: r["id"] for r in stored(engine)}
    path = write(tmp_path, "t.ics", FLOATING)
    status, out, err = run(capsys, url, "import", str(path))
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == "t.ics: 4 lessons in 7A: 0 new, 0 changed, 4 unchanged, 0 removed"
    assert "kept" not in out
    assert {r["starts_at"]: r["id"] for r in stored(engine)} == before
    assert sorted(keys(engine)) == sorted(FLOATING_KEYS)


def test_an_extra_lesson_held_then_moved_is_kept_where_it_was_held(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An extra lesson (RDATE) held on Wednesday at 09:00, stored under an earlier version's UTC
    key; the file now says 10:30, another slot. Within the two hours the vote allowed, the held
    lesson was moved to 10:30, keeping its id; 10:30 is a new lesson, and the one at 09:00, within
    the days the series states, is gone though it has ended."""
    series = ("UID:m@t\nDTSTART:20250303T090000\nDTEND:20250303T094500\nSUMMARY:Maths"
              "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT=2\nRDATE:{}")
    path = write(tmp_path, "t.ics", calendar(series.format("20250305T090000")))
    assert "3 lessons in 7A: 3 new" in run(capsys, url, "import", str(path))[1]
    utc_keys(engine, "Europe/Berlin")
    held = {local(r): r["id"] for r in stored(engine)}
    path = write(tmp_path, "t.ics", calendar(series.format("20250305T103000")))
    status, out, err = run(capsys, url, "import", str(path))
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == (
        "t.ics: 3 lessons in 7A: 1 new, 0 changed, 2 unchanged, 1 removed")
    assert "kept" not in out
    rows = {local(r): r["id"] for r in stored(engine)}
    assert sorted(rows) == ["2025-03-03 09:00-09:45", "2025-03-05 10:30-11:15",
                            "2025-03-10 09:00-09:45"]
    assert {when: rows[when] for when in held if when in rows} == {
        when: i for when, i in held.items() if when != "2025-03-05 09:00-09:45"}
    assert rows["2025-03-05 10:30-11:15"] not in held.values()


def test_a_rolling_export_with_an_old_change_keeps_the_lessons_between(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A rolling export ("this week on") still holding a lesson moved weeks ago: the lessons held
    between that one and this week were removed, as if the file's span began at the old change."""
    start = datetime.now(UTC).date() - timedelta(days=29)  # -29, -22, -15, -8, -1, +6 days
    series = ("UID:r@t\nDTSTART:{:%Y%m%d}T080000Z\nDTEND:{:%Y%m%d}T084500Z\nSUMMARY:Maths"
              "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT={}")
    full = write(tmp_path, "t.ics", calendar(series.format(start, start, 6)))
    assert "6 lessons in 7A: 6 new" in run(capsys, url, "import", str(full))[1]
    week = start + timedelta(days=28)
    rolled = write(tmp_path, "t.ics", calendar(series.format(week, week, 2), (
        f"UID:r@t\nRECURRENCE-ID:{start:%Y%m%d}T080000Z\nDTSTART:{start:%Y%m%d}T090000Z"
        f"\nDTEND:{start:%Y%m%d}T094500Z\nSUMMARY:Maths\nLOCATION:7A")))
    status, out, _ = run(capsys, url, "import", str(rolled))
    assert status == 0 and out.splitlines()[:2] == [
        "t.ics: 3 lessons in 7A: 0 new, 1 changed, 2 unchanged, 0 removed",
        kept_line(3)]
    assert [(r["starts_at"] - datetime.combine(start, time(8), UTC)).days
            for r in stored(engine)] == [0, 7, 14, 21, 28, 35]


def test_an_import_cut_by_until_keeps_the_ended_lessons_after_it(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--until before the series' end leaves out the lessons after it; those already held were
    removed, as the file's span began at its first lesson. The file is not read past --until, so
    they are kept, --prune-past or not, and said to be."""
    path = write(tmp_path, "t.ics", calendar(
        "UID:m@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths\nLOCATION:7A"
        "\nRRULE:FREQ=WEEKLY;COUNT=5"))
    assert "5 lessons in 7A: 5 new" in run(capsys, url, "import", str(path))[1]
    for prune in ((), ("--prune-past",)):
        status, out, _ = run(capsys, url, "import", str(path), "--until", "2025-03-13", *prune)
        assert status == 0 and out.splitlines()[:2] == [
            "t.ics: 2 lessons in 7A: 0 new, 0 changed, 2 unchanged, 0 removed",
            "  kept 3 stored lesson(s) after 2025-03-13, the last day the file was read for "
            "(--until)"]
        assert len(stored(engine)) == 5


def test_per_term_files_sharing_uids_keep_each_others_ended_lessons(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Term 1's and term 2's exports give a course one UID: importing term 1 again removed term
    2's lessons, held after term 1's first."""
    course = ("UID:c@t\nDTSTART:{0}T080000Z\nDTEND:{0}T084500Z\nSUMMARY:Maths\nLOCATION:7A"
              "\nRRULE:FREQ=WEEKLY;COUNT=3")
    term1 = write(tmp_path, "term1.ics", calendar(course.format("20250106")))
    term2 = write(tmp_path, "term2.ics", calendar(course.format("20250407")))
    for path, kept in ((term1, 0), (term2, 3), (term1, 3)):
        status, out, _ = run(capsys, url, "import", str(path))
        assert status == 0 and (f"kept {kept} lesson(s)" in out) == bool(kept), out
    assert [local(r, UTC)[:10] for r in stored(engine)] == [
        "2025-01-06", "2025-01-13", "2025-01-20", "2025-04-07", "2025-04-14", "2025-04-21"]


def test_ended_occurrences_excluded_later_are_removed_alike_wherever_they_fall(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """EXDATE on a series' first lesson kept it (before the file's first), on its third removed
    it. Both lie within the days the series states, where the file cancels them: both are
    removed, ended or not."""
    series = ("UID:m@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths"
              "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT=4")
    assert run(capsys, url, "import", str(write(tmp_path, "t.ics", calendar(series))))[0] == 0
    excluded = write(tmp_path, "t.ics", calendar(
        f"{series}\nEXDATE:20250303T080000Z\nEXDATE:20250317T080000Z"))
    status, out, _ = run(capsys, url, "import", str(excluded))
    assert status == 0 and "0 new, 0 changed, 2 unchanged, 2 removed" in out
    assert "kept" not in out
    assert keys(engine) == ["ics:m@t/2025-03-10T08:00:00Z", "ics:m@t/2025-03-24T08:00:00Z"]


def test_this_and_future_changes_key_each_lesson_by_its_own_slot(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """RECURRENCE-ID;RANGE=THISANDFUTURE moves the occurrence and every later one; the expansion
    gives them all its RECURRENCE-ID, and the file was refused as "the same lesson as line 4".
    Each is its own slot in the series, so the lessons the change moves keep their ids."""
    series = ("UID:m@t\nDTSTART;TZID=Europe/Berlin:20250317T090000\n"
              "DTEND;TZID=Europe/Berlin:20250317T094500\nSUMMARY:Maths\nLOCATION:7A"
              "\nRRULE:FREQ=WEEKLY;COUNT=4")
    assert "4 lessons in 7A: 4 new" in run(
        capsys, url, "import", str(write(tmp_path, "t.ics", calendar(series))))[1]
    first = {r["source_key"]: r["id"] for r in stored(engine)}
    moved = write(tmp_path, "t.ics", calendar(series, (
        "UID:m@t\nRECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/Berlin:20250324T090000\n"
        "DTSTART;TZID=Europe/Berlin:20250324T100000\nDTEND;TZID=Europe/Berlin:20250324T104500\n"
        "SUMMARY:Maths (new room)\nLOCATION:7A")))
    status, out, err = run(capsys, url, "import", str(moved), "--prune-past")
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == "t.ics: 4 lessons in 7A: 0 new, 3 changed, 1 unchanged, 0 removed"
    rows = stored(engine)
    assert [(r["title"], local(r)) for r in rows] == [  # Berlin's clocks change on 30 March
        ("Maths", "2025-03-17 09:00-09:45"), ("Maths (new room)", "2025-03-24 10:00-10:45"),
        ("Maths (new room)", "2025-03-31 10:00-10:45"),
        ("Maths (new room)", "2025-04-07 10:00-10:45")]
    assert {r["source_key"]: r["id"] for r in rows} == first
    assert sorted(first) == ["ics:m@t/2025-03-17T08:00:00Z", "ics:m@t/2025-03-24T08:00:00Z",
                             "ics:m@t/2025-03-31T07:00:00Z", "ics:m@t/2025-04-07T07:00:00Z"]
    assert "0 new, 0 changed, 4 unchanged, 0 removed" in run(capsys, url, "import", str(moved))[1]


def test_a_this_and_future_change_in_another_zone_across_a_clock_change_keeps_its_slot(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A series in UTC, changed from 24 March on to start a week later on Berlin's clock, past
    Berlin's clock change: the change's own lesson was keyed 09:00Z, its slot's Berlin wall-clock
    time with the move taken back, not its RECURRENCE-ID 08:00Z, and took a new id."""
    series = ("UID:m@t\nDTSTART:20250317T080000Z\nDTEND:20250317T084500Z\nSUMMARY:Maths"
              "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT=5")
    assert "5 lessons in 7A: 5 new" in run(
        capsys, url, "import", str(write(tmp_path, "t.ics", calendar(series))))[1]
    first = {r["source_key"]: r["id"] for r in stored(engine)}
    moved = write(tmp_path, "t.ics", calendar(series, (
        "UID:m@t\nRECURRENCE-ID;RANGE=THISANDFUTURE:20250324T080000Z\n"
        "DTSTART;TZID=Europe/Berlin:20250331T100000\nDTEND;TZID=Europe/Berlin:20250331T104500\n"
        "SUMMARY:Maths (a week on)\nLOCATION:7A")))
    status, out, err = run(capsys, url, "import", str(moved), "--prune-past")
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == "t.ics: 5 lessons in 7A: 0 new, 4 changed, 1 unchanged, 0 removed"
    rows = stored(engine)
    assert {r["source_key"]: r["id"] for r in rows} == first
    assert [local(r, UTC) for r in rows] == [
        "2025-03-17 08:00-08:45", "2025-03-31 08:00-08:45", "2025-04-07 08:00-08:45",
        "2025-04-14 08:00-08:45", "2025-04-21 08:00-08:45"]
    assert "0 new, 0 changed, 5 unchanged, 0 removed" in run(capsys, url, "import", str(moved))[1]


def test_a_cancelled_occurrence_needs_no_place_nor_title(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Exporters leave a cancelled occurrence's LOCATION and SUMMARY empty; the file was refused
    for naming no classroom, though the cancellation holds no lesson to put anywhere."""
    path = write(tmp_path, "t.ics", calendar(
        "UID:m@t\nDTSTART:20250303T090000Z\nDTEND:20250303T094500Z\nSUMMARY:Maths\nLOCATION:7A"
        "\nRRULE:FREQ=WEEKLY;COUNT=3",
        "UID:m@t\nRECURRENCE-ID:20250310T090000Z\nDTSTART:20250310T090000Z\nSTATUS:CANCELLED"
        "\nLOCATION:\nSUMMARY:"))
    status, out, err = run(capsys, url, "import", str(path))
    assert (status, err) == (0, "")
    assert out.splitlines()[:2] == [
        "t.ics: 2 lessons in 7A: 2 new, 0 changed, 0 unchanged, 0 removed",
        "  skipped 1 cancelled occurrence(s)"]
    assert keys(engine) == ["ics:m@t/2025-03-03T09:00:00Z", "ics:m@t/2025-03-17T09:00:00Z"]


def test_a_timed_change_of_an_all_day_series_is_a_lesson(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An all-day series is no lesson, but one of its days given a time is: its RECURRENCE-ID, a
    date, was an AttributeError traceback. It is that day's midnight on the classroom's clock."""
    path = write(tmp_path, "t.ics", calendar(
        "UID:d@t\nDTSTART;VALUE=DATE:20250303\nDTEND;VALUE=DATE:20250304\nSUMMARY:Project week"
        "\nLOCATION:7A\nRRULE:FREQ=WEEKLY;COUNT=3",
        "UID:d@t\nRECURRENCE-ID;VALUE=DATE:20250310\nDTSTART:20250310T090000"
        "\nDTEND:20250310T094500\nSUMMARY:Project week\nLOCATION:7A"))
    for changes in ("1 new, 0 changed, 0 unchanged", "0 new, 0 changed, 1 unchanged"):
        status, out, err = run(capsys, url, "import", str(path))
        assert (status, err) == (0, "")
        assert out.splitlines()[:2] == [f"t.ics: 1 lessons in 7A: {changes}, 0 removed",
                                        "  skipped 1 all-day event(s)"]
    (row,) = stored(engine)
    assert local(row) == "2025-03-10 09:00-09:45"
    assert row["source_key"] == "ics:d@t/2025-03-10T00:00:00"  # midnight on 7A's clock


def test_lessons_no_file_holds_any_more_are_removed_by_command(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same timetable imported once as CSV and once as iCalendar overlaps itself, and the
    warning's advice, importing again, could not remove what the file no longer holds.
    `lessons remove` does, one classroom, source and span of days at a time, after a dry run."""
    csv_file = write(tmp_path, "t.csv", CSV_HEAD + (
        "7A,2025-03-03,09:00,09:45,Maths\n7A,2025-03-10,09:00,09:45,Maths\n"
        "7B,2025-03-03,09:00,09:45,Maths\n"))
    assert run(capsys, url, "import", str(csv_file))[0] == 0
    ics_file = write(tmp_path, "t.ics", calendar(
        "UID:m@t\nDTSTART;TZID=Europe/Berlin:20250303T090000\n"
        "DTEND;TZID=Europe/Berlin:20250303T094500\nSUMMARY:Maths\nLOCATION:7A"
        "\nRRULE:FREQ=WEEKLY;COUNT=2"))
    status, _, err = run(capsys, url, "import", str(ics_file))
    assert status == 0 and err.startswith("warning: 2 pair(s) of stored lessons overlap")
    assert "  7A: 'Maths' Mon 03 Mar 2025 09:00-09:45 (csv) and 'Maths' Mon 03 Mar 2025 " \
        "09:00-09:45 (ics)" in err.splitlines()
    assert "classpulse lessons remove --classroom ID --source csv|ics" in err

    before = stored(engine)
    status, out, _ = run(capsys, url, "remove", "--classroom", "Class 7A", "--source", "csv",
                         "--from", "2025-03-03", "--to", "2025-03-09")
    assert status == 0 and out.splitlines() == [
        "would remove 1 lesson(s) of 7A, imported from csv, 2025-03-03 to 2025-03-09; nothing "
        "was removed yet, run again with --yes to remove them:",
        f"  Mon 2025-03-03 09:00-09:45 'Maths' (csv, lesson {before[0]['id']})"]
    assert stored(engine) == before
    status, out, _ = run(capsys, url, "remove", "--classroom", "7A", "--source", "csv", "--yes")
    assert (status, out) == (0, "removed 2 lesson(s) of 7A, imported from csv\n")
    assert [(r["classroom_id"], r["source_key"][:4]) for r in stored(engine)] == [
        ("7A", "ics:"), ("7B", "csv:"), ("7A", "ics:")]  # 7B's and the iCalendar ones stay
    assert run(capsys, url, "remove", "--classroom", "7A", "--source", "csv", "--yes")[1] == (
        "no stored lesson of 7A, imported from csv; nothing was removed\n")
    status, out, err = run(capsys, url, "import", str(ics_file))
    assert status == 0 and "0 new, 0 changed, 2 unchanged" in out and err == ""
    status, _, err = run(capsys, url, "remove", "--classroom", "9Z")
    assert (status, err.count("\n")) == (2, 1) and "classroom '9Z' is unknown" in err


def test_removing_a_whole_classroom_says_how_many_of_each_source(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`remove --classroom 7A --yes` with no other filter removes every lesson of the classroom,
    while its dry run named only the first ten: it says so, with the total of each format."""
    csv_file = write(tmp_path, "t.csv", CSV_HEAD + (
        "7A,2025-03-03,09:00,09:45,Maths\n7A,2025-03-04,09:00,09:45,Maths\n"
        "7B,2025-03-03,09:00,09:45,Maths\n"))
    ics_file = write(tmp_path, "t.ics", calendar(
        "UID:a@t\nDTSTART:20250305T080000Z\nDTEND:20250305T084500Z\nSUMMARY:Art\nLOCATION:7A"
        "\nRRULE:FREQ=WEEKLY;COUNT=12"))
    for path in (csv_file, ics_file):
        assert run(capsys, url, "import", str(path))[0] == 0
    status, out, _ = run(capsys, url, "remove", "--classroom", "7A")
    lines = out.splitlines()
    assert status == 0 and lines[0] == (
        "would remove 14 lesson(s) (2 from csv, 12 from ics) of 7A, every stored lesson of the "
        "classroom; nothing was removed yet, run again with --yes to remove them:")
    assert len(lines) == 1 + 10 + 1 and lines[-1] == "  ... and 4 more"
    assert len(stored(engine)) == 15
    assert run(capsys, url, "remove", "--classroom", "7A", "--yes")[1] == (
        "removed 14 lesson(s) (2 from csv, 12 from ics) of 7A, every stored lesson of the "
        "classroom\n")
    assert [r["classroom_id"] for r in stored(engine)] == ["7B"]


@pytest.mark.parametrize(("row", "span"), [
    ("7A,2025-03-03,22:00,01:00,Night school", "2025-03-03 22:00 - 2025-03-04 01:00"),
    ("7A,2025-03-03,23:00,24:00,Late class", "2025-03-03 23:00 - 2025-03-04 00:00"),
    ("7A,2025-03-03,20:00,08:00,Sleepover", "2025-03-03 20:00 - 2025-03-04 08:00"),
])
def test_a_csv_lesson_may_cross_midnight(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, row: str,
    span: str
) -> None:
    """An end at or before the start could not be written: it is the next day's when that makes a
    lesson of at most 12 hours (the longest, as for iCalendar), and 24:00 ends the day."""
    path = write(tmp_path, "t.csv", f"{CSV_HEAD}{row}\n")
    for changes in ("1 new, 0 changed, 0 unchanged", "0 new, 0 changed, 1 unchanged"):
        status, out, _ = run(capsys, url, "import", str(path))
        assert status == 0 and changes in out
    (lesson,) = stored(engine)
    start, end = (lesson[k].astimezone(BERLIN) for k in ("starts_at", "ends_at"))
    assert f"{start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M}" == span


@pytest.mark.parametrize(("row", "message"), [
    ("7A,2025-03-03,09:00,08:45,Maths", "line 2, end: 08:45 is not after the start 09:00, and on "
     "the next day it would end a lesson of 23 h 45 min, longer than the 12 hours a lesson may "
     "last; fix the times (an end past midnight is on the next day)"),
    ("7A,2025-03-03,09:00,09:00,Maths", "line 2, end: 09:00 is not after the start 09:00, and on "
     "the next day it would end a lesson of 24 h 00 min"),
    ("7A,2025-03-29,23:00,02:30,Maths", "line 2, end: 2025-03-30 02:30 does not exist in "
     "Europe/Berlin (the clocks go forward then)"),
    ("7A,2025-03-03,24:00,01:00,Maths", "line 2, start: '24:00' is not a time HH:MM"),
    # on the row's own day, or ending at 24:00, a lesson is no longer than 12 hours either
    ("7A,2025-03-03,00:00,24:00,Maths", "line 2, end: 00:00 to 24:00 makes a lesson of 24 h 00 "
     "min, longer than the 12 hours a lesson may last; fix the times; nothing was imported"),
    ("7A,2025-03-03,08:00,24:00,Maths", "line 2, end: 08:00 to 24:00 makes a lesson of 16 h 00 "
     "min, longer than the 12 hours a lesson may last; fix the times; nothing was imported"),
    ("7A,2025-03-03,01:00,13:45,Maths", "line 2, end: 01:00 to 13:45 makes a lesson of 12 h 45 "
     "min, longer than the 12 hours a lesson may last; fix the times; nothing was imported"),
])
def test_a_csv_end_before_its_start_that_is_no_night_lesson_is_refused(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, row: str,
    message: str
) -> None:
    status, _, err = run(capsys, url, "import", str(write(tmp_path, "t.csv", f"{CSV_HEAD}{row}\n")))
    assert status == 2 and err.startswith(f"classpulse lessons: t.csv {message}"), err
    assert err.count("\n") == 1 and stored(engine) == []


def test_a_classroom_name_two_classrooms_share_is_ambiguous(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """7A and 7B both named "Lab": a file or --classroom naming "Lab" was told it was unknown (and
    --skip-unknown-rooms skipped it as a room nobody registered). It is refused as ambiguous."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE classrooms SET name = 'Lab' WHERE id IN ('7A', '7B')"))
    advice = ("classroom name 'Lab' is ambiguous: classrooms 7A, 7B all bear it; name the "
              "classroom by its id instead, or give the classrooms distinct names "
              "(classrooms.name)")
    path = write(tmp_path, "t.csv", CSV_HEAD + "Lab,2025-03-03,08:00,08:45,Maths\n")
    for extra in ((), ("--skip-unknown-rooms",)):
        assert run(capsys, url, "import", str(path), *extra) == (
            2, "", f"classpulse lessons: t.csv line 2, classroom: {advice}; nothing was imported\n")
    ics_file = write(tmp_path, "t.ics", calendar(
        "UID:m@t\nDTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nSUMMARY:Maths\nLOCATION:Lab"))
    assert run(capsys, url, "import", str(ics_file), "--skip-unknown-rooms") == (
        2, "", f"classpulse lessons: t.ics line 10, LOCATION: {advice}; nothing was imported\n")
    for command in (("import", str(ics_file), "--classroom", "Lab"),
                    ("remove", "--classroom", "Lab")):
        assert run(capsys, url, *command) == (2, "", f"classpulse lessons: --classroom: {advice}\n")
    assert stored(engine) == []


def test_a_csv_header_naming_a_column_twice_is_refused_and_empty_rows_are_skipped(
    tmp_path: Path
) -> None:
    """`title,title` was read with the last column winning, without a word; a row of empty
    fields (`;;;;`, as Excel saves a row it once held) refused the whole file."""
    from classpulse.lessons.csv_timetable import read_csv
    from classpulse.lessons.timetable import Classrooms, TimetableError

    from .conftest import CLASSROOMS

    rooms = Classrooms((room, name, zone) for room, (name, zone) in CLASSROOMS.items())
    twice = write(tmp_path, "t.csv", "classroom,date,start,end,title,title\n"
                  "7A,2025-03-03,08:00,08:45,Maths,Other\n")
    with pytest.raises(TimetableError) as caught:
        read_csv(twice, rooms)
    assert str(caught.value) == ("t.csv line 1, header: column 'title' is given 2 times; keep "
                                 "one; nothing was imported")
    excel = write(tmp_path, "t.csv", "Classroom;Date;Start;End;Title\r\n;;;;\r\n"
                  "7A;2025-03-03;08:00;08:45;Maths\r\n;;;;\r\n ; ;;;;;\r\n")
    (lesson,) = read_csv(excel, rooms).lessons
    assert (lesson.title, lesson.line, lesson.source_key) == (
        "Maths", 3, "csv:7A/2025-03-03T07:00:00Z")


def weekly_from(first: date, extra: str = "", uid: str = "w@t", room: str = "7A") -> str:
    """A weekly Maths lesson at 08:00 on Berlin's clock in ``room`` from ``first`` on."""
    return (f"UID:{uid}\nDTSTART;TZID=Europe/Berlin:{first:%Y%m%d}T080000\nDTEND;TZID="
            f"Europe/Berlin:{first:%Y%m%d}T084500\nSUMMARY:Maths\nLOCATION:{room}\n"
            f"RRULE:FREQ=WEEKLY{extra}")


def test_a_series_begun_over_a_year_ago_has_lessons_in_the_coming_weeks(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without an end, a series was expanded up to a year after its start, a day already past:
    the current term had no lessons. Now up to a year after today (the import's clock)."""
    today = datetime.now(UTC).date()
    path = write(tmp_path, "t.ics", calendar(weekly_from(today - timedelta(days=400))))
    status, out, _ = run(capsys, url, "import", str(path))
    assert status == 0 and f"recurring events expanded up to {today + timedelta(days=365)}" in out
    coming = [r for r in stored(engine)
              if today <= r["starts_at"].date() < today + timedelta(days=8)]
    assert len(coming) == 1


def test_a_nearer_until_keeps_the_stored_lessons_after_it(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--until 2098-03-01, then --until 2098-01-20 (as the refusal of a too large file advises):
    the lessons after it, which the file still holds, were removed. --until ends what the file
    is read for: those after it are kept, and the summary says so."""
    path = write(tmp_path, "t.ics", calendar(weekly_from(date(2098, 1, 6))))
    assert "8 lessons in 7A: 8 new" in run(capsys, url, "import", str(path),
                                           "--until", "2098-03-01")[1]
    ids = [r["id"] for r in stored(engine)]
    status, out, _ = run(capsys, url, "import", str(path), "--until", "2098-01-20")
    assert status == 0 and out.splitlines()[:2] == [
        "t.ics: 3 lessons in 7A: 0 new, 0 changed, 3 unchanged, 0 removed",
        "  kept 5 stored lesson(s) after 2098-01-20, the last day the file was read for "
        "(--until)"]
    assert [r["id"] for r in stored(engine)] == ids


def test_a_file_of_one_changed_occurrence_replaces_that_occurrence_only(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Outlook sends one changed lesson as a file holding only its RECURRENCE-ID event: the rest
    of the series, which the file does not hold, was removed ("1 changed ... 4 removed"). A UID
    whose series is not in the file has only the occurrences it states replaced."""
    series = weekly_from(date(2098, 1, 6), ";COUNT=5")
    assert "5 new" in run(capsys, url, "import", str(write(tmp_path, "s.ics",
                                                           calendar(series))))[1]
    before = {r["id"]: local(r) for r in stored(engine)}
    change = ("UID:w@t\nRECURRENCE-ID;TZID=Europe/Berlin:20980113T080000\nDTSTART;TZID="
              "Europe/Berlin:20980113T100000\nDTEND;TZID=Europe/Berlin:20980113T104500\n"
              "SUMMARY:Maths (moved)\nLOCATION:7A")
    status, out, _ = run(capsys, url, "import", str(write(tmp_path, "c.ics", calendar(change))))
    assert status == 0
    assert out.splitlines()[0] == "c.ics: 1 lessons in 7A: 0 new, 1 changed, 0 unchanged, 0 removed"
    after = {r["id"]: (r["title"], local(r)) for r in stored(engine)}
    assert sorted(after) == sorted(before)
    assert sorted(after.values())[:2] == [("Maths", "2098-01-06 08:00-08:45"),
                                          ("Maths", "2098-01-20 08:00-08:45")]
    assert ("Maths (moved)", "2098-01-13 10:00-10:45") in after.values()
    cancel = ("UID:w@t\nRECURRENCE-ID;TZID=Europe/Berlin:20980120T080000\nDTSTART;TZID="
              "Europe/Berlin:20980120T080000\nSTATUS:CANCELLED")
    status, out, _ = run(capsys, url, "import", str(write(tmp_path, "c.ics", calendar(cancel))))
    assert status == 0 and "0 lessons in none: 0 new, 0 changed, 0 unchanged, 1 removed" in out
    assert len(stored(engine)) == 4


def test_a_lesson_whose_room_changed_is_updated_in_place(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """One lesson of a series moved to 7B (its RECURRENCE-ID) and the organiser's revert, and an
    event that is no series moved to 7B: a re-import that changed a stored lesson's classroom was
    refused for the whole file, advising to remove all of 7A's iCalendar lessons. A lesson whose
    room changed is the same lesson, updated in place with its id."""
    series = weekly_from(date(2098, 1, 6), ";COUNT=2")
    in_7b = ("UID:w@t\nRECURRENCE-ID;TZID=Europe/Berlin:20980113T080000\nDTSTART;TZID="
             "Europe/Berlin:20980113T080000\nDTEND;TZID=Europe/Berlin:20980113T084500\n"
             "SUMMARY:Maths\nLOCATION:7B")
    talk = ("UID:o@t\nDTSTART;TZID=Europe/Berlin:20980108T100000\nDTEND;TZID=Europe/Berlin:"
            "20980108T104500\nSUMMARY:Talk\nLOCATION:{}")
    path = write(tmp_path, "t.ics", calendar(series, talk.format("7A")))
    assert "3 new" in run(capsys, url, "import", str(path))[1]
    ids = [r["id"] for r in stored(engine)]
    for events, rooms in (((series, in_7b, talk.format("7A")), ["7A", "7A", "7B"]),
                          ((series, talk.format("7A")), ["7A", "7A", "7A"]),
                          ((series, talk.format("7B")), ["7A", "7B", "7A"])):
        status, out, err = run(capsys, url, "import", str(write(tmp_path, "t.ics",
                                                                calendar(*events))))
        assert (status, err) == (0, "")
        assert "0 new, 1 changed, 2 unchanged, 0 removed" in out.splitlines()[0]
        rows = stored(engine)
        assert [(r["id"], r["classroom_id"], local(r)) for r in rows] == [
            (ids[0], rooms[0], "2098-01-06 08:00-08:45"),
            (ids[1], rooms[1], "2098-01-08 10:00-10:45"),
            (ids[2], rooms[2], "2098-01-13 08:00-08:45")]


def test_a_file_imported_with_and_without_classroom_keeps_one_lesson_each(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Imported with --classroom 7A, then without (LOCATION 7A), every lesson was stored twice,
    under `ics@7A:...` and `ics:...`. Each import finds the other's lessons of the same UID and
    classroom again: they keep their ids, one lesson each."""
    path = write(tmp_path, "t.ics", calendar(weekly_from(date(2098, 1, 6), ";COUNT=3")))
    assert "3 new" in run(capsys, url, "import", str(path), "--classroom", "7A")[1]
    ids = sorted(r["id"] for r in stored(engine))
    for flags in ((), ("--classroom", "7A"), ()):
        status, out, err = run(capsys, url, "import", str(path), *flags)
        assert (status, err) == (0, "")
        assert "3 lessons in 7A: 0 new, 0 changed, 3 unchanged, 0 removed" in out
        assert sorted(r["id"] for r in stored(engine)) == ids
    assert keys(engine)[0] == "ics:w@t/2098-01-06T07:00:00Z"


def test_an_event_that_becomes_a_series_and_back_keeps_its_lessons_ids(
    url: str, engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An event that is no series is keyed by its start, as a series' occurrence at that start
    is: the same lesson when the event becomes a weekly series and a one-off again. Keyed by its
    UID alone, each step made every lesson a new one (ids 1, then 2-4, then 5)."""
    once = ("UID:c@t\nDTSTART;TZID=Europe/Berlin:20980106T080000\nDTEND;TZID=Europe/Berlin:"
            "20980106T084500\nSUMMARY:Maths\nLOCATION:7A")
    path = write(tmp_path, "t.ics", calendar(once))
    assert "1 new" in run(capsys, url, "import", str(path))[1]
    ((first, key),) = [(r["id"], r["source_key"]) for r in stored(engine)]
    assert key == "ics:c@t/2098-01-06T07:00:00Z"
    weekly = write(tmp_path, "t.ics", calendar(f"{once}\nRRULE:FREQ=WEEKLY;COUNT=3"))
    assert "2 new, 0 changed, 1 unchanged, 0 removed" in run(capsys, url, "import",
                                                             str(weekly))[1]
    assert [(r["id"], local(r)) for r in stored(engine)] == [
        (first, "2098-01-06 08:00-08:45"), (first + 1, "2098-01-13 08:00-08:45"),
        (first + 2, "2098-01-20 08:00-08:45")]
    path = write(tmp_path, "t.ics", calendar(once))
    assert "0 new, 0 changed, 1 unchanged, 2 removed" in run(capsys, url, "import", str(path))[1]
    assert [(r["id"], r["source_key"], local(r)) for r in stored(engine)] == [
        (first, key, "2098-01-06 08:00-08:45")]
