"""Analysts' access: the shown views (0013) and ``classpulse db grant-reader ROLE``.

Hand-made minutes of one classroom, chosen so that each hidden thing has faces no shown one has:
the reader's queries (as a role of its own, connected by trust authentication) must give the shown
numbers exactly and never a hidden one, not even through a condition PostgreSQL evaluates first.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, inspect, select, text

from classpulse.cli import main
from classpulse.db.migrate import upgrade
from classpulse.db.roles import READABLE, classpulse_relations
from classpulse.db.views import (
    camera_minutes,
    class_minutes,
    shown_camera_minutes,
    shown_class_minutes,
)
from tests.dashboard import expected
from tests.db.pg_roles import PASSWORD, REFUSED, denied, privileges, role_urls, url_of

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
M = [START + timedelta(minutes=i) for i in range(4)]
ROWS = [
    expected.row("t1", "7B", M[0], 60, 10),  # 600 faces, ten at once: shown
    expected.row("t2", "7B", M[0], 60, 1),  # 60: a hidden camera in a shown class minute
    expected.row("t1", "7B", M[1], 60, 1),  # 60: a hidden minute
    expected.row("t1", "7B", M[2], 60, 2),  # 120 per camera, 240 the class: hidden
    expected.row("t2", "7B", M[2], 60, 2),
    expected.row("t1", "7B", M[3], 50, 5),  # 250: shown
]
HIDDEN_FACES = (60, 120, 240)
GRANTED = ("role {} may, for the analysts, with USAGE on schema public: SELECT on cameras; "
           "SELECT on class_days; SELECT on class_hour_of_week; SELECT on classrooms; "
           "SELECT on engagement_weights; SELECT on lesson_summaries; SELECT on lessons; "
           "SELECT on shown_camera_minutes; SELECT on shown_class_minutes; "
           "SELECT on small_group_rule")
REVOKED = ("revoked from role {} every other privilege on ClassPulse's tables, views and "
           "sequences: {}")
UNSAFE = ("alembic_version", "camera_minutes", "class_minutes", "consumer_offsets",
          "emotion_minutes", "offset_resets", "rejected_frames", "seen_frames")


def grant(engine: Engine, role: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["db", "grant-reader", role, "--database-url", url_of(engine)]) == 0
    return capsys.readouterr().out.splitlines()


def test_every_relation_of_the_schema_is_known(db: Engine) -> None:
    """What grant-reader revokes on is every table and view the migrations make, so a new one
    is never left with a grant made by hand."""
    inspector = inspect(db)
    assert set(classpulse_relations()) == {*inspector.get_table_names(),
                                           *inspector.get_view_names()}
    assert set(READABLE) < set(classpulse_relations())


def test_shown_views_are_the_shown_rows(db: Engine) -> None:
    expected.write(db, ROWS)
    with db.connect() as conn:
        cams = conn.execute(select(shown_camera_minutes)).all()
        klass = conn.execute(select(shown_class_minutes)).all()
        assert cams == conn.execute(select(camera_minutes).where(camera_minutes.c.shown)).all()
        assert klass == conn.execute(select(class_minutes).where(class_minutes.c.shown)).all()
        assert conn.execute(select(class_minutes.c.minute_start)).scalars().all() == M
    assert [(r.camera_id, r.minute_start, r.faces) for r in cams] == [
        ("t1", M[0], 600), ("t1", M[3], 250)]
    assert [(r.minute_start, r.cameras, r.faces, r.n_neutral, r.shown) for r in klass] == [
        (M[0], 1, 600, 600, True), (M[3], 1, 250, 250, True)]


@pytest.mark.postgres
def test_the_reader_reads_the_shown_minutes_and_nothing_hidden(
    pg_db: Engine, role: str, as_role: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    expected.write(pg_db, ROWS)
    assert grant(pg_db, role, capsys) == [GRANTED.format(role),
                                          REVOKED.format(role, "nothing else was held")]
    with as_role.connect() as conn:  # the views read their tables as their owner
        assert conn.execute(text(
            "SELECT minute_start, cameras, faces, n_neutral, n_sad FROM shown_class_minutes "
            "ORDER BY minute_start")).all() == [(M[0], 1, 600, 600, 0),
                                                         (M[3], 1, 250, 250, 0)]
        assert conn.execute(text(
            "SELECT camera_id, minute_start, faces FROM shown_camera_minutes "
            "ORDER BY minute_start")).all() == [("t1", M[0], 600), ("t1", M[3], 250)]
        assert conn.execute(text(
            "SELECT minutes, hidden_minutes, faces FROM class_days")).one() == (2, 2, 850)
        for name in READABLE:
            conn.execute(text(f"SELECT * FROM {name}")).all()
    for name in UNSAFE:
        assert denied(as_role, f"SELECT * FROM {name}"), name
    assert denied(as_role, "UPDATE small_group_rule SET min_faces_shown = 1")


@pytest.mark.postgres
def test_a_condition_of_the_reader_never_sees_a_hidden_row(
    pg_db: Engine, role: str, as_role: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``security_barrier`` PostgreSQL runs a cheap condition before ``shown``: a
    function the reader writes sees hidden rows, a division by zero tells their faces."""
    expected.write(pg_db, ROWS)
    grant(pg_db, role, capsys)
    with as_role.connect() as conn:
        conn.execute(text("CREATE TEMP TABLE seen (faces numeric)"))
        conn.execute(text(
            "CREATE FUNCTION pg_temp.peek(numeric) RETURNS boolean AS $$ BEGIN "
            "INSERT INTO pg_temp.seen VALUES ($1); RETURN true; END $$ "
            "LANGUAGE plpgsql COST 0.0000001"))
        for view in ("shown_camera_minutes", "shown_class_minutes"):
            assert conn.execute(text(
                f"SELECT count(*) FROM {view} WHERE pg_temp.peek(faces)")).scalar_one() == 2
            for faces in HIDDEN_FACES:  # "division by zero" would say a hidden row had these
                assert conn.execute(text(
                    f"SELECT count(*) FROM {view} WHERE 1 / (faces - {faces}) > -1"
                )).scalar_one() == 2
        assert set(conn.execute(text("SELECT faces FROM seen")).scalars()) == {600, 250}


@pytest.mark.postgres
def test_a_filter_on_classroom_and_time_still_reads_one_index_range(pg_db: Engine) -> None:
    """The barrier lets leakproof comparisons (text, timestamps) through to the index."""
    with pg_db.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        for view in ("shown_camera_minutes", "shown_class_minutes"):
            plan = "\n".join(conn.execute(text(
                f"EXPLAIN SELECT * FROM {view} WHERE classroom_id = '7B' "
                "AND minute_start >= TIMESTAMPTZ '2025-03-03 09:00+00' "
                "AND minute_start < TIMESTAMPTZ '2025-03-03 10:00+00'")).scalars())
            cond = next(line for line in plan.splitlines() if "Index Cond:" in line)
            assert "((classroom_id = '7B'::text) AND " in cond, plan
            assert "(minute_start >= '2025-03-03 09:00:00+00'" in cond, plan


@pytest.mark.postgres
def test_running_again_changes_nothing_and_takes_back_earlier_grants(
    pg_db: Engine, role: str, as_role: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    expected.write(pg_db, ROWS)
    with pg_db.begin() as conn:
        for granted in ("SELECT ON emotion_minutes", "SELECT (faces) ON camera_minutes",
                        "UPDATE ON small_group_rule", "INSERT ON classrooms",
                        "SELECT ON classrooms"):
            conn.execute(text(f'GRANT {granted} TO "{role}"'))
    assert not denied(as_role, "SELECT faces FROM camera_minutes")
    taken = ("INSERT on classrooms; SELECT (faces) on camera_minutes; SELECT on emotion_minutes; "
             "UPDATE on small_group_rule")
    assert grant(pg_db, role, capsys)[1] == REVOKED.format(role, taken)
    after = privileges(pg_db, role)
    assert after == sorted((name, "SELECT") for name in READABLE)
    assert grant(pg_db, role, capsys)[1] == REVOKED.format(role, "nothing else was held")
    assert privileges(pg_db, role) == after
    for statement in ("SELECT * FROM emotion_minutes", "SELECT faces FROM camera_minutes",
                      "UPDATE small_group_rule SET min_faces_shown = 1",
                      "INSERT INTO classrooms (id, name) VALUES ('x', 'x')"):
        assert denied(as_role, statement), statement
    with pg_db.begin() as conn:  # as a later migration would: the role is given nothing
        conn.execute(text("CREATE TABLE later_table (n integer)"))
    try:
        assert denied(as_role, "SELECT * FROM later_table")
    finally:
        with pg_db.begin() as conn:
            conn.execute(text("DROP TABLE later_table"))


@pytest.mark.postgres
def test_a_role_name_is_quoted_never_spliced(
    pg_db: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f'x"; DROP TABLE lessons; -- :y %s {uuid.uuid4().hex[:6]}'
    quoted = pg_db.dialect.identifier_preparer.quote_identifier(name)
    with pg_db.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {quoted} LOGIN")
    try:
        assert grant(pg_db, name, capsys)[0] == GRANTED.format(name)
        assert privileges(pg_db, name) == sorted(
            (table, "SELECT") for table in READABLE)
        assert "lessons" in inspect(pg_db).get_table_names()
    finally:
        with pg_db.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {quoted}")
            conn.exec_driver_sql(f"DROP ROLE {quoted}")


def test_sqlite_has_no_roles(migrated_sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "grant-reader", "analyst", "--database-url", migrated_sqlite_url]) == 2
    assert capsys.readouterr().err == (
        "classpulse db: roles are PostgreSQL's; on SQLite whoever can read the file reads "
        f"everything ({migrated_sqlite_url}): give analysts a PostgreSQL database, or no copy of "
        "the file\n")


@pytest.mark.postgres
def test_a_role_that_does_not_exist_or_reads_everything_is_refused(
    pg_db: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    url = url_of(pg_db)
    assert main(["db", "grant-reader", "Analyst", "--database-url", url]) == 2
    assert capsys.readouterr().err == (
        "classpulse db: PostgreSQL role 'Analyst' does not exist; create it first (CREATE ROLE "
        "\"Analyst\" LOGIN PASSWORD '...'), then run this again\n")
    assert main(["db", "grant-reader", "postgres", "--database-url", url]) == 2
    assert capsys.readouterr().err == (
        "classpulse db: role 'postgres' is a superuser, which reads every table whatever is "
        "granted; give analysts a role of their own (CREATE ROLE analyst LOGIN PASSWORD '...')\n")


@pytest.mark.postgres
def test_a_role_reading_through_another_role_is_refused_and_left_as_it_was(
    pg_db: Engine, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pg_db.begin() as conn:
        conn.execute(text(f'GRANT pg_read_all_data TO "{role}"'))
        conn.execute(text(f'GRANT SELECT ON emotion_minutes TO "{role}"'))
    assert main(["db", "grant-reader", role, "--database-url", url_of(pg_db)]) == 2
    assert capsys.readouterr().err == (
        f"classpulse db: role '{role}' could still read or change alembic_version, "
        "camera_minutes, class_minutes, consumer_offsets, emotion_minutes, offset_resets, "
        "rejected_frames, seen_frames after the revoke, through a role it belongs to "
        "(pg_read_all_data) or a grant to PUBLIC; revoke that, then run this again (nothing was "
        "changed)\n")
    assert privileges(pg_db, role) == [("emotion_minutes", "SELECT")]


@pytest.mark.postgres
def test_the_reader_may_create_nothing_in_the_schema(
    pg_db: Engine, role: str, as_role: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """CREATE in the schema would let a reader plant a function the owner's unqualified queries
    pick up: taken back when the role holds it, refused when PUBLIC does (PostgreSQL 14 and
    older give it to PUBLIC on `public`)."""
    with pg_db.begin() as conn:
        conn.execute(text(f'GRANT CREATE ON SCHEMA public TO "{role}"'))
    assert not denied(as_role, "CREATE TABLE planted (n integer)")
    with pg_db.begin() as conn:
        conn.execute(text("DROP TABLE planted"))
    assert grant(pg_db, role, capsys)[1] == REVOKED.format(role, "CREATE on schema public")
    assert denied(as_role, "CREATE TABLE planted (n integer)")
    with pg_db.begin() as conn:
        conn.execute(text("GRANT CREATE ON SCHEMA public TO PUBLIC"))
    try:
        assert main(["db", "grant-reader", role, "--database-url", url_of(pg_db)]) == 2
        assert capsys.readouterr().err == (
            f"classpulse db: role '{role}' could still read or change the schema (CREATE) after "
            "the revoke, through a role it belongs to (none) or a grant to PUBLIC; revoke that, "
            "then run this again (nothing was changed)\n")
    finally:
        with pg_db.begin() as conn:
            conn.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))


@pytest.mark.postgres
def test_a_role_given_later_tables_by_default_is_refused(
    pg_db: Engine, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    default = f'ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public {{}} "{role}"'
    with pg_db.begin() as conn:
        conn.execute(text(default.format("GRANT SELECT ON TABLES TO")))
    try:
        assert main(["db", "grant-reader", role, "--database-url", url_of(pg_db)]) == 2
        assert capsys.readouterr().err == (
            f"classpulse db: default privileges of role 'postgres' give '{role}' the tables it "
            "creates later (a new migration's too); revoke them (ALTER DEFAULT PRIVILEGES FOR "
            f"ROLE postgres [IN SCHEMA ...] REVOKE ALL ON TABLES FROM {role}), then run this "
            "again (nothing was changed)\n")
        assert privileges(pg_db, role) == []
    finally:
        with pg_db.begin() as conn:
            conn.execute(text(default.format("REVOKE ALL ON TABLES FROM")))


@pytest.mark.postgres
def test_an_unmigrated_or_older_database_is_refused(
    pg_database, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_database()
    assert main(["db", "grant-reader", "analyst", "--database-url", url]) == 2
    assert capsys.readouterr().err == (
        f"classpulse db: database {url} has no ClassPulse tables; create them with "
        "`classpulse db upgrade` (same DATABASE_URL / --database-url)\n")
    upgrade(url, "0012_engagement_weights")
    assert main(["db", "grant-reader", "analyst", "--database-url", url]) == 2
    assert capsys.readouterr().err == (
        f"classpulse db: database {url} is at revision 0012_engagement_weights, not "
        "0019_sqlite_class_rows_seek, the one this ClassPulse grants on; run `classpulse db "
        "upgrade` first (same DATABASE_URL / --database-url)\n")


@pytest.mark.postgres
@pytest.mark.parametrize("command", [
    ["db", "current"], ["db", "grant-reader", "{role}"],
    ["db", "grant-app", "classpulse_dashboard", "--for", "dashboard"],
], ids=" ".join)
def test_an_analyst_running_the_owner_s_commands_gets_one_line(
    pg_db: Engine, role: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """grant-reader gives no SELECT on alembic_version, which these read first: a traceback of
    55-69 lines ending in "permission denied for table alembic_version"."""
    grant(pg_db, role, capsys)
    held = privileges(pg_db, role)
    url, shown = role_urls(url_of(pg_db), role)
    assert main([*(word.format(role=role) for word in command), "--database-url", url]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == REFUSED.format(
        command="db", url=shown, reason="permission denied for table alembic_version") + "\n"
    assert PASSWORD not in captured.err
    assert privileges(pg_db, role) == held


@pytest.mark.postgres
def test_an_analyst_lists_the_lessons(
    pg_db: Engine, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`classpulse lessons list` read the schema's revision first, which grant-reader does not
    grant: an analyst, who may read the lessons, got "refused this user ... connect as the
    owner"."""
    expected.write(pg_db, ROWS)
    with pg_db.begin() as conn:
        room = conn.execute(text("SELECT id FROM classrooms LIMIT 1")).scalar_one()
        conn.execute(text(
            "INSERT INTO lessons (classroom_id, starts_at, ends_at, title, source_key, "
            "source_scope) VALUES (:room, :start, :end, 'Maths', 'csv:x', 'csv:x')"),
            {"room": room, "start": M[0], "end": M[0] + timedelta(minutes=45)})
    grant(pg_db, role, capsys)
    url, _ = role_urls(url_of(pg_db), role)
    assert main(["lessons", "list", "--database-url", url]) == 0
    assert "Maths" in capsys.readouterr().out
