"""One owner for the small-group rule: every reader hides the minutes ``camera_minutes`` hides.

Hand-made minutes of one classroom with two cameras, each chosen to sit on one side of the rule;
the same five minutes are read through every consumer of the rule (the per-camera and per-class
views, the day and hour rollups, ``lesson_summaries`` and the dashboard's bucket query), at the
default threshold and after ``small_group_rule`` changes, and with the rule's measure switched the
way a later migration would switch it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from classpulse.db.engine import make_engine
from classpulse.db.migrate import alembic_config
from classpulse.db.rule import load_min_faces, store_min_faces
from classpulse.db.views import (
    camera_minutes,
    class_days,
    class_hour_of_week,
    class_minutes,
    lesson_summaries,
)
from classpulse.errors import UsageError
from classpulse.lessons.store import replace_lessons
from classpulse.lessons.timetable import PlannedLesson
from dashboard.sql import fetch_buckets
from tests.dashboard import expected

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
M = [START + timedelta(minutes=i) for i in range(5)]


def rows() -> list:
    return [
        expected.row("t1", "tiny", M[0], 60, 10),  # ten at once: shown
        expected.row("t1", "tiny", M[1], 60, 1),  # one child, 60 sightings: always hidden
        expected.row("t1", "tiny", M[2], 60, 2),  # two per camera, two cameras: hidden below 3
        expected.row("t2", "tiny", M[2], 60, 2),
        expected.row("t1", "tiny", M[3], 0, 0),  # nobody: always hidden
        expected.row("t1", "tiny", M[4], 30, 3),  # three at once, in half of the frames
    ]


def seed(engine: Engine) -> None:
    expected.write(engine, rows())
    lesson = PlannedLesson("tiny", M[0], M[4] + timedelta(minutes=1), "Maths", None, None,
                           "csv:tiny/x", "csv:tiny/2025-03-03", 2)
    with engine.begin() as conn:
        replace_lessons(conn, [lesson])


def every_reader(engine: Engine) -> dict[str, object]:
    """What each consumer of the rule says about the five minutes."""
    with engine.connect() as conn:
        cams = conn.execute(select(camera_minutes.c.camera_id, camera_minutes.c.minute_start,
                                   camera_minutes.c.shown)
                            .order_by(camera_minutes.c.minute_start, camera_minutes.c.camera_id))
        klass = conn.execute(select(class_minutes.c.shown).order_by(class_minutes.c.minute_start))
        day = conn.execute(select(class_days.c.minutes, class_days.c.hidden_minutes)).one()
        hour = conn.execute(select(class_hour_of_week.c.minutes,
                                   class_hour_of_week.c.hidden_minutes)).one()
        lesson = conn.execute(select(lesson_summaries.c.minutes,
                                     lesson_summaries.c.hidden_minutes)).one()
        cams, klass = cams.all(), klass.scalars().all()
    buckets = fetch_buckets(engine, "tiny", None, M[0], M[4] + timedelta(minutes=1), 60)
    return {
        "camera": [(c, m.minute, s) for c, m, s in cams],
        "class": klass,
        "day": tuple(day),
        "hour": tuple(hour),
        "lesson": tuple(lesson),
        "dashboard": buckets["minutes"].tolist(),
    }


def agree(got: dict[str, object], shown: list[bool]) -> None:
    count = (sum(shown), len(shown) - sum(shown))
    assert got["class"] == shown
    assert got["dashboard"] == [int(s) for s in shown]
    assert got["day"] == got["hour"] == got["lesson"] == count


def test_every_reader_hides_the_same_minutes(db: Engine) -> None:
    seed(db)
    got = every_reader(db)
    assert got["camera"] == [("t1", 0, True), ("t1", 1, False), ("t1", 2, False),
                             ("t2", 2, False), ("t1", 3, False), ("t1", 4, True)]
    agree(got, [True, False, False, False, True])


def test_the_stored_threshold_reaches_every_reader(db: Engine) -> None:
    seed(db)
    with db.begin() as conn:
        assert load_min_faces(conn) == 3
        store_min_faces(conn, 2)
    agree(every_reader(db), [True, False, True, False, True])  # two per frame now shown
    with db.begin() as conn:
        store_min_faces(conn, 11)
    agree(every_reader(db), [False] * 5)
    with db.begin() as conn:
        store_min_faces(conn, 3)


@pytest.mark.parametrize("threshold", [1, 0])
def test_a_threshold_below_two_is_refused(db: Engine, threshold: int) -> None:
    """One face read at a time may be one child's: the rule exists so that no chart shows that."""
    with pytest.raises(UsageError) as refused, db.begin() as conn:
        store_min_faces(conn, threshold)
    assert str(refused.value) == (
        f"MIN_FACES_SHOWN (or --min-faces-shown) {threshold} would show minutes in which a "
        "camera read one face at a time, a single child's; give 2 or more")
    with db.connect() as conn:
        assert load_min_faces(conn) == 3


def test_the_database_refuses_a_threshold_below_two(db: Engine) -> None:
    """Migration 0015's check: an UPDATE by hand (as analysts' docs show) cannot set 1 either."""
    with pytest.raises(IntegrityError, match="min_faces_shown_two_or_more"), db.begin() as conn:
        conn.execute(text("UPDATE small_group_rule SET min_faces_shown = 1"))


def test_without_the_rule_row_nothing_is_shown_and_the_reader_is_told(db: Engine) -> None:
    seed(db)
    with db.begin() as conn:
        conn.execute(text("DELETE FROM small_group_rule"))
    try:
        agree(every_reader(db), [False] * 5)
        with pytest.raises(UsageError, match="holds no small-group rule"), db.connect() as conn:
            load_min_faces(conn)
    finally:
        with db.begin() as conn:
            store_min_faces(conn, 3)  # recreates the row
            assert load_min_faces(conn) == 3


def test_switching_the_measure_is_one_statement_every_view_follows(migrated_url: str) -> None:
    """How a later revision moves the rule to another measure (e.g. faces the model could read):
    0006's ``camera_minutes_sql`` with the new expression (and the views' current shape,
    0017's), and nothing else."""
    engine = make_engine(migrated_url)
    try:
        seed(engine)
        script = ScriptDirectory.from_config(alembic_config())
        rule = script.get_revision("0006_small_group_rule").module
        shape = script.get_revision("0017_revised_minutes").module.shape(
            script.get_revision("0008_faces_read").module, rule)
        # faces read per frame over ALL frames: the last minute's 3 faces in half the frames: 1.5
        measure = "CAST(e.faces_read AS DOUBLE PRECISION) / NULLIF(e.frames, 0)"
        with engine.begin() as conn:
            for statement in rule.camera_minutes_sql(engine.dialect.name, measure, shape):
                conn.execute(text(statement))
        agree(every_reader(engine), [True, False, False, False, False])
    finally:
        engine.dispose()


def test_a_shown_class_minute_tells_nothing_of_its_hidden_camera(db: Engine) -> None:
    """The front camera reads a class, the back one a single child: the class minute is shown,
    and its numbers must be the front camera's alone, or the class's minus the front's (both on
    the page, and in its CSV download) would give the child's minute, to the face."""
    front = expected.row("t1", "tiny", M[0], 60, 10)
    child = expected.row("t2", "tiny", M[0], 60, 1, top="sad", confidence=0.9)
    expected.write(db, [front, child])
    lesson = PlannedLesson("tiny", M[0], M[1], "Maths", None, None, "csv:tiny/y",
                           "csv:tiny/2025-03-03", 2)
    with db.begin() as conn:
        replace_lessons(conn, [lesson])
        klass = conn.execute(select(class_minutes)).mappings().one()
        summary = conn.execute(select(lesson_summaries)).mappings().one()
    assert klass["shown"] and klass["cameras"] == 1
    assert (klass["faces"], klass["faces_read"], klass["n_sad"], klass["n_neutral"]) == (
        600, 600, 0, 600)
    assert klass["engagement_sum"] == pytest.approx(front.engagement_sum)
    assert (summary["minutes"], summary["faces_read"], summary["n_sad"]) == (1, 600, 0)
    whole = fetch_buckets(db, "tiny", None, M[0], M[1], 60)
    assert whole.equals(fetch_buckets(db, "tiny", "t1", M[0], M[1], 60))
    assert expected.minutes([front, child], "tiny", 3)[M[0]]["faces_read"] == 600
