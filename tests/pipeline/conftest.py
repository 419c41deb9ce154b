"""End-to-end fixtures: the crowd video produced as two cameras through the real CLI, the same
frames analysed directly with the model package, and a helper that runs a real consumer process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaConsumer, TopicPartition

from classpulse.emotions import EMOTIONS
from classpulse.topics import ensure_topic
from classpulse.wire import decode_jpeg, parse_message

REPO_ROOT = Path(__file__).resolve().parents[2]
# murmur2 puts these two keys on different partitions of a 2-partition topic
CAMERAS = ("cam-a", "cam-b")
CLASSROOM = "7B"
FPS = 5
FRAMES_PER_CAMERA = 21  # 4.2 s of video at 5 fps
# a picture in a log or a file: JPEG (raw, Python's repr, base64, hex; the JFIF header OpenCV
# writes), PNG (raw, base64), and numpy's repr of an array (a frame or a crop printed)
PICTURE_SIGNS = (b"\xff\xd8\xff", rb"\xff\xd8\xff", b"/9j/", b"ffd8ff", b"FFD8FF", b"JFIF",
                 b"\x89PNG", rb"\x89PNG", b"iVBORw0KGgo", b"array(")
FILE_SIGNS = (b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\x89PNG\r\n\x1a\n")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".npy"}


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
        ) -> subprocess.Popen[str]:
    """Start ``classpulse ARGS`` as a real process."""
    full_env = {**os.environ, "CLASSPULSE_LOG_LEVEL": "WARNING", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "classpulse", *args], cwd=cwd or REPO_ROOT,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err[-3000:]}"
    return out


def assert_no_picture(logged: bytes, root: Path) -> None:
    """No picture in ``logged`` (a run's output), and none under ``root``: no file that starts
    like a picture or is named like one, and no file that holds one."""
    for sign in PICTURE_SIGNS:
        assert sign not in logged, sign
    assert image_like_files(root) == []
    for path in (path for path in root.rglob("*") if path.is_file()):
        data = path.read_bytes()
        assert not [sign for sign in FILE_SIGNS if sign in data], path


def image_like_files(root: Path) -> list[Path]:
    """Files under ``root`` that start like a picture or are named like one."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        with path.open("rb") as fh:
            head = fh.read(8)
        magic = head.startswith((b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM"))
        if magic or path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
    return found


def consumer_args(bootstrap: str, topic: str, db_url: str, group: str,
                  idle_s: float = 6) -> list[str]:
    return ["consume", "--bootstrap-servers", bootstrap, "--topic", topic,
            "--database-url", db_url, "--group", group, "--device", "cpu",
            "--exit-when-idle", str(idle_s), "--max-lag", "86400", "--flush-interval", "1",
            "--backfill", "--duplicate-window", "90000",
            "--batch-frames", "8", "--max-poll-interval-ms", "15000"]


@dataclass(frozen=True)
class ProducedTopic:
    bootstrap: str
    topic: str
    messages: int
    expected: dict[tuple[str, int], dict[str, np.ndarray | int]]  # (camera, minute ms) -> sums


def produce_crowd(bootstrap: str, topic: str, video: Path, workdir: Path) -> None:
    """Each camera publishes the crowd video through its own ``classpulse produce --source``
    run (a config's file cameras must loop), at 960 px (the default, 1920, would make every
    consumer run here detect on 1011-px frames: 2.5 times the pixels, for the same exactly-once
    checks)."""
    ensure_topic(bootstrap, topic, partitions=2)
    for cam in CAMERAS:
        out = finish(cli("produce", "--source", str(video), "--camera", cam, "--classroom",
                         CLASSROOM, "--fps", str(FPS), "--max-side", "960", "--no-realtime",
                         "--bootstrap-servers", bootstrap, "--topic", topic))
        assert (f"camera={cam} published={FRAMES_PER_CAMERA} sent={FRAMES_PER_CAMERA} "
                "failed=0 dropped=0") in out


def read_topic(bootstrap: str, topic: str) -> list:
    """Every message of the topic, with a plain (group-less) consumer."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=3000)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    records = list(consumer)
    consumer.close()
    return records


def direct_expectation(records: list) -> dict[tuple[str, int], dict[str, np.ndarray | int]]:
    """Per (camera, minute) sums from the consumers' analysis (detector, readability gate,
    classifier, as ``classpulse consume`` builds them) run frame by frame, outside any consumer."""
    from classpulse.settings import Settings
    from consumers.analyze import FrameAnalyzer

    analyzer = FrameAnalyzer.load(Settings(device="cpu"))
    expected: dict[tuple[str, int], dict] = defaultdict(
        lambda: {"frames": 0, "frames_with_faces": 0, "faces": 0, "faces_read": 0,
                 "n": np.zeros(len(EMOTIONS), int), "p": np.zeros(len(EMOTIONS))})
    for record in records:
        message = parse_message(record.key, record.value, record.headers)
        [reading] = analyzer.analyze([decode_jpeg(message)])
        bucket = expected[(message.camera, message.captured_at_ms // 60_000 * 60_000)]
        bucket["frames"] += 1
        read = reading.probs
        if reading.faces:
            bucket["frames_with_faces"] += 1
            bucket["faces"] += reading.faces
            bucket["faces_read"] += len(read)
            bucket["n"] += np.bincount(read.argmax(1), minlength=len(EMOTIONS))
            bucket["p"] += read.sum(0)
    return dict(expected)


@pytest.fixture(scope="session")
def crowd_topic(kafka_bootstrap: str, shared_data: Path,
                tmp_path_factory: pytest.TempPathFactory) -> ProducedTopic:
    topic = "e2e.crowd"
    produce_crowd(kafka_bootstrap, topic, shared_data / "faces" / "crowd-1080p-25fps.mp4",
                  tmp_path_factory.mktemp("producer"))
    records = read_topic(kafka_bootstrap, topic)
    assert len(records) == len(CAMERAS) * FRAMES_PER_CAMERA
    return ProducedTopic(kafka_bootstrap, topic, len(records), direct_expectation(records))
