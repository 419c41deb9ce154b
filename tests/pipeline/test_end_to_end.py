"""The whole pipeline on real frames, a real broker and real PostgreSQL, including crashes.

The reference is the model package run directly on the very frames that went through Kafka: the
consumer must write exactly those counts, no matter how often it is killed or how the group is
rebalanced.
"""

from __future__ import annotations

import random
import signal
import time

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from classpulse.emotions import EMOTIONS
from tests.pipeline.conftest import CAMERAS, CLASSROOM, ProducedTopic, cli, consumer_args, finish

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]


def _rows(db_url: str) -> dict[tuple[str, int], dict]:
    engine = create_engine(db_url)
    n_cols = ", ".join(f"n_{e}" for e in EMOTIONS)
    p_cols = ", ".join(f"p_{e}" for e in EMOTIONS)
    with engine.connect() as conn:
        result = conn.execute(text(
            f"select camera_id, classroom_id, minute_start, frames, frames_with_faces, faces, "
            f"engagement_sum, {n_cols}, {p_cols}, faces_read from emotion_minutes"))
        rows = {}
        for r in result:
            k = len(EMOTIONS)
            rows[(r[0], int(r[2].timestamp() * 1000))] = {
                "classroom": r[1], "frames": r[3], "frames_with_faces": r[4], "faces": r[5],
                "engagement_sum": r[6], "n": np.array(r[7:7 + k]),
                "p": np.array(r[7 + k:7 + 2 * k]), "faces_read": r[7 + 2 * k]}
    engine.dispose()
    return rows


def _offsets(db_url: str, group: str) -> dict[int, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        got = dict(conn.execute(text(
            "select partition, next_offset from consumer_offsets where group_id = :g"),
            {"g": group}).all())
    engine.dispose()
    return got


def assert_matches_direct_run(db_url: str, produced: ProducedTopic) -> None:
    rows = _rows(db_url)
    assert set(rows) == set(produced.expected)
    for key, want in produced.expected.items():
        got = rows[key]
        assert got["classroom"] == CLASSROOM
        assert (got["frames"], got["frames_with_faces"], got["faces"], got["faces_read"]) == (
            want["frames"], want["frames_with_faces"], want["faces"], want["faces_read"]), key
        assert got["n"].tolist() == want["n"].tolist(), key
        np.testing.assert_allclose(got["p"], want["p"], atol=1e-3)
    total = sum(r["frames"] for r in rows.values())
    assert total == produced.messages
    assert sum(r["faces"] for r in rows.values()) > 0, "the crowd video has faces"


def test_clean_run_matches_direct_inference(crowd_topic: ProducedTopic, migrated_pg_url: str
                                            ) -> None:
    out = finish(cli(*consumer_args(crowd_topic.bootstrap, crowd_topic.topic, migrated_pg_url,
                                    "clean")))
    assert f"frames={crowd_topic.messages} " in out
    assert "rejected=none" in out
    assert_matches_direct_run(migrated_pg_url, crowd_topic)
    assert _offsets(migrated_pg_url, "clean") == {0: 21, 1: 21}


def test_sigkill_at_random_points_neither_loses_nor_doubles(
        crowd_topic: ProducedTopic, migrated_pg_url: str) -> None:
    """Three consumers in a row are SIGKILLed at a random moment after they committed something
    (so every kill lands mid-stream, between or during flushes); a fourth finishes the job."""
    rng = random.Random(7)
    args = consumer_args(crowd_topic.bootstrap, crowd_topic.topic, migrated_pg_url, "crashy")
    args[args.index("--batch-frames") + 1] = "4"  # more, smaller commits to land kills between
    progress = [0]
    for _ in range(3):
        proc = cli(*args)
        deadline = time.monotonic() + 300
        while (sum(_offsets(migrated_pg_url, "crashy").values()) <= progress[-1]
               and proc.poll() is None and time.monotonic() < deadline):
            time.sleep(0.2)
        time.sleep(rng.uniform(0.0, 1.5))
        assert proc.poll() is None, "the consumer finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        progress.append(sum(_offsets(migrated_pg_url, "crashy").values()))
    assert progress[1] < progress[2] < progress[3] < crowd_topic.messages, progress
    finish(cli(*args))
    assert_matches_direct_run(migrated_pg_url, crowd_topic)
    assert _offsets(migrated_pg_url, "crashy") == {0: 21, 1: 21}


def test_rebalance_after_one_of_two_consumers_is_killed(
        crowd_topic: ProducedTopic, migrated_pg_url: str) -> None:
    args = consumer_args(crowd_topic.bootstrap, crowd_topic.topic, migrated_pg_url, "pair",
                         idle_s=20)
    survivor, victim = cli(*args), cli(*args)
    time.sleep(9)
    assert victim.poll() is None
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    finish(survivor, timeout=400)
    assert_matches_direct_run(migrated_pg_url, crowd_topic)
    assert _offsets(migrated_pg_url, "pair") == {0: 21, 1: 21}
    assert len(CAMERAS) == 2
