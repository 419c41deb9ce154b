"""``classpulse db upgrade`` / ``db current`` through the real command-line entry point."""

from __future__ import annotations

import pytest

from classpulse.cli import main

HEAD = "0019_sqlite_class_rows_seek"
RULE = ("small-group rule: minutes in which no camera read at least {} faces per frame on average "
        "are hidden (MIN_FACES_SHOWN)")
WEIGHTS = ("engagement weights: angry=0.25,disgust=0.2,fear=0.3,happy={},sad=0.3,surprise=0.6,"
           "neutral=0.9 (ENGAGEMENT_WEIGHTS)")


def test_db_upgrade_then_current(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "current", "--database-url", sqlite_url]) == 2  # no such file: not made
    assert "does not exist" in capsys.readouterr().err
    assert main(["db", "upgrade", "--database-url", sqlite_url, "--revision", "base"]) == 0
    capsys.readouterr()
    assert main(["db", "current", "--database-url", sqlite_url]) == 1
    assert "not migrated" in capsys.readouterr().out
    assert main(["db", "upgrade", "--database-url", sqlite_url]) == 0
    assert main(["db", "upgrade", "--database-url", sqlite_url]) == 0  # again: a no-op
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{sqlite_url} is at revision {HEAD}", RULE.format(3), WEIGHTS.format(0.6)] * 2
    assert main(["db", "current", "--database-url", sqlite_url]) == 0
    assert capsys.readouterr().out.strip() == HEAD


def test_db_upgrade_stores_min_faces_shown_only_when_given(
    sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from classpulse.db.migrate import min_faces

    monkeypatch.delenv("MIN_FACES_SHOWN", raising=False)
    assert main(["db", "upgrade", "--database-url", sqlite_url, "--min-faces-shown", "5"]) == 0
    assert min_faces(sqlite_url) == 5
    assert main(["db", "upgrade", "--database-url", sqlite_url]) == 0  # a default keeps it
    assert min_faces(sqlite_url) == 5
    monkeypatch.setenv("MIN_FACES_SHOWN", "4")
    assert main(["db", "upgrade", "--database-url", sqlite_url]) == 0
    assert min_faces(sqlite_url) == 4
    assert capsys.readouterr().out.splitlines()[1::3] == [RULE.format(n) for n in (5, 5, 4)]
    with pytest.raises(SystemExit) as refused:
        main(["db", "upgrade", "--database-url", sqlite_url, "--min-faces-shown", "0"])
    assert refused.value.code == 2
    assert capsys.readouterr().err == (  # the flag given, not the variable, is named
        "classpulse db upgrade: error: argument --min-faces-shown: 0 is not a count; give a "
        "whole number >= 1 (see classpulse db upgrade --help)\n")
    monkeypatch.setenv("MIN_FACES_SHOWN", "0")
    with pytest.raises(SystemExit):
        main(["db", "upgrade", "--database-url", sqlite_url])
    assert capsys.readouterr().err == (
        "classpulse: configuration error: MIN_FACES_SHOWN=0 (or --min-faces-shown) would show "
        "minutes in which a camera read one face at a time, a single child's; give 2 or more\n")
    assert min_faces(sqlite_url) == 4
    monkeypatch.delenv("MIN_FACES_SHOWN")
    # one face at a time may be one child's: refused before anything runs, nothing changed
    with pytest.raises(SystemExit) as refused:
        main(["db", "upgrade", "--database-url", sqlite_url, "--min-faces-shown", "1"])
    assert refused.value.code == 2
    assert capsys.readouterr().err == (
        "classpulse: configuration error: MIN_FACES_SHOWN=1 (or --min-faces-shown) would show "
        "minutes in which a camera read one face at a time, a single child's; give 2 or more\n")
    assert min_faces(sqlite_url) == 4
    # past PostgreSQL's integer column it was a NumericValueOutOfRange traceback, and any number
    # beyond the faces a camera sees hides every minute
    with pytest.raises(SystemExit) as refused:
        main(["db", "upgrade", "--database-url", sqlite_url, "--min-faces-shown", "99999999999"])
    assert refused.value.code == 2
    assert capsys.readouterr().err == (
        "classpulse: configuration error: MIN_FACES_SHOWN=99999999999 (or --min-faces-shown) is "
        "more faces than a camera sees at once and would hide every minute; give 1000 or fewer\n")
    assert min_faces(sqlite_url) == 4


def test_db_upgrade_stores_engagement_weights_only_when_given(
    sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from classpulse.db.migrate import engagement_weights

    monkeypatch.delenv("ENGAGEMENT_WEIGHTS", raising=False)
    assert main(["db", "upgrade", "--database-url", sqlite_url, "--engagement-weights",
                 "happy=1"]) == 0
    assert engagement_weights(sqlite_url)["happy"] == 1.0
    assert main(["db", "upgrade", "--database-url", sqlite_url]) == 0  # a default keeps them
    monkeypatch.setenv("ENGAGEMENT_WEIGHTS", "happy=0.7")
    assert main(["db", "upgrade", "--database-url", sqlite_url]) == 0
    assert capsys.readouterr().out.splitlines()[2::3] == [WEIGHTS.format(w) for w in (1, 1, 0.7)]
    with pytest.raises(SystemExit) as refused:
        main(["db", "upgrade", "--database-url", sqlite_url, "--engagement-weights", "happy=3"])
    assert refused.value.code == 2
    assert capsys.readouterr().err == (
        "classpulse db upgrade: error: argument --engagement-weights: ENGAGEMENT_WEIGHTS item "
        "'happy=3': weight must lie in [0, 1] (see classpulse db upgrade --help)\n")
    assert engagement_weights(sqlite_url)["happy"] == 0.7


def test_db_upgrade_to_an_older_revision_then_current_says_so(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade", "--revision", "0001_tables", "--database-url", sqlite_url]) == 0
    assert main(["db", "current", "--database-url", sqlite_url]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"0001_tables (newest is {HEAD}; run upgrade)"
    )


@pytest.mark.postgres
def test_db_upgrade_on_postgres(pg_database, capsys: pytest.CaptureFixture[str]) -> None:
    url = pg_database()
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{url} is at revision {HEAD}", RULE.format(3),
                                                    WEIGHTS.format(0.6)]


def test_unreachable_database_is_one_clear_line_without_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql+psycopg://analyst:s3cret@127.0.0.1:1/classpulse"
    assert main(["db", "upgrade", "--database-url", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("classpulse db: cannot connect to database ")
    assert "postgresql+psycopg://analyst:***@127.0.0.1:1/classpulse" in err
    assert "s3cret" not in err


def test_missing_sqlite_folder_says_what_to_fix(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    assert main(["db", "upgrade", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert "folder exists" in err and str(tmp_path / "no") in err


def test_unknown_revision_is_a_usage_error(sqlite_url: str, capsys) -> None:
    assert main(["db", "upgrade", "--revision", "9999", "--database-url", sqlite_url]) == 2
    assert f"newest: {HEAD}" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["application_nam=x", "connect_timeout=abc"])
@pytest.mark.parametrize("action", ["current", "upgrade"])
def test_an_option_the_driver_refuses_is_one_line(
    action: str, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """psycopg refuses these before connecting, with a ProgrammingError (a traceback before)."""
    url = f"postgresql+psycopg://analyst:s3cret@127.0.0.1:1/classpulse?{option}"
    assert main(["db", action, "--database-url", url]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "s3cret" not in captured.err
    assert captured.err.startswith(
        f"classpulse db: cannot connect to database postgresql+psycopg://analyst:***@127.0.0.1:1/"
        f"classpulse?{option}: "), captured.err
    assert captured.err.endswith("; fix the URL's options after '?' (DATABASE_URL or "
                                 "--database-url)\n")


def test_a_file_that_is_no_sqlite_database_is_named_as_such(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said to fix the URL's options after '?', of a URL that had none."""
    path = tmp_path / "notes.db"
    path.write_text("garbage\n")
    assert main(["db", "current", "--database-url", f"sqlite:///{path}"]) == 2
    assert capsys.readouterr().err == (
        f"classpulse db: cannot connect to database sqlite:///{path}: file is not a database; "
        f"{path} is not a SQLite database file; name ClassPulse's database file, or a new one "
        "(DATABASE_URL or --database-url)\n")
    assert path.read_text() == "garbage\n"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:",
                                 "sqlite:///file:cp?mode=memory&uri=true"])
def test_a_database_in_memory_is_not_migrated(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """It vanishes when the command ends: `db upgrade` said it had migrated it, and exited 0."""
    assert main(["db", "upgrade", "--database-url", url]) == 2
    assert capsys.readouterr().err == (
        f"classpulse db: database URL {url} is a SQLite database in memory, which is gone once "
        "the command ends; name a file, e.g. sqlite:///classpulse.db (DATABASE_URL or "
        "--database-url)\n")


def test_current_on_a_database_of_a_newer_classpulse_says_to_upgrade_classpulse(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`db upgrade` cannot take it anywhere: this ClassPulse is the side to upgrade."""
    from sqlalchemy import text

    from classpulse.db.engine import make_engine

    assert main(["db", "upgrade", "--database-url", sqlite_url]) == 0
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    engine.dispose()
    capsys.readouterr()
    assert main(["db", "current", "--database-url", sqlite_url]) == 0
    assert capsys.readouterr().out == (
        f"0099_from_the_future (newer than this ClassPulse knows, its newest is {HEAD}; upgrade "
        "ClassPulse to the version that migrated it)\n")
