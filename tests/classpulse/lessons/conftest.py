"""Timetable fixtures: a migrated database per dialect and module, with three classrooms registered
the way production registers them (a camera reported; an operator set the name and time zone)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from classpulse.db.engine import make_engine
from classpulse.db.migrate import upgrade
from classpulse.db.writes import ensure_cameras

DATA = Path(__file__).resolve().with_name("data")  # the iCalendar samples
# the CSV samples, written as a school's export would be (a quoted comma, empty optional fields;
# the bad one has a time with a dot on line 4)
CSV_FILES = {
    "timetable.csv": (
        'classroom,date,start,end,title,subject,group\n'
        '7A,2025-03-03,08:00,08:45,Maths,Mathematics,7A-1\n'
        '7A,2025-03-03,08:50,09:35,English,,\n'
        '7A,2025-03-04,08:00,08:45,Maths,Mathematics,7A-1\n'
        'Room 12,2025-03-03,13:15,14:00,Art,,\n'
        'Room 12,2025-03-04,09:00,09:45,"History, modern",History,\n'
    ),
    "timetable-bad.csv": (
        'classroom,date,start,end,title\n'
        '7A,2025-03-03,08:00,08:45,Maths\n'
        '7A,2025-03-03,08:50,09:35,English\n'
        '7A,2025-03-04,9.30,10:15,Maths\n'
        '7A,2025-03-04,10:20,11:05,Art\n'
    ),
}
CLASSROOMS = {  # id: (name, time zone)
    "7A": ("Class 7A", "Europe/Berlin"),
    "7B": ("Class 7B", "Europe/Berlin"),
    "room-12": ("Room 12", "America/New_York"),
}


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with every sample timetable: the iCalendar files and the CSV ones."""
    folder = tmp_path_factory.mktemp("timetables")
    for sample in DATA.iterdir():
        shutil.copy(sample, folder / sample.name)
    for name, body in CSV_FILES.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


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
