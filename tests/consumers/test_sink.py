"""The sink's transaction: buckets and offsets commit together, and a stale owner's flush is
rolled back whole (no double counting after a rebalance)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from classpulse.db.engine import make_engine
from classpulse.db.writes import FrameConflict, MinuteRow, OffsetConflict, OffsetMove
from consumers.sink import Commit, DatabaseSink

MINUTE = datetime(2026, 5, 28, 9, 0, tzinfo=timezone.utc)


def _row(frames: int, faces: int) -> MinuteRow:
    n = (0, 0, 0, faces, 0, 0, 0)
    p = (0.0, 0.0, 0.0, 0.7 * faces, 0.0, 0.0, 0.3 * faces)
    return MinuteRow("cam-a", "7B", MINUTE, frames, min(frames, faces), faces, n, p, 0.42 * faces)


def _totals(engine) -> tuple:
    with engine.connect() as conn:
        return conn.execute(text(
            "select frames, faces, n_happy, engagement_sum from emotion_minutes "
            "where camera_id = 'cam-a'")).one()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest):
    url = request.getfixturevalue(
        "migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url")
    eng = make_engine(url)
    yield eng
    eng.dispose()


def test_flushes_add_up_and_offsets_advance(engine) -> None:
    sink = DatabaseSink(engine, "g", "frames")
    sink.write(Commit([_row(3, 5)], [(MINUTE, "unknown", "not_jpeg", 2)],
                      {0: OffsetMove(None, 10)}))
    sink.write(Commit([_row(2, 1)], [(MINUTE, "unknown", "not_jpeg", 1)],
                      {0: OffsetMove(10, 14), 1: OffsetMove(None, 3)}))
    assert tuple(_totals(engine)) == pytest.approx((5, 6, 6, 0.42 * 6))
    assert sink.stored_offsets([0, 1, 2]) == {0: 14, 1: 3}
    with engine.connect() as conn:
        assert conn.execute(text("select count from rejected_frames")).scalar_one() == 3


def test_stale_owner_flush_is_rolled_back_whole(engine) -> None:
    sink = DatabaseSink(engine, "g", "frames")
    sink.write(Commit([_row(3, 5)], [], {0: OffsetMove(None, 10)}))
    new_owner = DatabaseSink(engine, "g", "frames")
    new_owner.write(Commit([_row(4, 4)], [], {0: OffsetMove(10, 20)}))
    with pytest.raises(OffsetConflict):  # the old owner still believes partition 0 is at 10
        sink.write(Commit([_row(4, 4)], [(MINUTE, "cam-a", "stale", 1)], {0: OffsetMove(10, 20)}))
    assert tuple(_totals(engine)) == pytest.approx((7, 9, 9, 0.42 * 9))
    assert sink.stored_offsets([0]) == {0: 20}
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from rejected_frames")).scalar_one() == 0


def test_two_first_owners_cannot_both_insert_an_offset(engine) -> None:
    first = Commit([_row(1, 1)], [], {5: OffsetMove(None, 2)})
    DatabaseSink(engine, "g", "frames").write(first)
    with pytest.raises(OffsetConflict):
        DatabaseSink(engine, "g", "frames").write(first)
    assert tuple(_totals(engine))[:2] == (1, 1)


def test_a_frame_counted_on_two_partitions_counts_once(engine) -> None:
    """Two copies of one frame (camera, captured_at, seq) on two partitions, counted by two
    consumers that each knew nothing of the other's: the second flush is a conflict, rolled back
    whole, so the consumer re-reads ``seen_frames`` and drops its copy when it reads it again."""
    key = ("cam-a", int(MINUTE.timestamp() * 1000) + 500, 7)
    DatabaseSink(engine, "g", "frames").write(
        Commit([_row(1, 1)], [], {0: OffsetMove(None, 1)}, seen=[key]))
    other = DatabaseSink(engine, "g", "frames")
    with pytest.raises(FrameConflict, match=r"camera 'cam-a' captured_at \d+ seq 7"):
        other.write(Commit([_row(1, 1)], [], {1: OffsetMove(None, 1)},
                           seen=[key, ("cam-a", key[1] + 500, 8)]))
    assert tuple(_totals(engine))[:2] == (1, 1)
    assert other.stored_offsets([0, 1]) == {0: 1}
    assert other.seen_frames() == [key]
    assert issubclass(FrameConflict, OffsetConflict)  # the checkpoint's CONFLICT: a reload


@pytest.mark.parametrize("one_by_one", [False, True], ids=["returning", "one-by-one"])
def test_both_ways_of_storing_keys_name_the_keys_that_went_in(engine, one_by_one: bool) -> None:
    """RETURNING from many rows needs SQLite 3.35; older ones (Debian 11, Ubuntu 20.04) store the
    keys one INSERT at a time. Either way a key already stored is told apart from a new one."""
    from classpulse.db.models import SeenFrame
    from classpulse.db.writes import _insert_new

    if one_by_one and engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL always returns rows from many; only an old SQLite goes one by one")
    table = SeenFrame.__table__
    rows = [{"camera_id": "cam-a", "captured_at_ms": t, "seq": s} for t, s in ((1000, 1),
                                                                               (2000, 2))]
    with engine.begin() as conn:
        assert _insert_new(conn, table, rows[:1], one_by_one) == {("cam-a", 1000, 1)}
        assert _insert_new(conn, table, rows, one_by_one) == {("cam-a", 2000, 2)}
        assert conn.execute(text("select count(*) from seen_frames")).scalar_one() == 2
