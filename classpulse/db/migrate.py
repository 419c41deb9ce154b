"""Run the Alembic migrations from code, without an ``alembic.ini``.

The configuration is built here so the migrations work from an installed package, and the database
URL is whatever our caller passes (from settings), never an environment variable. The connection is
opened here and handed to ``migrations/env.py``, so an unreachable database, an option in the
URL that the driver refuses, or a right the connected user lacks (reading ``alembic_version``,
creating the tables, storing the small-group rule) becomes one clear :class:`UsageError` naming
the URL (password hidden) instead of a driver traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError

from classpulse.db.engine import (
    READ_ONLY_SQLSTATE,
    failure_reason,
    make_engine,
    parse_url,
    refused,
)
from classpulse.errors import UsageError
from classpulse.redact import hide_password

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# PostgreSQL advisory lock id held while migrating (any fixed 64-bit number; "ClassPul" in ASCII)
MIGRATION_LOCK_KEY = 0x436C617373507531


def alembic_config() -> Config:
    """Alembic's configuration for our migrations (the connection is added by the caller)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision shipped with this package (there is exactly one head)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads {heads}; merge them into one")
    return heads[0]


@contextmanager
def _connect(url: str) -> Iterator[Connection]:
    shown = hide_password(url)
    engine = make_engine(url)  # UsageError for a URL that cannot be used
    try:
        try:
            connection = engine.connect()
        except DBAPIError as exc:  # the driver refused the URL's options, or the server
            reason = failure_reason(exc)
            if engine.dialect.name == "sqlite" and not isinstance(exc, OperationalError):
                # SQLite's "file is not a database": a file it opened but cannot read as one
                fix = (f"{engine.url.database} is not a SQLite database file; name ClassPulse's "
                       "database file, or a new one")
            elif not isinstance(exc, OperationalError):  # e.g. an unknown or malformed option
                fix = "fix the URL's options after '?'"
            elif engine.dialect.name == "sqlite":
                fix = "check that the folder exists and is writable, or fix the URL"
            else:
                fix = "check that the server is running and accepts this user, or fix the URL"
            raise UsageError(
                f"cannot connect to database {shown}: {reason}; {fix} "
                "(DATABASE_URL or --database-url)"
            ) from None
        try:
            with connection:
                yield connection
        # refused once connected: a role without the rights it needs, or a server that takes no
        # writes (a hot standby)
        except DBAPIError as exc:
            if not refused(exc):
                raise  # anything else keeps its traceback (a bug in a query, a migration)
            raise Refused(_refusal(shown, engine.dialect.name, exc)) from None
    finally:
        engine.dispose()


class Refused(UsageError):
    """The database refused the connected user what was asked (:func:`_refusal` words it): a
    command that can do without it (``lessons list`` without the schema's revision, which an
    analyst's role may not read) goes on."""


def _refusal(shown: str, dialect: str, exc: DBAPIError) -> str:
    """One line for what the database refused the connected user
    (:func:`~classpulse.db.engine.refused`), e.g. an analyst's role reading ``alembic_version``,
    or the dashboard's storing the small-group rule: everything done on the connection was rolled
    back."""
    if dialect == "sqlite":
        what, fix = "cannot be written", ("open it writable (no mode=ro in the URL) as a user that "
                                          "may write the file and its folder")
    elif getattr(exc.orig, "sqlstate", None) == READ_ONLY_SQLSTATE:
        what, fix = "takes no writes", (
            "connect to the primary server, not a read replica (hot standby), or turn "
            "default_transaction_read_only off for this database or user")
    else:
        what, fix = "refused this user", (
            "connect as the owner of ClassPulse's tables, the user that creates them with "
            "`classpulse db upgrade` (compose.yaml: the migrate service's), or, for the dashboard "
            "or a consumer, as a role it granted with `classpulse db grant-app`")
    return (f"database {shown} {what}: {failure_reason(exc)}; {fix} (DATABASE_URL or "
            "--database-url)")


def _lock_for_migration(connection: Connection) -> None:
    """Serialise concurrent upgrades (several consumers starting at once all call ``upgrade``).

    The whole upgrade then runs in this one transaction: PostgreSQL holds an advisory lock until
    commit; SQLite takes its write lock up front (``BEGIN IMMEDIATE``, waiting out the busy
    timeout). The second caller then finds the schema at head and does nothing.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade(url: str, revision: str = "head", min_faces_shown: int | None = None,
            engagement_weights: Mapping[str, float] | None = None) -> None:
    """Migrate the database at ``url`` to ``revision``; running it again is a no-op.

    ``min_faces_shown`` (``MIN_FACES_SHOWN`` when given) is stored as the small-group rule's
    threshold, ``engagement_weights`` (``ENGAGEMENT_WEIGHTS`` when given) as the weights every
    consumer scores with, in the same transaction; None keeps the stored ones. Safe to call from
    several processes at once; they take turns.
    """
    _require_lasting(url)
    with _connect(url) as connection:
        _lock_for_migration(connection)
        config = alembic_config()
        config.attributes["connection"] = connection
        log.info("migrating url=%s revision=%s", hide_password(url), revision)
        try:
            command.upgrade(config, revision)
        except CommandError as exc:  # unknown target, or a database from a newer ClassPulse
            raise UsageError(
                f"cannot migrate {hide_password(url)} to {revision!r}: {exc}; use a revision this "
                f"version ships (newest: {head_revision()})"
            ) from None
        if min_faces_shown is not None:
            _store_rule(connection, min_faces_shown, url)
        if engagement_weights is not None:
            _store_weights(connection, engagement_weights, url)
        connection.commit()


def _require_lasting(url: str) -> None:
    """Refuse a SQLite database held in memory (``sqlite://``, ``sqlite:///``,
    ``sqlite:///:memory:``, a ``file:`` URI with ``mode=memory``): it vanishes with the
    connection, so migrating it, or consuming into it, would report success and keep nothing."""
    parsed = parse_url(url)
    database = parsed.database or ""
    memory = database in ("", ":memory:") or (database.startswith("file:") and (
        "mode=memory" in database or parsed.query.get("mode") == "memory"))
    if parsed.get_backend_name() == "sqlite" and memory:
        raise UsageError(
            f"database URL {hide_password(url)} is a SQLite database in memory, which is gone once "
            "the command ends; name a file, e.g. sqlite:///classpulse.db (DATABASE_URL or "
            "--database-url)"
        )


def _store_rule(connection: Connection, min_faces_shown: int, url: str) -> None:
    from classpulse.db.rule import store_min_faces

    if not inspect(connection).has_table("small_group_rule"):
        raise UsageError(
            f"{hide_password(url)} is at a revision without the small-group rule's table; upgrade "
            "it to the newest revision to store MIN_FACES_SHOWN"
        )
    store_min_faces(connection, min_faces_shown)


def _store_weights(connection: Connection, weights: Mapping[str, float], url: str) -> None:
    from classpulse.db.weights import store_weights

    if not inspect(connection).has_table("engagement_weights"):
        raise UsageError(
            f"{hide_password(url)} is at a revision without the engagement weights' table; "
            "upgrade it to the newest revision to store ENGAGEMENT_WEIGHTS"
        )
    store_weights(connection, weights)


def engagement_weights(url: str) -> Mapping[str, float] | None:
    """The stored engagement weights (:mod:`classpulse.db.weights`); None before 0012."""
    from classpulse.db.weights import load_weights

    with _connect(url) as connection:
        if not inspect(connection).has_table("engagement_weights"):
            return None
        return load_weights(connection).weights


def _missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names when it does not exist (SQLite would create it on connect)."""
    parsed = parse_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or (
            database.startswith("file:")):
        return None
    path = Path(database)
    return None if path.exists() else path.resolve()


def require_existing_file(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist, which connecting would create empty: a
    reader pointed at the wrong path would otherwise show an empty database as if it were real."""
    missing = _missing_sqlite_file(url)
    if missing is not None:
        raise UsageError(
            f"database file {missing} does not exist; point --database-url (or DATABASE_URL) at "
            "the consumers' database, or create it with `classpulse db upgrade`"
        )


def require_migrated(url: str) -> str:
    """The revision of the database at ``url``, which must hold ClassPulse's tables.

    For the commands that read or add to what the consumers wrote (dashboard, timetable): a SQLite
    file that does not exist is not created, and a database that is unreachable or was never
    migrated fails as one :class:`UsageError` saying what to do, before any query runs.
    """
    require_existing_file(url)
    revision = current(url)  # UsageError naming the URL when unreachable
    if revision is None:
        raise UsageError(
            f"database {hide_password(url)} has no ClassPulse tables; create them with "
            "`classpulse db upgrade` (same DATABASE_URL / --database-url)"
        )
    return revision


def is_known(revision: str) -> bool:
    """Whether this ClassPulse ships ``revision``; a database at one it does not was migrated by
    a newer ClassPulse."""
    return revision in {r.revision
                        for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def require_head(url: str) -> None:
    """For a consumer started with ``--no-migrate``: its writes need the newest schema it knows
    (their upserts name its keys), so any other revision fails now, as one line saying which side
    to upgrade, instead of every flush failing later."""
    revision, head = require_migrated(url), head_revision()
    if revision == head:
        return
    if not is_known(revision):
        raise UsageError(
            f"database {hide_password(url)} is at revision {revision}, newer than this consumer "
            f"knows (its newest: {head}); upgrade this consumer to the version that migrated it"
        )
    raise UsageError(
        f"database {hide_password(url)} is at revision {revision}, this consumer writes to {head}; "
        "stop every consumer, run `classpulse db upgrade`, then start them again (or start "
        "without --no-migrate)"
    )


def min_faces(url: str) -> int | None:
    """The small-group rule's stored threshold (:mod:`classpulse.db.rule`); None before 0006."""
    from classpulse.db.rule import load_min_faces

    with _connect(url) as connection:
        if not inspect(connection).has_table("small_group_rule"):
            return None
        return load_min_faces(connection)


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None when it was never migrated."""
    with _connect(url) as connection:
        return MigrationContext.configure(connection).get_current_revision()
