"""Engines, built in one place so every part gets the same connection behaviour.

SQLite (the embedded default) is shared by a consumer writing and a dashboard reading at the same
time, so each connection turns on WAL (readers do not block the writer), a busy timeout (a second
writer waits instead of failing at once) and foreign keys (off by default in SQLite). PostgreSQL
connections are pinged before use, so a dashboard survives a database restart; a consumer's also
give up on a statement after a while (``statement_timeout_s``, lock waits included), so a table
locked by someone else fails its flush, which it retries, instead of stalling it for good. They
also give up on a server that stopped answering: the connect after ``PG_CONNECT_TIMEOUT_S``, and,
once connected, after about ``PG_TCP_USER_TIMEOUT_MS`` (TCP keepalives for an idle connection,
``tcp_user_timeout`` for data sent and never acknowledged), where a host powered off or a firewall
that drops packets would otherwise leave a statement, or the pool's ping, waiting for many
minutes on a half-open connection.

A SQLite file that does not exist yet is created readable by its owner only (``0o600``) before
SQLite opens it: SQLite would create it ``0o644`` under the usual umask, readable by every local
account, and it holds every minute the dashboard hides. SQLite gives its ``-wal`` and ``-shm``
files the database file's permissions. A file that already exists keeps its permissions: whoever
made it group-readable (an analysts' group, a backup job) chose to.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from classpulse.errors import UsageError
from classpulse.redact import hide_password

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_READONLY = 8  # SQLite's primary result code for a write to a read-only database
PG_CONNECT_TIMEOUT_S = 10
# a PostgreSQL server gone without closing its connections (host off, packets dropped) is noticed
# within some 10-15 s: an idle connection is probed after 5 s, every 2 s, 3 times; data left
# unacknowledged for 10 s fails the connection (Linux; libpq ignores it elsewhere)
PG_TCP_USER_TIMEOUT_MS = 10_000
PG_LIBPQ_SETTINGS = {"connect_timeout": PG_CONNECT_TIMEOUT_S, "keepalives": 1,
                     "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
                     "tcp_user_timeout": PG_TCP_USER_TIMEOUT_MS}
URL_EXAMPLES = "use e.g. sqlite:///classpulse.db or postgresql+psycopg://user:password@host/db"


def parse_url(url: str | URL) -> URL:
    """``url`` parsed, or one :class:`UsageError` naming it (password hidden) and the fix.

    SQLAlchemy raises a bare ``ValueError`` for a port that is no number, quoting the port; that
    text is not repeated, since a password holding an unencoded ``@`` can end up read as the port.
    """
    shown = hide_password(str(url))
    try:
        return make_url(url)
    except ArgumentError:
        raise UsageError(f"database URL {shown} is not a SQLAlchemy URL; {URL_EXAMPLES} "
                         "(DATABASE_URL or --database-url)") from None
    except ValueError:
        raise UsageError(
            f"database URL {shown} has a port that is not a number; give one (host:5432) or "
            "none, and write an @ inside the password as %40 (DATABASE_URL or --database-url)"
        ) from None


def make_engine(url: str | URL, statement_timeout_s: float | None = None,
                **kwargs: Any) -> Engine:
    """An engine for ``url`` with ClassPulse's per-dialect connection settings.

    ``statement_timeout_s`` bounds every statement on PostgreSQL, the wait for a lock included (its
    ``statement_timeout``, set on each new connection: other settings in the URL's ``options`` and
    in ``PGOPTIONS`` stay as they are, a ``statement_timeout`` there is replaced); SQLite's lock
    waits are bounded by its busy timeout. PostgreSQL connections get ``PG_LIBPQ_SETTINGS`` (a
    connect timeout and TCP keepalives), each unless the URL gives its own. Extra keyword
    arguments go to :func:`sqlalchemy.create_engine` (e.g. ``echo=True``). A URL that cannot be
    used (not a URL, a port that is no number, a driver that is not installed, an option of the
    wrong type) raises one :class:`UsageError`.
    """
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        if parsed.get_driver_name() in ("psycopg", "psycopg2"):
            # fail in seconds, not minutes, when the server is down, firewalled or gone
            connect_args = kwargs.setdefault("connect_args", {})
            for setting, value in PG_LIBPQ_SETTINGS.items():
                if setting not in parsed.query:
                    connect_args.setdefault(setting, value)
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError):  # SQLAlchemy imports the driver here
        raise UsageError(
            f"database URL {hide_password(str(parsed))} names the driver {parsed.drivername}, "
            "which is not installed or not known to SQLAlchemy; ClassPulse installs psycopg: "
            "use postgresql+psycopg://user:password@host/db or sqlite:///classpulse.db "
            "(DATABASE_URL or --database-url)"
        ) from None
    except (ValueError, TypeError) as exc:  # the dialect converts the URL's options here
        raise UsageError(
            f"database URL {hide_password(str(parsed))} has an option that cannot be used "
            f"({failure_reason(exc)}); fix the URL's options after '?'") from None
    if backend == "sqlite":
        path = _sqlite_file(parsed)
        if path is not None:
            event.listen(engine, "do_connect", lambda *_: _create_private(path))
        event.listen(engine, "connect", _sqlite_pragmas)
    if backend == "postgresql" and statement_timeout_s is not None:
        ms = max(1, round(statement_timeout_s * 1000))
        event.listen(engine, "connect", lambda dbapi, _record: _set(dbapi, "statement_timeout", ms))
    log.debug("engine created url=%s", hide_password(str(parsed)))
    return engine


def failure_reason(exc: BaseException) -> str:
    """The first line of what the database driver said (SQLAlchemy's own text adds the statement
    and its parameters, too long for a log line or a page)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# PostgreSQL's read_only_sql_transaction: a write on a hot standby (a read replica), or where
# default_transaction_read_only is on
READ_ONLY_SQLSTATE = "25006"


def refused(exc: BaseException) -> bool:
    """Whether the database refused the connected user a right, rather than failed: PostgreSQL's
    insufficient_privilege (SQLSTATE 42501: "permission denied for table ...", "... for schema
    ...", "must be owner of ..."), a PostgreSQL server that takes no writes
    (:data:`READ_ONLY_SQLSTATE`), SQLite's read-only database (a ``mode=ro`` URL, a file or
    folder the user may not write)."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in ("42501", READ_ONLY_SQLSTATE):
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == SQLITE_READONLY


def _set(dbapi_connection: Any, setting: str, value: int) -> None:
    """A PostgreSQL setting for the session, committed at once: the pool's reset at check-in rolls
    back, and a SET made in a transaction that rolls back is undone with it."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"SET {setting} = {int(value)}")
    finally:
        cursor.close()
    dbapi_connection.commit()


def _sqlite_file(parsed: URL) -> str | None:
    """The file a SQLite URL names, or None when it names none (in memory) or is a ``file:`` URI,
    whose ``mode=ro`` must keep failing on a missing file instead of opening an empty one."""
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return database


def _create_private(path: str) -> None:
    """Create ``path`` empty with mode 0o600 when it does not exist (an empty file is an empty
    SQLite database), at each connect so a file deleted meanwhile is created private again.

    Any failure (it exists, its folder is missing, no permission) is left for SQLite's own
    connect to report, in the words the rest of ClassPulse already handles.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     0o600)
    except OSError:
        return
    os.close(fd)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
