"""The checkpoint's decision on a log's end, without a broker: a real database holds the offset,
the ends are what fetches would have reported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from classpulse.db.engine import make_engine
from classpulse.db.writes import OffsetMove
from consumers.checkpoint import Checkpoint
from consumers.metrics import ConsumerMetrics
from consumers.sink import Commit, DatabaseSink

TOPIC = "frames"


@pytest.fixture
def engine(migrated_sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_sqlite_url)
    yield engine
    engine.dispose()


def checkpoint_at(engine: Engine, stored: int, buffered_to: int) -> Checkpoint:
    """Partition 0 stored at ``stored`` and read on, uncommitted, to ``buffered_to``."""
    sink = DatabaseSink(engine, "g", TOPIC)
    sink.write(Commit([], [], {0: OffsetMove(None, stored)}))
    checkpoint = Checkpoint(sink, TOPIC, 600_000, ConsumerMetrics(), clock=lambda: 1.7e9)
    assert checkpoint.assign([0]) == {0: stored}
    checkpoint.advance(0, buffered_to)
    return checkpoint


def no_beginnings(partitions: list[int]) -> dict[int, int]:
    raise AssertionError(f"asked for the beginnings of {partitions}: no reset here")


def test_an_end_below_the_buffered_records_only_is_no_reset(engine: Engine) -> None:
    """A fetch brings records below the end it reports, so an end that fell below records already
    read is a lagging end (a new partition leader's), not a new log: restarting at the log's
    beginning read it all again. The position stays."""
    checkpoint = checkpoint_at(engine, stored=100, buffered_to=120)
    assert checkpoint.check_log_ends({0: 110}, no_beginnings) == {}
    assert checkpoint.position(0) == 120
    assert checkpoint.check_log_ends({0: 100}, no_beginnings) == {}


def test_an_end_below_the_stored_offset_is_a_reset_found_once(engine: Engine) -> None:
    checkpoint = checkpoint_at(engine, stored=100, buffered_to=120)
    assert checkpoint.check_log_ends({0: 90}, lambda partitions: {0: 0}) == {0: 0}
    assert checkpoint.position(0) == 0
    assert checkpoint.metrics.registry.get_sample_value(
        "classpulse_log_resets_total", {"partition": "0"}) == 1
    # until the reset is committed, the position is the new log's: not found again
    assert checkpoint.check_log_ends({0: 90}, no_beginnings) == {}
