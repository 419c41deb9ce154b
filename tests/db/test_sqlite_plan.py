"""SQLite reads a classroom's range of minutes through the index for the dashboard's queries.

0011's first version read class minutes through a window over each classroom-minute, which SQLite
could not push the query's range into: every dashboard query read every classroom's whole history
(2.3 s instead of 17 ms for a day at 800,000 camera minutes). EXPLAIN QUERY PLAN on an empty
migrated database shows the plan SQLite would run.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import TextClause, text

from classpulse.db.engine import make_engine
from dashboard.sql import bucket_query

RANGE = ("SEARCH e USING INDEX ix_emotion_minutes_classroom_id_minute_start "
         "(classroom_id=? AND minute_start>? AND minute_start<?)")


def plan(url: str, sql: str | TextClause, params: dict[str, object]) -> list[str]:
    """The plan of ``sql``; a statement keeps its typed parameters (UTC times as stored)."""
    explain = (text(f"EXPLAIN QUERY PLAN {sql}") if isinstance(sql, str) else
               text(f"EXPLAIN QUERY PLAN {sql.text}").bindparams(*sql._bindparams.values()))
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [row[-1] for row in conn.execute(explain, params)]
    finally:
        engine.dispose()


@pytest.mark.parametrize("camera", [None, "cam7"])
def test_dashboard_buckets_search_the_classrooms_range(migrated_sqlite_url: str,
                                                       camera: str | None) -> None:
    engine = make_engine(migrated_sqlite_url)
    stmt, params = bucket_query(engine, "room7", camera, datetime(2025, 3, 3, tzinfo=timezone.utc),
                                datetime(2025, 3, 4, tzinfo=timezone.utc), 900)
    engine.dispose()
    steps = plan(migrated_sqlite_url, stmt, params)
    assert RANGE in steps, steps
    assert not any(step.startswith("SCAN e") for step in steps), steps


def test_a_lessons_minutes_are_one_range_search(migrated_sqlite_url: str) -> None:
    steps = plan(migrated_sqlite_url, "SELECT * FROM lesson_summaries WHERE lesson_id = 77", {})
    assert f"{RANGE} LEFT-JOIN" in steps, steps
    assert not any(step.startswith("SCAN e") for step in steps), steps


# the camera list's period of the classroom, as row values (dashboard.sql.cameras_query)
ROW_RANGE = ("SEARCH e USING INDEX ix_emotion_minutes_classroom_id_minute_start "
             "((classroom_id,minute_start)>(?,?) AND (classroom_id,minute_start)<(?,?))")
# a camera's newest minute: the end of its primary-key range (dashboard.sql._newest_minute)
NEWEST = ("SEARCH n USING COVERING INDEX sqlite_autoindex_emotion_minutes_1 "
          "(camera_id>? AND camera_id<?)")
# the aliases of emotion_minutes in the camera list and the stopped check (dashboard.sql)
MINUTE_ALIASES = ("e", "n", "o", "w")


def minute_steps(steps: list[str]) -> list[str]:
    """The steps that read ``emotion_minutes``, searched or scanned."""
    reads = [[verb, alias] for verb in ("SCAN", "SEARCH") for alias in MINUTE_ALIASES]
    return [step for step in steps if step.split()[:2] in reads]


def test_the_camera_list_searches_the_periods_range(migrated_sqlite_url: str) -> None:
    """The cameras that counted minutes in the classroom come from the period's range of the
    (classroom, minute) index, the registered ones' newest minutes from the primary key: no
    step reads a classroom's whole history."""
    from dashboard.sql import cameras_query

    stmt, params = cameras_query("room7", datetime(2025, 3, 3, tzinfo=timezone.utc),
                                 datetime(2025, 3, 4, tzinfo=timezone.utc))
    steps = plan(migrated_sqlite_url, stmt, params)
    assert ROW_RANGE in steps, steps
    reads = minute_steps(steps)
    assert NEWEST in steps and all(step.startswith("SEARCH ") for step in reads), steps
    assert all("(camera_id" in step for step in reads if step != ROW_RANGE), steps


def test_the_stopped_check_searches_each_cameras_newest_minutes(migrated_sqlite_url: str) -> None:
    """Per camera, its newest minute and its classroom from the primary key, then a few minutes'
    range before it: a search, never a scan, of ``emotion_minutes``."""
    from dashboard.sql import camera_writes_query

    engine = make_engine(migrated_sqlite_url)
    stmt, params = camera_writes_query(engine, "room7", datetime(2025, 3, 3, tzinfo=timezone.utc))
    engine.dispose()
    steps = plan(migrated_sqlite_url, stmt, params)
    reads = minute_steps(steps)
    assert NEWEST in steps and all(step.startswith("SEARCH ") for step in reads), steps
