"""SQLite reads a classroom's range of minutes through the index for the dashboard's queries.

0011's first version read class minutes through a window over each classroom-minute, which SQLite
could not push the query's range into: every dashboard query read every classroom's whole history
(2.3 s instead of 17 ms for a day at 800,000 camera minutes). EXPLAIN QUERY PLAN on an empty
migrated database shows the plan SQLite would run.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from classpulse.db.engine import make_engine
from dashboard.sql import _bucket_sql

RANGE = ("SEARCH e USING INDEX ix_emotion_minutes_classroom_id_minute_start "
         "(classroom_id=? AND minute_start>? AND minute_start<?)")


def plan(url: str, sql: str, params: dict[str, object]) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params)]
    finally:
        engine.dispose()


@pytest.mark.parametrize("camera", [None, "cam7"])
def test_dashboard_buckets_search_the_classrooms_range(migrated_sqlite_url: str,
                                                       camera: str | None) -> None:
    engine = make_engine(migrated_sqlite_url)
    sql = _bucket_sql(engine, camera is not None)
    engine.dispose()
    params = {"classroom_id": "room7", "start": "2025-03-03 00:00:00",
              "end": "2025-03-04 00:00:00", "bucket": 900, "camera_id": camera}
    steps = plan(migrated_sqlite_url, sql, params)
    assert RANGE in steps, steps
    assert not any(step.startswith("SCAN e") for step in steps), steps


def test_a_lessons_minutes_are_one_range_search(migrated_sqlite_url: str) -> None:
    steps = plan(migrated_sqlite_url, "SELECT * FROM lesson_summaries WHERE lesson_id = 77", {})
    assert f"{RANGE} LEFT-JOIN" in steps, steps
    assert not any(step.startswith("SCAN e") for step in steps), steps
