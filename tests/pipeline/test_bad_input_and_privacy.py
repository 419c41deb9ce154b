"""Garbage mixed into a real stream, and the privacy promise after a real run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaProducer
from sqlalchemy import create_engine, text

from classpulse.topics import ensure_topic
from classpulse.wire import encode_frame
from producers.sources import read_frames
from tests.fixtures.services import messages_held
from tests.pipeline.conftest import assert_no_picture, cli, consumer_args, finish

pytestmark = [pytest.mark.broker, pytest.mark.slow]

NOW_MS = int(time.time() * 1000)  # recent, so --max-lag keeps the real frames


def _many_scans(jpeg: bytes) -> bytes:
    """The picture, shrunk, as a progressive JPEG whose last scan comes 100 times: a decoder
    makes a pass over the whole picture for each (``classpulse.wire.MAX_JPEG_SCANS``)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).resize((96, 64)).save(buf, "JPEG", progressive=True)
    progressive = buf.getvalue()
    last_scan = progressive[progressive.rindex(b"\xff\xda"):-2]
    return progressive[:-2] + last_scan * 100 + progressive[-2:]


def _garbage(rng_seed: int, valid: tuple[bytes, bytes, list]) -> list[tuple]:
    """(key, value, headers, expected reason) for a few hundred malformed messages."""
    import random

    rng = random.Random(rng_seed)
    key, jpeg, headers = valid
    without = lambda name: [h for h in headers if h[0] != name]  # noqa: E731
    swap = lambda name, v: [(n, v if n == name else x) for n, x in headers]  # noqa: E731
    makers = [
        (lambda: (key, rng.randbytes(rng.randint(1, 3000)), headers), "not_jpeg"),
        (lambda: (key, jpeg[: rng.randint(10, len(jpeg) - 10)], headers), "truncated"),
        (lambda: (key, jpeg, without("captured_at")), "missing_header"),
        (lambda: (key, jpeg, swap("captured_at", b"yesterday")), "malformed_header"),
        (lambda: (key, jpeg, swap("v", b"9")), "unsupported_version"),
        (lambda: (b"someone-else", jpeg, headers), "key_mismatch"),
        (lambda: (key, b"", headers), "empty"),
        (lambda: (key, jpeg[:3] + b"\x00" * 400 + jpeg[-2:], headers), "undecodable"),
        (lambda: (key, _many_scans(jpeg), headers), "too_many_scans"),
    ]
    out = []
    for _ in range(240):
        make, reason = rng.choice(makers)
        out.append((*make(), reason))
    return out


def test_garbage_is_counted_by_reason_and_real_frames_all_count(
        kafka_bootstrap: str, shared_data: Path, migrated_sqlite_url: str) -> None:
    topic = "e2e.garbage"
    ensure_topic(kafka_bootstrap, topic, partitions=1)
    video = shared_data / "faces" / "crowd-1080p-25fps.mp4"
    frames = [f.rgb for f in read_frames(str(video))][::10]  # 11 real frames
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    valid = [encode_frame(rgb, camera="cam-g", classroom="7C", captured_at_ms=NOW_MS + i * 500,
                          seq=i, max_side=960) for i, rgb in enumerate(frames)]
    garbage = _garbage(3, valid[0])
    stream = [(*v, None) for v in valid] + garbage
    import random

    random.Random(5).shuffle(stream)
    for key, value, headers, _ in stream:
        producer.send(topic, key=key, value=value, headers=headers).get(timeout=10)
    producer.close()

    out = finish(cli(*consumer_args(kafka_bootstrap, topic, migrated_sqlite_url, "garbage")))
    assert f"frames={len(valid)} " in out
    engine = create_engine(migrated_sqlite_url)
    with engine.connect() as conn:
        frames_counted = conn.execute(text(
            "select sum(frames) from emotion_minutes where camera_id = 'cam-g'")).scalar_one()
        rejected = dict(conn.execute(text(
            "select reason, sum(count) from rejected_frames group by reason")).all())
    engine.dispose()
    assert frames_counted == len(valid)
    assert rejected == dict(Counter(reason for *_, reason in garbage))


def test_no_picture_survives_a_synthetic_run(kafka_bootstrap: str, migrated_sqlite_url: str,
                                             tmp_path: Path) -> None:
    """The shipped synthetic classroom through a real producer and a real consumer, both at
    DEBUG: no picture in their output, no picture in any file they leave. Needs no
    development data, so it never skips (tests/pipeline/test_end_to_end.py reads a real video).
    About 20 s, most of it the consumer's start (its networks load while the producer sends) and
    its joining the group."""
    topic = f"privacy.synthetic.{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, partitions=1)
    workdir, tmpdir, home = tmp_path / "work", tmp_path / "tmp", tmp_path / "home"
    for folder in (workdir, tmpdir, home):
        folder.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "HOME": str(home),
           "CLASSPULSE_LOG_LEVEL": "DEBUG"}

    def start(*args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "classpulse", *args], cwd=workdir,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    consumer = start(*consumer_args(kafka_bootstrap, topic, migrated_sqlite_url, "privacy-synth",
                                    idle_s=2))
    producer = start("produce", "--source", "synthetic:classroom", "--camera", "cam-s",
                     "--classroom", "7S", "--fps", "2", "--bootstrap-servers", kafka_bootstrap,
                     "--topic", topic)
    try:
        # a frame is in Kafka, so the producer stops on SIGTERM as it would in service
        assert messages_held(kafka_bootstrap, topic, quiet_s=60, most_s=60, enough=1) >= 1
        time.sleep(1)
        producer.send_signal(signal.SIGTERM)
        produced = producer.communicate(timeout=40)
        consumed = consumer.communicate(timeout=60)
    finally:
        for proc in (producer, consumer):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    logged = b"".join((*produced, *consumed))
    assert producer.returncode == 0, logged[-3000:]
    assert consumer.returncode == 0, logged[-3000:]
    sent = int(produced[0].decode().split(" sent=")[1].split()[0])
    assert sent > 0, produced
    assert f"frames={sent} ".encode() in consumed[0], logged[-3000:]  # every frame analysed ...
    assert b"DEBUG classpulse.db.writes: minute rows added" in logged  # ... with DEBUG on ...
    assert_no_picture(logged, tmp_path)  # ... and no picture written out
