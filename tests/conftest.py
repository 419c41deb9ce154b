"""Fixtures shared by every test area: real services (broker, PostgreSQL, SQLite) and data paths."""

import pytest

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.db"]


@pytest.fixture(autouse=True)
def _core_dump_limit_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """``classpulse.cli.main`` turns core dumps off for its whole process, for good: the tests
    that call it in this process would turn them off for the test run, and
    tests/classpulse/test_core_dumps.py could no longer show the real entry point doing it in a
    child (started from here, it could not be given a limit to lower). Every ``classpulse`` run
    in a child process does it for real."""
    monkeypatch.setattr("classpulse.cli.disable_core_dumps", lambda: None)
