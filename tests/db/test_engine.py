"""Engines as every part gets them: PostgreSQL's statement timeout for consumers and its TCP
settings, on top of what the URL itself asks for; a new SQLite file readable by its owner only."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from classpulse.db.engine import make_engine
from classpulse.errors import UsageError


@pytest.mark.postgres
def test_a_statement_timeout_keeps_the_url_s_own_options(pg_database: Callable[[], str]) -> None:
    url = pg_database() + "?options=-csearch_path%3Dpg_catalog"
    engine = make_engine(url, statement_timeout_s=2.5)
    plain = make_engine(url)
    try:
        for _ in range(2):  # a pooled connection keeps it after a rolled-back transaction
            with engine.connect() as conn:
                assert conn.execute(text("show statement_timeout")).scalar_one() == "2500ms"
                assert conn.execute(text("show search_path")).scalar_one() == "pg_catalog"
                conn.rollback()
        with plain.connect() as conn:
            assert conn.execute(text("show statement_timeout")).scalar_one() == "0"
    finally:
        engine.dispose()
        plain.dispose()


@pytest.mark.postgres
def test_connections_notice_a_server_gone_silent_within_seconds(
        pg_database: Callable[[], str]) -> None:
    """A host powered off, or a firewall dropping packets, leaves a connection half-open: without
    TCP keepalives and a user timeout a statement or the pool's ping on it waits for many minutes
    (a consumer's heartbeats with it). The kernel holds libpq's settings on the socket itself;
    a setting the URL gives is kept."""
    engine = make_engine(pg_database() + "?keepalives_idle=30")
    try:
        raw = engine.raw_connection()
        try:
            sock = socket.socket(fileno=os.dup(raw.driver_connection.pgconn.socket))
            try:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert [sock.getsockopt(socket.IPPROTO_TCP, option) for option in (
                    socket.TCP_KEEPIDLE, socket.TCP_KEEPINTVL, socket.TCP_KEEPCNT,
                    socket.TCP_USER_TIMEOUT)] == [30, 2, 3, 10_000]
            finally:
                sock.close()
        finally:
            raw.close()
    finally:
        engine.dispose()


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give users (022), under which SQLite creates files 0o644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _write_some(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect() as conn:  # a second connection, while the first is pooled
            assert conn.execute(text("SELECT x FROM t")).scalar_one() == 1
    finally:
        engine.dispose()


@pytest.mark.usefixtures("usual_umask")
def test_a_new_sqlite_file_and_its_wal_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    """The file holds every minute the dashboard hides; other local accounts must not read it."""
    path = tmp_path / "classpulse.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            # the WAL and its index exist while a connection is open
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    finally:
        engine.dispose()
    assert modes == {"classpulse.db": 0o600, "classpulse.db-wal": 0o600,
                     "classpulse.db-shm": 0o600}


@pytest.mark.usefixtures("usual_umask")
def test_a_relative_sqlite_path_is_created_private_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write_some("sqlite:///classpulse.db")
    assert (tmp_path / "classpulse.db").stat().st_mode & 0o077 == 0


@pytest.mark.usefixtures("usual_umask")
def test_an_existing_sqlite_file_keeps_the_permissions_its_owner_gave(tmp_path: Path) -> None:
    """A file made group-readable on purpose (an analysts' group) is not changed behind the
    owner's back."""
    path = tmp_path / "shared.db"
    _write_some(f"sqlite:///{path}")
    path.chmod(0o640)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT x FROM t")).scalar_one() == 1
    finally:
        engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_sqlite_file_in_a_missing_folder_still_fails_as_sqlite_says(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")
    try:
        with pytest.raises(OperationalError, match="unable to open database file"):
            engine.connect()
    finally:
        engine.dispose()
    assert not (tmp_path / "nowhere").exists()


def test_an_option_of_the_wrong_type_in_the_url_is_one_line_naming_it(tmp_path: Path) -> None:
    """SQLAlchemy converts a SQLite URL's ``timeout`` to a number when the engine is made: a
    word there was a ValueError traceback."""
    with pytest.raises(UsageError, match=r"x\.db\?timeout=abc has an option that cannot be used "
                                         r"\(could not convert string to float: 'abc'\); fix the"):
        make_engine(f"sqlite:///{tmp_path / 'x.db'}?timeout=abc")
