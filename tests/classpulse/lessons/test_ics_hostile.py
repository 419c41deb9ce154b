"""iCalendar files that once hung, flooded memory, raised a traceback or stored lessons at the wrong
time, read by ``read_ics`` itself (no database): each is now one line naming the value and what to
do, or lessons at the times the file means.

Every file is a few lines written to ``tmp_path``; the bounds that a real file would need minutes
to reach (the occurrence cap, the CPU limit, the file size) are lowered for their test.
"""

from __future__ import annotations

import signal
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from classpulse.lessons import ics_timetable, timetable
from classpulse.lessons.csv_timetable import read_csv
from classpulse.lessons.ics_timetable import IcsImport, read_ics
from classpulse.lessons.timetable import Classrooms, TimetableError

from .conftest import CLASSROOMS

UTC = timezone.utc
ROOMS = Classrooms((room, name, zone) for room, (name, zone) in CLASSROOMS.items())
HEAD = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\n"
# line 4 is BEGIN:VEVENT, 5 the UID, 6 DTSTAMP, 7 SUMMARY, 8 LOCATION, 9 on the fields given
EVENT = ("BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20250220T120000Z\nSUMMARY:Maths\nLOCATION:7A\n"
         "{fields}\nEND:VEVENT\n")
TIMES = "DTSTART:20250303T080000Z\nDTEND:20250303T084500Z"


def ics(tmp_path: Path, *events: str, head: str = "") -> Path:
    """A file of these events (their fields after LOCATION; UIDs e@t, e2@t, ...), with ``head``
    among the calendar's properties before them."""
    path = tmp_path / "t.ics"
    body = "".join(EVENT.format(uid=f"e{n if n > 1 else ''}@t", fields=fields)
                   for n, fields in enumerate(events, start=1))
    path.write_text(f"{HEAD}{head}{body}END:VCALENDAR\n", encoding="utf-8")
    return path


def refused(path: Path, **options: object) -> str:
    with pytest.raises(TimetableError) as caught:
        read_ics(path, ROOMS, **options)
    message = str(caught.value)
    assert "\n" not in message and message.endswith("; nothing was imported")
    return message.removesuffix("; nothing was imported")


@pytest.mark.parametrize(("fields", "message"), [
    # never finished
    (f"{TIMES}\nRRULE:FREQ=WEEKLY;INTERVAL=0", "line 11, RRULE: INTERVAL=0 never moves the "
     "series 'Maths' (UID 'e@t') on; use 1 or more"),
    # 10^5 to 10^7 lessons over the default year, all in memory
    (f"{TIMES}\nRRULE:FREQ=MINUTELY", "line 11, RRULE: FREQ=MINUTELY repeats 'Maths' (UID "
     "'e@t') more often than daily, as no lesson does; export one event per lesson"),
    (f"{TIMES}\nRRULE:FREQ=DAILY;BYHOUR=8;BYMINUTE=0,1,2", "line 11, RRULE: BYMINUTE=0,1,2 "
     "starts 'Maths' (UID 'e@t') several times a day; export one event per lesson time"),
    # OverflowError tracebacks
    ("DTSTART:20250303T080000Z\nDURATION:P99999999D", "line 10, DURATION: P99999999D ends the "
     "event after 2099; give its real length"),
    ("DTSTART:99991201T080000Z\nDTEND:99991201T084500Z\nRRULE:FREQ=YEARLY", "line 9, DTSTART: "
     "9999-12-01 is outside the years 2000-2099 a timetable may name; fix the date"),
    ("DTSTART:00010101T003000\nDTEND:00010101T010000", "line 9, DTSTART: 0001-01-01 is outside "
     "the years 2000-2099 a timetable may name; fix the date"),
    # read as floating, on the classroom's clock, without a word
    ("DTSTART;TZID=Mars/Olympus:20250303T080000\nDTEND;TZID=Mars/Olympus:20250303T084500",
     "line 9, DTSTART: TZID 'Mars/Olympus' is neither an IANA time zone nor defined by a "
     "VTIMEZONE in the file; use a zone name such as Europe/Berlin"),
    # 02:30 does not exist in Berlin that night: it was "does not end after it starts", and
    # 02:30-04:00 was stored as 03:30-04:00
    ("DTSTART:20250330T023000\nDTEND:20250330T031500", "line 9, DTSTART: 2025-03-30 02:30 does "
     "not exist in Europe/Berlin (the clocks go forward then)"),
    ("DTSTART;TZID=Europe/Berlin:20250330T023000\nDTEND;TZID=Europe/Berlin:20250330T040000",
     "line 9, DTSTART: 2025-03-30 02:30 does not exist in Europe/Berlin (the clocks go forward "
     "then)"),
    # a line icalendar cannot split into name and value has no name: a TypeError traceback
    ("DTSTART;:20250303T080000\nDTEND:20250303T084500", "line 4: Content line could not be "
     "parsed into parts: 'DTSTART;:20250303T080000': Invalid content line"),
    # a weekly series that meets the gap on its second Sunday
    ("DTSTART;TZID=Europe/Berlin:20250323T023000\nDTEND;TZID=Europe/Berlin:20250323T031500\n"
     "RRULE:FREQ=WEEKLY;COUNT=3", "line 9, DTSTART: 2025-03-30 02:30 does not exist in "
     "Europe/Berlin (the clocks go forward then)"),
])
def test_hostile_events_are_refused_in_one_line(tmp_path: Path, fields: str, message: str) -> None:
    assert refused(ics(tmp_path, fields)) == f"t.ics {message}"


def test_x_wr_timezone_may_not_move_floating_times_off_the_classrooms_clock(
    tmp_path: Path
) -> None:
    """Floating times were read on X-WR-TIMEZONE's clock, New York's for a Berlin classroom, though
    the README says they are on the classroom's. Another zone is refused; the classroom's own is
    what the file and the classroom agree on."""
    floating = "DTSTART:20250303T080000\nDTEND:20250303T084500"
    assert refused(ics(tmp_path, floating, head="X-WR-TIMEZONE:America/New_York\n")) == (
        "t.ics line 10, DTSTART: a time without a zone is read on the clock of classroom '7A' "
        "(Europe/Berlin), but the file's X-WR-TIMEZONE says America/New_York; give the events a "
        "TZID, or set classrooms.timezone to the zone the file means")
    (lesson,) = read_ics(ics(tmp_path, floating, head="X-WR-TIMEZONE:Europe/Berlin\n"),
                         ROOMS).lessons
    assert lesson.starts_at == datetime(2025, 3, 3, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    # a zone the file defines itself, under a name of its own, is a zone
    zone = ("BEGIN:VTIMEZONE\nTZID:School time\nBEGIN:STANDARD\nDTSTART:19700101T000000\n"
            "TZOFFSETFROM:+0300\nTZOFFSETTO:+0300\nEND:STANDARD\nEND:VTIMEZONE\n")
    own = "DTSTART;TZID=School time:20250303T080000\nDTEND;TZID=School time:20250303T084500"
    (lesson,) = read_ics(ics(tmp_path, own, head=zone), ROOMS).lessons
    assert lesson.starts_at == datetime(2025, 3, 3, 5, 0, tzinfo=UTC)


def test_the_occurrence_cap_and_the_cpu_limit_end_an_expansion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file may expand to MAX_OCCURRENCES (100,000), and spend EXPANSION_CPU_SECONDS (120);
    lowered here, they end the import with one line. A rule no day matches produced nothing to
    count while dateutil searched up to the year 9999, seconds for each expansion."""
    monkeypatch.setattr(ics_timetable, "MAX_OCCURRENCES", 5)
    path = ics(tmp_path, f"{TIMES}\nRRULE:FREQ=WEEKLY;COUNT=4", f"{TIMES}\nRRULE:FREQ=WEEKLY")
    assert refused(path, today=date(2025, 3, 3)) == (
        "t.ics: its events expand to more than 5 occurrences up to 2026-03-03; pass an earlier "
        "--until (the stored lessons after it are kept), or split the file")
    monkeypatch.setattr(ics_timetable, "EXPANSION_CPU_SECONDS", 0.2)
    path = ics(tmp_path, f"{TIMES}\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")
    assert refused(path).startswith("t.ics: expanding its recurrences took more than 0.2 s of "
                                    "CPU time; a rule that matches no day")
    assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGVTALRM) == signal.SIG_DFL


def test_a_file_larger_than_any_timetable_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timetable, "MAX_FILE_BYTES", 2**20)  # 1 MiB instead of 16
    path = ics(tmp_path, TIMES, head=f"X-PADDING:{'x' * 2**20}\n")
    assert refused(path) == ("t.ics: is larger than 1 MiB, more than a school's year of lessons; "
                             "split it (one file per classroom, say)")
    csv = tmp_path / "t.csv"
    csv.write_text("classroom,date,start,end,title\n" + "7A,2025-03-03,08:00,08:45,Maths\n" * 40000)
    with pytest.raises(TimetableError, match=r"^t\.csv: is larger than 1 MiB"):
        read_csv(csv, ROOMS)


def test_times_with_seconds_are_widened_to_whole_minutes(tmp_path: Path) -> None:
    """09:00:30-09:45:30 left out the minute 09:00 and took in 09:45 only through its end; the
    lesson now holds both minutes it touches. Its identity keeps the second the file gives."""
    (lesson,) = read_ics(ics(tmp_path, "DTSTART:20250303T090030Z\nDTEND:20250303T094530Z"),
                         ROOMS).lessons
    assert (lesson.starts_at, lesson.ends_at) == (datetime(2025, 3, 3, 9, 0, tzinfo=UTC),
                                                  datetime(2025, 3, 3, 9, 46, tzinfo=UTC))
    assert lesson.source_key == "ics:e@t/2025-03-03T09:00:30Z"


def test_long_events_are_skipped_and_rdates_before_the_start_are_kept(tmp_path: Path) -> None:
    """A timed event spanning two years was one lesson; an RDATE before DTSTART was dropped, as
    the expansion began at the first DTSTART."""
    read = read_ics(ics(tmp_path, "DTSTART:20250303T090000Z\nDTEND:20270303T094500Z",
                        "DTSTART:20250310T090000Z\nDTEND:20250310T094500Z\n"
                        "RDATE:20250303T090000Z"), ROOMS)
    assert isinstance(read, IcsImport) and read.skipped_long == 1
    assert [lesson.source_key for lesson in read.lessons] == [
        "ics:e2@t/2025-03-03T09:00:00Z", "ics:e2@t/2025-03-10T09:00:00Z"]


def test_an_until_before_the_first_lesson_is_refused(tmp_path: Path) -> None:
    """It imported nothing, and every stored lesson of the file's UIDs was removed."""
    path = ics(tmp_path, f"{TIMES}\nRRULE:FREQ=WEEKLY;COUNT=4")
    assert refused(path, until=date(2025, 3, 2)) == (
        "t.ics, --until: 2025-03-02 is before the file's first lesson (2025-03-03): no lesson "
        "would be imported; pass a later day")
    assert len(read_ics(path, ROOMS, until=date(2025, 3, 3)).lessons) == 1


def test_with_classroom_the_scope_and_key_name_the_classroom(tmp_path: Path) -> None:
    """Per-room exports may share UIDs: the classroom tells their lessons apart, and the scope an
    import without --classroom gives is handed on, so that the classroom's lessons stored under it
    are found; and the other way round."""
    read = read_ics(ics(tmp_path, TIMES), ROOMS, ROOMS.find("room-12"))  # LOCATION unread
    (lesson,) = read.lessons
    assert (lesson.classroom_id, lesson.source_scope, lesson.source_key) == (
        "room-12", "ics@room-12:e@t", "ics@room-12:e@t/2025-03-03T08:00:00Z")
    assert read.adopted_scopes == [("ics:e@t", "ics@room-12:e@t", "room-12")]
    assert read_ics(ics(tmp_path, TIMES), ROOMS).adopted_scopes == [
        ("ics@7A:e@t", "ics:e@t", "7A")]


@pytest.mark.parametrize(("fields", "message"), [
    ("DTSTART:20250303T080000Z\nDTSTART:20250304T080000Z\nDTEND:20250303T084500Z",
     "line 10, DTSTART: 'Maths' (UID 'e@t') gives DTSTART 2 times; an event has one DTSTART: "
     "keep the right one"),
    (f"{TIMES}\nDTEND:20250303T090000Z", "line 11, DTEND: 'Maths' (UID 'e@t') gives DTEND 2 "
     "times; an event has one DTEND: keep the right one"),
    ("DTSTART:20250303T080000Z\nDURATION:PT45M\nDURATION:PT45M", "line 11, DURATION: 'Maths' "
     "(UID 'e@t') gives DURATION 2 times; an event has one DURATION: keep the right one"),
    (f"{TIMES}\nRECURRENCE-ID:20250303T080000Z\nRECURRENCE-ID:20250310T080000Z",
     "line 12, RECURRENCE-ID: 'Maths' (UID 'e@t') gives RECURRENCE-ID 2 times; an event has one "
     "RECURRENCE-ID: keep the right one"),
    (f"{TIMES}\nRECURRENCE-ID;VALUE=PERIOD:20250303T080000Z/PT1H", "line 11, RECURRENCE-ID: "
     "20250303T080000Z/PT1H is a PERIOD, which names no single occurrence; give the start of the "
     "occurrence it changes"),
])
def test_a_field_given_twice_or_a_period_recurrence_id_is_one_line(
    tmp_path: Path, fields: str, message: str
) -> None:
    """Each was a traceback: AttributeError ('list' object has no attribute 'dt') for a DTSTART,
    DTEND, DURATION or RECURRENCE-ID given twice, TypeError for a PERIOD as RECURRENCE-ID."""
    assert refused(ics(tmp_path, fields)) == f"t.ics {message}"


def test_a_uid_with_a_control_character_is_refused_like_a_title(tmp_path: Path) -> None:
    """A NUL in a UID reached PostgreSQL ("text fields cannot contain NUL"), and the import blamed
    the user's permissions; an all-day event's UID is the scope of its lessons too."""
    for fields in (TIMES, "DTSTART;VALUE=DATE:20250303"):
        path = ics(tmp_path, fields)
        path.write_text(path.read_text().replace("UID:e@t", "UID:e\x00t"))
        assert refused(path) == ("t.ics line 5, UID: 'e\\x00t' holds the control character "
                                 "'\\x00'; a UID is one line of text: fix it, or export the file "
                                 "again")


def test_events_that_end_as_they_start_are_skipped_and_counted(tmp_path: Path) -> None:
    """RFC 5545 allows an event without DTEND or DURATION, or ending at its start (a deadline, a
    reminder): each refused the whole file. They are no lessons, skipped and counted; an end
    before the start is still refused."""
    read = read_ics(ics(tmp_path, TIMES, "DTSTART:20250304T080000Z\nDTEND:20250304T080000Z",
                        "DTSTART:20250305T080000Z\nRRULE:FREQ=DAILY;COUNT=2"), ROOMS)
    assert isinstance(read, IcsImport) and read.skipped_instant == 3
    assert [lesson.source_key for lesson in read.lessons] == ["ics:e@t/2025-03-03T08:00:00Z"]
    backwards = ics(tmp_path, "DTSTART:20250306T080000Z\nDTEND:20250306T070000Z")
    assert refused(backwards) == ("t.ics line 10, DTEND: the event starting 2025-03-06 08:00 UTC "
                                  "does not end after it starts")


def test_a_changed_occurrence_without_an_end_lasts_as_long_as_its_series(
    tmp_path: Path
) -> None:
    """A moved lesson given its new DTSTART alone, as exporters write it, was skipped as a
    reminder, and the stored lesson it moves was deleted with it. It lasts as long as its series,
    as calendar programs read it. Without its series in the file, or ending as it starts, it is
    refused in one line; a deadline series' moved deadline, and a change of an all-day series,
    are skipped as the series' own are."""
    def one_uid(*events: str) -> Path:
        path = ics(tmp_path, *events)
        path.write_text(path.read_text().replace("UID:e2@t", "UID:e@t"))
        return path

    series = "DTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nRRULE:FREQ=WEEKLY;COUNT=3"
    moved = "RECURRENCE-ID:20250310T080000Z\nDTSTART:20250311T100000Z"
    read = read_ics(one_uid(series, moved), ROOMS)
    assert isinstance(read, IcsImport) and read.skipped_instant == 0
    assert [(lesson.source_key, f"{lesson.starts_at:%m-%d %H:%M}-{lesson.ends_at:%H:%M}")
            for lesson in read.lessons] == [("ics:e@t/2025-03-03T08:00:00Z", "03-03 08:00-08:45"),
                                            ("ics:e@t/2025-03-10T08:00:00Z", "03-11 10:00-10:45"),
                                            ("ics:e@t/2025-03-17T08:00:00Z", "03-17 08:00-08:45")]
    what = "'Maths' (UID 'e@t') changes the occurrence 20250310T080000Z (RECURRENCE-ID) to"
    assert refused(one_uid(moved)) == (
        f"t.ics line 4, DTEND: {what} start 20250311T100000Z but states neither DTEND nor "
        "DURATION, and the file holds no series of its UID to take the length from; give it a "
        "DTEND, or export the whole series")
    # of an all-day series (a holiday): skipped and counted, as its days are, not refusing the
    # file and every lesson in it (the first version did)
    all_day = read_ics(one_uid("DTSTART;VALUE=DATE:20250303\nRRULE:FREQ=WEEKLY;COUNT=3", moved),
                       ROOMS)
    assert (all_day.lessons, all_day.skipped_instant) == ([], 1)
    assert refused(one_uid(series, f"{moved}\nDTEND:20250311T100000Z")) == (
        f"t.ics line 20, DTEND: {what} end as it starts (20250311T100000Z), so it would be no "
        "lesson and the stored one it changes would be removed; give it its end, or cancel it "
        "with STATUS:CANCELLED")
    cancelled = "DTSTART:20250303T080000Z\nRRULE:FREQ=WEEKLY;COUNT=3\nSTATUS:CANCELLED"
    assert refused(one_uid(cancelled, moved)) == (
        f"t.ics line 13, DTEND: {what} start 20250311T100000Z but states neither DTEND nor "
        "DURATION, and its series (line 4) is cancelled and states no end either; give it a "
        "DTEND, or export the whole series")
    deadlines = read_ics(one_uid("DTSTART:20250303T080000Z\nRRULE:FREQ=WEEKLY;COUNT=3", moved),
                         ROOMS)
    assert (deadlines.lessons, deadlines.skipped_instant) == ([], 3)


def test_messages_name_the_line_the_zone_and_the_field_the_file_gives(tmp_path: Path) -> None:
    """A U+2028 in a description counted as a line break, and every line named after it was one
    off; a zone a VTIMEZONE defines was named "None"; an end from DURATION was named DTEND.
    (icalendar keeps a VTIMEZONE's zone by its TZID for the process: this one has a name of its
    own.)"""
    path = ics(tmp_path, "DESCRIPTION:one\u2028two\x0cthree\nDTSTART:20250303T080000Z\n"
               "DTEND:2025-03-03")
    assert refused(path).startswith("t.ics line 11, DTEND: Expected datetime")
    zone = ("BEGIN:VTIMEZONE\nTZID:Summer school\nBEGIN:STANDARD\nDTSTART:19701025T030000\n"
            "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\n"
            "END:STANDARD\nBEGIN:DAYLIGHT\nDTSTART:19700329T020000\n"
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\n"
            "END:DAYLIGHT\nEND:VTIMEZONE\n")
    path = ics(tmp_path, "DTSTART;TZID=Summer school:20250330T023000\n"
               "DTEND;TZID=Summer school:20250330T033000", head=zone)
    assert refused(path) == ("t.ics line 24, DTSTART: 2025-03-30 02:30 does not exist in Summer "
                             "school (the clocks go forward then)")
    path = ics(tmp_path, "DTSTART;TZID=Europe/Berlin:20250330T013000\nDURATION:PT1H")
    assert refused(path) == ("t.ics line 10, DURATION: 2025-03-30 02:30 does not exist in "
                             "Europe/Berlin (the clocks go forward then)")


def test_an_unbounded_series_begun_long_ago_runs_through_the_coming_year(tmp_path: Path) -> None:
    """Expanded up to a year after its start alone, a weekly series begun in September 2025 ended
    in September 2026: imported in December 2026, the current term had no lessons, and nothing
    said so. The default horizon runs from today when that is later; --until stays as given."""
    path = ics(tmp_path, "DTSTART;TZID=Europe/Berlin:20250901T080000\n"
               "DTEND;TZID=Europe/Berlin:20250901T084500\nRRULE:FREQ=WEEKLY")
    read = read_ics(path, ROOMS, today=date(2026, 12, 7))
    assert isinstance(read, IcsImport) and read.until == date(2027, 12, 7)
    starts = [lesson.starts_at.date() for lesson in read.lessons]
    assert (starts[0], starts[-1], len(starts)) == (date(2025, 9, 1), date(2027, 12, 6), 119)
    read = read_ics(path, ROOMS, today=date(2025, 3, 3))  # the file's last start is later
    assert isinstance(read, IcsImport) and read.until == date(2026, 9, 1)
    read = read_ics(path, ROOMS, until=date(2025, 9, 15), today=date(2026, 12, 7))
    assert [lesson.starts_at.date() for lesson in read.lessons] == [
        date(2025, 9, 1), date(2025, 9, 8), date(2025, 9, 15)]


def test_parallel_lessons_under_a_reused_uid_are_told_apart_by_room_and_title(
    tmp_path: Path
) -> None:
    """PE boys in 7A and PE girls in 7B, one course UID, the same hour: refused as "the same
    lesson". As the CSV import tells parallel groups apart, the classroom (and, where it does not
    tell them apart, the title) joins the key of lessons sharing a slot; a lesson alone at its
    slot keeps its key."""
    pe = ("DTSTART:20250303T080000Z\nDTEND:20250303T084500Z\nRRULE:FREQ=WEEKLY;COUNT=2\n"
          "SUMMARY:PE {0}\nLOCATION:{1}")
    path = ics(tmp_path, pe.format("boys", "7A"), pe.format("girls", "7B"), pe.format("all", "7B"),
               "DTSTART:20250305T080000Z\nDTEND:20250305T084500Z\nSUMMARY:Art\nLOCATION:7A")
    path.write_text(path.read_text().replace("UID:e2@t", "UID:e@t").replace("UID:e3@t", "UID:e@t")
                    .replace("UID:e4@t", "UID:e@t").replace("SUMMARY:Maths\nLOCATION:7A\n", ""))
    keys = sorted(lesson.source_key for lesson in read_ics(path, ROOMS).lessons)
    assert keys == ["ics:e@t/2025-03-03T08:00:00Z/7A/PE%20boys",
                    "ics:e@t/2025-03-03T08:00:00Z/7B/PE%20all",
                    "ics:e@t/2025-03-03T08:00:00Z/7B/PE%20girls",
                    "ics:e@t/2025-03-05T08:00:00Z",
                    "ics:e@t/2025-03-10T08:00:00Z/7A/PE%20boys",
                    "ics:e@t/2025-03-10T08:00:00Z/7B/PE%20all",
                    "ics:e@t/2025-03-10T08:00:00Z/7B/PE%20girls"]
