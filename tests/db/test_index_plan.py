"""PostgreSQL picks the migration's indexes for the dashboard's and the views' query shapes.

The rows are generated in SQL (100,000 camera-minutes: 50 classrooms, 2,000 minutes), enough for
the planner to prefer an index over a full scan when a query needs 1 to 3 % of the table.
ANALYZE reads every row (statistics target 1000): with its default sample the estimates changed
from run to run, and so, now and then, did the plan (the camera query once took the primary key).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, TextClause, text

from classpulse.db.engine import make_engine
from classpulse.db.migrate import upgrade

pytestmark = pytest.mark.postgres

FILL = """
INSERT INTO classrooms (id, name, timezone)
SELECT 'room' || r, 'Room ' || r, 'Europe/Berlin' FROM generate_series(1, 50) AS r;
INSERT INTO cameras (id, classroom_id, name)
SELECT 'cam' || r, 'room' || r, 'cam' || r FROM generate_series(1, 50) AS r;
INSERT INTO emotion_minutes
SELECT 'cam' || r, TIMESTAMPTZ '2025-03-03 00:00+00' + m * INTERVAL '1 minute', 'room' || r,
       60, 58, 500, 10, 5, 10, 100, 50, 25, 300,
       12.0, 6.0, 15.0, 105.0, 60.0, 30.0, 272.0, 330.0, now(), 500, 58, 0, 0, 0
FROM generate_series(1, 50) AS r, generate_series(0, 1999) AS m;
INSERT INTO lessons (classroom_id, starts_at, ends_at, title, source_key, source_scope)
SELECT 'room' || r, TIMESTAMPTZ '2025-03-03 00:00+00' + k * INTERVAL '50 minutes',
       TIMESTAMPTZ '2025-03-03 00:45+00' + k * INTERVAL '50 minutes', 'T' || (k % 5),
       'k' || r || '/' || k, 's' || r
FROM generate_series(1, 50) AS r, generate_series(0, 39) AS k;
SET LOCAL default_statistics_target = 1000;
ANALYZE;
"""


@pytest.fixture(scope="module")
def big(pg_database: Callable[[], str]) -> Iterator[Engine]:
    url = pg_database()
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        for statement in filter(str.strip, FILL.split(";")):
            conn.execute(text(statement))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM emotion_minutes"))  # what autovacuum does: the visibility map
    yield engine
    engine.dispose()


def scans(engine: Engine, sql: str | TextClause, params: dict[str, Any] | None = None
          ) -> set[tuple[str, str]]:
    """(node type, index name) of every index scan in the plan PostgreSQL picks for ``sql``; a
    statement keeps its typed parameters."""
    explain = (text(f"EXPLAIN (FORMAT JSON) {sql}") if isinstance(sql, str) else
               text(f"EXPLAIN (FORMAT JSON) {sql.text}").bindparams(*sql._bindparams.values()))
    with engine.connect() as conn:
        plan = conn.execute(explain, params or {}).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    found: set[tuple[str, str]] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            found.add((node["Node Type"], node["Index Name"]))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def indexes_used(engine: Engine, sql: str) -> set[str]:
    return {name for _, name in scans(engine, sql)}


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (  # the dashboard: one classroom, one day of class minutes
            "SELECT * FROM class_minutes WHERE classroom_id = 'room7' "
            "AND minute_start >= TIMESTAMPTZ '2025-03-03 12:00+00' "
            "AND minute_start < TIMESTAMPTZ '2025-03-03 18:00+00' ORDER BY minute_start",
            "ix_emotion_minutes_classroom_id_minute_start",
        ),
        (  # a classroom's days: the condition reaches through the join and both groupings
            "SELECT * FROM class_days WHERE classroom_id = 'room7'",
            "ix_emotion_minutes_classroom_id_minute_start",
        ),
        (
            "SELECT * FROM class_hour_of_week WHERE classroom_id = 'room7'",
            "ix_emotion_minutes_classroom_id_minute_start",
        ),
        (  # overview: every classroom over the last hour
            "SELECT classroom_id, sum(faces) FROM class_minutes "
            "WHERE minute_start >= TIMESTAMPTZ '2025-03-04 08:00+00' GROUP BY classroom_id",
            "ix_emotion_minutes_minute_start",
        ),
    ],
)
def test_planner_uses_the_index(big: Engine, sql: str, index: str) -> None:
    assert index in indexes_used(big, sql)


@pytest.mark.parametrize("camera", [None, "cam7"])
def test_dashboard_buckets_are_an_index_only_scan(big: Engine, camera: str | None) -> None:
    """Migration 0003's covering index: a classroom's range never touches the table's heap."""
    from dashboard.sql import bucket_query

    stmt, params = bucket_query(big, "room7", camera, datetime(2025, 3, 3, tzinfo=timezone.utc),
                                datetime(2025, 3, 5, tzinfo=timezone.utc), 900)
    assert scans(big, stmt, params) == {
        ("Index Only Scan", "ix_emotion_minutes_classroom_id_minute_start")}


def minute_scans(engine: Engine, sql: str | TextClause,
                 params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The plan nodes that read ``emotion_minutes``, with how often they ran; a statement (the
    one the dashboard runs) keeps its typed parameters."""
    explain = (text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}") if isinstance(sql, str) else
               text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql.text}").bindparams(
                   *sql._bindparams.values()))
    with engine.connect() as conn:
        plan = conn.execute(explain, params or {}).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    found: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Relation Name") == "emotion_minutes":
            found.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


@pytest.mark.parametrize(("sql", "lessons"), [
    ("SELECT * FROM lesson_summaries WHERE lesson_id = 77", 1),
    ("SELECT * FROM lesson_summaries WHERE classroom_id = 'room7' "
     "AND starts_at >= TIMESTAMPTZ '2025-03-03 00:00+00' "
     "AND starts_at < TIMESTAMPTZ '2025-03-04 00:00+00'", 29),
    ("SELECT * FROM lesson_summaries WHERE classroom_id = 'room7' AND title = 'T1' "
     "AND starts_at <= TIMESTAMPTZ '2025-03-04 00:00+00' ORDER BY starts_at DESC LIMIT 3", 3),
])
def test_lesson_summaries_read_each_lessons_minutes_by_index(
    big: Engine, sql: str, lessons: int
) -> None:
    """The lessons view's queries read one index range of minutes per lesson they return, never a
    rollup of the classroom's (or every classroom's) whole history. The only other read is 0011's
    point lookup of a classroom-minute (is any of its cameras shown?), by index too."""
    reads = minute_scans(big, sql)
    (scan,) = [node for node in reads if "starts_at" in node.get("Index Cond", "")]
    for lookup in (node for node in reads if node is not scan):
        assert "Index" in lookup["Node Type"], lookup["Node Type"]
        assert "minute_start = " in lookup["Index Cond"] and "starts_at" not in lookup["Index Cond"]
    assert len(reads) <= 2
    assert "Index" in scan["Node Type"], scan["Node Type"]
    assert "starts_at" in scan["Index Cond"] and "ends_at" in scan["Index Cond"]
    assert scan["Actual Loops"] == lessons
    assert scan["Actual Rows"] <= 45 * 50  # a lesson's minutes, of at most every classroom


CLASS_INDEX = "ix_emotion_minutes_classroom_id_minute_start"


@pytest.mark.parametrize("hours", [1, 6])
def test_the_camera_list_reads_the_period_shown_alone(big: Engine, hours: int) -> None:
    """The camera select's list read all 2,000 of room7's minutes to find the cameras that
    counted minutes there, on every page run, link and live refresh (700 ms for a year of three
    cameras): it reads the period's minutes alone, from the covering (classroom, minute) index,
    and of each camera registered to room7 the primary-key entries of its newest minute."""
    from dashboard.sql import cameras_query

    start = datetime(2025, 3, 3, 12, tzinfo=timezone.utc)
    stmt, params = cameras_query("room7", start, start + timedelta(hours=hours))
    reads = minute_scans(big, stmt, params)
    (period,) = [node for node in reads if node.get("Index Name") == CLASS_INDEX]
    assert period["Node Type"] == "Index Only Scan"
    bounds = ("ROW(classroom_id, minute_start) >= ROW('room7'",
              "ROW(classroom_id, minute_start) < ROW('room7'")
    assert all(bound in period["Index Cond"] for bound in bounds), period["Index Cond"]
    assert period["Actual Rows"] * period["Actual Loops"] == 60 * hours
    for lookup in (node for node in reads if node is not period):
        assert lookup.get("Index Name") == "pk_emotion_minutes", lookup["Node Type"]
        assert "camera_id" in lookup["Index Cond"]
        assert lookup["Actual Rows"] + lookup.get("Rows Removed by Filter", 0) <= 1


def test_the_stopped_check_reads_each_cameras_newest_minutes_alone(big: Engine) -> None:
    """The check for stopped cameras asked two queries per camera of the classroom, the newest
    minute of a silent camera read backwards through the classroom's history: its one statement
    reads, per registered camera, primary-key entries at its newest minute, and of the
    classroom's own cameras the minutes just before it (the freshness lookback), never a range
    of the classroom's minutes."""
    from dashboard.sql import _FRESHNESS_LOOKBACK, camera_writes_query, fetch_camera_writes

    since = datetime(2025, 3, 4, tzinfo=timezone.utc)
    stmt, params = camera_writes_query(big, "room7", since)
    reads = minute_scans(big, stmt, params)
    lookback = _FRESHNESS_LOOKBACK // timedelta(minutes=1)
    assert reads
    for node in reads:
        assert node.get("Index Name") == "pk_emotion_minutes", node["Node Type"]
        assert "camera_id" in node["Index Cond"]
        assert node["Actual Rows"] + node.get("Rows Removed by Filter", 0) <= lookback + 1
    assert fetch_camera_writes(big, "room7", since)["id"].tolist() == ["cam7"]
