"""Database-area fixtures: one migrated database per dialect for the session, emptied per test.

Creating a PostgreSQL database is cheap, but dropping one at the end of the session waits for a
checkpoint, so tests that only need empty tables share one database instead of each asking for a
new one; tests that change the schema or keep seeded data use a database of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, text

from classpulse.db.engine import make_engine
from classpulse.db.migrate import upgrade
from classpulse.db.rule import store_min_faces
from classpulse.db.weights import store_weights
from classpulse.settings import Settings

TABLES_CHILD_FIRST = ("lessons", "emotion_minutes", "cameras", "classrooms", "rejected_frames",
                      "consumer_offsets")


def _migrated_engine(url: str) -> Engine:
    upgrade(url)
    return make_engine(url)


def _emptied(engine: Engine) -> Engine:
    """Every table emptied, the small-group rule and the engagement weights back at their
    defaults."""
    with engine.begin() as conn:
        for table in TABLES_CHILD_FIRST:
            conn.execute(text(f"DELETE FROM {table}"))
        store_min_faces(conn, Settings().min_faces_shown)
        store_weights(conn, Settings().engagement_weights)
    return engine


@pytest.fixture(scope="session")
def shared_pg_engine(pg_database: Callable[[], str]) -> Iterator[Engine]:
    engine = _migrated_engine(pg_database())
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def shared_sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = _migrated_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'classpulse.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def db(request: pytest.FixtureRequest) -> Engine:
    """A database migrated to head with every table empty; the test runs once per dialect."""
    name = "shared_pg_engine" if request.param == "postgresql" else "shared_sqlite_engine"
    return _emptied(request.getfixturevalue(name))


@pytest.fixture
def pg_db(shared_pg_engine: Engine) -> Engine:
    """The PostgreSQL one of :func:`db` alone, for PostgreSQL-only behaviour."""
    return _emptied(shared_pg_engine)


@pytest.fixture
def role(pg_db: Engine) -> Iterator[str]:
    """A new LOGIN role with no privileges in the shared PostgreSQL database, dropped with
    whatever it was granted."""
    name = f"cp_role_{uuid.uuid4().hex[:10]}"
    with pg_db.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{name}" LOGIN'))
    yield name
    with pg_db.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{name}"'))
        conn.execute(text(f'DROP ROLE "{name}"'))


@pytest.fixture
def as_role(pg_db: Engine, role: str) -> Iterator[Engine]:
    """The shared PostgreSQL database, connected to as ``role`` (trust authentication)."""
    engine = make_engine(pg_db.url.set(username=role))
    yield engine
    engine.dispose()
