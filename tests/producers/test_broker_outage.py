"""A broker that goes away and comes back while a producer runs: it recovers on its own and
reports what it had to drop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from classpulse.broker import EmbeddedBroker, free_port
from classpulse.topics import ensure_topic
from classpulse.wire import encode_frame
from producers.camera import run_cameras
from producers.cli import EXIT_INCOMPLETE, report
from producers.config import CameraConfig
from producers.publisher import Publisher, PublishStats
from tests.fixtures.services import messages_held

pytestmark = pytest.mark.broker


@pytest.mark.slow
def test_producer_survives_a_broker_restart(shared_data: Path) -> None:
    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    video = shared_data / "faces" / "crowd-1080p-25fps.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "classpulse", "produce", "--source", str(video), "--camera",
         "cam-r", "--classroom", "7B", "--fps", "4", "--loop", "--realtime", "--max-pending",
         "16", "--max-side", "320", "--bootstrap-servers", broker.bootstrap, "--topic", "restart",
         "--partitions", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)
        before = messages_held(broker.bootstrap, "restart", enough=10)
        assert before >= 10
        broker.stop()  # in-memory broker: everything it held is gone
        time.sleep(6)
        broker = EmbeddedBroker(port=port).start()
        time.sleep(10)
        after = messages_held(broker.bootstrap, "restart", enough=10)
        assert proc.poll() is None, "the producer must keep running through the outage"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
    assert proc.returncode == 0, err[-2000:]
    assert after >= 10, f"nothing arrived after the restart ({after}); stderr: {err[-2000:]}"
    m = re.search(r"camera=cam-r published=(\d+) sent=(\d+) failed=(\d+) dropped=(\d+) "
                  r"skipped=\S+ outages=\d+ pending=(\d+)", out)
    assert m, out
    published, sent, failed, dropped, pending = map(int, m.groups())
    assert published == sent + failed + pending  # a dropped frame was never published
    assert failed + dropped > 0, "frames published during the outage must be counted as lost"
    assert sent >= before + after  # at least the (up to 10 + 10) messages read back


def test_closing_while_the_broker_is_down_is_bounded_and_counts_the_pending_frames() -> None:
    """kafka-python's close flushes once more and raised KafkaTimeoutError, uncaught, when the
    broker was down at shutdown: `classpulse produce` ended with a traceback and no summary."""
    broker = EmbeddedBroker().start()
    try:
        ensure_topic(broker.bootstrap, "down", 1)
        publisher = Publisher(broker.bootstrap, "down")
        frames = [encode_frame(np.full((48, 64, 3), 90, np.uint8), camera="cam-d",
                               classroom="7D", captured_at_ms=1_780_000_000_000 + seq, seq=seq)
                  for seq in range(8)]
        for frame in frames[:3]:
            publisher.publish(*frame)
        publisher.flush(10)
        broker.stop()
        for frame in frames[3:]:
            publisher.publish(*frame)
        started = time.monotonic()
        publisher.close(timeout_s=1)
        took = time.monotonic() - started
    finally:
        broker.stop()
    assert took < 3
    assert publisher.stats("cam-d") == PublishStats(sent=3, failed=0, dropped=0, pending=5)
    # its sender thread stopped too (a producer replaced after a fatal error would leak it)
    deadline = time.monotonic() + 5
    while _network_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _network_threads()


def _network_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.endswith("-network-thread") and t.is_alive()]


def folder_of_two_frames(folder: Path) -> Path:
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 64, 3), 60 * i, np.uint8))
    return folder


def test_produce_stopped_while_the_broker_is_down_prints_its_summary(tmp_path: Path) -> None:
    """Ctrl-C (or compose's SIGTERM) with the broker gone: the frames in flight get
    --close-timeout to be acknowledged, then the summary says how many never were."""
    broker = EmbeddedBroker().start()
    ensure_topic(broker.bootstrap, "quit", 1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "classpulse", "produce", "--source",
         str(folder_of_two_frames(tmp_path / "frames")), "--camera", "cam-q", "--classroom", "7Q",
         "--fps", "10", "--loop", "--close-timeout", "2", "--bootstrap-servers",
         broker.bootstrap, "--topic", "quit"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert messages_held(broker.bootstrap, "quit", quiet_s=15, enough=5) >= 5
        broker.stop()
        time.sleep(2)  # about 20 more frames, handed to a producer that cannot deliver them
        assert proc.poll() is None
        stopping = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - stopping
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert took < 10
    m = re.fullmatch(r"camera=cam-q published=(\d+) sent=(\d+) failed=(\d+) dropped=(\d+) "
                     r"skipped=0 outages=0 pending=(\d+)", out.strip())
    assert m, out
    published, sent, failed, _dropped, pending = map(int, m.groups())
    assert sent >= 5 and pending >= 10
    assert published == sent + failed + pending  # a dropped frame was never published


def frame_of(camera: str, seq: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return encode_frame(np.full((48, 64, 3), 90, np.uint8), camera=camera, classroom="7F",
                        captured_at_ms=1_780_000_000_000 + seq, seq=seq)


def test_replacing_a_fatal_producer_blocks_neither_the_other_cameras_nor_close(
    caplog: pytest.LogCaptureFixture
) -> None:
    """The producer's lock was held while a camera connected the replacement, up to the connect
    timeout: every other camera, and close(), waited as long. Here the broker is away while
    camera a reconnects: camera b's frame is handed over at once (to fail with the old
    producer, counted), close() returns at once, and the producer connected once the broker is
    back, after close(), is closed at once rather than swapped in, leaving no thread behind."""
    from kafka.errors import KafkaError

    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    outcome: list[object] = []
    try:
        ensure_topic(broker.bootstrap, "fatal", 1)
        publisher = Publisher(broker.bootstrap, "fatal", connect_timeout_s=8)
        publisher.publish(*frame_of("cam-a", 0))
        publisher.flush(10)
        # the state kafka-python's idempotent producer enters when its broker lost its own
        # (test_producer_survives_a_broker_restart gets there for real, in 30 s)
        publisher._producer._transaction_manager.transition_to_fatal_error(KafkaError("lost"))
        broker.stop(timeout_s=0.2)  # killed: a graceful stop waits 5 s for the producer to go
        publisher.publish(*frame_of("cam-a", 1))
        deadline = time.monotonic() + 5
        while publisher.stats("cam-a").failed < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        camera_a = threading.Thread(target=lambda: outcome.append(
            publisher.publish(*frame_of("cam-a", 2))))
        with caplog.at_level("WARNING", logger="producers.publisher"):
            camera_a.start()
            while not any("replacing it" in r.getMessage() for r in caplog.records):
                time.sleep(0.02)
            started = time.monotonic()
            assert publisher.publish(*frame_of("cam-b", 0))
            publisher.close(timeout_s=1)
            took = time.monotonic() - started
            broker = EmbeddedBroker(port=port).start()
            camera_a.join(timeout=15)
    finally:
        broker.stop()
    assert took < 4  # not the 8 s connect timeout: close's 1 s, with room for a busy machine
    assert not camera_a.is_alive() and outcome == [False]  # sent to the closed producer: dropped
    assert publisher.stats("cam-a") == PublishStats(sent=1, failed=1, dropped=1, pending=0)
    assert publisher.stats("cam-b") == PublishStats(sent=0, failed=1, dropped=0, pending=0)
    deadline = time.monotonic() + 5
    while _network_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _network_threads()


def test_a_frame_kafka_refuses_to_take_frees_its_place_in_the_buffer(
    kafka_bootstrap: str
) -> None:
    """kafka-python's send raises TypeError or ValueError for a message it cannot take; its
    place among the max_pending unacknowledged frames was never given back, and after
    max_pending of them every frame of every camera was dropped for good."""
    ensure_topic(kafka_bootstrap, "refused", 1)
    publisher = Publisher(kafka_bootstrap, "refused", max_pending=2)
    key, value, headers = frame_of("cam-t", 0)
    try:
        for _ in range(3):
            with pytest.raises(TypeError, match=r"headers items must be \(str, bytes\)"):
                publisher.publish(key, value, [*headers, ("note", "not bytes")])
        assert publisher.pending() == 0
        assert publisher.publish(key, value, headers)
        publisher.flush(10)
    finally:
        publisher.close()
    assert publisher.stats("cam-t") == PublishStats(sent=1, failed=0, dropped=0, pending=0)


def test_a_live_camera_s_frame_is_dropped_when_the_buffer_is_full_and_a_file_s_waits(
    kafka_bootstrap: str
) -> None:
    """With the broker healthy, a frame finds the buffer full whenever frames come quicker than
    acknowledgements (linger, a round trip). A live camera's is dropped, as during an outage (a
    backlog of stale frames is worth less than fresh ones); a file sent once, flat out, lost most
    of its frames that way, so its frame waits for room, until its camera is stopped."""
    ensure_topic(kafka_bootstrap, "room", 1)
    publisher = Publisher(kafka_bootstrap, "room", max_pending=1)
    stop = threading.Event()
    try:
        assert publisher.publish(*frame_of("cam-v", 0))
        assert not publisher.publish(*frame_of("cam-v", 1))  # frame 0 not acknowledged yet
        started = time.monotonic()
        assert publisher.publish(*frame_of("cam-v", 2), wait=stop)
        waited = time.monotonic() - started
        publisher.flush(10)
        stop.set()
        assert publisher.publish(*frame_of("cam-v", 3), wait=stop)  # room: taken, stopped or not
        assert not publisher.publish(*frame_of("cam-v", 4), wait=stop)  # full, stopped: dropped
        publisher.flush(10)
    finally:
        publisher.close()
    assert waited < 2
    assert publisher.stats("cam-v") == PublishStats(sent=3, failed=0, dropped=2, pending=0)
    assert messages_held(kafka_bootstrap, "room", quiet_s=0.5) == 3


def test_a_file_whose_frames_were_lost_exits_3_and_published_counts_only_frames_kafka_took(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The broker gone while a folder (no --loop) is sent, with room for 2 unacknowledged
    frames: 2 are handed to Kafka and never acknowledged, 3 are dropped. `published` counted the
    dropped ones too (so published = sent + failed + dropped + pending held whatever was
    dropped), and the run exited 0 with 5 of its 5 frames lost. A folder sent once waits for
    room in the buffer while the broker acknowledges frames: here none is for the connect
    timeout (1 s), the broker counts as away, and the frames are dropped without waiting again."""
    broker = EmbeddedBroker().start()
    try:
        ensure_topic(broker.bootstrap, "lost", 1)
        publisher = Publisher(broker.bootstrap, "lost", max_pending=2, connect_timeout_s=1)
        publisher.publish(*frame_of("cam-w", 0))  # the topic's metadata, before the broker goes
        publisher.flush(10)
        broker.stop(timeout_s=0.2)
        folder = tmp_path / "frames"
        folder.mkdir()
        for i in range(5):
            cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
        camera = CameraConfig(id="cam-l", classroom="7L", source=str(folder), fps=20,
                              realtime=False)
        started = time.monotonic()
        results = run_cameras([camera], publisher, threading.Event())
        took = time.monotonic() - started
        publisher.close(timeout_s=0.5)
    finally:
        broker.stop()
    assert 1 <= took < 4  # one wait of the connect timeout, not one per frame
    stats = publisher.stats("cam-l")
    assert stats == PublishStats(sent=0, failed=0, dropped=3, pending=2)
    assert results["cam-l"].published == 2 == stats.sent + stats.failed + stats.pending
    assert report(results, publisher) == EXIT_INCOMPLETE
    out, err = capsys.readouterr()
    assert out == ("camera=cam-l published=2 sent=0 failed=0 dropped=3 skipped=0 outages=0 "
                   "pending=2\n")
    assert err == ("classpulse produce: camera 'cam-l' lost frames (failed=0 dropped=3 "
                   "pending=2); exiting with status 3\n")
    # a camera that runs until stopped (here the same folder, looped) loses frames in an
    # outage by design, counted: not a failed run
    looped = {"cam-l": replace(results["cam-l"], finite=False)}
    assert report(looped, publisher) == 0
    deadline = time.monotonic() + 5  # its sender gives up the frames once stopped
    while _network_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
