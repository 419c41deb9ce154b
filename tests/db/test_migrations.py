"""The real migrations on empty PostgreSQL and SQLite: schema, idempotence, models match."""

from __future__ import annotations

import logging
import subprocess
import sys
import zoneinfo
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    bindparam,
    create_engine,
    inspect,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

import classpulse.db.models  # noqa: F401
from classpulse.db.base import Base, UTCDateTime
from classpulse.db.engine import make_engine
from classpulse.db.migrate import (
    alembic_config,
    current,
    head_revision,
    min_faces,
    require_head,
    upgrade,
)
from classpulse.db.models import EmotionMinute
from classpulse.db.views import VIEWS
from classpulse.db.writes import MinuteRow, add_minute_rows
from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from tests.db.pg_roles import PASSWORD, REFUSED, role_urls

TABLES = {"classrooms", "cameras", "emotion_minutes", "rejected_frames", "consumer_offsets",
          "small_group_rule", "lessons", "offset_resets", "seen_frames", "engagement_weights"}
VIEW_NAMES = {"camera_minutes", "class_minutes", "class_days", "class_hour_of_week",
              "lesson_summaries", "shown_camera_minutes", "shown_class_minutes"}
HEAD = "0019_sqlite_class_rows_seek"


@pytest.fixture
def engine(db: Engine) -> Engine:
    """The shared migrated database of each dialect; these tests only read its schema."""
    return db


@pytest.fixture
def fresh_engine(migrated_url: str) -> Iterator[Engine]:
    """A database of its own, for tests that change the schema."""
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def downgrade_to(engine: Engine, revision: str) -> None:
    """Alembic's downgrade on ``engine``'s database, in one transaction: on SQLite begun
    explicitly, as ``upgrade`` does, or pysqlite would commit each DDL statement before the first
    write, and a revision refusing to go down after another rebuilt a table (0017's after 0018's)
    would leave that half done."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_one_head_named_as_expected() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD]
    assert head_revision() == HEAD
    assert [r.revision for r in script.walk_revisions()] == [
        HEAD, "0018_lesson_ids_never_reused", "0017_revised_minutes", "0016_sqlite_local_days",
        "0015_closes_after_max_lag", "0014_closed_minutes", "0013_shown_views",
        "0012_engagement_weights", "0011_class_of_shown_cameras", "0010_classroom_in_key",
        "0009_hardening", "0008_faces_read", "0007_lessons", "0006_small_group_rule",
        "0003_covering_index", "0002_class_views", "0001_tables"]


def test_upgrade_builds_every_table_and_view(engine: Engine) -> None:
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == TABLES | {"alembic_version"}
    assert set(inspector.get_view_names()) == VIEW_NAMES
    assert current(url_of(engine)) == HEAD
    em = [c["name"] for c in inspector.get_columns("emotion_minutes")]
    assert em == [
        "camera_id", "minute_start", "classroom_id", "frames", "frames_with_faces", "faces",
        *(f"n_{e}" for e in EMOTIONS), *(f"p_{e}" for e in EMOTIONS), "engagement_sum",
        "updated_at", "faces_read", "frames_with_read_faces", "refused_small", "refused_turned",
        "refused_uncertain", "revised",
    ]
    assert inspector.get_pk_constraint("emotion_minutes")["constrained_columns"] == [
        "camera_id", "minute_start", "classroom_id",
    ]
    assert inspector.get_pk_constraint("rejected_frames")["constrained_columns"] == [
        "minute_start", "camera_id", "reason",
    ]
    assert inspector.get_pk_constraint("consumer_offsets")["constrained_columns"] == [
        "group_id", "topic", "partition",
    ]
    assert inspector.get_foreign_keys("rejected_frames") == []  # camera_id is free text
    indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("emotion_minutes")}
    assert indexes == {
        "ix_emotion_minutes_classroom_id_minute_start": ["classroom_id", "minute_start"],
        "ix_emotion_minutes_minute_start": ["minute_start"],
    }


def test_upgrade_is_idempotent(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(text("INSERT INTO classrooms (id, name) VALUES ('7B', 'Class 7B')"))
    upgrade(url_of(db))
    upgrade(url_of(db))
    assert current(url_of(db)) == head_revision()
    with db.connect() as conn:
        assert conn.execute(text("SELECT id, name, timezone FROM classrooms")).all() == [
            ("7B", "Class 7B", "UTC")
        ]
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_models_match_migrated_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []


def test_views_match_their_typed_handles(engine: Engine) -> None:
    inspector = inspect(engine)
    for view in VIEWS:
        reflected = [c["name"] for c in inspector.get_columns(view.name)]
        assert reflected == [c.name for c in view.columns], view.name


def test_no_binary_columns_anywhere(engine: Engine) -> None:
    """Privacy: nothing in the schema could hold a picture."""
    inspector = inspect(engine)
    for table in TABLES | VIEW_NAMES:
        for column in inspector.get_columns(table):
            type_name = str(column["type"]).upper()
            assert not isinstance(column["type"], LargeBinary), (table, column["name"])
            assert not any(word in type_name for word in ("BLOB", "BYTEA", "BINARY")), (
                table, column["name"], type_name,
            )


def test_downgrade_to_base_and_back(fresh_engine: Engine, migrated_url: str) -> None:
    downgrade_to(fresh_engine, "base")
    inspector = inspect(fresh_engine)
    assert set(inspector.get_table_names()) == {"alembic_version"}
    assert inspector.get_view_names() == []
    assert current(migrated_url) is None
    upgrade(migrated_url)
    assert current(migrated_url) == head_revision()


def test_downgrade_below_the_shown_views_keeps_the_others(
    fresh_engine: Engine, migrated_url: str
) -> None:
    downgrade_to(fresh_engine, "0012_engagement_weights")
    assert set(inspect(fresh_engine).get_view_names()) == VIEW_NAMES - {
        "shown_camera_minutes", "shown_class_minutes"}
    upgrade(migrated_url)
    assert current(migrated_url) == HEAD


def test_current_is_none_before_migrating(sqlite_url: str) -> None:
    assert current(sqlite_url) is None


@pytest.mark.postgres
def test_postgres_refuses_unknown_classroom_timezone(pg_db: Engine) -> None:
    with pg_db.begin() as conn:
        conn.execute(text("INSERT INTO classrooms (id, name) VALUES ('7B', '7B')"))
        conn.execute(text("UPDATE classrooms SET timezone = 'Europe/Berlin' WHERE id = '7B'"))
    with pytest.raises(DBAPIError, match="Europe/Berln"), pg_db.begin() as conn:
        conn.execute(text("UPDATE classrooms SET timezone = 'Europe/Berln' WHERE id = '7B'"))
    with pg_db.connect() as conn:
        assert conn.execute(text("SELECT timezone FROM classrooms")).scalar_one() == (
            "Europe/Berlin"
        )


@pytest.mark.parametrize("dialect", [pytest.param("postgresql", marks=pytest.mark.postgres),
                                     "sqlite"])
def test_concurrent_upgrades_take_turns(
    dialect: str, request: pytest.FixtureRequest, sqlite_url: str
) -> None:
    """Consumers starting at once each run ``upgrade`` on the same empty database; all succeed.

    Separate processes, as in production (Alembic's ``op``/``context`` are per-process globals).
    Without the migration lock three of four fail on both dialects ("already exists").
    """
    url = request.getfixturevalue("pg_database")() if dialect == "postgresql" else sqlite_url
    command_line = [sys.executable, "-c",
                    "import sys; from classpulse.db.migrate import upgrade; upgrade(sys.argv[1])",
                    url]
    procs = [subprocess.Popen(command_line, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outcomes = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [rc for rc, _, _ in outcomes] == [0, 0, 0], outcomes
    assert current(url) == head_revision()


def test_downgrade_below_the_rule_restores_the_old_views(
    fresh_engine: Engine, migrated_url: str
) -> None:
    """0006's downgrade drops the rule's table and views and gives back 0002's views."""
    downgrade_to(fresh_engine, "0003_covering_index")
    inspector = inspect(fresh_engine)
    assert set(inspector.get_view_names()) == {"class_minutes", "class_days", "class_hour_of_week"}
    assert "small_group_rule" not in inspector.get_table_names()
    assert "largest_view" in {c["name"] for c in inspector.get_columns("class_minutes")}
    assert "shown" not in {c["name"] for c in inspector.get_columns("class_minutes")}
    upgrade(migrated_url)
    assert current(migrated_url) == HEAD


def test_faces_read_keeps_old_rows_shown_and_downgrades(
    fresh_engine: Engine, migrated_url: str
) -> None:
    """0008 on a 0007 database with a minute in it: every old face counts as read (the minute and
    its shares stay as they were); the downgrade gives back 0007's columns, views and rule."""
    config = alembic_config()
    with fresh_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007_lessons")
        conn.execute(text("INSERT INTO classrooms (id, name) VALUES ('7B', '7B')"))
        conn.execute(text("INSERT INTO cameras (id, classroom_id, name) VALUES ('c', '7B', 'c')"))
        counts = ", ".join(f"n_{e}" for e in EMOTIONS)
        sums = ", ".join(f"p_{e}" for e in EMOTIONS)
        conn.execute(text(
            f"INSERT INTO emotion_minutes (camera_id, minute_start, classroom_id, frames, "
            f"frames_with_faces, faces, {counts}, {sums}, engagement_sum) VALUES ('c', "
            f"'2025-03-03 09:00:00+00:00', '7B', 60, 30, 120, 0, 0, 0, 30, 0, 0, 90, "
            f"0, 0, 0, 30, 0, 0, 90, 96.0)"))
        command.upgrade(config, "0008_faces_read")
        row = conn.execute(text(
            "SELECT faces, faces_read, frames_with_read_faces, refused_small, refused_turned, "
            "refused_uncertain, faces_in_view, faces_read_in_view, shown, engagement, "
            "share_neutral FROM class_minutes")).one()
        assert tuple(row) == (120, 120, 30, 0, 0, 0, 4.0, 4.0, True, 0.8, 0.75)
        command.downgrade(config, "0007_lessons")
        assert "faces_read" not in {c["name"] for c in inspect(conn).get_columns("emotion_minutes")}
        row = conn.execute(text(
            "SELECT faces, faces_in_view, shown, engagement FROM class_minutes")).one()
        assert tuple(row) == (120, 4.0, True, 0.8)
        lesson_columns = {c["name"] for c in inspect(conn).get_columns("lesson_summaries")}
        assert "faces_read" not in lesson_columns
    upgrade(migrated_url)
    assert current(migrated_url) == HEAD


def test_classroom_in_key_keeps_rows_and_downgrades_only_when_nothing_is_split(
    fresh_engine: Engine, migrated_url: str
) -> None:
    """0010 on a 0009 database keeps its minute; a camera minute split across classrooms stops
    the downgrade with a message saying what to do, and once it is gone the old key is back."""
    config = alembic_config()
    counts = ", ".join(f"n_{e}" for e in EMOTIONS)
    sums = ", ".join(f"p_{e}" for e in EMOTIONS)

    def insert(conn: Connection, classroom: str) -> None:
        conn.execute(text(
            f"INSERT INTO emotion_minutes (camera_id, minute_start, classroom_id, frames, "
            f"frames_with_faces, faces, {counts}, {sums}, engagement_sum, faces_read, "
            f"frames_with_read_faces) VALUES ('c', '2025-03-03 09:00:00+00:00', '{classroom}', "
            "60, 30, 120, 0, 0, 0, 30, 0, 0, 90, 0, 0, 0, 30, 0, 0, 90, 96.0, 120, 30)"))

    with fresh_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009_hardening")
        conn.execute(text("INSERT INTO classrooms (id, name) VALUES ('7B', '7B'), ('8C', '8C')"))
        conn.execute(text("INSERT INTO cameras (id, classroom_id, name) VALUES ('c', '7B', 'c')"))
        insert(conn, "7B")
        command.upgrade(config, HEAD)
        assert inspect(conn).get_pk_constraint("emotion_minutes")["constrained_columns"] == [
            "camera_id", "minute_start", "classroom_id"]
        insert(conn, "8C")
        rows = conn.execute(text(
            "SELECT classroom_id, faces, shown, engagement FROM class_minutes "
            "ORDER BY classroom_id")).all()
        assert [tuple(r) for r in rows] == [("7B", 120, True, 0.8), ("8C", 120, True, 0.8)]
        with pytest.raises(RuntimeError, match=r"1 camera minute\(s\) are split across"):
            command.downgrade(config, "0009_hardening")
        conn.execute(text("DELETE FROM emotion_minutes WHERE classroom_id = '8C'"))
        command.downgrade(config, "0009_hardening")
        assert inspect(conn).get_pk_constraint("emotion_minutes")["constrained_columns"] == [
            "camera_id", "minute_start"]
        assert conn.execute(text("SELECT faces FROM class_minutes")).scalar_one() == 120
    upgrade(migrated_url)
    assert current(migrated_url) == HEAD


def test_a_consumer_without_migrating_needs_the_newest_schema(
    fresh_engine: Engine, migrated_url: str
) -> None:
    require_head(migrated_url)  # at head: nothing to say
    # one revision behind is refused too, even 0019's, which changes only SQLite's views
    downgrade_to(fresh_engine, "0018_lesson_ids_never_reused")
    with pytest.raises(UsageError, match=r"is at revision 0018_lesson_ids_never_reused, this "
                                         rf"consumer writes to {HEAD}; stop "
                                         r"every consumer, run `classpulse db upgrade`"):
        require_head(migrated_url)
    downgrade_to(fresh_engine, "0010_classroom_in_key")
    with pytest.raises(UsageError, match=r"is at revision 0010_classroom_in_key, this consumer "
                                         rf"writes to {HEAD}; stop "
                                         r"every consumer, run `classpulse db upgrade`"):
        require_head(migrated_url)
    upgrade(migrated_url)
    require_head(migrated_url)


@pytest.mark.postgres
def test_a_user_that_may_not_create_the_tables_is_one_line_and_nothing_is_made(
    pg_database, role: str
) -> None:
    """`db upgrade` of a new database as a role without CREATE on its schema was a 94-line
    traceback ending in "permission denied for schema public"."""
    owner = pg_database()
    url, shown = role_urls(owner, role)
    with pytest.raises(UsageError) as raised:
        upgrade(url)
    assert f"classpulse db: {raised.value}" == REFUSED.format(
        command="db", url=shown, reason="permission denied for schema public")
    assert PASSWORD not in str(raised.value)
    assert current(owner) is None  # rolled back: not even alembic_version


@pytest.mark.postgres
def test_a_server_that_takes_no_writes_is_one_line(pg_database) -> None:
    """`db upgrade` (and every consumer's start, which upgrades) pointed at a hot standby, a read
    replica, was a traceback ending in "cannot execute CREATE TABLE in a read-only
    transaction"; default_transaction_read_only refuses the same way (SQLSTATE 25006)."""
    url = pg_database()
    engine = create_engine(url)
    with engine.begin() as conn:
        name = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    engine.dispose()
    with pytest.raises(UsageError) as raised:
        upgrade(url)
    assert str(raised.value) == (
        f"database {url} takes no writes: cannot execute CREATE TABLE in a read-only transaction; "
        "connect to the primary server, not a read replica (hot standby), or turn "
        "default_transaction_read_only off for this database or user (DATABASE_URL or "
        "--database-url)")
    assert current(url) is None


def test_a_read_only_sqlite_file_is_one_line_and_other_errors_keep_their_traceback(
    migrated_sqlite_url: str
) -> None:
    """A refusal is the user's to fix; any other database error is a bug, and stays one."""
    from classpulse.db.migrate import _connect

    read_only = f"sqlite:///file:{migrated_sqlite_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    with pytest.raises(UsageError) as raised:
        upgrade(read_only, min_faces_shown=5)
    assert str(raised.value) == (
        f"database {read_only} cannot be written: attempt to write a readonly database; open it "
        "writable (no mode=ro in the URL) as a user that may write the file and its folder "
        "(DATABASE_URL or --database-url)")
    assert min_faces(migrated_sqlite_url) == 3
    with pytest.raises(DBAPIError, match="no such table: nowhere"), _connect(
            migrated_sqlite_url) as conn:
        conn.execute(text("SELECT 1 FROM nowhere"))


def held_minutes(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT camera_id FROM camera_minutes ORDER BY camera_id")).scalars())


def test_a_minute_closes_once_max_lag_has_passed_and_the_downgrade_gives_back_70_s(
    fresh_engine: Engine, migrated_url: str
) -> None:
    """0014 held a minute from 70 s after its start, so a frame up to --max-lag (120 s) old
    changed a minute the views showed; 0015 holds it from 190 s. Minutes that started 64, 76, 184
    and 196 s ago (by the database's clock, ages off the whole minute so no boundary is waited
    for; six seconds of slack for the migrations in between)."""
    ages = {"a064": 64, "a076": 76, "a184": 184, "a196": 196}
    old = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
    with fresh_engine.begin() as conn:
        add_minute_rows(conn, [MinuteRow(camera, "7B", old, 60, 60, 240, (0, 0, 0, 240, 0, 0, 0),
                                         (0.0,) * 7, 0.0) for camera in ages])
        now = datetime.now(timezone.utc)
        for camera, age in ages.items():
            conn.execute(update(EmotionMinute).where(EmotionMinute.camera_id == camera)
                         .values(minute_start=now - timedelta(seconds=age)))
    assert held_minutes(fresh_engine) == ["a196"]
    downgrade_to(fresh_engine, "0014_closed_minutes")
    assert held_minutes(fresh_engine) == ["a076", "a184", "a196"]
    upgrade(migrated_url)
    assert held_minutes(fresh_engine) == ["a196"]


def test_0015_raises_a_stored_threshold_of_one_to_two(
    fresh_engine: Engine, migrated_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A threshold of 1 shows minutes of one face at a time; the upgrade raises it, says so, and
    the check keeps it from coming back."""
    downgrade_to(fresh_engine, "0014_closed_minutes")
    with fresh_engine.begin() as conn:
        conn.execute(text("UPDATE small_group_rule SET min_faces_shown = 1"))  # 0014 allowed it
    with caplog.at_level(logging.WARNING):
        upgrade(migrated_url)
    assert min_faces(migrated_url) == 2
    assert "stored MIN_FACES_SHOWN=1 raised to 2" in caplog.text
    with pytest.raises(IntegrityError), fresh_engine.begin() as conn:
        conn.execute(text("UPDATE small_group_rule SET min_faces_shown = 1"))
    downgrade_to(fresh_engine, "0014_closed_minutes")  # keeps 2, and allows 1 again
    with fresh_engine.begin() as conn:
        conn.execute(text("UPDATE small_group_rule SET min_faces_shown = 1"))
    upgrade(migrated_url)
    assert min_faces(migrated_url) == 2


def test_0016_gives_sqlite_no_local_hour_off_utc_and_leaves_postgres_as_it_was(
    fresh_engine: Engine, migrated_url: str
) -> None:
    """A classroom in Europe/Berlin: on SQLite, which knows no zone, 0015's views put its 22:30
    UTC minutes at 22 o'clock, an hour from the truth, and 0016's say no hour; PostgreSQL's read
    the zone (23 o'clock) and 0016 leaves every view there as it was. Down and up again."""
    def hours() -> list[tuple]:
        with fresh_engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT iso_dow, hour, minutes FROM class_hour_of_week"))]

    def definitions() -> dict[str, str | None]:
        inspector = inspect(fresh_engine)
        return {name: inspector.get_view_definition(name) for name in VIEW_NAMES}

    minute = datetime(2025, 3, 3, 22, 30, tzinfo=timezone.utc)  # a Monday
    with fresh_engine.begin() as conn:
        add_minute_rows(conn, [MinuteRow("c", "7B", minute, 60, 60, 240, (0, 0, 0, 240, 0, 0, 0),
                                         (0.0,) * 7, 0.0)])
        conn.execute(text("UPDATE classrooms SET timezone = 'Europe/Berlin'"))
    sqlite = fresh_engine.dialect.name == "sqlite"
    at_head = definitions()
    assert hours() == ([(None, None, 1)] if sqlite else [(1, 23, 1)])
    downgrade_to(fresh_engine, "0016_sqlite_local_days")  # 0017 keeps 0016's days and hours
    assert hours() == ([(None, None, 1)] if sqlite else [(1, 23, 1)])
    at_0016 = definitions()
    downgrade_to(fresh_engine, "0015_closes_after_max_lag")
    assert hours() == ([(1, 22, 1)] if sqlite else [(1, 23, 1)])
    changed = {name for name, sql in definitions().items() if sql != at_0016[name]}
    assert changed == ({"class_days", "class_hour_of_week"} if sqlite else set())
    upgrade(migrated_url)
    assert definitions() == at_head
    assert hours() == ([(None, None, 1)] if sqlite else [(1, 23, 1)])


@pytest.mark.postgres
def test_postgres_refuses_posix_zones_and_keeps_every_iana_name(pg_db: Engine) -> None:
    """PostgreSQL reads 'GMT+1' as UTC-1 (POSIX inverts the sign) where the dashboard refuses it:
    a zone with a digit is refused, but in the IANA names that hold one, read alike by both
    (Etc/GMT+1 is UTC-1 in Python too). Every name both zone databases know is accepted."""
    with pg_db.begin() as conn:
        conn.execute(text("INSERT INTO classrooms (id, name) VALUES ('7B', '7B')"))
    posix = "ck_classrooms_timezone_no_posix_offset"
    for zone in ("GMT+1", "UTC+01:00", "UTC3", "EST5", "+3", "<+03>-3"):
        with pytest.raises(IntegrityError, match=posix), pg_db.begin() as conn:
            conn.execute(text("UPDATE classrooms SET timezone = :zone"), {"zone": zone})
    with pg_db.begin() as conn:
        known = set(conn.execute(text("SELECT name FROM pg_timezone_names")).scalars())
        both = sorted(known & zoneinfo.available_timezones())
        assert {"Etc/GMT+1", "Etc/GMT-14", "EST5EDT", "GMT0", "Europe/Berlin"} <= set(both)
        conn.execute(text("INSERT INTO classrooms (id, name, timezone) "
                          "SELECT 'z:' || z, z, z FROM unnest(CAST(:zones AS text[])) AS z"),
                     {"zones": both})
        conn.execute(text("DELETE FROM classrooms WHERE id LIKE 'z:%'"))


@pytest.mark.postgres
def test_0015_stops_while_a_classroom_has_a_posix_zone(migrated_pg_url: str) -> None:
    engine = make_engine(migrated_pg_url)
    try:
        downgrade_to(engine, "0014_closed_minutes")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO classrooms (id, name, timezone) VALUES "
                              "('7B', '7B', 'GMT+1'), ('7C', '7C', 'Etc/GMT+1')"))
        with pytest.raises(UsageError) as refused:
            upgrade(migrated_pg_url)
        assert str(refused.value) == (
            "classrooms '7B' ('GMT+1') have a POSIX time zone, which PostgreSQL reads with the "
            "sign inverted (GMT+1 is UTC-1) and the dashboard refuses; set classrooms.timezone to "
            "an IANA name such as Europe/Berlin, then run `classpulse db upgrade` again")
        assert current(migrated_pg_url) == "0014_closed_minutes"  # nothing changed
        with engine.begin() as conn:
            conn.execute(text("UPDATE classrooms SET timezone = 'Europe/Berlin' WHERE id = '7B'"))
        upgrade(migrated_pg_url)
        assert current(migrated_pg_url) == HEAD
    finally:
        engine.dispose()


def test_0017_keeps_minutes_shown_and_downgrades_only_without_revised_ones(
    fresh_engine: Engine, migrated_url: str
) -> None:
    """Rows from before 0017 are not revised, so they stay shown. A minute added to after it
    closed is hidden; 0016's views would show it again, with the late counts, so the downgrade
    refuses, changing nothing, until no minute is revised (here the operator deleted it)."""
    def shown() -> list[tuple]:
        with fresh_engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT camera_id, faces_read FROM shown_camera_minutes ORDER BY camera_id"))]

    old = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)

    def tail(camera: str) -> MinuteRow:  # one face in one frame: the camera still reads four
        return MinuteRow(camera, "7B", old, 1, 1, 1, (0, 0, 0, 0, 1, 0, 0), (0.0,) * 7, 0.0)

    downgrade_to(fresh_engine, "0016_sqlite_local_days")
    assert "revised" not in {c["name"] for c in inspect(fresh_engine).get_columns(
        "emotion_minutes")}
    with fresh_engine.begin() as conn:  # a consumer of 0016 writes, and adds late
        conn.execute(text("INSERT INTO classrooms (id, name) VALUES ('7B', '7B')"))
        conn.execute(text("INSERT INTO cameras (id, classroom_id, name) VALUES ('a', '7B', 'a'), "
                          "('b', '7B', 'b')"))
        for camera in ("a", "b"):
            conn.execute(text(
                "INSERT INTO emotion_minutes (camera_id, minute_start, classroom_id, frames, "
                "frames_with_faces, faces, faces_read, frames_with_read_faces, n_angry, "
                "n_disgust, n_fear, n_happy, n_sad, n_surprise, n_neutral, p_angry, p_disgust, "
                "p_fear, p_happy, p_sad, p_surprise, p_neutral, engagement_sum) VALUES "
                "(:camera, :minute, '7B', 60, 60, 240, 240, 60, 0, 0, 0, 240, 0, 0, 0, 0, 0, 0, "
                "0, 0, 0, 0, 0)").bindparams(bindparam("minute", type_=UTCDateTime())),
                {"camera": camera, "minute": old})
    upgrade(migrated_url)
    assert shown() == [("a", 240), ("b", 240)]
    with fresh_engine.begin() as conn:
        add_minute_rows(conn, [tail("b")])
    assert shown() == [("a", 240)]
    with pytest.raises(RuntimeError, match=r"1 camera minute\(s\) were added to after they "
                                           r"closed \(emotion_minutes.revised\)"):
        downgrade_to(fresh_engine, "0016_sqlite_local_days")
    assert current(migrated_url) == HEAD and shown() == [("a", 240)]
    with fresh_engine.begin() as conn:
        conn.execute(text("DELETE FROM emotion_minutes WHERE revised"))
    downgrade_to(fresh_engine, "0016_sqlite_local_days")
    assert shown() == [("a", 240)]
    upgrade(migrated_url)
    assert shown() == [("a", 240)]


LESSON_DAY = datetime(2025, 3, 3, tzinfo=timezone.utc)  # a Monday


def add_lesson(conn: Connection, title: str, hour: int) -> int:
    """A lesson of 7A from ``hour`` o'clock UTC for 45 minutes, inserted as an import does; its
    id."""
    starts = LESSON_DAY + timedelta(hours=hour)
    return conn.execute(text(
        "INSERT INTO lessons (classroom_id, starts_at, ends_at, title, source_key, source_scope) "
        "VALUES ('7A', :starts, :ends, :title, :key, 'csv:7A/2025-03-03') RETURNING id"
    ).bindparams(bindparam("starts", type_=UTCDateTime()), bindparam("ends", type_=UTCDateTime())),
        {"starts": starts, "ends": starts + timedelta(minutes=45), "title": title,
         "key": f"csv:7A/{starts:%Y-%m-%dT%H:%M}Z"}).scalar_one()


def add_classroom(conn: Connection) -> None:
    """7A, with one minute its camera saw in the 09:00 lesson (four faces a frame: shown)."""
    add_minute_rows(conn, [MinuteRow("c", "7A", LESSON_DAY + timedelta(hours=9, minutes=10), 60,
                                     60, 240, (0, 0, 0, 240, 0, 0, 0), (0.0,) * 7, 0.0)])


def reimported(conn: Connection) -> tuple[int, int]:
    """Maths at 8 and Art at 9; then Art removed (the largest id) and History at 10 inserted, as
    a re-import of a changed day does: Art's id and History's."""
    add_lesson(conn, "Maths", 8)
    art = add_lesson(conn, "Art", 9)
    conn.execute(text("DELETE FROM lessons WHERE id = :id"), {"id": art})
    return art, add_lesson(conn, "History", 10)


def test_a_removed_lessons_id_is_never_given_again(fresh_engine: Engine, migrated_url: str) -> None:
    """A bookmark of Art must not open History (README). At 0017 SQLite gave the lesson inserted
    after Art's removal Art's id (the largest held + 1); from 0018 on it never gives an id twice,
    even once every lesson is gone, as PostgreSQL's sequence never did."""
    downgrade_to(fresh_engine, "0017_revised_minutes")
    with fresh_engine.begin() as conn:
        add_classroom(conn)
        art, history = reimported(conn)
        conn.execute(text("DELETE FROM lessons"))
    assert (history == art) is (fresh_engine.dialect.name == "sqlite")  # the bug 0018 mends
    upgrade(migrated_url)
    with fresh_engine.begin() as conn:
        art, history = reimported(conn)
        assert history > art
        conn.execute(text("DELETE FROM lessons"))
        assert add_lesson(conn, "Music", 11) > history


def lessons_state(engine: Engine) -> tuple[list[tuple], list[tuple]]:
    """Every lesson, every column, and every lesson's summary."""
    with engine.connect() as conn:
        return ([tuple(r) for r in conn.execute(text("SELECT * FROM lessons ORDER BY id"))],
                [tuple(r) for r in conn.execute(text(
                    "SELECT * FROM lesson_summaries ORDER BY lesson_id"))])


def lessons_schema(engine: Engine) -> dict[str, object]:
    """What the database says of ``lessons`` and the views: names, columns, SQL."""
    inspector = inspect(engine)
    schema: dict[str, object] = {
        "columns": [{**c, "type": repr(c["type"])} for c in inspector.get_columns("lessons")],
        "primary key": inspector.get_pk_constraint("lessons"),
        "foreign keys": inspector.get_foreign_keys("lessons"),
        "unique": inspector.get_unique_constraints("lessons"),
        "checks": inspector.get_check_constraints("lessons"),
        "indexes": inspector.get_indexes("lessons"),
        "views": {name: inspector.get_view_definition(name) for name in VIEW_NAMES},
    }
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            schema["sqlite_master"] = {(kind, name): sql for kind, name, sql in conn.execute(text(
                "SELECT type, name, sql FROM sqlite_master"))}
    return schema


@pytest.mark.parametrize("dialect", [pytest.param("postgresql", marks=pytest.mark.postgres),
                                     "sqlite"])
def test_0018_keeps_every_lesson_its_id_and_every_name(
    dialect: str, request: pytest.FixtureRequest, sqlite_url: str
) -> None:
    """A database that has been at 0017 only, with lessons and a gap where one was removed: they
    keep their rows and ids, and ``lesson_summaries`` still sums Art's minute. On SQLite the
    table's stored SQL differs only in AUTOINCREMENT (the primary key said on ``id``, under its
    name), ``sqlite_sequence`` starts after the largest id, and every view is made as it was; on
    PostgreSQL nothing changes."""
    url = request.getfixturevalue("pg_database")() if dialect == "postgresql" else sqlite_url
    upgrade(url, "0017_revised_minutes")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            add_classroom(conn)
            maths, art, history = (add_lesson(conn, title, hour) for title, hour in (
                ("Maths", 8), ("Art", 9), ("History", 10)))
            conn.execute(text("DELETE FROM lessons WHERE id = :id"), {"id": maths})
        rows, summaries = lessons_state(engine)
        assert [r[0] for r in rows] == [art, history]
        assert [(s[0], s[2], s[7]) for s in summaries] == [(art, "Art", 1),
                                                            (history, "History", 0)]
        if dialect == "sqlite":  # a view of the school's own: SQLite's rename used to re-aim it
            with engine.begin() as conn:
                conn.execute(text("CREATE VIEW school_titles AS SELECT id, title FROM lessons"))
        before = lessons_schema(engine)
        upgrade(url, "0018_lesson_ids_never_reused")
        assert current(url) == "0018_lesson_ids_never_reused"
        assert lessons_state(engine) == (rows, summaries)
        if dialect == "sqlite":
            with engine.connect() as conn:
                assert conn.execute(text("SELECT title FROM school_titles ORDER BY id")
                                    ).scalars().all() == ["Art", "History"]
        after = lessons_schema(engine)
        assert inspect(engine).get_pk_constraint("lessons")["name"] == "pk_lessons"
        if dialect == "postgresql":
            assert after == before
            return
        stored, made = before.pop("sqlite_master"), after.pop("sqlite_master")
        assert after == before
        assert made.pop(("table", "sqlite_sequence")) == "CREATE TABLE sqlite_sequence(name,seq)"
        table = ("table", "lessons")
        assert made.pop(table) == stored.pop(table).replace(
            "\tid INTEGER NOT NULL, ",
            "\tid INTEGER NOT NULL CONSTRAINT pk_lessons PRIMARY KEY AUTOINCREMENT, ",
        ).replace("\tCONSTRAINT pk_lessons PRIMARY KEY (id), \n", "")
        assert made == stored  # the indexes and every view as they were
        with engine.connect() as conn:
            assert conn.execute(text(
                "SELECT seq FROM sqlite_sequence WHERE name = 'lessons'")).scalar_one() == history
    finally:
        engine.dispose()


def test_0018_downgrades_and_upgrades_again_keeping_every_lesson(
    fresh_engine: Engine, migrated_url: str
) -> None:
    """Down to 0017 and up again, on both databases: rows, ids and summaries kept each way. The
    downgrade gives back 0017's ``lessons`` exactly (SQLite keeps its ``sqlite_sequence``
    table, empty), and SQLite may give a removed id again until the upgrade."""
    with fresh_engine.begin() as conn:
        add_classroom(conn)
        for title, hour in (("Maths", 8), ("Art", 9)):
            add_lesson(conn, title, hour)
    at_head = lessons_schema(fresh_engine)
    state = lessons_state(fresh_engine)
    downgrade_to(fresh_engine, "0017_revised_minutes")
    assert current(migrated_url) == "0017_revised_minutes"
    assert lessons_state(fresh_engine) == state
    at_0017 = lessons_schema(fresh_engine)
    if fresh_engine.dialect.name == "sqlite":
        assert "AUTOINCREMENT" not in at_0017["sqlite_master"][("table", "lessons")]
        with fresh_engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM sqlite_sequence")).scalar_one() == 0
    else:
        assert at_0017 == at_head
    upgrade(migrated_url)
    assert current(migrated_url) == HEAD
    assert lessons_state(fresh_engine) == state
    assert lessons_schema(fresh_engine) == at_head
    with fresh_engine.begin() as conn:  # Art, the largest id, removed again: not given again
        art = max(r[0] for r in state[0])
        conn.execute(text("DELETE FROM lessons WHERE id = :id"), {"id": art})
        assert add_lesson(conn, "History", 10) > art


def test_0019_gives_every_lesson_the_same_numbers_and_sqlite_reads_one_classroom(
    fresh_engine: Engine, migrated_url: str
) -> None:
    """On SQLite a class minute's shown cameras were looked up by reading the classroom's history
    up to now (the closed-minute bound taken for the range), and lesson_summaries summed every
    lesson of every classroom before a filter on one: 115 s for a week of one classroom of a
    60-day, 10-classroom seed. From 0019 the lookup reads the classroom-minute and the filter
    reaches the lessons' index. The numbers are the same each way, on both databases: two
    lessons, one with a shown and a hidden camera in one minute (the class minute is the shown
    one's), a hidden minute, and one with no minute; PostgreSQL's views are untouched."""
    def rows() -> list[tuple]:
        with fresh_engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT * FROM lesson_summaries ORDER BY lesson_id"))]

    start = LESSON_DAY + timedelta(hours=9)
    with fresh_engine.begin() as conn:
        add_minute_rows(conn, [
            MinuteRow("front", "7A", start, 60, 60, 240, (0, 0, 0, 200, 0, 0, 40),
                      (0.0, 0.0, 0.0, 150.5, 0.0, 0.0, 60.25), 130.0),
            MinuteRow("back", "7A", start, 60, 30, 30, (0, 0, 0, 0, 30, 0, 0), (0.0,) * 7, 9.0),
            MinuteRow("front", "7A", start + timedelta(minutes=1), 60, 60, 60,
                      (0, 0, 0, 0, 0, 0, 60), (0.0,) * 7, 54.0),
            MinuteRow("front", "7A", start + timedelta(minutes=2), 60, 60, 300,
                      (0, 0, 0, 300, 0, 0, 0), (0.0,) * 7, 180.0)])
        for title, hour in (("Maths", 9), ("Art", 11)):
            add_lesson(conn, title, hour)
    at_head = rows()
    assert [(r[0], r[7], r[8], r[11]) for r in at_head] == [(1, 2, 1, 540), (2, 0, 0, 0)]
    downgrade_to(fresh_engine, "0018_lesson_ids_never_reused")
    assert rows() == at_head
    upgrade(migrated_url)
    assert rows() == at_head
    if fresh_engine.dialect.name != "sqlite":
        return
    with fresh_engine.connect() as conn:
        plan = [r[3] for r in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT * FROM lesson_summaries WHERE classroom_id = '7A'"))]
    assert any(p.startswith("SEARCH l USING INDEX ix_lessons_classroom_id_starts_at "
                            "(classroom_id=?") for p in plan), plan
    # every read of emotion_minutes is bounded below: the lesson's range, or the minute's own
    reads = [p for p in plan if "ix_emotion_minutes_classroom_id_minute_start" in p]
    assert reads and all("minute_start>?" in p or "minute_start=?" in p for p in reads), plan
