"""--log-level reaches our packages only: libraries stay at WARNING even at our DEBUG
(kafka-python's DEBUG prints raw fetch responses, pictures included)."""

from __future__ import annotations

import logging

import pytest

from classpulse.cli import OWN_LOGGERS, configure_logging


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in OWN_LOGGERS}
    root.handlers.clear()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING"])
def test_libraries_never_log_below_warning(level: str, restore_logging) -> None:
    configure_logging(level)
    for library in ("kafka", "kafka.conn", "kafka.consumer.fetcher", "kafka.protocol.parser",
                    "urllib3.connectionpool", "alembic.runtime.migration", "PIL", "asyncio"):
        assert not logging.getLogger(library).isEnabledFor(logging.INFO), library
        assert logging.getLogger(library).isEnabledFor(logging.WARNING), library
    for ours in ("consumers.runner", "producers.publisher", "classpulse.db.writes", "model"):
        assert logging.getLogger(ours).getEffectiveLevel() == logging.getLevelName(level), ours
