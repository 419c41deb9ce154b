"""A camera's log lines carry its source as one line of text, whoever wrote the source.

No broker: the worker's source fails before a frame reaches the publisher.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

import producers.camera
from classpulse.redact import hide_password
from producers.camera import CameraWorker
from producers.config import CameraConfig
from producers.sources import SourceError, SourceFrame

FORGED = "\x1b[2J\n2025-01-01 12:00:00 INFO producers.camera camera back camera=cam-z"


class StopAtFirstWait(threading.Event):
    """The worker's stop event: set at the first backoff, so an outage is logged once."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


@pytest.mark.parametrize(("source", "shown", "line"), [
    # a stream: an outage, retried
    (f"rtsp://admin:s3cret@cam.example/live{FORGED}",
     "rtsp://admin:***@cam.example/live\\x1b[2J\\n2025-01-01 12:00:00 INFO producers.camera "
     "camera back camera=cam-z", "camera outage"),
    # a file without --loop: it stops
    (f"/videos/7A{FORGED}.mp4",
     "/videos/7A\\x1b[2J\\n2025-01-01 12:00:00 INFO producers.camera camera back "
     "camera=cam-z.mp4", "camera stopped"),
    # letters of any script, and a bidirectional override that would reverse what follows
    ("/videos/Klassenzimmer-Müller/\u202emp4.evil", "/videos/Klassenzimmer-Müller/\\u202emp4.evil",
     "camera stopped"),
], ids=["stream", "file", "unicode"])
def test_a_source_reaches_the_log_as_one_line_of_text(
    source: str, shown: str, line: str, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """An rtsp URL holding ``\\x1b[2J`` and a newline cleared the terminal and forged a log line
    ("camera back") in the outage's; the error repeats the source, and is escaped the same."""
    def failing(src: str, folder_fps: float, unreadable: set[Path], whole: bool,
                skipped: Callable[[Path], None]) -> Iterator[SourceFrame]:
        # the real sources' contract: the password hidden, the rest as written
        raise SourceError(f"{hide_password(src)} stopped delivering frames")
        yield  # a generator, like the real sources

    monkeypatch.setattr(producers.camera, "read_frames", failing)
    camera = CameraConfig(id="cam-z", classroom="7Z", source=source, fps=5)
    worker = CameraWorker(camera, publisher=None, stop=StopAtFirstWait())  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="producers.camera"):
        worker.start()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert worker.result().died is None
    [message] = [r.getMessage() for r in caplog.records]
    assert "\x1b" not in message and "\n" not in message and "\u202e" not in message
    assert "s3cret" not in message
    assert message.startswith(f"{line} camera=cam-z source={shown} error=")


def test_a_frame_due_past_what_a_lock_can_wait_is_waited_for_without_an_error(
    tmp_path: Path
) -> None:
    """A paced frame due further ahead than threading.TIMEOUT_MAX (about 292 years) raised
    OverflowError from the stop event's wait, and the camera's worker died. The flags no longer
    let a rate make such a wait; a clock that jumps (here: back by 30,000 years) still could.
    The wait is cut to what a lock can wait, and the stop still ends it."""
    (tmp_path / "f").mkdir()
    cv2.imwrite(str(tmp_path / "f" / "a.png"), np.full((48, 64, 3), 90, np.uint8))
    readings = iter([1e12, 1e12])  # the sampler's start and the pacing's origin, then 0

    def jumping() -> float:
        return next(readings, 0.0)

    stop = threading.Event()
    camera = CameraConfig(id="cam-j", classroom="7J", source=str(tmp_path / "f"), fps=5)
    worker = CameraWorker(camera, publisher=None, stop=stop,  # type: ignore[arg-type]
                          monotonic=jumping)
    worker.start()
    time.sleep(0.3)
    stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert (worker.result().died, worker.result().published) == (None, 0)
