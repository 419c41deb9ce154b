"""The services' own roles: ``classpulse db grant-app ROLE --for dashboard|consumer`` and
``classpulse db upgrade --app-roles``.

Each role is proved by the service's real code run as it (trust authentication): the dashboard's
start-up check and every query function of its page; a consumer's start-up check and two flushes
through its checkpoint and sink (inserts, then the upserts' updates, a compare-and-set, a log
reset, frames forgotten). Then what each must not do is refused by PostgreSQL: writes, DDL, the
shell (``COPY ... TO PROGRAM``), and tables outside the service's needs.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType

import pytest
from sqlalchemy import Engine, insert, text

from classpulse.cli import main
from classpulse.db.migrate import min_faces, require_head, upgrade
from classpulse.db.models import Lesson
from classpulse.db.roles import CONSUMER, DASHBOARD
from classpulse.db.writes import ADDITIVE_COLUMNS
from classpulse.settings import APP_DB_ROLES, Settings
from tests.dashboard import expected
from tests.db.pg_roles import PASSWORD, REFUSED, denied, privileges, role_urls, url_of

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
M = [START + timedelta(minutes=i) for i in range(3)]
ROWS = [expected.row("t1", "7B", M[0], 60, 10), expected.row("t2", "7B", M[0], 60, 1),
        expected.row("t1", "7B", M[1], 60, 1)]
# what no service's role may do: change the rule, the weights or the timetable, change the schema,
# run a program on the database server
NEVER = ("UPDATE small_group_rule SET min_faces_shown = 1",
         "UPDATE engagement_weights SET w_happy = 1",
         "INSERT INTO lessons (classroom_id, starts_at, ends_at, title, source_key, source_scope) "
         "VALUES ('7B', now(), now(), 'x', 'x', 'x')",
         "DELETE FROM lessons", "TRUNCATE seen_frames", "DROP TABLE seen_frames",
         "ALTER TABLE classrooms ADD COLUMN x integer", "CREATE TABLE planted (n integer)",
         "COPY (SELECT 1) TO PROGRAM 'true'", "SELECT setval('lessons_id_seq', 1)")


def grant_app(engine: Engine, role: str, service: str,
              capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["db", "grant-app", role, "--for", service, "--database-url",
                 url_of(engine)]) == 0
    return capsys.readouterr().out.splitlines()


def expected_privileges(access, sequences: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    held = [(f"{relation}.{column}" if columns else relation, privilege)
            for relation, granted in access.privileges.items()
            for privilege, columns in granted.items() for column in (columns or (None,))]
    return sorted([*held, *((name, "USAGE") for name in sequences)])


@pytest.mark.postgres
def test_the_dashboard_role_runs_the_page_and_changes_nothing(
    pg_db: Engine, role: str, as_role: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from dashboard import lesson_sql, sql
    from dashboard.cli import check_database

    expected.write(pg_db, ROWS)
    with pg_db.begin() as conn:
        lesson = conn.execute(insert(Lesson.__table__).values(
            classroom_id="7B", starts_at=M[0], ends_at=M[2], title="Maths", source_key="k",
            source_scope="k")).inserted_primary_key[0]
    out = grant_app(pg_db, role, "dashboard", capsys)
    assert out == [
        f"role {role} may, for the dashboard, with USAGE on schema public: SELECT on "
        "alembic_version; SELECT on camera_minutes; SELECT on cameras; SELECT on class_minutes; "
        "SELECT on classrooms; SELECT (camera_id, classroom_id, minute_start, updated_at) on "
        "emotion_minutes; SELECT on engagement_weights; SELECT on lesson_summaries; SELECT on "
        "small_group_rule",
        f"revoked from role {role} every other privilege on ClassPulse's tables, views and "
        "sequences: nothing else was held"]
    assert privileges(pg_db, role) == expected_privileges(DASHBOARD)

    check_database(Settings(database_url=url_of(as_role)))  # the start-up check
    assert list(sql.fetch_classrooms(as_role)["id"]) == ["7B"]
    assert list(sql.fetch_cameras(as_role, "7B", M[0], M[2])["id"]) == ["t1", "t2"]
    writes = sql.fetch_camera_writes(as_role, "7B", M[0])
    assert sorted(writes["id"]) == ["t1", "t2"]
    assert sql.fetch_min_faces(as_role) == 3
    assert sql.fetch_engagement_weights(as_role).weights["neutral"] == 0.9
    assert sql.fetch_last_write(as_role, "7B", None)[0] == M[1]
    assert sql.fetch_last_write(as_role, "7B", "t2")[0] == M[0]
    for camera in (None, "t1"):
        buckets = sql.fetch_buckets(as_role, "7B", camera, M[0], M[2], 60)
        assert list(buckets["minutes"]) == [1, 0] and list(buckets["hidden_minutes"]) == [0, 1]
    assert list(lesson_sql.fetch_week(as_role, "7B", M[0], M[2])["lesson_id"]) == [lesson]
    assert list(lesson_sql.fetch_lesson(as_role, lesson)["minutes"]) == [1]
    assert len(lesson_sql.fetch_title_history(as_role, "7B", "Maths", None, M[2], 5)) == 1

    for statement in (*NEVER, "INSERT INTO classrooms (id, name) VALUES ('x', 'x')",
                      "UPDATE cameras SET name = 'x'", "DELETE FROM emotion_minutes",
                      "INSERT INTO consumer_offsets VALUES ('g', 't', 0, 1)",
                      # the counts of the minute under way, which no view shows (0014)
                      "SELECT faces, n_happy FROM emotion_minutes", "SELECT * FROM lessons",
                      "SELECT * FROM consumer_offsets", "SELECT * FROM seen_frames",
                      "SELECT * FROM rejected_frames", "SELECT * FROM offset_resets"):
        assert denied(as_role, statement), statement


@pytest.mark.postgres
def test_the_dashboard_role_storing_the_rule_gets_one_line_and_changes_nothing(
    pg_db: Engine, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`db upgrade --min-faces-shown` as the dashboard's role: a 52-line traceback ending in
    "permission denied for table small_group_rule"."""
    grant_app(pg_db, role, "dashboard", capsys)
    url, shown = role_urls(url_of(pg_db), role)
    assert main(["db", "upgrade", "--min-faces-shown", "5", "--database-url", url]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1] == REFUSED.format(
        command="db", url=shown, reason="permission denied for table small_group_rule")
    assert "Traceback" not in captured.err and PASSWORD not in captured.err
    assert min_faces(url_of(pg_db)) == 3


@pytest.mark.postgres
def test_the_consumer_role_commits_flushes_and_touches_nothing_else(
    pg_db: Engine, role: str, as_role: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from consumers.checkpoint import Checkpoint, Outcome
    from consumers.metrics import ConsumerMetrics
    from consumers.sink import DatabaseSink

    out = grant_app(pg_db, role, "consumer", capsys)
    assert out[0] == (
        f"role {role} may, for the consumer, with USAGE on schema public: SELECT on "
        "alembic_version; SELECT (id), INSERT on cameras; SELECT (id), INSERT on classrooms; "
        "SELECT, INSERT, UPDATE "
        "(next_offset) on consumer_offsets; SELECT, INSERT, UPDATE "
        f"({', '.join(ADDITIVE_COLUMNS)}, updated_at, revised) on emotion_minutes; SELECT on "
        "engagement_weights; SELECT (id), INSERT on offset_resets; SELECT, INSERT, UPDATE (count) "
        "on rejected_frames; SELECT, INSERT, DELETE on seen_frames; USAGE on sequence "
        "offset_resets_id_seq")
    assert privileges(pg_db, role) == expected_privileges(CONSUMER, ("offset_resets_id_seq",))
    url = url_of(as_role)
    require_head(url)  # consume --no-migrate's check
    upgrade(url)  # and without it: at the newest revision, nothing to do, nothing created

    now_ms = int(M[2].timestamp() * 1000)
    sink = DatabaseSink(as_role, "classpulse", "frames")
    checkpoint = Checkpoint(sink, "frames", 60_000, ConsumerMetrics(), lambda: now_ms / 1000)
    assert sink.engagement_weights().weights["neutral"] == 0.9
    assert checkpoint.assign([0, 1]) == {0: None, 1: None}
    first = [("t1", now_ms - 90_000, 1), ("t1", now_ms - 89_500, 2)]
    for key in first:
        checkpoint.frames.add(key)
    checkpoint.advance(0, 5)
    checkpoint.log_replaced(1, 40, 3, 0)  # a log reset: a row of offset_resets
    rows = [expected.row("t1", "9C", M[0], 30, 4)]
    rejections = [(M[0], "t1", "not_jpeg", 2)]
    assert checkpoint.commit(rows, rejections) == Outcome.COMMITTED, checkpoint.failure
    # the same minute and rejection again (the upserts' updates), the offset moved by
    # compare-and-set, the first frames forgotten (out of the window)
    checkpoint.frames.add(("t1", now_ms, 3))
    checkpoint.advance(0, 9)
    assert checkpoint.commit(rows, rejections) == Outcome.COMMITTED, checkpoint.failure
    assert checkpoint.rewind(reload=True) == {0: 9, 1: 0}  # re-read as the role

    with pg_db.connect() as conn:
        assert conn.execute(text("SELECT frames, faces FROM emotion_minutes")).one() == (
            2 * rows[0].frames, 2 * rows[0].faces)
        assert conn.execute(text("SELECT count FROM rejected_frames")).scalar_one() == 4
        assert conn.execute(text("SELECT partition, next_offset FROM consumer_offsets "
                                 "ORDER BY 1")).all() == [(0, 9), (1, 0)]
        assert conn.execute(text("SELECT partition, stored_offset FROM offset_resets")).all() == [
            (1, 40)]
        assert conn.execute(text("SELECT seq FROM seen_frames")).scalars().all() == [3]
        assert conn.execute(text("SELECT id FROM cameras")).scalars().all() == ["t1"]

    for statement in (*NEVER, "SELECT * FROM lessons", "SELECT * FROM small_group_rule",
                      "SELECT * FROM class_minutes", "SELECT * FROM lesson_summaries",
                      "UPDATE classrooms SET timezone = 'Europe/Paris'",
                      "UPDATE cameras SET classroom_id = '9C'", "DELETE FROM cameras",
                      "UPDATE emotion_minutes SET classroom_id = 'x'",
                      "DELETE FROM emotion_minutes", "DELETE FROM consumer_offsets",
                      "UPDATE consumer_offsets SET partition = 7", "DELETE FROM offset_resets",
                      "SELECT * FROM offset_resets", "DELETE FROM rejected_frames"):
        assert denied(as_role, statement), statement


@pytest.mark.postgres
def test_app_roles_are_made_with_a_hashed_password_again_and_again(
    pg_db: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``db upgrade --app-roles`` (compose's migrate) creates the two login roles, then only
    updates them: their passwords, given in the environment, reach the server only hashed and
    appear in no output; the grants are grant-app's."""
    suffix = uuid.uuid4().hex[:8]
    names = {"dashboard": f"cp_dash_{suffix}", "consumer": f"cp_cons_{suffix}"}
    monkeypatch.setattr("classpulse.db.roles.APP_DB_ROLES", MappingProxyType(  # not the real names
        {kind: app._replace(role=names[kind]) for kind, app in APP_DB_ROLES.items()}))
    # letters and digits, as compose puts them into URLs (others are refused, below)
    secrets = {"dashboard": "d4shB0ard" + suffix, "consumer": "c0nsUmer" + suffix}
    monkeypatch.setenv("DASHBOARD_DB_PASSWORD", secrets["dashboard"])
    monkeypatch.setenv("CONSUMER_DB_PASSWORD", secrets["consumer"])
    command = ["db", "upgrade", "--app-roles", "--database-url", url_of(pg_db)]
    try:
        for how in ("created", "updated"):
            assert main(command) == 0
            out, err = capsys.readouterr()
            lines = out.splitlines()
            for kind, variable in (("dashboard", "DASHBOARD_DB_PASSWORD"),
                                   ("consumer", "CONSUMER_DB_PASSWORD")):
                at = lines.index(f"role {names[kind]} {how}: LOGIN, password from {variable}")
                assert lines[at + 1].startswith(f"role {names[kind]} may, for the {kind}, ")
                assert lines[at + 2].endswith(": nothing else was held")
            assert not any(s in out + err for s in secrets.values())
            with pg_db.connect() as conn:
                stored = dict(conn.execute(text(
                    "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(:names)"),
                    {"names": list(names.values())}).all())
                attributes = conn.execute(text(
                    "SELECT bool_or(rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication "
                    "OR rolbypassrls), bool_and(rolcanlogin) FROM pg_roles "
                    "WHERE rolname = ANY(:names)"), {"names": list(names.values())}).one()
            assert all(v.startswith("SCRAM-SHA-256$4096:") for v in stored.values()), stored
            assert tuple(attributes) == (False, True)
            assert privileges(pg_db, names["dashboard"]) == expected_privileges(DASHBOARD)
            assert privileges(pg_db, names["consumer"]) == expected_privileges(
                CONSUMER, ("offset_resets_id_seq",))
    finally:
        with pg_db.begin() as conn:
            for name in names.values():
                conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')


def test_app_roles_are_refused_before_anything_is_migrated(
    sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_DB_PASSWORD", "d")
    monkeypatch.setenv("CONSUMER_DB_PASSWORD", "c")
    assert main(["db", "upgrade", "--app-roles", "--database-url", sqlite_url]) == 2
    assert capsys.readouterr().err == (
        f"classpulse db: --app-roles makes PostgreSQL roles, and {sqlite_url} is SQLite, which "
        "has none; leave --app-roles out\n")
    monkeypatch.delenv("CONSUMER_DB_PASSWORD")
    nowhere = "postgresql+psycopg://owner:secret@127.0.0.1:1/nowhere"  # never connected to
    assert main(["db", "upgrade", "--app-roles", "--database-url", nowhere]) == 2
    assert capsys.readouterr().err == (
        "classpulse db: --app-roles sets the passwords of the roles classpulse_dashboard, "
        "classpulse_consumer from DASHBOARD_DB_PASSWORD and CONSUMER_DB_PASSWORD; set "
        "CONSUMER_DB_PASSWORD in the environment (compose: in .env, see deploy/.env.example)\n")
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # nothing was migrated


@pytest.mark.parametrize("password", ["p@ss", "pa#ss", "pa/ss", "pass word", "päss", "pa:ss",
                                      "pa%41", "pass\n"])
def test_app_role_passwords_other_than_url_safe_characters_are_refused_unquoted(
    password: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """compose.yaml writes them into database URLs as they are: an @ or a # there broke the
    services' URLs, after the roles had been given them."""
    monkeypatch.setenv("DASHBOARD_DB_PASSWORD", "d4shB0ard")
    monkeypatch.setenv("CONSUMER_DB_PASSWORD", password)
    nowhere = "postgresql+psycopg://owner:secret@127.0.0.1:1/nowhere"  # never connected to
    assert main(["db", "upgrade", "--app-roles", "--database-url", nowhere]) == 2
    assert capsys.readouterr().err == (
        "classpulse db: CONSUMER_DB_PASSWORD holds characters other than letters, digits and "
        "- . _ ~, which break the database URL it becomes part of (compose.yaml); set it to those "
        "only, e.g. from `openssl rand -hex 24`\n")


def test_app_role_passwords_of_url_safe_characters_are_taken() -> None:
    """A URL's unreserved characters - . _ ~ were refused too: `migrate` runs --app-roles at
    every `docker compose up`, so an install whose password held one would stop."""
    from classpulse.db.roles import app_role_passwords

    settings = Settings.load(environ={"DASHBOARD_DB_PASSWORD": "d4sh-B0ard.x_y~z",
                                      "CONSUMER_DB_PASSWORD": "0123456789abcdef"})
    assert app_role_passwords("postgresql+psycopg://o@127.0.0.1:1/nowhere", settings) == {
        "dashboard": "d4sh-B0ard.x_y~z", "consumer": "0123456789abcdef"}


def test_grant_app_on_sqlite_is_refused(migrated_sqlite_url: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "grant-app", "x", "--for", "consumer", "--database-url",
                 migrated_sqlite_url]) == 2
    assert capsys.readouterr().err == (
        "classpulse db: roles are PostgreSQL's; on SQLite whoever can read the file reads "
        f"everything ({migrated_sqlite_url}): run the consumers on PostgreSQL to give them a role "
        "of their own\n")


@pytest.mark.postgres
def test_a_role_reaching_past_the_tables_is_refused_and_left_as_it_was(
    pg_db: Engine, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = url_of(pg_db)
    assert main(["db", "grant-app", "postgres", "--for", "dashboard", "--database-url", url]) == 2
    assert capsys.readouterr().err == (
        "classpulse db: role 'postgres' is a superuser, which reads every table whatever is "
        "granted; give the dashboard a role of its own (CREATE ROLE classpulse_dashboard LOGIN "
        "PASSWORD '...')\n")
    with pg_db.begin() as conn:
        conn.execute(text(f'ALTER ROLE "{role}" CREATEROLE'))
        conn.execute(text(f'GRANT pg_execute_server_program TO "{role}"'))
        conn.execute(text(f'GRANT SELECT ON lessons TO "{role}"'))
    for service in ("dashboard", "consumer"):
        assert main(["db", "grant-app", role, "--for", service, "--database-url", url]) == 2
        assert capsys.readouterr().err == (
            f"classpulse db: role '{role}' may create roles and so give itself any right (ALTER "
            f"ROLE {role} NOCREATEROLE); and belongs to pg_execute_server_program, which runs "
            "programs or reads and writes files on the database server (REVOKE "
            f"pg_execute_server_program FROM {role}); change that, then run this again (nothing "
            "was changed)\n")
    assert privileges(pg_db, role) == [("lessons", "SELECT")]
    with pg_db.begin() as conn:
        conn.execute(text(f'ALTER ROLE "{role}" NOCREATEROLE'))
        conn.execute(text(f'REVOKE pg_execute_server_program FROM "{role}"'))
        conn.execute(text(f'GRANT pg_write_all_data TO "{role}"'))
    assert main(["db", "grant-app", role, "--for", "consumer", "--database-url", url]) == 2
    assert capsys.readouterr().err.startswith(
        f"classpulse db: role '{role}' could still read or change alembic_version, "
        "camera_minutes, ")
    with pg_db.begin() as conn:
        conn.execute(text(f'REVOKE pg_write_all_data FROM "{role}"'))
    assert grant_app(pg_db, role, "consumer", capsys)[1].endswith(": SELECT on lessons")


def test_the_consumers_updates_follow_the_writes() -> None:
    """A counter added to the minutes (ADDITIVE_COLUMNS) is one the consumer's role may update,
    and so is the mark of a minute added to after it closed."""
    assert CONSUMER.privileges["emotion_minutes"]["UPDATE"] == (
        *ADDITIVE_COLUMNS, "updated_at", "revised")
    assert all("UPDATE" not in p and "INSERT" not in p for p in DASHBOARD.privileges.values())


@pytest.mark.postgres
def test_the_check_asks_each_privilege_this_server_knows(pg_db: Engine) -> None:
    """PostgreSQL 17 (compose.yaml's server) adds MAINTAIN (VACUUM, LOCK TABLE ...), which a role
    could get through PUBLIC unseen by a check that never asks for it; a server before 17 refuses
    the word. The check asks for it exactly where the server has it, and each word it asks for
    is one this server answers."""
    from classpulse.db.roles import table_privileges

    with pg_db.connect() as conn:
        version = int(conn.execute(text("SHOW server_version_num")).scalar_one())
        asked = table_privileges(conn)
        assert ("MAINTAIN" in asked) is (version >= 170000)
        for word in asked:
            assert conn.execute(text(
                "SELECT has_table_privilege(current_user, 'pg_class', :word)"),
                {"word": word}).scalar_one() in (True, False)
