"""Timetable fixtures: a migrated database per dialect and module, with three classrooms registered
the way production registers them (a camera reported; an operator set the name and time zone)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from classpulse.db.engine import make_engine
from classpulse.db.migrate import upgrade
from classpulse.db.writes import ensure_cameras

DATA = Path(__file__).resolve().with_name("data")
CLASSROOMS = {  # id: (name, time zone)
    "7A": ("Class 7A", "Europe/Berlin"),
    "7B": ("Class 7B", "Europe/Berlin"),
    "room-12": ("Room 12", "America/New_York"),
}


@pytest.fixture(
    scope="module", params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"]
)
def module_url(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgresql":
        make_pg: Callable[[], str] = request.getfixturevalue("pg_database")
        url = make_pg()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('lessons') / 'classpulse.db'}"
    upgrade(url)
    return url


@pytest.fixture
def url(module_url: str) -> Iterator[str]:
    """The module's database with no lessons and the three classrooms of CLASSROOMS."""
    engine = make_engine(module_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM lessons"))
            ensure_cameras(conn, [(f"{room}-cam", room) for room in CLASSROOMS])
            for room, (name, zone) in CLASSROOMS.items():
                conn.execute(text("UPDATE classrooms SET name = :n, timezone = :z WHERE id = :id"),
                             {"n": name, "z": zone, "id": room})
    finally:
        engine.dispose()
    yield module_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()
