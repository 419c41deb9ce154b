"""``classpulse bench dashboard``: the page's queries on a year of minutes for many classrooms.

Seeds SYNTHETIC rows (``classpulse.db.seed``; by default 50 classrooms x 2 cameras x one year of
school hours) and a timetable (eight 45-minute lessons each school day, :func:`seed_lessons`) into
a temporary SQLite file, or into DATABASE_URL when given (``--database-url`` or the environment),
then times every query a page view runs, uncached (what a viewer waits for when the short query
cache has expired), on classrooms picked at random. Prints a Markdown table for
docs/benchmarks.md. Not a test: numbers depend on the machine.

Seeding rewrites ``emotion_minutes`` whole (:func:`write_order`), so a database consumers write to
(under compose, DATABASE_URL is production's) is refused: one that holds a consumer's offset.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from classpulse.flags import positive_int
from classpulse.machine import describe_machine
from classpulse.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

LIVE_MINUTES = 60
LESSON_TITLES = ("Maths", "English", "Physics", "History", "Art", "Biology", "French")
LESSONS_PER_DAY = 8  # from the first school hour, 45 minutes each, 5 minutes apart


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "dashboard",
        help="time the dashboard's queries on a year of synthetic minutes (seeds a temporary "
        "SQLite file, or DATABASE_URL when given)",
        description="Seed SYNTHETIC minute rows into a temporary SQLite file, or into DATABASE_URL "
        "when given (an empty database of the benchmark's own, or one this benchmark seeded "
        "before with the same sizes: other sizes are refused, and so is a database consumers "
        "write to) and time the dashboard's page queries.",
    )
    parser.add_argument("--classrooms", type=positive_int, default=50,
                        help="classrooms (default 50)")
    parser.add_argument("--cameras", type=positive_int, default=2,
                        help="cameras per classroom (default 2)")
    parser.add_argument("--days", type=positive_int, default=365, help="days of data (default 365)")
    parser.add_argument("--school-hours", default="8-15",
                        help="UTC hours with data, Monday to Friday, as FROM-TO (default 8-15); "
                        "'all' for every minute")
    parser.add_argument("--repeat", type=positive_int, default=20,
                        help="page views timed per page kind, each on a random classroom")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the synthetic data")
    parser.set_defaults(handler=run_bench)


@dataclass(frozen=True)
class Sizes:
    classrooms: int
    cameras: int
    days: int
    school_hours: tuple[int, int] | None

    def classroom_ids(self) -> list[str]:
        return [f"bench-{i:03d}" for i in range(self.classrooms)]


def _parse_hours(text: str) -> tuple[int, int] | None:
    from classpulse.errors import UsageError

    if text == "all":
        return None
    lo, sep, hi = text.partition("-")
    if not sep or not lo.isdigit() or not hi.isdigit() or not 0 <= int(lo) < int(hi) <= 24:
        raise UsageError(f"--school-hours {text!r} must be FROM-TO with 0 <= FROM < TO <= 24, "
                         "e.g. 8-15, or 'all'")
    return int(lo), int(hi)


def seed(url: str, sizes: Sizes, end: datetime, random_seed: int) -> int:
    """Seed the rows unless they are there already (then they must be what ``sizes`` seeds, or
    the printed sizes would describe other data); the number of rows in ``emotion_minutes``."""
    from sqlalchemy import text

    from classpulse.db.engine import make_engine
    from classpulse.db.migrate import upgrade
    from classpulse.db.seed import seed_minutes

    refuse_consumers_database(url)  # before the upgrade, which would migrate it
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            existing = conn.execute(text("SELECT COUNT(*) FROM emotion_minutes")).scalar_one()
            if existing:
                check_seeded(conn, sizes, int(existing))
        if existing:
            log.info("reusing seeded rows rows=%d", existing)
            return int(existing)
        start = end - timedelta(days=sizes.days)
        total = 0
        for room in sizes.classroom_ids():  # one transaction per classroom
            with engine.begin() as conn:
                total += seed_minutes(conn, [room], sizes.cameras, start, sizes.days * 1440,
                                      random_seed, sizes.school_hours, progress=True)
        write_order(engine)
        seed_lessons(engine, sizes, start, end)
        return total
    finally:
        engine.dispose()


def bench_url(stack: ExitStack, settings: Settings) -> str:
    """DATABASE_URL when a flag or the environment gave it, else a new SQLite file in a temporary
    folder removed with ``stack``: a default must never be a database someone else uses."""
    if "database_url" in settings.explicit:
        return settings.database_url
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="classpulse-bench-dashboard-"))
    return f"sqlite:///{Path(folder) / 'bench.db'}"


def refuse_consumers_database(url: str) -> None:
    """One :class:`UsageError` for a database a consumer has written to (a row in
    ``consumer_offsets``): seeding adds synthetic classrooms to it and :func:`write_order`
    rewrites ``emotion_minutes`` whole."""
    from sqlalchemy import inspect, text

    from classpulse.db.engine import make_engine
    from classpulse.db.migrate import current
    from classpulse.errors import UsageError
    from classpulse.redact import hide_password

    if current(url) is None:  # never migrated (UsageError, one line, when unreachable)
        return
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            consumed = inspect(conn).has_table("consumer_offsets") and conn.execute(
                text("SELECT COUNT(*) FROM consumer_offsets")).scalar_one()
    finally:
        engine.dispose()
    if consumed:
        raise UsageError(
            f"database {hide_password(url)} holds consumers' offsets, so consumers write to it, "
            "and the benchmark would add synthetic classrooms and rewrite emotion_minutes; give "
            "--database-url an empty database of its own, or leave DATABASE_URL unset for a "
            "temporary SQLite file")


def check_seeded(conn: Connection, sizes: Sizes, rows: int) -> None:
    """Refuse, in one line, rows that ``sizes`` would not have seeded: other classroom or camera
    counts, minutes outside the school hours, or a span of other than ``sizes.days`` days.

    A seeding covers every school minute of every camera from ``end - days`` up to ``end`` (the
    time it ran, unknown here), so the rows per camera must be the school minutes from the first
    row to the last, and some whole-minute start between the school minute before the first row
    and the first row must lie ``days`` before a moment after the last row and not after the next
    school minute. Cheap: counts, and the first and last minute by index."""
    from sqlalchemy import func, select, text

    from classpulse.db.models.emotion_minute import EmotionMinute
    from classpulse.errors import UsageError

    rooms = int(conn.execute(text("SELECT COUNT(*) FROM classrooms")).scalar_one())
    cameras = int(conn.execute(text("SELECT COUNT(*) FROM cameras")).scalar_one())
    first, last = conn.execute(select(func.min(EmotionMinute.minute_start),
                                      func.max(EmotionMinute.minute_start))).one()
    hours = sizes.school_hours
    minute = timedelta(minutes=1)
    per_camera, odd = divmod(rows, max(cameras, 1))
    start_from = max(_school_step(first, hours, -1) + minute,
                     last + minute - timedelta(days=sizes.days))
    start_to = min(first, _school_step(last, hours, 1) - timedelta(days=sizes.days))
    fits = (rooms == sizes.classrooms and cameras == sizes.classrooms * sizes.cameras and not odd
            and _is_school(first, hours) and _is_school(last, hours)
            and per_camera == _school_minutes(first, last, hours) and start_from <= start_to)
    if not fits:
        days = (last - first + minute) / timedelta(days=1)
        raise UsageError(
            f"the database already holds {rows:,} minute rows of {rooms} classrooms and "
            f"{cameras} cameras from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC "
            f"({days:.1f} days), not what --classrooms {sizes.classrooms} --cameras "
            f"{sizes.cameras} --days {sizes.days} --school-hours {_hours_text(hours)} seeds; "
            "give those sizes or an empty database")


def _hours_text(hours: tuple[int, int] | None) -> str:
    return "all" if hours is None else f"{hours[0]}-{hours[1]}"


def _is_school(t: datetime, hours: tuple[int, int] | None) -> bool:
    """Whether ``classpulse.db.seed`` seeds the minute ``t`` (UTC) with these school hours."""
    return hours is None or (t.isoweekday() <= 5 and hours[0] <= t.hour < hours[1])


def _school_step(t: datetime, hours: tuple[int, int] | None, step: int) -> datetime:
    """The nearest seeded minute before (``step`` -1) or after (1) ``t``; at most a weekend and a
    night away."""
    t += timedelta(minutes=step)
    while not _is_school(t, hours):
        t += timedelta(minutes=step)
    return t


def _school_minutes(first: datetime, last: datetime, hours: tuple[int, int] | None) -> int:
    """Seeded minutes from ``first`` to ``last`` (UTC, both included)."""
    import numpy as np

    n = int((last - first) / timedelta(minutes=1)) + 1
    if hours is None:
        return n
    epoch_minutes = int(first.timestamp()) // 60 + np.arange(n, dtype=np.int64)
    weekday = (epoch_minutes // 1440 + 3) % 7  # 1970-01-01 was a Thursday: 0 is Monday
    hour = epoch_minutes // 60 % 24
    return int(np.count_nonzero((weekday < 5) & (hour >= hours[0]) & (hour < hours[1])))


def seed_lessons(engine: Engine, sizes: Sizes, start: datetime, end: datetime) -> int:
    """A weekly timetable for every classroom over the seeded days (school days, UTC hours)."""
    from classpulse.lessons.store import replace_lessons
    from classpulse.lessons.timetable import PlannedLesson, key_time

    first_hour = sizes.school_hours[0] if sizes.school_hours else 8
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    lessons = []
    while day < end:
        if day.isoweekday() <= 5:
            for slot in range(LESSONS_PER_DAY):
                begin = day + timedelta(hours=first_hour, minutes=50 * slot)
                title = LESSON_TITLES[(day.weekday() * LESSONS_PER_DAY + slot)
                                      % len(LESSON_TITLES)]
                for room in sizes.classroom_ids():
                    lessons.append(PlannedLesson(
                        room, begin, begin + timedelta(minutes=45), title, None, None,
                        f"bench:{room}/{key_time(begin)}", f"bench:{room}/{day:%Y-%m-%d}", 0))
        day += timedelta(days=1)
    with engine.begin() as conn:
        replace_lessons(conn, lessons)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE lessons")  # what autovacuum does; the plans depend on it
    log.info("seeded lessons=%d", len(lessons))
    return len(lessons)


def write_order(engine: Engine) -> None:
    """Store the rows in the order consumers write them: minute by minute, all cameras mixed.

    Seeding one classroom after the other would leave each classroom's year in neighbouring disk
    pages, which flatters every range query; live consumers interleave all classrooms per minute,
    so a classroom's year is spread over the whole table. Then refresh the planner's statistics.

    The table is locked from the copy on (PostgreSQL: ACCESS EXCLUSIVE; SQLite: its write lock),
    so a write that came in meanwhile would wait for the rewrite rather than be lost with it
    (:func:`refuse_consumers_database` keeps consumers' databases out in the first place).
    """
    from sqlalchemy import text

    log.info("rewriting emotion_minutes in write order (minute, camera)")
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE emotion_minutes IN ACCESS EXCLUSIVE MODE"))
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.execute(text("CREATE TEMPORARY TABLE bench_rows AS SELECT * FROM emotion_minutes"))
        empty = "TRUNCATE" if engine.dialect.name == "postgresql" else "DELETE FROM"
        conn.execute(text(f"{empty} emotion_minutes"))
        conn.execute(text("INSERT INTO emotion_minutes SELECT * FROM bench_rows "
                          "ORDER BY minute_start, camera_id"))
        conn.execute(text("DROP TABLE bench_rows"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE emotion_minutes" if engine.dialect.name == "postgresql"
                          else "VACUUM"))


@dataclass(frozen=True)
class PageView:
    """One kind of page view and the queries app.py runs for it, as callables of a classroom."""

    name: str
    queries: tuple[tuple[str, Callable[[str], int]], ...]


def page_views(url: str) -> tuple[list[PageView], Callable[[], None]]:
    """The page kinds to time (the SQL app.py runs, then its pandas work), and an engine release.

    Range pages are timed from the widget values on: one bucket query at the period's fetch
    resolution, then regrouping, the series, the day table and the heatmap in pandas.
    """
    from zoneinfo import ZoneInfo

    from classpulse.db.engine import make_engine
    from dashboard import lesson_sql, sql, transform
    from dashboard.periods import HISTORY_BUCKET, Period, bucket_for
    from dashboard.text import STOPPED_CAMERA_NAMED_FOR

    engine = make_engine(url)
    zone = ZoneInfo("Europe/Berlin")
    newest: dict[str, datetime] = {}
    frames: list[tuple[pd.DataFrame, int]] = []  # the last bucket query's rows and bucket
    weeks: list[pd.DataFrame] = []  # the last week's lessons

    def last_write(room: str) -> int:
        minute, _ = sql.fetch_last_write(engine, room, None)
        assert minute is not None, f"classroom {room} has no rows"
        newest[room] = minute
        return 1

    def buckets(span: timedelta, bucket: int) -> Callable[[str], int]:
        def run(room: str) -> int:
            end = newest[room] + timedelta(minutes=1)
            period = Period(end - span, end, zone, bucket)
            frame = sql.fetch_buckets(engine, room, None, period.start, period.end,
                                      period.fetch_bucket_seconds)
            frames[:] = [(frame, bucket)]
            return len(frame)
        return run

    def pandas_work(room: str) -> int:
        ((frame, bucket),) = frames
        series = transform.series(transform.regroup(frame, bucket), zone)
        history = transform.regroup(frame, HISTORY_BUCKET)
        days = transform.daily_summary(history, zone)
        cells = transform.hour_of_week(history, zone)
        return len(series) + len(days) + len(cells)

    def lessons_week(room: str) -> int:
        monday = (newest[room] - timedelta(days=7)).date()
        week_start = datetime.combine(monday - timedelta(days=monday.weekday()),
                                      datetime.min.time(), timezone.utc)
        week = lesson_sql.fetch_week(engine, room, week_start, week_start + timedelta(days=7))
        weeks[:] = [week]
        return len(week)

    def open_lesson(room: str) -> int:
        (week,) = weeks
        lesson = week.iloc[len(week) // 2]
        start, end = lesson["starts_at"].to_pydatetime(), lesson["ends_at"].to_pydatetime()
        one = lesson_sql.fetch_lesson(engine, int(lesson["lesson_id"]))
        minutes = sql.fetch_buckets(engine, room, None, start, end, 60)
        group = lesson["group_label"]  # None, or NaN beside lessons with a group
        history = lesson_sql.fetch_title_history(engine, room, str(lesson["title"]),
                                                 group if isinstance(group, str) else None,
                                                 start, 12)
        return len(one) + len(minutes) + len(history)

    def cameras(span: timedelta) -> Callable[[str], int]:
        """The camera select's list for the period (after "last write", which finds its end)."""
        def run(room: str) -> int:
            end = newest[room] + timedelta(minutes=1)
            return len(sql.fetch_cameras(engine, room, end - span, end))
        return run

    def stopped_cameras(room: str) -> int:
        since = newest[room] - STOPPED_CAMERA_NAMED_FOR
        return len(sql.fetch_camera_writes(engine, room, since))

    common = (("classrooms", lambda room: len(sql.fetch_classrooms(engine))),
              ("small-group rule", lambda room: sql.fetch_min_faces(engine)),
              ("last write", last_write))
    window = timedelta(minutes=LIVE_MINUTES)
    views = [PageView("live, last 60 minutes", (
        *common, ("cameras", cameras(window)), ("stopped cameras", stopped_cameras),
        ("minute buckets", buckets(window, 60))))]
    for label, days in (("one day", 1), ("one week", 7), ("one month", 30), ("one year", 365)):
        span = timedelta(days=days)
        fetch = min(bucket_for(span), HISTORY_BUCKET)
        views.append(PageView(f"range, {label}", (
            *common, ("cameras", cameras(span)),
            (f"{fetch // 60}-minute buckets", buckets(span, bucket_for(span))),
            ("pandas: series, days, heatmap", pandas_work),
        )))
    lesson_rows = ("rule", lambda room: sql.fetch_min_faces(engine))
    views.append(PageView("lessons, a week and one lesson", (
        ("classrooms", lambda room: len(sql.fetch_classrooms(engine))), lesson_rows,
        ("last write", last_write), ("week's lessons", lessons_week),
        ("open lesson: row, minutes, title's trend", open_lesson),
    )))
    return views, engine.dispose


def _ms(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def time_views(views: list[PageView], rooms: list[str], repeat: int,
               rng: random.Random) -> list[tuple[str, str, int, float, float]]:
    """(page, query, rows, median ms, p95 ms) per query, plus one 'whole page' row per page."""
    out = []
    for view in views:
        per_query: dict[str, list[float]] = {name: [] for name, _ in view.queries}
        rows: dict[str, int] = {}
        totals = []
        for _ in range(repeat):
            room = rng.choice(rooms)
            page_started = time.perf_counter()
            for name, query in view.queries:
                started = time.perf_counter()
                rows[name] = query(room)
                per_query[name].append(time.perf_counter() - started)
            totals.append(time.perf_counter() - page_started)
        for name, seconds in per_query.items():
            out.append((view.name, name, rows[name], *_ms(seconds)))
        out.append((view.name, "**whole page**", sum(rows.values()), *_ms(totals)))
    return out


def _server(url: str) -> str:
    from sqlalchemy import text

    from classpulse.db.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                return str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]
            return str(conn.execute(text("SELECT sqlite_version()")).scalar_one())
    finally:
        engine.dispose()


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    with ExitStack() as stack:
        return _run(args, bench_url(stack, settings))


def _run(args: argparse.Namespace, url: str) -> int:
    from sqlalchemy.engine import make_url

    sizes = Sizes(args.classrooms, args.cameras, args.days, _parse_hours(args.school_hours))
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    started = time.perf_counter()
    rows = seed(url, sizes, end, args.seed)
    log.info("seeded rows=%d seconds=%.0f", rows, time.perf_counter() - started)
    views, release = page_views(url)
    try:
        results = time_views(views, sizes.classroom_ids(), args.repeat, random.Random(args.seed))
    finally:
        release()
    dialect = make_url(url).get_backend_name()
    machine = describe_machine(with_torch=False)
    hours = "every minute" if sizes.school_hours is None else (
        f"school hours {sizes.school_hours[0]}-{sizes.school_hours[1]} UTC, Monday to Friday")
    print(f"{dialect} {_server(url)}, {rows:,} rows in emotion_minutes "
          f"({sizes.classrooms} classrooms x {sizes.cameras} cameras x {sizes.days} days, "
          f"{hours}); {machine.logical_cores} CPUs, {machine.python}; {args.repeat} page "
          "views per kind, uncached, random classrooms\n")
    print("| page | query | rows | median ms | p95 ms |")
    print("| --- | --- | ---: | ---: | ---: |")
    for page, query, count, median, p95 in results:
        print(f"| {page} | {query} | {count} | {median:.1f} | {p95:.1f} |")
    return 0
