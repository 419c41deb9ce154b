"""The whole pipeline on real frames, a real broker and real PostgreSQL, including crashes.

The reference is the model package run directly on the very frames that went through Kafka: the
consumer must write exactly those counts, no matter how often it is killed or how the group is
rebalanced.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text

from classpulse.emotions import EMOTIONS
from consumers.config import ConsumerConfig
from tests.pipeline.conftest import (
    CAMERAS,
    CLASSROOM,
    REPO_ROOT,
    ProducedTopic,
    assert_no_picture,
    cli,
    consumer_args,
    finish,
)

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]


SESSION_TIMEOUT_S = ConsumerConfig.session_timeout_ms / 1000  # consumer_args leaves it as it is


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


def _assignments(log_file: Path) -> list[set[int]]:
    """The partitions of each assignment a consumer logged (at INFO), in order."""
    return [set(map(int, re.findall(r"(\d+):", found)))
            for found in re.findall(r"partitions assigned positions=\{([^}]*)\}",
                                    log_file.read_text())]


def _stop_once_all_committed(proc: subprocess.Popen[bytes], log_file: Path, db_url: str,
                             group: str, messages: int, not_before: float,
                             timeout_s: float = 300) -> None:
    """Wait until the group's stored offsets have passed every message and ``not_before``
    (``time.monotonic()``) has passed, then stop ``proc`` as a service manager would (SIGTERM):
    it must leave through its final flush, with status 0. Saves the test the consumer's idle wait
    (``--exit-when-idle``), which has to outlast a rebalance."""
    deadline = time.monotonic() + timeout_s
    while (sum(_offsets(db_url, group).values()) < messages
           or time.monotonic() < not_before):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"stored offsets {_offsets(db_url, group)} of {messages}, "
                        f"{not_before - time.monotonic():.0f} s before it could be stopped: "
                        f"exit {proc.returncode}\n{log_file.read_text()[-3000:]}")
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 0, log_file.read_text()[-3000:]


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


def test_a_clean_run_matches_direct_inference_and_leaves_no_picture(
        crowd_topic: ProducedTopic, migrated_pg_url: str, tmp_path: Path) -> None:
    """A consumer at DEBUG (the most a user can ask for), in a working folder, TMPDIR and HOME of
    its own: it writes exactly the model's counts, and no frame or face is in its output, in a
    file it leaves or in a column of the database."""
    workdir, tmpdir, home = tmp_path / "work", tmp_path / "tmp", tmp_path / "home"
    for folder in (workdir, tmpdir, home):
        folder.mkdir()
    env = {"TMPDIR": str(tmpdir), "HOME": str(home), "CLASSPULSE_LOG_LEVEL": "DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "classpulse", *consumer_args(
            crowd_topic.bootstrap, crowd_topic.topic, migrated_pg_url, "clean")],
        cwd=workdir, env={**os.environ, **env}, capture_output=True, timeout=300)
    out, logged = proc.stdout.decode(), proc.stdout + proc.stderr
    assert proc.returncode == 0, logged[-3000:]
    assert f"frames={crowd_topic.messages} " in out
    assert "rejected=none" in out
    assert_matches_direct_run(migrated_pg_url, crowd_topic)
    assert _offsets(migrated_pg_url, "clean") == {0: 21, 1: 21}

    assert b"DEBUG classpulse.db.writes: minute rows added" in logged  # our DEBUG is on ...
    assert_no_picture(logged, tmp_path)  # ... and no picture was written out
    engine = create_engine(migrated_pg_url)
    columns = [(t, c["name"], str(c["type"])) for t in inspect(engine).get_table_names()
               for c in inspect(engine).get_columns(t)]
    with engine.connect() as conn:
        binary = conn.execute(text(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'public' and data_type in ('bytea', 'oid')")).all()
    engine.dispose()
    assert binary == []
    assert not [c for c in columns if any(w in c[2].upper() for w in ("BLOB", "BYTEA", "BINARY"))]


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
    finish(cli(*args))  # from the stored offsets to the end, and out on --exit-when-idle
    assert_matches_direct_run(migrated_pg_url, crowd_topic)
    assert _offsets(migrated_pg_url, "crashy") == {0: 21, 1: 21}


def test_rebalance_after_one_of_two_consumers_is_killed(
        crowd_topic: ProducedTopic, migrated_pg_url: str, tmp_path: Path) -> None:
    """Two consumers share the topic's two partitions; one is SIGKILLed while it reads. Once its
    session times out, the survivor is given the victim's partition, reads it from the offset the
    victim stored (the beginning if none), and the database ends with exactly the direct run's
    counts."""
    args = consumer_args(crowd_topic.bootstrap, crowd_topic.topic, migrated_pg_url, "pair",
                         idle_s=20)
    log_file = tmp_path / "survivor.log"
    with log_file.open("w") as log_out:  # the survivor's log, read while it runs
        survivor = subprocess.Popen(
            [sys.executable, "-m", "classpulse", *args], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
            stderr=log_out, env={**os.environ, "CLASSPULSE_LOG_LEVEL": "INFO"})
    victim = cli(*args)
    deadline = time.monotonic() + 180
    while not [parts for parts in _assignments(log_file) if len(parts) == 1]:  # sharing
        assert survivor.poll() is None and victim.poll() is None, log_file.read_text()[-3000:]
        assert time.monotonic() < deadline, log_file.read_text()[-3000:]
        time.sleep(0.2)
    time.sleep(2)  # the victim reads its partition
    assert victim.poll() is None
    before = _assignments(log_file)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    _stop_once_all_committed(survivor, log_file, migrated_pg_url, "pair", crowd_topic.messages,
                             not_before=time.monotonic() + SESSION_TIMEOUT_S + 5)
    kept = before[-1]
    after = set().union(*_assignments(log_file)[len(before):])
    assert len(kept) == 1 and {0, 1} - kept <= after, _assignments(log_file)  # taken over
    assert_matches_direct_run(migrated_pg_url, crowd_topic)
    assert _offsets(migrated_pg_url, "pair") == {0: 21, 1: 21}
    assert len(CAMERAS) == 2
