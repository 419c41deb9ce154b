"""A camera never dies silently: a bad frame is skipped and counted, a dead worker ends the process.

The real ``classpulse produce`` on real image folders, publishing to the session's embedded broker.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

import producers.camera
from classpulse.topics import ensure_topic
from producers.camera import CameraResult, CameraWorker, run_cameras
from producers.cli import EXIT_INCOMPLETE, report
from producers.config import CameraConfig
from producers.publisher import Publisher
from producers.sources import SourceError, SourceFrame
from tests.fixtures.services import messages_held
from tests.producers.test_camera_pacing import Clocks, RecordingPublisher, run_worker
from tests.producers.videos import (
    cut_short,
    cut_video,
    folder_of_jpegs,
    grey,
    index_of,
    oversized_png,
)

pytestmark = pytest.mark.broker


def folder_of_frames(folder: Path, noisy: int) -> Path:
    """Two ordinary frames and ``noisy`` frames of 3000x3000 noise, too big as JPEG for Kafka's
    1 MB message limit even at quality 30 when --max-side lets them through."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    smooth = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    for name in ("a", "c"):
        cv2.imwrite(str(folder / f"{name}.jpg"), cv2.merge([smooth] * 3))
    for i in range(noisy):
        noise = rng.integers(0, 256, (3000, 3000, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"b{i}.jpg"), noise, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return folder


def produce(folder: Path, bootstrap: str, topic: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "classpulse", "produce", "--source", str(folder), "--camera",
         "cam-f", "--classroom", "7C", "--max-side", "4096", "--bootstrap-servers", bootstrap,
         "--topic", topic, "--partitions", "1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_an_oversize_frame_is_skipped_and_counted_and_the_camera_goes_on(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    topic = f"oversize-{uuid.uuid4().hex[:8]}"
    proc = produce(folder_of_frames(tmp_path / "frames", noisy=1), kafka_bootstrap, topic,
                   "--fps", "20", "--no-realtime")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert ("camera=cam-f published=2 sent=2 failed=0 dropped=0 skipped=unencodable:1 "
            "outages=0") in out
    assert err.count("frame skipped camera=cam-f reason=unencodable") == 1
    assert ("is 2483656 bytes as JPEG, over the 1000000-byte limit; lower max_side (--max-side, "
            "or max_side: in cameras.yaml)") in err
    assert messages_held(kafka_bootstrap, topic) == 2


class PublisherWithABug(Publisher):
    """The real publisher, with a bug injected at its ``fail_at``-th frame of camera ``cam-f``:
    an exception no per-frame rule knows, as a bug anywhere in a camera's path would raise."""

    fail_at = 3
    calls = 0  # cam-f's publish calls; only cam-f's thread counts them

    def publish(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]],
                wait: threading.Event | None = None) -> bool:
        if key == b"cam-f":
            self.calls += 1
            if self.calls >= self.fail_at:
                raise RuntimeError("injected bug")
        return super().publish(key, value, headers, wait)


def test_a_camera_whose_worker_dies_stops_all_cameras_and_the_exit_status_is_1(
    tmp_path: Path, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"dies-{uuid.uuid4().hex[:8]}"
    folder = folder_of_frames(tmp_path / "frames", noisy=0)
    cameras = [CameraConfig(id=cam, classroom="7C", source=str(folder), fps=4, loop=True)
               for cam in ("cam-f", "cam-g")]
    ensure_topic(kafka_bootstrap, topic, 1)
    publisher = PublisherWithABug(kafka_bootstrap, topic)
    stop = threading.Event()
    started = time.monotonic()
    results = run_cameras(cameras, publisher, stop)  # the healthy camera would loop forever
    took = time.monotonic() - started
    publisher.close()
    assert took < 10 and stop.is_set()
    dead, alive = results["cam-f"], results["cam-g"]
    assert dead.died == "RuntimeError: injected bug" and dead.published == 2
    assert alive.died is None and alive.published >= 2
    assert report(results, publisher) == 1
    err = capsys.readouterr().err
    assert err.rstrip().splitlines()[-1] == (
        "classpulse produce: camera 'cam-f' stopped: RuntimeError: injected bug; exiting with "
        "status 1 so that a supervisor restarts the cameras")
    assert report({"cam-g": alive}, publisher) == 0


def test_a_looped_source_that_fails_is_reopened_and_its_outage_counted_once(
    tmp_path: Path, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A looped camera whose source cannot be opened (a share not mounted yet) keeps retrying
    with backoff, and publishes once the source is there. (Without --loop a source that fails
    ends its camera: test_a_file_camera_whose_source_is_gone_ends_in_one_line.)"""
    topic = f"outage-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "frames"  # not there yet
    camera = CameraConfig(id="cam-o", classroom="7C", source=str(folder), fps=20, loop=True)
    ensure_topic(kafka_bootstrap, topic, 1)
    publisher = Publisher(kafka_bootstrap, topic)
    stop = threading.Event()
    worker = CameraWorker(camera, publisher, stop)
    with caplog.at_level("INFO", logger="producers.camera"):
        worker.start()
        time.sleep(2.5)  # tries at 0, 1 and 3 s: the first two fail
        folder_of_frames(tmp_path / "staged", noisy=0).rename(folder)
        deadline = time.monotonic() + 10
        while worker.result().published < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        worker.join(timeout=10)
    publisher.close()
    assert not worker.is_alive()
    result = worker.result()
    assert result.published >= 2
    assert (result.outages, result.died, result.source_lost, dict(result.skipped)) == (
        1, None, None, {})
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("camera outage camera=cam-o") for m in messages) == 1
    assert sum(m == "camera back camera=cam-o" for m in messages) == 1
    assert messages_held(kafka_bootstrap, topic) == result.published


def test_a_file_camera_whose_source_is_gone_ends_in_one_line(
    tmp_path: Path, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder (or video) without --loop that went away after the start was retried for ever:
    a run with an end never ended, and said so only as an outage. Now the camera ends, in one
    line, the other cameras go on, and the exit status says the run is incomplete."""
    topic = f"gone-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    gone = CameraConfig(id="cam-x", classroom="7C", source=str(tmp_path / "unmounted"),
                        fps=20, realtime=False)
    there = CameraConfig(id="cam-y", classroom="7C", fps=20, realtime=False,
                         source=str(folder_of_frames(tmp_path / "frames", noisy=0)))
    publisher = Publisher(kafka_bootstrap, topic)
    done: list[dict[str, CameraResult]] = []
    runner = threading.Thread(target=lambda: done.append(
        run_cameras([gone, there], publisher, threading.Event())))
    with caplog.at_level("INFO", logger="producers.camera"):
        runner.start()
        runner.join(timeout=5)
    publisher.close()
    assert not runner.is_alive(), "a file camera whose source is gone must end"
    lost, kept = done[0]["cam-x"], done[0]["cam-y"]
    why = f"cannot open file '{tmp_path / 'unmounted'}'"
    assert (lost.published, lost.outages, lost.died, lost.source_lost) == (0, 0, None, why)
    assert (kept.published, kept.source_lost) == (2, None)
    assert [r.getMessage() for r in caplog.records if r.levelname != "INFO"] == [
        f"camera stopped camera=cam-x source={tmp_path / 'unmounted'} error={why} (a file or "
        "folder without --loop is not reopened)"]
    assert report(done[0], publisher) == EXIT_INCOMPLETE
    assert capsys.readouterr().err == (
        f"classpulse produce: camera 'cam-x' stopped before its end: {why}; exiting with status "
        "3\n")


def test_a_video_cut_short_ends_its_camera_as_incomplete(
    tmp_path: Path, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recording still being copied (half its bytes) ended at its last readable frame as if
    complete: 29 of its 60 frames sent, exit status 0. Sent once, it now ends its camera as
    incomplete, the frames it had sent and no more; looped, it starts over after what it has."""
    topic = f"cut-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    cut = cut_video(tmp_path, 0.5)
    full = cut.with_name("full.avi")
    publisher = Publisher(kafka_bootstrap, topic)
    once = {name: CameraConfig(id=name, classroom="7C", source=str(path), fps=10, realtime=False)
            for name, path in (("cam-cut", cut), ("cam-full", full))}
    looped = CameraConfig(id="cam-loop", classroom="7D", source=str(cut), fps=10, realtime=False,
                          loop=True)
    done = run_cameras(list(once.values()), publisher, threading.Event())
    stop = threading.Event()
    worker = CameraWorker(looped, publisher, stop)
    worker.start()
    time.sleep(0.5)
    stop.set()
    worker.join(5)
    publisher.close()
    why = (f"video file '{cut}' ended after 29 of the 60 frames its container announces, at "
           "2.8 s: it is cut short or unreadable from there (a copy not finished?); if it plays "
           "to its end elsewhere, the container's count is wrong and nothing was lost")
    assert (done["cam-cut"].published, done["cam-cut"].source_lost) == (29, why)
    assert (done["cam-full"].published, done["cam-full"].source_lost) == (60, None)
    assert report(done, publisher) == EXIT_INCOMPLETE
    assert capsys.readouterr().err == (
        f"classpulse produce: camera 'cam-cut' stopped before its end: {why}; exiting with "
        "status 3\n")
    result = worker.result()
    assert (result.outages, result.source_lost, result.died) == (0, None, None)
    assert result.published > 29  # past the cut, from the start again


class BackoffsSeen(threading.Event):
    """The worker's stop event, noting every wait instead of sleeping through it, and set at the
    ``limit``-th: a worker whose source is not paced waits on it only to back off."""

    def __init__(self, limit: int = 1000) -> None:
        super().__init__()
        self.limit = limit
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout if timeout is not None else float("inf"))
        if len(self.waits) >= self.limit:
            self.set()
        return self.is_set()


class FakeMonotonic:
    """A monotonic clock that a test moves."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def test_a_live_camera_backs_off_while_it_flaps_and_starts_over_once_it_ran_steadily(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webcam opened four times: it fails after 3 frames (0.36 s), after 3 frames again, after
    4 frames 11 s apart (33 s), and runs on the fourth time. Each failure is an outage, counted
    and logged, and each reopening a "camera back". The backoff grows while the camera flaps
    (before, the first frame reset it to 1 s: a camera that fails after every frame logged an
    outage and its end every second, forever) and starts over at 1 s after 30 s of frames."""
    topic = f"live-outages-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    stop = BackoffsSeen()
    clock = FakeMonotonic()
    runs = [(3, 0.12), (3, 0.12), (4, 11.0), (3, 0.12)]  # (frames, seconds between them)
    opened: list[int] = []

    def webcam(src: str, folder_fps: float, unreadable: set[Path], whole: bool,
               skipped: Callable[[Path], None]) -> Iterator[SourceFrame]:
        """The real sources' contract for a webcam: frames without a position, SourceError when
        it stops delivering; the fourth time it is opened, it runs until the test is over."""
        frames, gap_s = runs[len(opened)]
        opened.append(1)
        for _ in range(frames):
            clock.now_s += gap_s
            yield SourceFrame(np.full((48, 64, 3), 120, np.uint8), None)
        if len(opened) == len(runs):
            stop.set()
            return
        raise SourceError(f"webcam {src!r} stopped delivering frames")

    monkeypatch.setattr(producers.camera, "read_frames", webcam)
    camera = CameraConfig(id="cam-w", classroom="7W", source="0", fps=10)
    publisher = Publisher(kafka_bootstrap, topic)
    worker = CameraWorker(camera, publisher, stop, monotonic=clock)
    with caplog.at_level("INFO", logger="producers.camera"):
        worker.start()
        worker.join(timeout=30)
    publisher.close()
    assert not worker.is_alive()
    result = worker.result()
    assert (result.published, result.outages, result.died, dict(result.skipped)) == (
        13, 3, None, {})
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("camera outage camera=cam-w") for m in messages) == 3
    assert sum(m == "camera back camera=cam-w" for m in messages) == 3
    assert stop.waits == [1.0, 2.0, 1.0]
    assert messages_held(kafka_bootstrap, topic) == 13


def test_a_live_stream_that_stalls_under_an_outage_is_logged_each_time(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream that stops sending for 12 s and comes back raised no error (FFmpeg waits 30 s
    before it reports one): its frames were lost without a line. A silence over 5 s is logged,
    with its length and the count so far; one of 4.9 s, an outage's own gap, and the steady 6 s
    of a slow camera are not (each of its frames was logged as a stall)."""
    topic = f"stalls-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    stop = threading.Event()
    clock = FakeMonotonic()
    gaps = [[0.1, 0.1, 12.0, 0.1, 4.9, 0.1], [40.0, 0.1, 6.0]]  # a pass each, an outage between

    def webcam(src: str, folder_fps: float, unreadable: set[Path], whole: bool,
               skipped: Callable[[Path], None]) -> Iterator[SourceFrame]:
        for gap_s in gaps.pop(0):
            clock.now_s += gap_s
            yield SourceFrame(np.full((48, 64, 3), 120, np.uint8), None)
        if not gaps:
            stop.set()
            return
        raise SourceError(f"webcam {src!r} stopped delivering frames")

    monkeypatch.setattr(producers.camera, "read_frames", webcam)
    monkeypatch.setattr(stop, "wait", lambda timeout=None: stop.is_set())  # no backoff sleep
    worker, stalls = _stalls_logged(kafka_bootstrap, caplog, topic, stop, clock, fps=10)
    assert worker.result().outages == 1
    assert stalls == [
        f"camera stalled camera=cam-t source=0 for_s={gap:.1f} stalls={n} (the source sent no "
        "frame for that long: those seconds have none)" for n, gap in ((1, 12.0), (2, 6.0))]


@pytest.mark.parametrize(("gaps", "stalls"), [
    ([6.0] * 10 + [19.0] + [6.0] * 3, [6.0, 19.0]),  # a slow camera: its first gap, then a stall
    ([12.0, 1.0, 1.0], [12.0]),  # right after the first frame
    ([1.0, 10.0, 1.0, 25.0], [10.0, 25.0]),  # a second soon after a first
    ([1.0, 4.9, 14.0], [14.0]),
], ids=["slow-camera", "first-gap", "two-stalls", "after-a-long-gap"])
def test_a_stall_is_judged_against_the_source_s_own_pace(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
    gaps: list[float], stalls: list[float],
) -> None:
    """A camera that steadily sends a frame every 6 s (fps 1) had each frame logged as a stall,
    its frames said lost; judged against the last gap alone, a second stall soon after a first
    went unsaid. (Gaps of a second at least: the camera's sampler keeps a frame a second.)"""
    topic = f"pace-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    stop = threading.Event()
    clock = FakeMonotonic()

    def webcam(src: str, folder_fps: float, unreadable: set[Path], whole: bool,
               skipped: Callable[[Path], None]) -> Iterator[SourceFrame]:
        yield SourceFrame(np.full((48, 64, 3), 120, np.uint8), None)
        for gap_s in gaps:
            clock.now_s += gap_s
            yield SourceFrame(np.full((48, 64, 3), 120, np.uint8), None)
        stop.set()

    monkeypatch.setattr(producers.camera, "read_frames", webcam)
    _, logged = _stalls_logged(kafka_bootstrap, caplog, topic, stop, clock, fps=1)
    assert [float(line.split("for_s=")[1].split()[0]) for line in logged] == stalls


def _stalls_logged(kafka_bootstrap: str, caplog: pytest.LogCaptureFixture, topic: str,
                   stop: threading.Event, clock: FakeMonotonic, fps: float
                   ) -> tuple[CameraWorker, list[str]]:
    """Run camera cam-t (webcam 0, monotonic ``clock``) until it stops; it and its stall lines."""
    publisher = Publisher(kafka_bootstrap, topic)
    worker = CameraWorker(CameraConfig(id="cam-t", classroom="7T", source="0", fps=fps),
                          publisher, stop, monotonic=clock)
    with caplog.at_level("WARNING", logger="producers.camera"):
        worker.start()
        worker.join(timeout=10)
    publisher.close()
    assert not worker.is_alive()
    return worker, [r.getMessage() for r in caplog.records if "stalled" in r.getMessage()]


def test_a_looped_folder_with_no_decodable_image_backs_off(
    tmp_path: Path, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Its passes yielded no frame and ended normally: the loop started over at once, at full
    CPU, logging every image each pass. Now a pass without a frame is an outage."""
    topic = f"undecodable-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (folder / name).write_bytes(b"not a JPEG")
    camera = CameraConfig(id="cam-u", classroom="7U", source=str(folder), fps=10, loop=True,
                          realtime=False)
    stop = BackoffsSeen(limit=4)
    publisher = Publisher(kafka_bootstrap, topic)
    worker = CameraWorker(camera, publisher, stop)
    with caplog.at_level("INFO"):
        worker.start()
        worker.join(timeout=10)
    publisher.close()
    assert not worker.is_alive()
    assert stop.waits == [1.0, 2.0, 4.0, 8.0]
    result = worker.result()
    assert (result.published, result.outages, result.died) == (0, 1, None)
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("skipping unreadable image") for m in messages) == 2
    outages = [m for m in messages if m.startswith("camera outage camera=cam-u")]
    assert len(outages) == 1 and "holds no image OpenCV can decode (2 unreadable)" in outages[0]


class PutBack(threading.Event):
    """The worker's stop event: the first backoff's wait (1 s; a paced frame's wait here is a
    tenth of that, and sleeps) runs ``put_back`` instead of sleeping, so that the source is there
    again when the worker retries."""

    def __init__(self, put_back: Callable[[], None]) -> None:
        super().__init__()
        self.put_back: Callable[[], None] | None = put_back

    def wait(self, timeout: float | None = None) -> bool:
        if self.put_back is None or timeout is None or timeout < 1.0:
            return super().wait(timeout)
        self.put_back, put_back = None, self.put_back
        put_back()
        return self.is_set()


@pytest.mark.parametrize("realtime", [False, True], ids=["flat-out", "paced"])
def test_a_looped_folder_retried_after_an_outage_sends_it_again_from_its_first_image(
    realtime: bool, tmp_path: Path, kafka_bootstrap: str
) -> None:
    """A looped folder moved away after its 2nd image (a share unmounted) and back during the
    3 s of backoff is read again from its first image. The sampler still stood past the failed
    pass's last slot, so the retried pass dropped its first two images unsent: 0 1, 2 3, 0 1 ...
    where a loop sends 0 1 2 3 after each pass. Paced, the images after the outage are paced
    from the first, not sent at once as late by the outage."""
    topic = f"retry-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), grey(i))
    clocks = Clocks()

    def put_back() -> None:
        (tmp_path / "away").rename(folder)
        clocks.monotonic_step_s += 3.0  # the backoff, as the worker's clock sees it

    stop = PutBack(put_back)
    publisher = RecordingPublisher(kafka_bootstrap, topic, clocks, after={
        2: lambda: folder.rename(tmp_path / "away"), 6: stop.set})
    camera = CameraConfig(id="cam-r", classroom="7R", source=str(folder), fps=10, loop=True,
                          realtime=realtime)
    worker = CameraWorker(camera, publisher, stop, clock=clocks.time, monotonic=clocks.monotonic)
    worker.start()
    worker.join(timeout=10)
    publisher.close()
    assert not worker.is_alive()
    assert [index_of(value) for value in publisher.values] == [0, 1, 0, 1, 2, 3]
    result = worker.result()
    assert (result.published, result.outages, dict(result.skipped)) == (6, 1, {})
    if realtime:
        sent = [at for _, _, at in publisher.seen]
        assert all(0.07 < b - a < 0.5 for a, b in pairwise(sent[2:])), sent


def test_a_host_clock_at_1970_skips_frames_as_clock_logged_once_saying_what_to_do(
    tmp_path: Path, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A machine booted without a real-time clock or network time reads 1970: every frame was
    skipped as `unencodable`, with the wire format's "captured_at_ms=... out of range" as the
    only hint, which points at the frame instead of the host."""
    topic = f"clock-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    camera = CameraConfig(id="cam-k", classroom="7K", realtime=False,
                          source=str(folder_of_frames(tmp_path / "frames", noisy=0)))
    publisher = Publisher(kafka_bootstrap, topic)
    worker = CameraWorker(camera, publisher, threading.Event(), clock=lambda: 12.5)
    with caplog.at_level("WARNING", logger="producers.camera"):
        worker.start()
        worker.join(timeout=10)
    publisher.close()
    result = worker.result()
    assert (result.published, dict(result.skipped)) == (0, {"clock": 2})
    assert [r.getMessage() for r in caplog.records if r.name == "producers.camera"] == [
        "frame skipped camera=cam-k reason=clock error=this host's clock reads 1970-01-01 "
        "00:00:12 UTC, outside 2000-2099, and every frame is stamped with it: set the clock "
        "(turn on network time, e.g. `timedatectl set-ntp true`); frames are sent again once "
        "it is right"]
    # a folder sent once whose every frame was skipped is no success (it exited 0)
    assert report({"cam-k": result}, publisher) == EXIT_INCOMPLETE


@pytest.mark.parametrize(("skipped", "status", "said"), [
    ({"unencodable": 1}, 0, None),
    ({"publisher": 1}, EXIT_INCOMPLETE, "publisher=1"),
    ({"opencv": 2}, EXIT_INCOMPLETE, "opencv=2"),
    ({"clock": 3, "unencodable": 1}, EXIT_INCOMPLETE, "clock=3"),
    ({"unreadable": 1, "publisher": 2}, EXIT_INCOMPLETE, "publisher=2 unreadable=1"),
])
def test_a_run_with_an_end_that_skipped_frames_exits_3_unless_the_skip_was_deliberate(
    skipped: dict[str, int], status: int, said: str | None, kafka_bootstrap: str,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Only failed, dropped and pending frames made a file or folder sent once incomplete: frames
    skipped because the publisher could not reconnect, OpenCV failed or the clock was wrong left
    its exit status 0. ``unencodable`` (too big for Kafka even at quality 30; its log line says
    to lower --max-side) is a deliberate skip and leaves it complete. A camera that runs until
    stopped never sets the status."""
    topic = f"skips-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    publisher = Publisher(kafka_bootstrap, topic)
    once = CameraResult("cam-s", published=4, skipped=skipped, finite=True, reached_end=True)
    try:
        assert report({"cam-s": once}, publisher) == status
        assert report({"cam-s": replace(once, finite=False)}, publisher) == 0
    finally:
        publisher.close()
    summary = f"skipped={','.join(f'{k}:{n}' for k, n in sorted(skipped.items()))}"
    out, err = capsys.readouterr()
    assert out.count(f"camera=cam-s published=4 sent=0 failed=0 dropped=0 {summary} ") == 2
    assert err == ("" if said is None else f"classpulse produce: camera 'cam-s' skipped frames "
                                           f"({said}); exiting with status 3\n")


def test_a_folder_sent_once_with_unreadable_images_counts_them_and_exits_3(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """An image OpenCV cannot decode was skipped with a warning and the run exited 0, an image
    short; a JPEG cut short (a copy not finished) was decoded with its missing rows grey and
    sent as a good frame; a PNG too large for OpenCV (it raises, where it returns None for no
    image) ended the command at start in a traceback. All are skipped as ``unreadable``,
    counted in the summary, and the run is incomplete."""
    topic = f"unreadable-{uuid.uuid4().hex[:8]}"
    paths = folder_of_jpegs(tmp_path / "frames", 5)
    oversized_png(tmp_path / "frames" / "00-big.png")  # the first image read, at start too
    cut_short(paths[1])
    paths[3].write_bytes(b"not an image")
    proc = produce(tmp_path / "frames", kafka_bootstrap, topic, "--fps", "20", "--no-realtime")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INCOMPLETE, err[-2000:]
    assert out.strip() == ("camera=cam-f published=3 sent=3 failed=0 dropped=0 "
                           "skipped=unreadable:3 outages=0 pending=0")
    assert err.rstrip().splitlines()[-1] == (
        "classpulse produce: camera 'cam-f' skipped frames (unreadable=3); exiting with status 3")
    assert err.count("skipping unreadable image") == 3
    assert messages_held(kafka_bootstrap, topic, quiet_s=0.5) == 3


@pytest.mark.parametrize("mishap", ["images broken", "folder moved"])
def test_a_folder_sent_once_that_breaks_during_the_run_ends_incomplete(
    mishap: str, tmp_path: Path, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once the first image is sent, two of the images still to come are deleted and cut short,
    or the whole folder is moved away (an unmounted share). Each image was skipped with a
    warning, and the run exited 0: with the folder gone, 1 of its 6 images sent. Now broken
    images are counted as skipped, and a folder gone ends its camera as lost."""
    topic = f"mishap-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    folder = tmp_path / "frames"
    paths = folder_of_jpegs(folder, 6)

    def mishap_happens() -> None:
        if mishap == "images broken":
            paths[2].unlink()
            cut_short(paths[3])
        else:
            folder.rename(tmp_path / "moved")

    clocks = Clocks()
    publisher = RecordingPublisher(kafka_bootstrap, topic, clocks, after={1: mishap_happens})
    camera = CameraConfig(id="cam-m", classroom="7M", source=str(folder), fps=20, realtime=False)
    result = run_worker(camera, publisher, clocks).result()
    assert report({"cam-m": result}, publisher) == EXIT_INCOMPLETE
    err = capsys.readouterr().err
    if mishap == "images broken":
        assert (result.published, dict(result.skipped), result.source_lost,
                result.reached_end) == (4, {"unreadable": 2}, None, True)
        assert err == ("classpulse produce: camera 'cam-m' skipped frames (unreadable=2); "
                       "exiting with status 3\n")
    else:
        why = (f"folder {str(folder)!r} went away after 1 of its 6 images (moved, deleted or "
               "unmounted)")
        assert (result.published, dict(result.skipped), result.source_lost,
                result.reached_end) == (1, {}, why, False)
        assert err == (f"classpulse produce: camera 'cam-m' stopped before its end: {why}; "
                       "exiting with status 3\n")
    assert messages_held(kafka_bootstrap, topic, quiet_s=0.5) == result.published


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_folder_sent_once_and_stopped_half_way_exits_3(
    signum: signal.Signals, tmp_path: Path, kafka_bootstrap: str
) -> None:
    """Ctrl-C, or compose's SIGTERM, half-way through a folder sent once: the run exited 0, as if
    every image had been sent, and a script importing recorded footage took it for done."""
    topic = f"stopped-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    folder_of_jpegs(tmp_path / "frames", 8)
    proc = produce(tmp_path / "frames", kafka_bootstrap, topic, "--fps", "2")  # paced: 4 s
    try:
        assert messages_held(kafka_bootstrap, topic, quiet_s=10, enough=2) >= 2
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_INCOMPLETE, err[-2000:]
    sent = re.fullmatch(r"camera=cam-f published=(\d) sent=\1 failed=0 dropped=0 skipped=0 "
                        r"outages=0 pending=0", out.strip())
    assert sent and 2 <= int(sent[1]) < 8, out
    assert err.rstrip().splitlines()[-1] == (
        "classpulse produce: camera 'cam-f' was stopped before its end (SIGINT or SIGTERM); "
        "exiting with status 3")


def test_a_folder_sent_flat_out_waits_for_the_broker_instead_of_dropping_frames(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """--no-realtime sends as fast as the broker takes the frames; it sent faster: frames beyond
    --max-pending unacknowledged were dropped although the broker was healthy (280 of 300 at
    --max-pending 2), and the run exited 3. A file or folder sent once now waits for room while
    the broker acknowledges frames (a live camera still drops: tests/producers/
    test_broker_outage.py)."""
    topic = f"flat-out-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(150):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((48, 64, 3), i, np.uint8))
    proc = produce(folder, kafka_bootstrap, topic, "--fps", "60", "--no-realtime",
                   "--max-pending", "2")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert out.strip() == ("camera=cam-f published=150 sent=150 failed=0 dropped=0 skipped=0 "
                           "outages=0 pending=0")
    assert "publishing degraded" not in err
    assert messages_held(kafka_bootstrap, topic, quiet_s=0.5) == 150
