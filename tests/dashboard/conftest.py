"""Dashboard fixtures: a migrated database per dialect and module, emptied before each test.

The rows are written through the consumer's own write API (``classpulse.db.writes``) from the
synthetic seed or from hand-made rows; expected answers are computed from the same rows in Python
(:mod:`tests.dashboard.expected`), never read back through the code under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, text
from streamlit.runtime.media_file_manager import MediaFileManager

from classpulse.db.engine import make_engine
from classpulse.db.migrate import upgrade
from classpulse.db.rule import store_min_faces
from classpulse.settings import Settings

TABLES_CHILD_FIRST = ("lessons", "emotion_minutes", "cameras", "classrooms", "rejected_frames",
                      "consumer_offsets")


@dataclass(frozen=True)
class Database:
    """A migrated database: its URL (for the page) and an engine (for the test's own writes)."""

    url: str
    engine: Engine
    dialect: str


@pytest.fixture(
    scope="module", params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"]
)
def module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "postgresql":
        make_pg: Callable[[], str] = request.getfixturevalue("pg_database")
        url = make_pg()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'classpulse.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield Database(url, engine, request.param)
    engine.dispose()


@pytest.fixture
def database(module_database: Database) -> Database:
    """The module's migrated database with every table emptied, the small-group rule at 3."""
    with module_database.engine.begin() as conn:
        for table in TABLES_CHILD_FIRST:
            conn.execute(text(f"DELETE FROM {table}"))
        store_min_faces(conn, Settings().min_faces_shown)
    return module_database


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Files the page offers for download (data, mimetype, file name), as Streamlit stores them."""
    offered: list[dict[str, Any]] = []
    original = MediaFileManager.add

    def add(self: MediaFileManager, data: Any, mimetype: str, *args: Any, **kwargs: Any) -> str:
        offered.append({"data": data, "mimetype": mimetype, "file_name": kwargs.get("file_name")})
        return original(self, data, mimetype, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add", add)
    return offered
