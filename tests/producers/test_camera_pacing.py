"""A file paced like a live camera: paced on the monotonic clock, each frame stamped with the wall
clock when it is sent. Real folders of images, the real worker and publisher, the session's broker.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from classpulse.topics import ensure_topic
from producers.camera import CameraWorker, run_cameras
from producers.cli import report
from producers.config import CameraConfig
from producers.publisher import Publisher
from tests.fixtures.services import messages_held
from tests.producers.videos import grey_video, index_of, served, snapshots

pytestmark = pytest.mark.broker


class Clocks:
    """The worker's wall and monotonic clocks: the real ones, moved by the steps a test makes."""

    def __init__(self) -> None:
        self.wall_step_s = 0.0
        self.monotonic_step_s = 0.0

    def time(self) -> float:
        return time.time() + self.wall_step_s

    def monotonic(self) -> float:
        return time.monotonic() + self.monotonic_step_s


class RecordingPublisher(Publisher):
    """The real publisher, noting for each frame its stamp, the worker's wall clock and the real
    monotonic time when it was handed over (``seen``), and its JPEG (``values``); ``after[i]``
    runs once the i-th frame (from 1) is."""

    def __init__(self, bootstrap: str, topic: str, clocks: Clocks,
                 after: dict[int, Callable[[], None]] | None = None) -> None:
        super().__init__(bootstrap, topic)
        self.clocks = clocks
        self.after = after or {}
        self.seen: list[tuple[int, float, float]] = []
        self.values: list[bytes] = []

    def publish(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]],
                wait: threading.Event | None = None) -> bool:
        self.seen.append((int(dict(headers)["captured_at"]), self.clocks.time() * 1000,
                          time.monotonic()))
        self.values.append(value)
        sent = super().publish(key, value, headers, wait)
        self.after.get(len(self.seen), lambda: None)()
        return sent


def folder_of(folder: Path, images: int) -> str:
    folder.mkdir()
    for i in range(images):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((48, 64, 3), 5 * i, np.uint8))
    return str(folder)


def run_worker(camera: CameraConfig, publisher: Publisher, clocks: Clocks) -> CameraWorker:
    worker = CameraWorker(camera, publisher, threading.Event(), clock=clocks.time,
                          monotonic=clocks.monotonic)
    worker.start()
    worker.join(timeout=20)
    publisher.close()
    assert not worker.is_alive()
    return worker


def test_a_paced_file_survives_clock_steps_and_a_stall(
    tmp_path: Path, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Six images at 4 fps. After the 2nd frame NTP steps the wall clock back five minutes: the
    3rd frame used to wait those five minutes, silently. After the 4th the worker stalls 10 s
    (as the monotonic clock sees it): the 5th is sent at once, and the pacing starts over from it
    instead of sending every late frame in a burst. Every frame is stamped with the wall clock
    when sent; before, the stamps stayed on the timeline of the start, minutes off the clock
    after a step, and falling behind it with each stall until consumers refused them as stale."""
    topic = f"paced-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    clocks = Clocks()

    def step_back() -> None:
        clocks.wall_step_s = -300.0

    def stall() -> None:
        clocks.monotonic_step_s = 10.0

    publisher = RecordingPublisher(kafka_bootstrap, topic, clocks, after={2: step_back, 4: stall})
    camera = CameraConfig(id="cam-p", classroom="7P", source=folder_of(tmp_path / "f", 6), fps=4)
    with caplog.at_level("WARNING", logger="producers.camera"):
        worker = run_worker(camera, publisher, clocks)
    assert worker.result().published == 6
    stamps, walls, sent = zip(*publisher.seen, strict=True)
    # stamped with the wall clock (taken just before the JPEG encoding), the step back included
    assert all(-1 < wall - stamp < 500 for stamp, wall in zip(stamps, walls, strict=True))
    assert stamps[2] - stamps[1] == pytest.approx(-300_000 + 250, abs=200)
    gaps = [b - a for a, b in pairwise(sent)]
    assert gaps[1] < 1  # not the five minutes of the step back
    assert 0.15 < gaps[4] < 1  # after the stall: paced again (0.25 s), not sent in a burst
    behind = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith("camera behind its file's timeline camera=cam-p")]
    assert len(behind) == 1
    late_s = float(re.search(r"late_s=(\S+)", behind[0])[1])  # the stall less the 0.25 s slot
    assert late_s == pytest.approx(9.75, abs=0.3)


def test_a_file_sent_flat_out_is_stamped_when_sent(tmp_path: Path, kafka_bootstrap: str) -> None:
    """40 s of slides sent in a moment: on their own timeline the last frames would be 40 s ahead
    of the clock, past a consumer's allowance for clock skew (30 s), and refused as future."""
    topic = f"flat-out-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    clocks = Clocks()
    publisher = RecordingPublisher(kafka_bootstrap, topic, clocks)
    camera = CameraConfig(id="cam-n", classroom="7N", source=folder_of(tmp_path / "f", 40), fps=1,
                          realtime=False)
    started_ms = time.time() * 1000
    worker = run_worker(camera, publisher, clocks)
    assert worker.result().published == 40
    stamps = [stamp for stamp, _, _ in publisher.seen]
    assert started_ms - 1 <= stamps[0] <= stamps[-1] <= time.time() * 1000 + 1
    assert stamps == sorted(stamps)


def test_a_recorded_video_served_over_http_is_paced_and_sent_once(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """An http(s) URL was live by its name, whatever it served: a recorded lesson on a web server
    was decoded flat out, the sampler kept its first frames only (on the clock, its minute lasted
    milliseconds), and at its end it was reopened for ever, an outage each time. Its capture
    announces a frame count, which a live stream's never does: it is sent as a video file is,
    paced on its own timeline, once."""
    topic = f"http-file-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    grey_video(tmp_path / "lesson.avi", 20)  # 2 s at 10 fps
    clocks = Clocks()
    publisher = RecordingPublisher(kafka_bootstrap, topic, clocks)
    with served(tmp_path) as base:
        camera = CameraConfig(id="cam-h", classroom="7H", source=f"{base}lesson.avi", fps=5)
        worker = run_worker(camera, publisher, clocks)
    result = worker.result()
    assert (result.published, result.outages, result.finite, result.reached_end,
            result.source_lost) == (10, 0, True, True, None)
    assert [index_of(value) for value in publisher.values] == list(range(0, 20, 2))
    sent = [at for _, _, at in publisher.seen]
    assert 1.6 < sent[-1] - sent[0] < 3  # nine 0.2 s periods: paced, not flat out
    assert report({"cam-h": result}, publisher) == 0
    assert messages_held(kafka_bootstrap, topic, quiet_s=0.5) == 10


def test_a_looped_recording_served_over_http_is_paced_even_without_realtime(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """The command line refuses --loop --no-realtime for a file, not for a URL, which it cannot
    know serves one: such a camera published 5,492 frames in 3 s, each stamped now, outweighing
    every other camera of its classroom. A looped recording is paced however it is named."""
    topic = f"http-loop-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    grey_video(tmp_path / "lesson.avi", 20)  # 2 s at 10 fps
    clocks = Clocks()
    publisher = RecordingPublisher(kafka_bootstrap, topic, clocks)
    stop = threading.Event()
    with served(tmp_path) as base:
        camera = CameraConfig(id="cam-l", classroom="7L", source=f"{base}lesson.avi", fps=5,
                              loop=True, realtime=False)
        worker = CameraWorker(camera, publisher, stop, clock=clocks.time,
                              monotonic=clocks.monotonic)
        worker.start()
        time.sleep(1.5)
        stop.set()
        worker.join(timeout=10)
    publisher.close()
    assert not worker.is_alive()
    assert 5 <= worker.result().published <= 10  # 1.5 s at 5 fps, not flat out


def test_a_recording_named_as_a_camera_of_a_camera_file_ends_with_a_warning(
    tmp_path: Path, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A cameras.yaml camera whose URL serves a recorded video ends at its end; the only line
    said so at INFO, yet the camera is gone from its classroom and each restart of the producer
    sends it again. From a camera file it is a WARNING naming the fix; sent once with --source,
    an INFO."""
    topic = f"http-end-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    grey_video(tmp_path / "lesson.avi", 5)  # 0.5 s at 10 fps
    publisher = Publisher(kafka_bootstrap, topic)
    with served(tmp_path) as base, caplog.at_level("INFO", logger="producers.camera"):
        for camera_file in (True, False):
            camera = CameraConfig(id="cam-e", classroom="7E", source=f"{base}lesson.avi",
                                  fps=10)
            result = run_cameras([camera], publisher, threading.Event(),
                                 camera_file=camera_file)["cam-e"]
            assert (result.published, result.reached_end) == (5, True)
    publisher.close()
    ended = [(r.levelname, r.getMessage()) for r in caplog.records
             if r.getMessage().startswith("camera ended")]
    assert [level for level, _ in ended] == ["WARNING", "INFO"]
    assert "give the camera loop: true" in ended[0][1] and base in ended[0][1]


def test_a_snapshot_url_keeps_its_camera_running(kafka_bootstrap: str) -> None:
    """A snapshot URL (each GET a fresh JPEG, one frame to FFmpeg) was sent as a one-frame
    recording and its camera ended after one picture. Live, it is reopened for the next
    picture (each reopen an outage, backing off up to 30 s) until stopped."""
    topic = f"snapshot-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    publisher = Publisher(kafka_bootstrap, topic)
    stop = threading.Event()
    with snapshots() as url:
        worker = CameraWorker(CameraConfig(id="cam-s", classroom="7S", source=url, fps=5),
                              publisher, stop)
        worker.start()
        deadline = time.monotonic() + 5
        while worker.result().published < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the first picture, then a reopen after 1 s
        alive = worker.is_alive()
        stop.set()
        worker.join(timeout=10)
    publisher.close()
    result = worker.result()
    assert alive
    assert (result.published, result.finite, result.reached_end) == (2, False, False)
    assert messages_held(kafka_bootstrap, topic, quiet_s=0.5) == 2
