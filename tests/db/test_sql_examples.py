"""Every example query of docs/sql.md, run on seeded PostgreSQL, checked against Python's answer.

Analysts' examples run as a role prepared by ``classpulse db grant-reader``, as the page promises;
the owner's (:data:`OWNER_ONLY`) as the owner, and the reader is refused them.

The seed is synthetic (classpulse.db.seed), and the timetable a CSV file imported with the real
``classpulse lessons import``. Expected values are computed here from the seeded rows and the
timetable with zoneinfo, independently of the SQL and the views, as docs/sql.md's conventions
define them: every mean divides by ``faces_read``, and the small-group rule at its default (a class
minute is shown when some camera read 3 or more faces per frame with read faces,
``faces_read_in_view``, and then sums those cameras only).

The seed has the readability gate refuse faces (``refusals=True``), so ``faces_read`` differs from
``faces`` and ``frames_with_read_faces`` from ``frames_with_faces``, and some minutes whose cameras
SEE 3 faces per frame are hidden because they READ fewer: an example or a view that divided by
``faces``, or ruled on ``faces_in_view``, gives other numbers here.
:func:`test_the_seed_tells_faces_read_from_faces` keeps it so.

The two trend examples ("A title over the term", "Lessons ranked by engagement change") promise
what the lessons view says, so their answer is the view's own: ``dashboard.lesson_frames``'
``in_trend``, ``title_trend`` and ``change_from_previous`` called on the title's history as
``dashboard.lesson_sql`` fetches it (:func:`opened_lessons`), never a copy of that rule here. A
second timetable (:data:`TRAPS`) holds a lesson for each part of the rule, and the examples are
asked there at several moments (their one ``now()`` replaced, :func:`asked_at`).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from itertools import product
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from psycopg.errors import InsufficientPrivilege
from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError

from classpulse.cli import main
from classpulse.db.engine import make_engine
from classpulse.db.migrate import upgrade
from classpulse.db.seed import seed_minutes, synthetic_minute_rows
from classpulse.db.writes import REFUSED_COLUMNS, MinuteRow, add_minute_rows, add_rejections
from classpulse.emotions import EMOTIONS
from dashboard import lesson_frames, lesson_sql
from dashboard.lesson_frames import MIN_RECORDED_PERCENT, MIN_TREND_MINUTES
from dashboard.lessons import TREND_LESSONS
from dashboard.periods import MINUTE_CLOSES_AFTER
from dashboard.sql import MOSTLY_READ

pytestmark = pytest.mark.postgres

DOC = Path(__file__).resolve().parents[2] / "docs" / "sql.md"
UTC = timezone.utc
TIMEZONES = {"7A": "Europe/Berlin", "7B": "America/New_York", "8C": "Asia/Kolkata"}
SCHOOL_DAYS = [
    date(2025, 2, 24) + timedelta(days=d)
    for d in range(19)
    if (date(2025, 2, 24) + timedelta(days=d)).isoweekday() <= 5
]
LESSON_START, LESSON_MINUTES = time(8, 0), 300  # 08:00-12:59 local
EVENING = ("7B", datetime(2025, 3, 4, 23, 30), 60)  # crosses local midnight into 5 March
SEED = 7
CAMERAS = 2
MIN_FACES_SHOWN = 3  # the small-group rule's default, which the seeded database keeps
REJECTIONS = [
    (datetime(2025, 2, 28, 9, 0, tzinfo=UTC), "7A-cam1", "not_jpeg", 4),  # February: left out
    (datetime(2025, 3, 3, 9, 1, tzinfo=UTC), "7A-cam1", "not_jpeg", 2),
    (datetime(2025, 3, 3, 9, 2, tzinfo=UTC), "7B-cam2", "not_jpeg", 1),
    (datetime(2025, 3, 5, 14, 0, tzinfo=UTC), "", "missing_header", 3),
    (datetime(2025, 3, 6, 10, 30, tzinfo=UTC), "8C-cam1", "truncated", 3),
    (datetime(2025, 3, 14, 11, 59, tzinfo=UTC), "rogue", "missing_header", 2),
    (datetime(2025, 3, 31, 23, 59, tzinfo=UTC), "7A-cam2", "oversize", 1),
    (datetime(2025, 4, 1, 0, 0, tzinfo=UTC), "7A-cam2", "oversize", 9),  # April: left out
]
RENAMED = {"7A-cam2": "7A back wall"}
# the weekly timetable of every classroom (local times), Monday to Friday
SLOTS = ((time(8, 0), time(8, 45)), (time(8, 50), time(9, 35)), (time(9, 50), time(10, 35)),
         (time(10, 40), time(11, 25)), (time(11, 40), time(12, 25)))
TIMETABLE = (
    ("Maths", "English", "Physics", "History", "Art"),
    ("English", "Maths", "Biology", "French", "Music"),
    ("Maths", "History", "English", "Physics", "Sport"),
    ("French", "Maths", "Art", "Biology", "English"),
    ("Physics", "English", "Maths", "History", "Music"),
)
NOT_YET = ("7B", date(2025, 3, 17), SLOTS[0], "Maths")  # after the seeded days: no minutes
# examples that read hidden minutes, frames or messages: the owner's, not a reader role's
OWNER_ONLY = frozenset({"Minutes the dashboard hides, per classroom and day",
                        "Cameras that see faces least often", "Rejected frames by reason",
                        # which cameras recorded a lesson: hidden camera minutes included
                        "A title over the term", "Lessons ranked by engagement change"})


@dataclass(frozen=True)
class PlannedLessonRow:
    room: str
    title: str
    start: datetime  # UTC
    end: datetime


def timetable() -> list[PlannedLessonRow]:
    out = []
    for room, tz in TIMEZONES.items():
        for day in SCHOOL_DAYS:
            for (lo, hi), title in zip(SLOTS, TIMETABLE[day.weekday()], strict=True):
                start = datetime.combine(day, lo, tzinfo=ZoneInfo(tz)).astimezone(UTC)
                end = datetime.combine(day, hi, tzinfo=ZoneInfo(tz)).astimezone(UTC)
                out.append(PlannedLessonRow(room, title, start, end))
    room, day, (lo, hi), title = NOT_YET
    zone = ZoneInfo(TIMEZONES[room])
    out.append(PlannedLessonRow(room, title, datetime.combine(day, lo, zone).astimezone(UTC),
                                datetime.combine(day, hi, zone).astimezone(UTC)))
    return out


def write_timetable_csv(path: Path, lessons: list[PlannedLessonRow]) -> None:
    lines = ["classroom,date,start,end,title"]
    for lesson in lessons:
        zone = ZoneInfo(TIMEZONES[lesson.room])
        start, end = lesson.start.astimezone(zone), lesson.end.astimezone(zone)
        lines.append(f"{lesson.room},{start:%Y-%m-%d},{start:%H:%M},{end:%H:%M},{lesson.title}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def seed_plan() -> list[tuple[str, datetime, int]]:
    """(classroom, UTC start, minutes) of every seeding call."""
    plan = []
    for room, tz in TIMEZONES.items():
        for day in SCHOOL_DAYS:
            local = datetime.combine(day, LESSON_START, tzinfo=ZoneInfo(tz))
            plan.append((room, local.astimezone(UTC), LESSON_MINUTES))
    room, local, minutes = EVENING
    plan.append((room, local.replace(tzinfo=ZoneInfo(TIMEZONES[room])).astimezone(UTC), minutes))
    return plan


def faces_in_view(r: MinuteRow) -> float | None:
    """``camera_minutes.faces_in_view``: faces per frame with faces, what the camera SAW."""
    return r.faces / r.frames_with_faces if r.frames_with_faces else None


def faces_read_in_view(r: MinuteRow) -> float | None:
    """``camera_minutes.faces_read_in_view``: faces read per frame with read faces."""
    assert r.faces_read is not None and r.frames_with_read_faces is not None
    return r.faces_read / r.frames_with_read_faces if r.frames_with_read_faces else None


def camera_shown(r: MinuteRow) -> bool:
    """``camera_minutes.shown``, the one place docs/sql.md decides the small-group rule:
    ``faces_read_in_view >= min_faces_shown``, false when the camera read no face."""
    view = faces_read_in_view(r)
    return view is not None and view >= MIN_FACES_SHOWN


def shown_by_faces_in_view(r: MinuteRow) -> bool:
    """The rule as it was before 0008, on faces SEEN: wrong now, kept to prove the seed tells
    the two apart."""
    view = faces_in_view(r)
    return view is not None and view >= MIN_FACES_SHOWN


@dataclass
class ClassMinute:
    room: str
    start: datetime  # UTC
    local: datetime  # naive local wall time, as PostgreSQL's AT TIME ZONE gives it
    shown: bool  # some camera's minute is shown (camera_shown)
    shown_by_faces_in_view: bool  # what a rule on faces_in_view would say (must not matter)
    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    largest_view: float | None = None  # max over the cameras summed of faces_in_view
    faces_in_view: float = 0.0  # the cameras' faces_in_view, summed
    faces_read_in_view: float = 0.0  # the cameras' faces_read_in_view, summed


SUMMED = ("frames", "frames_with_faces", "faces", "faces_read", "frames_with_read_faces",
          "engagement_sum")


def minute_groups(rows: list[MinuteRow]) -> dict[tuple[str, datetime], list[MinuteRow]]:
    """The camera rows of each (classroom, UTC minute)."""
    groups: dict[tuple[str, datetime], list[MinuteRow]] = defaultdict(list)
    for r in rows:
        groups[(r.classroom_id, r.minute_start)].append(r)
    return groups


def class_minutes(rows: list[MinuteRow]) -> list[ClassMinute]:
    """Per classroom and minute; a shown minute sums its shown cameras' rows only (a hidden
    camera's numbers must not be the class's minus the others'), a hidden one all of them."""
    out = []
    for (room, start), group in minute_groups(rows).items():
        local = start.astimezone(ZoneInfo(TIMEZONES[room]))
        shown = [r for r in group if camera_shown(r)]
        minute = ClassMinute(room, start, local.replace(tzinfo=None), shown=bool(shown),
                             shown_by_faces_in_view=any(map(shown_by_faces_in_view, group)))
        for r in shown or group:
            view, read_view = faces_in_view(r), faces_read_in_view(r)
            if view is not None:
                minute.largest_view = max(view, minute.largest_view or 0.0)
                minute.faces_in_view += view
            if read_view is not None:
                minute.faces_read_in_view += read_view
            s = minute.sums
            for name in SUMMED:
                s[name] += getattr(r, name)
            for reason, refused in zip(REFUSED_COLUMNS, r.refused, strict=True):
                s[reason] += refused
            for e, n, p in zip(EMOTIONS, r.n, r.p, strict=True):
                s[f"n_{e}"] += n
                s[f"p_{e}"] += p
        out.append(minute)
    return sorted(out, key=lambda m: (m.room, m.start))


@dataclass
class Seeded:
    engine: Engine
    reader: Engine  # connected as a role given `classpulse db grant-reader`
    rows: list[MinuteRow]
    minutes: list[ClassMinute]
    lessons: list[PlannedLessonRow]


@pytest.fixture(scope="module")
def seeded(pg_database: Callable[[], str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    url = pg_database()
    upgrade(url)
    engine = make_engine(url)
    rows: list[MinuteRow] = []
    with engine.begin() as conn:
        for room, start, minutes in seed_plan():
            seed_minutes(conn, (room,), CAMERAS, start, minutes, seed=SEED, refusals=True)
            rows += synthetic_minute_rows((room,), CAMERAS, start, minutes, seed=SEED,
                                          refusals=True)
        add_rejections(conn, REJECTIONS)
        for room, tz in TIMEZONES.items():
            conn.execute(text("UPDATE classrooms SET timezone = :tz WHERE id = :id"),
                         {"tz": tz, "id": room})
        for camera, name in RENAMED.items():
            conn.execute(text("UPDATE cameras SET name = :n WHERE id = :id"),
                         {"n": name, "id": camera})
    lessons = timetable()
    csv_file = tmp_path_factory.mktemp("timetable") / "timetable.csv"
    write_timetable_csv(csv_file, lessons)
    assert main(["lessons", "import", str(csv_file), "--database-url", url]) == 0
    role = f"cp_analyst_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    assert main(["db", "grant-reader", role, "--database-url", url]) == 0
    reader = make_engine(engine.url.set(username=role))
    yield Seeded(engine, reader, rows, class_minutes(rows), lessons)
    reader.dispose()
    with engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
    engine.dispose()


def doc_examples() -> dict[str, str]:
    """Heading -> SQL of each fenced ``sql`` block under "## Example queries" in docs/sql.md."""
    section = DOC.read_text(encoding="utf-8").split("\n## Example queries\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    found = re.findall(r"^### (.+?)\n.*?^```sql\n(.*?)^```", section, flags=re.M | re.S)
    return {title.strip(): sql for title, sql in found}


def run(seeded: Seeded, title: str) -> list[dict[str, Any]]:
    engine = seeded.engine if title in OWNER_ONLY else seeded.reader
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(doc_examples()[title])).mappings()]


def close(got: Any, exact: float | None, places: int) -> bool:
    """A value PostgreSQL rounded to ``places`` decimals matches the exact Python value."""
    if exact is None or got is None:
        return got is None and exact is None
    return abs(float(got) - exact) <= 0.5 * 10**-places + 1e-9


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def in_month(m: ClassMinute, year: int, month: int) -> bool:
    return (m.local.year, m.local.month) == (year, month)


# ---- one checker per example; the heading in docs/sql.md is the key ----

def check_lesson_hours(got: list[dict], s: Seeded) -> None:
    acc: dict[int, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    hidden = 0
    for m in s.minutes:
        if m.room == "7B" and in_month(m, 2025, 3):
            if not m.shown:
                hidden += 1
                continue
            a = acc[m.local.hour]
            a[0] += 1
            a[1] += m.sums["faces_read"]
            a[2] += m.sums["engagement_sum"]
    assert [r["lesson_hour"] for r in got] == sorted(acc) == [0, 8, 9, 10, 11, 12, 23]
    for r in got:
        minutes, faces_read, engagement = acc[r["lesson_hour"]]
        assert (r["minutes"], r["faces_read"]) == (minutes, faces_read)
        assert close(r["mean_engagement"], engagement / faces_read, 3)
    assert acc[8][0] + acc[23][0] + hidden > 60 * 10  # ten March school days; the evening


def check_sad_minutes(got: list[dict], s: Seeded) -> None:
    want = [
        m for m in s.minutes
        if m.sums["n_sad"] * 2 > m.sums["faces_read"] and m.shown and in_month(m, 2025, 3)
    ]
    assert len(want) >= 5, "the seed should contain some sad episodes"
    assert [(r["classroom_id"], r["local_time"], r["faces_read"], r["n_sad"]) for r in got] == [
        (m.room, m.local, m.sums["faces_read"], m.sums["n_sad"]) for m in want
    ]
    for r, m in zip(got, want, strict=True):
        assert close(r["sad_share"], m.sums["n_sad"] / m.sums["faces_read"], 3)
        assert r["sad_share"] > Decimal("0.5")


def check_daily_7a(got: list[dict], s: Seeded) -> None:
    days: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for m in s.minutes:
        if m.room == "7A" and date(2025, 3, 3) <= m.local.date() <= date(2025, 3, 14):
            d = days[m.local.date()]
            if not m.shown:
                d["hidden"] += 1
                continue
            d["minutes"] += 1
            for k in ("faces", "faces_read", "engagement_sum", "n_happy", "n_sad"):
                d[k] += m.sums[k]
    assert [r["day"] for r in got] == sorted(days) and len(days) == 10
    for r in got:
        d = days[r["day"]]
        assert (r["minutes"], r["hidden_minutes"], r["faces"]) == (
            d["minutes"], d["hidden"], d["faces"])
        assert d["minutes"] + d["hidden"] == 300
        assert close(r["mean_engagement"], d["engagement_sum"] / d["faces_read"], 3)
        assert close(r["happy_share"], d["n_happy"] / d["faces_read"], 3)
        assert close(r["sad_share"], d["n_sad"] / d["faces_read"], 3)


def check_weekly_slots(got: list[dict], s: Seeded) -> None:
    slots: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for m in s.minutes:
        if m.room == "7A" and m.shown:
            a = slots[(m.local.isoweekday(), m.local.hour)]
            a[0] += 1
            a[1] += m.sums["faces"]
            a[2] += m.sums["faces_read"]
            a[3] += m.sums["engagement_sum"]
    ranked = sorted(
        ((k, v) for k, v in slots.items() if v[0] >= 60),
        key=lambda kv: (kv[1][3] / kv[1][2], kv[0]),
    )[:5]
    assert [(r["iso_dow"], r["hour"]) for r in got] == [k for k, _ in ranked]
    for r, (_, (minutes, faces, faces_read, engagement)) in zip(got, ranked, strict=True):
        assert (r["minutes"], r["faces"]) == (minutes, faces)
        assert close(r["mean_engagement"], engagement / faces_read, 3)


def check_happy_weeks(got: list[dict], s: Seeded) -> None:
    """One classroom against its own weeks: no example ranks classrooms (README.md: the numbers
    must never compare classes)."""
    acc: dict[date, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for m in s.minutes:
        if m.room == "7A" and m.shown and date(2025, 2, 24) <= m.local.date() < date(2025, 3, 17):
            a = acc[m.local.date() - timedelta(days=m.local.weekday())]
            a[0] += 1
            a[1] += m.sums["faces_read"]
            a[2] += m.sums["n_happy"]
            a[3] += m.sums["p_happy"]
    assert [r["week"] for r in got] == sorted(acc) == [date(2025, 2, 24), date(2025, 3, 3),
                                                       date(2025, 3, 10)]
    for r in got:
        minutes, faces_read, n_happy, p_happy = acc[r["week"]]
        assert (r["minutes"], r["faces_read"]) == (minutes, faces_read)
        assert close(r["happy_share"], n_happy / faces_read, 4)
        assert close(r["mean_p_happy"], p_happy / faces_read, 4)
    assert not any("rank" in key for r in got for key in r)
    with s.engine.connect() as conn:  # the text says class_days gives the same sums
        weeks = conn.execute(text(
            "SELECT date_trunc('week', day)::date, sum(faces_read), sum(n_happy) FROM class_days "
            "WHERE classroom_id = '7A' AND day >= DATE '2025-02-24' AND day < DATE '2025-03-17' "
            "GROUP BY 1")).all()
    assert {week: (faces_read, n) for week, faces_read, n in weeks} == {
        week: (a[1], a[2]) for week, a in acc.items()
    }


def check_hidden_minutes(got: list[dict], s: Seeded) -> None:
    acc: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    for m in s.minutes:
        if date(2025, 3, 3) <= m.local.date() < date(2025, 3, 8):
            a = acc[(m.room, m.local.date())]
            a[0] += 1
            a[1] += not m.shown
            a[2] += m.sums["faces"] == 0
    assert [(r["classroom_id"], r["day"]) for r in got] == sorted(acc) and len(acc) == 3 * 5
    for r in got:
        want = acc[(r["classroom_id"], r["day"])]
        assert [r["minutes"], r["hidden_minutes"], r["minutes_without_faces"]] == want
    assert acc[("7B", date(2025, 3, 4))][0] == 300 + 30  # the evening's first half
    assert sum(a[1] for a in acc.values()) > 0, "the seed should contain hidden minutes"


def check_camera_coverage(got: list[dict], s: Seeded) -> None:
    lo, hi = datetime(2025, 3, 10, tzinfo=UTC), datetime(2025, 3, 15, tzinfo=UTC)
    acc: dict[str, list[Any]] = {}
    for r in s.rows:
        if lo <= r.minute_start < hi:
            a = acc.setdefault(r.camera_id, [r.classroom_id, 0, 0])
            a[1] += r.frames
            a[2] += r.frames_with_faces
    order = sorted(acc, key=lambda cam: (acc[cam][2] / acc[cam][1], cam))
    assert [r["camera_id"] for r in got] == order and len(order) == 3 * CAMERAS
    for r in got:
        room, frames, with_faces = acc[r["camera_id"]]
        assert r["camera_name"] == RENAMED.get(r["camera_id"], r["camera_id"])
        assert (r["classroom_id"], r["frames"], r["frames_with_faces"]) == (
            room, frames, with_faces,
        )
        assert close(r["face_coverage"], with_faces / frames, 3)


def check_rejections(got: list[dict], s: Seeded) -> None:
    lo, hi = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
    acc: dict[str, list[Any]] = {}
    for minute, camera, reason, count in REJECTIONS:
        if lo <= minute < hi:
            a = acc.setdefault(reason, [0, set(), minute, minute])
            a[0] += count
            a[1].add(camera)
            a[2], a[3] = min(a[2], minute), max(a[3], minute)
    order = sorted(acc, key=lambda reason: (-acc[reason][0], reason))
    assert [r["reason"] for r in got] == order
    assert [(r["rejected"], r["camera_ids"], r["first_minute"], r["last_minute"]) for r in got] == [
        (acc[k][0], len(acc[k][1]), acc[k][2], acc[k][3]) for k in order
    ]
    assert [(r["reason"], r["rejected"]) for r in got] == [
        ("missing_header", 5), ("not_jpeg", 3), ("truncated", 3), ("oversize", 1),
    ]


def lesson_numbers(s: Seeded, lesson: PlannedLessonRow,
                   charted: bool = False) -> dict[str, float]:
    """A lesson's class minutes: shown and hidden counted, sums and means over the shown ones;
    ``charted``: over those of them whose faces were mostly read, the others counted as unread
    (the lessons view's numbers, ``dashboard.lesson_frames.charted``)."""
    out: dict[str, float] = defaultdict(float)
    for m in s.minutes:
        if m.room == lesson.room and lesson.start <= m.start < lesson.end:
            if not m.shown:
                out["hidden"] += 1
                continue
            if charted and m.sums["faces_read"] < MOSTLY_READ * m.sums["faces"]:
                out["unread"] += 1
                continue
            out["minutes"] += 1
            out["faces_in_view_sum"] += m.faces_in_view
            out["faces_read_in_view_sum"] += m.faces_read_in_view
            for k in ("faces", "faces_read", "engagement_sum", "n_happy", "n_neutral"):
                out[k] += m.sums[k]
    if out["minutes"]:
        out["engagement"] = out["engagement_sum"] / out["faces_read"]
        out["faces_in_view"] = out["faces_in_view_sum"] / out["minutes"]
        out["faces_read_in_view"] = out["faces_read_in_view_sum"] / out["minutes"]
    return out


def check_one_lesson(got: list[dict], s: Seeded) -> None:
    (lesson,) = [x for x in s.lessons if x.room == "7B" and x.title == "Maths"
                 and x.start.astimezone(ZoneInfo("America/New_York")).date() == date(2025, 3, 4)]
    (r,) = got
    want = lesson_numbers(s, lesson)
    zone = ZoneInfo("America/New_York")
    assert (r["title"], r["local_start"], r["local_end"]) == (
        "Maths", lesson.start.astimezone(zone).replace(tzinfo=None),
        lesson.end.astimezone(zone).replace(tzinfo=None))
    assert (r["minutes"], r["hidden_minutes"], r["faces"]) == (
        want["minutes"], want["hidden"], want["faces"])
    assert r["minutes"] + r["hidden_minutes"] == 45
    assert close(r["faces_in_view"], want["faces_in_view"], 1)
    assert close(r["engagement"], want["engagement"], 3)
    assert close(r["neutral_share"], want["n_neutral"] / want["faces_read"], 3)
    assert close(r["happy_share"], want["n_happy"] / want["faces_read"], 3)
    with s.engine.connect() as conn:  # the id a dashboard link names finds the same lesson
        same = conn.execute(text("SELECT minutes, faces, faces_read, faces_read_in_view "
                                 "FROM lesson_summaries WHERE lesson_id = :id"),
                            {"id": r["lesson_id"]}).one()
        not_yet = conn.execute(text(
            "SELECT minutes, hidden_minutes, engagement FROM lesson_summaries "
            "WHERE classroom_id = '7B' AND starts_at >= TIMESTAMPTZ '2025-03-17 00:00+00'")).one()
    assert tuple(same[:3]) == (r["minutes"], r["faces"], want["faces_read"])
    assert same[3] == pytest.approx(want["faces_read_in_view"])
    assert tuple(not_yet) == (0, 0, None)  # a lesson without minutes: zero, and no means


# ---- the two trend examples: the lessons view's own rule is the answer ----

@dataclass(frozen=True)
class Opened:
    """A lesson the lessons view puts in its title's trend, and what the view says when a teacher
    opens it: ``change_from_previous``'s (change, the lesson before's local start), or None."""

    lesson: pd.Series  # its lesson_summaries row, as the page fetches it
    change: tuple[float, pd.Timestamp] | None


def opened_lessons(engine: Engine, room: str, lo: datetime, hi: datetime,
                   now: datetime) -> list[Opened]:
    """The lessons of ``room`` starting in ``[lo, hi)`` that ``dashboard.lesson_frames.in_trend``
    keeps at ``now`` (judged on their row of their title's history, which has their cameras),
    in start order, each with the change the page states when it is opened:
    the title's history fetched as the page fetches it (TREND_LESSONS lessons of its group), then
    ``title_trend`` and ``change_from_previous``. The dashboard's functions, not a copy of them,
    so the examples are held to what a teacher reads."""
    lessons = lesson_sql.fetch_week(engine, room, lo, hi)
    zone = ZoneInfo(TIMEZONES[room])
    out = []
    for _, lesson in lessons.iterrows():
        history = lesson_sql.fetch_title_history(
            engine, room, str(lesson["title"]), group_of(lesson),
            lesson["starts_at"].to_pydatetime(), TREND_LESSONS)
        itself = history["lesson_id"] == lesson["lesson_id"]
        if not lesson_frames.in_trend(history[itself], now).all():
            continue
        trend = lesson_frames.title_trend(history, int(lesson["lesson_id"]), zone, now)
        out.append(Opened(lesson, lesson_frames.change_from_previous(trend)))
    return out


def ranked_rises(opened: dict[str, list[Opened]]) -> list[tuple[str, int, Opened]]:
    """(classroom, rank, lesson) of each classroom's three steepest rises (ties share a rank),
    in the ranking example's order."""
    out = []
    for room, lessons in opened.items():
        rises = [(o.change[0], o) for o in lessons if o.change is not None]
        for change, o in rises:
            rank = 1 + sum(other > change for other, _ in rises)
            if rank <= 3:
                out.append((room, rank, o))
    return sorted(out, key=lambda w: (w[0], w[1], w[2].lesson["starts_at"],
                                      w[2].lesson["lesson_id"]))


def naive_local(instant: Any, zone: ZoneInfo) -> datetime:
    """An instant as ``AT TIME ZONE`` gives it: the zone's wall clock, naive."""
    return pd.Timestamp(instant).tz_convert(zone.key).tz_localize(None).to_pydatetime()


def group_of(lesson: pd.Series) -> str | None:
    label = lesson["group_label"]
    return None if pd.isna(label) else str(label)


def assert_title_rows(got: list[dict], opened: list[Opened], zone: ZoneInfo) -> None:
    """The title example lists the lessons the view puts in the trend, each with the change the
    view states when it is opened."""
    assert [(r["local_start"], r["group_label"]) for r in got] == [
        (naive_local(o.lesson["starts_at"], zone), group_of(o.lesson)) for o in opened]
    for r, o in zip(got, opened, strict=True):
        assert (r["minutes"], r["hidden_minutes"]) == (o.lesson["minutes"],
                                                       o.lesson["hidden_minutes"])
        assert close(r["engagement"], float(o.lesson["engagement"]), 3)
        change, before = o.change if o.change is not None else (None, None)
        assert r["previous_local_start"] == (None if before is None else naive_local(before, zone))
        assert close(r["change_from_previous"], change, 3)


def assert_ranked_rows(got: list[dict], want: list[tuple[str, int, Opened]]) -> None:
    """The ranking example ranks the changes the view states, classroom by classroom."""
    zones = {room: ZoneInfo(tz) for room, tz in TIMEZONES.items()}
    assert [(r["classroom_id"], r["change_rank"], r["title"], r["group_label"], r["local_start"])
            for r in got] == [
        (room, rank, o.lesson["title"], group_of(o.lesson),
         naive_local(o.lesson["starts_at"], zones[room])) for room, rank, o in want]
    for r, (room, _, o) in zip(got, want, strict=True):
        assert o.change is not None
        change, before = o.change
        now = float(o.lesson["engagement"])
        assert r["previous_local_start"] == naive_local(before, zones[room])
        assert r["minutes"] == o.lesson["minutes"]
        assert close(r["engagement"], now, 3)
        assert close(r["previous_engagement"], now - change, 3)
        assert close(r["change"], change, 3)


def assert_states_the_dashboards_numbers(sql: str) -> None:
    """The example writes the dashboard's constants, not numbers of its own, and asks its one
    question of the clock once (:func:`asked_at` relies on it)."""
    closes_after = int(MINUTE_CLOSES_AFTER.total_seconds())
    assert f"d.minutes >= {MIN_TREND_MINUTES} " in sql
    assert f"s.faces_read >= {MOSTLY_READ} * s.faces " in sql
    assert f"m.faces_read >= {MOSTLY_READ} * m.faces " in sql
    assert f"100 * d.minutes >= {MIN_RECORDED_PERCENT} * n.length" in sql
    assert sql.count(f"100 * e.recorded >= {MIN_RECORDED_PERCENT} * n.length") == 2
    assert f"100 * e.recorded <= {100 - MIN_RECORDED_PERCENT} * n.length" in sql
    assert f"+ interval '1 minute' + interval '{closes_after} seconds'" in sql
    assert f"LIMIT {TREND_LESSONS}\n" in sql
    assert sql.count("now()") == 1


def asked_at(sql: str, now: datetime | None) -> str:
    """The example as an analyst would ask it at ``now``: its one ``now()`` (which lessons have
    ended and closed) replaced by that instant; None asks it as written."""
    assert sql.count("now()") == 1
    return sql if now is None else sql.replace("now()", f"TIMESTAMPTZ '{now.isoformat()}'")


def planned(s: Seeded, lesson: pd.Series, start: Any = None) -> PlannedLessonRow:
    """The timetable's lesson in ``lesson``'s classroom and title starting at ``start`` (its
    own start by default)."""
    at = pd.Timestamp(lesson["starts_at"] if start is None else start).to_pydatetime()
    (found,) = [p for p in s.lessons if (p.room, p.title, p.start) == (
        lesson["classroom_id"], lesson["title"], at)]
    return found


def charted_whole(s: Seeded, room: str, title: str | None, lo: datetime,
                  hi: datetime) -> list[pd.Timestamp]:
    """Starts of the timetable's lessons in ``room`` (with ``title``, or any) starting in
    ``[lo, hi)`` whose charted minutes are MIN_RECORDED_PERCENT of their minutes, each camera
    on (minutes shown or hidden) for that share of them or for no more than the rest, in order."""
    def whole(p: PlannedLessonRow) -> bool:
        length = (p.end - p.start) / timedelta(minutes=1)
        shown = Counter(r.camera_id for r in s.rows if r.classroom_id == p.room
                        and p.start <= r.minute_start < p.end)
        return (100 * lesson_numbers(s, p, charted=True)["minutes"] >= MIN_RECORDED_PERCENT * length
                and all(100 * n >= MIN_RECORDED_PERCENT * length
                        or 100 * n <= (100 - MIN_RECORDED_PERCENT) * length
                        for n in shown.values()))

    return [pd.Timestamp(p.start) for p in sorted(s.lessons, key=lambda p: p.start)
            if p.room == room and title in (None, p.title) and lo <= p.start < hi and whole(p)]


def check_title_term(got: list[dict], s: Seeded) -> None:
    lo, hi = datetime(2025, 2, 24, tzinfo=UTC), datetime(2025, 3, 15, tzinfo=UTC)
    opened = [o for o in opened_lessons(s.engine, "7B", lo, hi, datetime.now(UTC))
              if o.lesson["title"] == "Maths"]
    # Maths every school day, three weeks; in the trend those charted for MIN_RECORDED_PERCENT
    # of their minutes (the seed's other parts of the rule hold for all)
    assert [o.lesson["starts_at"] for o in opened] == charted_whole(s, "7B", "Maths", lo, hi)
    assert len(opened) >= 3 * 4
    assert_title_rows(got, opened, ZoneInfo(TIMEZONES["7B"]))
    # the first has no lesson before; most others one of the same cameras
    assert opened[0].change is None
    assert sum(o.change is not None for o in opened[1:]) >= len(opened) - 3
    for o in opened:  # the view's numbers are the seed's, computed here
        numbers = lesson_numbers(s, planned(s, o.lesson), charted=True)
        assert (o.lesson["minutes"], o.lesson["hidden_minutes"]) == (numbers["minutes"],
                                                                     numbers["hidden"])
        assert o.lesson["engagement"] == pytest.approx(numbers["engagement"])
    assert_states_the_dashboards_numbers(doc_examples()["A title over the term"])


def check_ranked_changes(got: list[dict], s: Seeded) -> None:
    """Each lesson of the week against the lesson before as the view picks it, both in the
    trend; ranked within each classroom, the three steepest rises of each."""
    lo, hi = datetime(2025, 3, 10, tzinfo=UTC), datetime(2025, 3, 15, tzinfo=UTC)
    opened = {room: opened_lessons(s.engine, room, lo, hi, datetime.now(UTC))
              for room in TIMEZONES}
    assert [o.lesson["starts_at"] for lessons in opened.values() for o in lessons] == [
        start for room in TIMEZONES for start in charted_whole(s, room, None, lo, hi)]
    # most of the 3 x 25 lessons have a lesson before in the trend, of the same cameras
    assert sum(o.change is not None for lessons in opened.values() for o in lessons) >= 3 * 20
    want = ranked_rises(opened)
    assert [r["change_rank"] for r in got] == [1, 2, 3] * 3  # each classroom on its own
    assert_ranked_rows(got, want)
    for _, _, o in want:  # the view's numbers are the seed's, computed here
        assert o.change is not None
        now = lesson_numbers(s, planned(s, o.lesson), charted=True)
        was = lesson_numbers(s, planned(s, o.lesson, o.change[1]), charted=True)
        assert o.lesson["minutes"] == now["minutes"]
        assert o.change[0] == pytest.approx(now["engagement"] - was["engagement"])
    assert_states_the_dashboards_numbers(doc_examples()["Lessons ranked by engagement change"])


CHECKS: dict[str, Callable[[list[dict], Seeded], None]] = {
    "Average engagement per lesson hour last month for class 7B": check_lesson_hours,
    "Minutes where most faces were sad": check_sad_minutes,
    "Daily engagement of class 7A over two weeks": check_daily_7a,
    "The least engaged lesson slots of the week": check_weekly_slots,
    "Class 7A's share of happy faces, week by week": check_happy_weeks,
    "Minutes the dashboard hides, per classroom and day": check_hidden_minutes,
    "One lesson": check_one_lesson,
    "A title over the term": check_title_term,
    "Lessons ranked by engagement change": check_ranked_changes,
    "Cameras that see faces least often": check_camera_coverage,
    "Rejected frames by reason": check_rejections,
}


def test_every_documented_example_has_a_check() -> None:
    examples = doc_examples()
    assert len(examples) >= 6
    assert set(examples) == set(CHECKS)


def test_the_seed_tells_faces_read_from_faces(seeded: Seeded) -> None:
    """The seeded database holds the cases that tell an example or a view following docs/sql.md
    from one dividing by ``faces`` or ruling on ``faces_in_view`` (without them both would pass),
    and this module's rule is the database's, camera minute by camera minute."""
    with seeded.engine.connect() as conn:
        threshold = conn.execute(text("SELECT min_faces_shown FROM small_group_rule")).scalar_one()
        rows, fewer_read, fewer_frames = conn.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE faces_read < faces), "
            "count(*) FILTER (WHERE frames_with_read_faces < frames_with_faces) "
            "FROM emotion_minutes")).one()
        cameras = {(c, t): shown for c, t, shown in conn.execute(text(
            "SELECT camera_id, minute_start, shown FROM camera_minutes"))}
        classes = {(room, t): shown for room, t, shown in conn.execute(text(
            "SELECT classroom_id, minute_start, shown FROM class_minutes"))}
    assert threshold == MIN_FACES_SHOWN
    assert rows == len(seeded.rows) == len(cameras)
    assert fewer_read >= rows // 2, "most camera minutes should have faces refused"
    assert fewer_frames >= rows // 20, "some frames should hold refused faces only"
    assert cameras == {(r.camera_id, r.minute_start): camera_shown(r) for r in seeded.rows}
    assert classes == {(m.room, m.start): m.shown for m in seeded.minutes}
    # class minutes a cameras' faces_in_view would show and faces_read_in_view hides, in every
    # classroom within the examples' March (local) windows
    seen_not_read = [m for m in seeded.minutes if m.shown_by_faces_in_view and not m.shown]
    assert {m.room for m in seen_not_read if in_month(m, 2025, 3)} == set(TIMEZONES)
    assert len(seen_not_read) >= 100
    # shown class minutes whose shown cameras (the ones summed, since 0011) differ by rule
    differ = [
        group for group in minute_groups(seeded.rows).values()
        if any(map(camera_shown, group)) and [camera_shown(r) for r in group]
        != [shown_by_faces_in_view(r) for r in group]
    ]
    assert differ


@pytest.mark.parametrize("title", sorted(OWNER_ONLY))
def test_the_owners_examples_are_refused_to_a_reader(seeded: Seeded, title: str) -> None:
    with pytest.raises(ProgrammingError) as refused, seeded.reader.connect() as conn:
        conn.execute(text(doc_examples()[title]))
    assert isinstance(refused.value.orig, InsufficientPrivilege)


@pytest.mark.parametrize("title", list(CHECKS))
def test_documented_example_gives_the_right_numbers(seeded: Seeded, title: str) -> None:
    got = run(seeded, title)
    assert got, f"example {title!r} returned no rows"
    CHECKS[title](got, seeded)


# ---- the two trend examples on a timetable built for the rule's traps ----

NEW_YORK, KOLKATA = ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")
ZONES = {"7B": NEW_YORK, "8C": KOLKATA}


@dataclass(frozen=True)
class TrapLesson:
    """A lesson on a day of March 2025 (local times) and its camera minutes from its first whole
    minute: ``shown`` minutes with 20 faces a frame, ``read`` of their 1200 faces read, all
    neutral, at ``engagement``; then ``unread`` minutes shown but mostly not read (300 of 1200,
    at engagement 0.1: the charts leave them out, and so does the lessons view); then ``hidden``
    minutes (two faces in one frame); its other minutes have no data. Each of its ``cameras``
    writes those minutes, and ``partly``'s camera the first of them. ``own_minutes`` False: a
    parallel lesson, held in minutes another lesson writes (so with its numbers). Bounds off the
    minute are stored as such (an iCalendar file can give them; a CSV file cannot)."""

    room: str
    day: int
    start: time
    end: time
    title: str
    group: str
    engagement: float
    shown: int = 45
    hidden: int = 0
    read: int = 1200
    own_minutes: bool = True
    unread: int = 0
    cameras: tuple[str, ...] = ("cam1",)
    partly: tuple[str, int] | None = None  # (a camera, its first minutes): on for those only

    def bounds(self) -> tuple[datetime, datetime]:
        day, zone = date(2025, 3, self.day), ZONES[self.room]
        return (datetime.combine(day, self.start, zone), datetime.combine(day, self.end, zone))

    def minute_rows(self) -> list[MinuteRow]:
        start, _ = self.bounds()
        first = start.replace(second=0) + timedelta(minutes=1 if start.second else 0)
        rows = []
        minutes = list(product(range(self.shown + self.unread + self.hidden), self.cameras))
        if self.partly is not None:
            minutes += [(i, self.partly[0]) for i in range(self.partly[1])]
        for i, camera in minutes:
            camera_id = f"{self.room}-{camera}"
            minute = first + timedelta(minutes=i)
            if i < self.shown + self.unread:
                read, engagement = ((self.read, self.engagement) if i < self.shown
                                    else (300, 0.1))
                n = (0, 0, 0, 0, 0, 0, read)
                rows.append(MinuteRow(camera_id, self.room, minute, 60, 60, 1200, n,
                                      tuple(map(float, n)), engagement * read,
                                      refused=(1200 - read, 0, 0)))
            else:
                n = (0, 0, 0, 0, 0, 0, 2)
                rows.append(MinuteRow(camera_id, self.room, minute, 60, 1, 2, n,
                                      tuple(map(float, n)), 0.3 * 2))
        return rows


def _maths(day: int, group: str, engagement: float, hour: int = 9, **kw: Any) -> TrapLesson:
    return TrapLesson("7B", day, time(hour), time(hour, 45), "Maths", group, engagement, **kw)


def _eighth(day: int, start: time, end: time, title: str, engagement: float,
            **kw: Any) -> TrapLesson:
    return TrapLesson("8C", day, start, end, title, "", engagement, **kw)


# Art and Music lessons with 1 shown minute of 45, out of the trend, in the same minutes
LEFT_OUT_SLOTS = [(10, h) for h in (11, 12, 13, 14)] + [(11, h) for h in range(8, 15)]
TRAPS: tuple[TrapLesson, ...] = (
    # 7B Maths: groups A and B, apart or in one room at once, and lessons of the whole class
    # (no group)
    _maths(3, "A", 0.50),
    _maths(3, "B", 0.50, hour=10),  # no lesson before, not even A
    _maths(4, "", 0.60),  # no earlier lesson without a group: none, not 3 March's A
    # another lesson in the room for its last 10 minutes (more than 20%): out
    _maths(5, "A", 0.40),
    TrapLesson("7B", 5, time(9, 35), time(10), "Form time", "", 0.5, own_minutes=False),
    _maths(5, "B", 0.80, hour=10),  # 3 March's B, not 3 March's A at 09:00
    # after A and B: the last without a group, 4 March's; its 9 minutes mostly unread (at 0.1)
    # are left out of its numbers, as the charts leave them out (36 of 45 charted: in)
    _maths(6, "", 0.70, shown=36, unread=9),
    _maths(7, "A", 0.45),  # 3 March's A, 5 March's being out
    # another lesson in the room for its last 9 minutes (20%): in
    TrapLesson("7B", 7, time(9, 36), time(10), "Form time", "", 0.5, own_minutes=False),
    # A and B in one room at once, both groups' faces in each: neither in, nor a lesson before
    _maths(10, "A", 0.85),
    _maths(10, "B", 0.85, own_minutes=False),
    _maths(12, "A", 0.60, hour=11),  # 7 March's A, not 10 March's
    _maths(11, "", 0.95, shown=10),  # data for 10 of 45 minutes: out
    # 36 of the 46 minutes starting in 10:00-10:45:30: out
    TrapLesson("7B", 11, time(10), time(10, 45, 30), "Maths", "", 0.99, shown=36),
    _maths(12, "", 0.78, shown=10, hidden=30),  # 40 of 45 with data, 10 charted: out
    _maths(12, "B", 0.90, hour=10, shown=1, hidden=44),  # 1 shown minute: out
    # 36 of the 45 minutes starting in 09:00:30-09:46, MIN_RECORDED_PERCENT exactly: in
    TrapLesson("7B", 13, time(9, 0, 30), time(9, 46), "Maths", "", 0.65, shown=36),
    _maths(13, "B", 0.95, hour=10, read=500),  # most faces unread: out
    _maths(14, "", 0.90),  # under way at UNDER_WAY, its last minute closing until CLOSED
    # 8C Physics: its ranks start at 1 again, below 7B's best rise
    *(_eighth(day, time(10), time(10, 45), "Physics", e)
      for day, e in ((3, 0.40), (10, 0.45), (12, 0.70), (13, 0.30), (14, 0.32))),
    # 8C Art and Music: the lesson before is sought among the title's last TREND_LESSONS lessons
    _eighth(10, time(8), time(8, 45), "Art", 0.30),
    _eighth(10, time(9), time(9, 45), "Music", 0.30),
    *(_eighth(day, time(h), time(h, 45), "Art", 0.90, shown=1, hidden=44)
      for day, h in LEFT_OUT_SLOTS[:10]),
    *(_eighth(day, time(h), time(h, 45), "Music", 0.90, shown=1, hidden=44,
              own_minutes=(day, h) not in LEFT_OUT_SLOTS[:10]) for day, h in LEFT_OUT_SLOTS),
    _eighth(12, time(8), time(8, 45), "Art", 0.50),  # 10 March's is the 12th lesson back
    _eighth(12, time(9), time(9, 45), "Music", 0.80),  # 10 March's is the 13th: none
    # 8C Drama: a lesson is compared with the last one its cameras recorded; 10 March's, by
    # another camera alone, and 13 March's, by both, are compared with none
    _eighth(3, time(16), time(16, 45), "Drama", 0.20),
    _eighth(10, time(16), time(16, 45), "Drama", 0.90, cameras=("cam2",)),
    _eighth(12, time(16), time(16, 45), "Drama", 0.75),  # 3 March's, not 10 March's
    _eighth(13, time(16), time(16, 45), "Drama", 0.30, cameras=("cam1", "cam2")),
    # the other camera on for 20 of its 45 minutes: in no trend (else 12 March's, +0.24)
    _eighth(14, time(16), time(16, 45), "Drama", 0.99, partly=("cam2", 20)),
    # 8C Chemistry: a lesson's minutes are those starting in [starts_at, ends_at)
    _eighth(11, time(15), time(15, 45), "Chemistry", 0.40),
    _eighth(13, time(8, 0, 30), time(8, 41), "Chemistry", 0.62, shown=32),  # 32 of 40: in
    # ... and stored twice (a timetable imported from two files): the same lesson, no room shared
    _eighth(13, time(8, 0, 30), time(8, 41), "Chemistry", 0.62, shown=32, own_minutes=False),
    _eighth(14, time(8), time(8, 40, 30), "Chemistry", 0.95, shown=32),  # 32 of 41: out
)
# 7B's last lesson (14 March, 09:00-09:45 New York, UTC-4): under way, then its last minute
# (09:44) closes MINUTE_CLOSES_AFTER after its end
UNDER_WAY = datetime(2025, 3, 14, 13, 30, tzinfo=UTC)
CLOSED = datetime(2025, 3, 14, 13, 45, tzinfo=UTC) + MINUTE_CLOSES_AFTER
ASKED_AT = (None, UNDER_WAY, CLOSED - timedelta(microseconds=1), CLOSED)


@pytest.fixture(scope="module")
def trap_engine(pg_database: Callable[[], str],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database holding :data:`TRAPS`: the CSV's lessons imported, the others inserted."""
    url = pg_database()
    upgrade(url)
    engine = make_engine(url)
    in_csv = [x for x in TRAPS if not any(t.second for t in (x.start, x.end))]
    lines = ["classroom,date,start,end,title,group"] + [
        f"{x.room},2025-03-{x.day:02d},{x.start:%H:%M},{x.end:%H:%M},{x.title},{x.group}"
        for x in in_csv]
    timetable_file = tmp_path_factory.mktemp("traps") / "timetable.csv"
    timetable_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with engine.begin() as conn:
        add_minute_rows(conn, [r for x in TRAPS if x.own_minutes for r in x.minute_rows()])
        for room, zone in ZONES.items():
            conn.execute(text("UPDATE classrooms SET timezone = :tz WHERE id = :id"),
                         {"tz": zone.key, "id": room})
    assert main(["lessons", "import", str(timetable_file), "--database-url", url]) == 0
    with engine.begin() as conn:
        for i, x in enumerate(x for x in TRAPS if x not in in_csv):
            start, end = x.bounds()
            conn.execute(text(
                "INSERT INTO lessons (classroom_id, starts_at, ends_at, title, source_key, "
                "source_scope) VALUES (:room, :start, :end, :title, :key, 'test:traps')"),
                {"room": x.room, "start": start, "end": end, "title": x.title,
                 "key": f"test:traps/{i}"})
    yield engine
    engine.dispose()


def _run_at(engine: Engine, title: str, now: datetime | None) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text(asked_at(doc_examples()[title], now))).mappings()
        return [dict(r) for r in rows]


@pytest.mark.parametrize("now", ASKED_AT, ids=["as-written", "under-way", "closing", "closed"])
def test_trend_examples_say_what_the_lessons_view_says(trap_engine: Engine,
                                                       now: datetime | None) -> None:
    """At each moment, both examples give what the lessons view gives, its functions called on
    the same database."""
    at = datetime.now(UTC) if now is None else now
    lo, hi = datetime(2025, 2, 24, tzinfo=UTC), datetime(2025, 3, 15, tzinfo=UTC)
    maths = [o for o in opened_lessons(trap_engine, "7B", lo, hi, at)
             if o.lesson["title"] == "Maths"]
    assert_title_rows(_run_at(trap_engine, "A title over the term", now), maths, NEW_YORK)
    week = (datetime(2025, 3, 10, tzinfo=UTC), hi)
    opened = {room: opened_lessons(trap_engine, room, *week, at) for room in TIMEZONES}
    assert_ranked_rows(_run_at(trap_engine, "Lessons ranked by engagement change", now),
                       ranked_rises(opened))


def test_trend_examples_keep_to_the_rule(trap_engine: Engine) -> None:
    """What the traps should give, written out: each part of the rule decides a row."""

    def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
        return datetime(2025, 3, day, hour, minute, second)

    title = [(r["local_start"], r["group_label"], r["minutes"], r["hidden_minutes"],
              float(r["engagement"]), r["previous_local_start"],
              None if r["change_from_previous"] is None else float(r["change_from_previous"]))
             for r in _run_at(trap_engine, "A title over the term", None)]
    assert title == [
        (at(3, 9), "A", 45, 0, 0.5, None, None),
        (at(3, 10), "B", 45, 0, 0.5, None, None),
        (at(4, 9), None, 45, 0, 0.6, None, None),
        (at(5, 10), "B", 45, 0, 0.8, at(3, 10), 0.3),
        (at(6, 9), None, 36, 0, 0.7, at(4, 9), 0.1),
        (at(7, 9), "A", 45, 0, 0.45, at(3, 9), -0.05),
        (at(12, 11), "A", 45, 0, 0.6, at(7, 9), 0.15),
        (at(13, 9, 0, 30), None, 36, 0, 0.65, at(6, 9), -0.05),
        (at(14, 9), None, 45, 0, 0.9, at(13, 9, 0, 30), 0.25),
    ]
    for now in (UNDER_WAY, CLOSED - timedelta(microseconds=1)):  # 14 March's not yet whole
        got = _run_at(trap_engine, "A title over the term", now)
        assert [r["local_start"] for r in got] == [row[0] for row in title[:-1]]
    assert [r["local_start"] for r in _run_at(trap_engine, "A title over the term", CLOSED)] == [
        row[0] for row in title]

    def ranked(now: datetime | None) -> list[tuple]:
        return [(r["classroom_id"], r["change_rank"], r["title"], r["local_start"],
                 r["previous_local_start"], r["minutes"], float(r["engagement"]),
                 float(r["previous_engagement"]), float(r["change"]))
                for r in _run_at(trap_engine, "Lessons ranked by engagement change", now)]

    eighth = [
        ("8C", 1, "Drama", at(12, 16), at(3, 16), 45, 0.75, 0.2, 0.55),
        ("8C", 2, "Physics", at(12, 10), at(10, 10), 45, 0.7, 0.45, 0.25),
        ("8C", 3, "Chemistry", at(13, 8, 0, 30), at(11, 15), 32, 0.62, 0.4, 0.22),
        ("8C", 3, "Chemistry", at(13, 8, 0, 30), at(11, 15), 32, 0.62, 0.4, 0.22),  # its twin
    ]
    assert ranked(None) == [
        ("7B", 1, "Maths", at(14, 9), at(13, 9, 0, 30), 45, 0.9, 0.65, 0.25),
        ("7B", 2, "Maths", at(12, 11), at(7, 9), 45, 0.6, 0.45, 0.15),  # group A
        ("7B", 3, "Maths", at(13, 9, 0, 30), at(6, 9), 36, 0.65, 0.7, -0.05),
        *eighth,
    ]
    assert ranked(UNDER_WAY) == [
        ("7B", 1, "Maths", at(12, 11), at(7, 9), 45, 0.6, 0.45, 0.15),  # group A
        ("7B", 2, "Maths", at(13, 9, 0, 30), at(6, 9), 36, 0.65, 0.7, -0.05),
        *eighth,
    ]
