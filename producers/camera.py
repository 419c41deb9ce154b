"""One camera's loop: source -> sampler -> JPEG encoder -> publisher, with retries on outages."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from classpulse.wire import DEFAULT_MAX_BYTES, encode_frame
from producers.config import CameraConfig
from producers.publisher import Publisher
from producers.sampler import Sampler
from producers.sources import SourceError, is_live, read_frames, redact_source

log = logging.getLogger(__name__)


class CameraWorker(threading.Thread):
    """Publishes one camera until its file ends (without ``loop``) or ``stop`` is set.

    A source that fails (RTSP cut, unreadable file) is reopened with exponential backoff; the outage
    is logged once when it starts and once when it ends, and never affects other cameras.
    """

    def __init__(self, camera: CameraConfig, publisher: Publisher, stop: threading.Event,
                 max_bytes: int = DEFAULT_MAX_BYTES, clock: Callable[[], float] = time.time,
                 max_backoff_s: float = 30.0) -> None:
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.camera = camera
        self.publisher = publisher
        self.stop = stop
        self.max_bytes = max_bytes
        self.clock = clock
        self.max_backoff_s = max_backoff_s
        self.published = 0
        self.outages = 0

    def run(self) -> None:
        cam = self.camera
        anchor_ms = int(self.clock() * 1000)
        sampler = Sampler(cam.fps, anchor_ms, self.clock)
        backoff = 1.0
        in_outage = False
        while not self.stop.is_set():
            try:
                self._stream(sampler, anchor_ms)
            except SourceError as exc:
                if not in_outage:
                    in_outage = True
                    self.outages += 1
                    log.warning("camera outage camera=%s source=%s error=%s; retrying with backoff",
                                cam.id, redact_source(cam.source), exc)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            if in_outage:
                log.info("camera back camera=%s", cam.id)
                in_outage, backoff = False, 1.0
            if is_live(cam.source):
                continue  # a live stream that ended cleanly is reopened
            if not cam.loop:
                return
            sampler.start_loop()

    def _stream(self, sampler: Sampler, anchor_ms: int) -> None:
        cam = self.camera
        pace = cam.realtime and not is_live(cam.source)
        for frame in sampler.sample(read_frames(cam.source, folder_fps=cam.fps)):
            if self.stop.is_set():
                return
            if pace:
                delay = (anchor_ms + frame.timeline_ms) / 1000.0 - self.clock()
                if delay > 0 and self.stop.wait(delay):
                    return
            key, value, headers = encode_frame(
                frame.rgb, camera=cam.id, classroom=cam.classroom,
                captured_at_ms=frame.captured_at_ms, seq=self.published,
                max_side=cam.max_side, jpeg_quality=cam.jpeg_quality, max_bytes=self.max_bytes,
            )
            self.publisher.publish(key, value, headers)
            self.published += 1


def run_cameras(cameras: list[CameraConfig], publisher: Publisher, stop: threading.Event,
                report_every_s: float = 60.0) -> dict[str, int]:
    """Run one worker per camera until all finish or ``stop`` is set; return frames published."""
    workers = [CameraWorker(cam, publisher, stop) for cam in cameras]
    for worker in workers:
        worker.start()
    last_report = time.monotonic()
    while any(w.is_alive() for w in workers) and not stop.is_set():
        stop.wait(0.2)
        if time.monotonic() - last_report >= report_every_s:
            last_report = time.monotonic()
            for w in workers:
                s = publisher.stats(w.camera.id)
                log.info("camera=%s published=%d sent=%d failed=%d dropped=%d pending=%d",
                         w.camera.id, w.published, s.sent, s.failed, s.dropped,
                         publisher.pending())
    stop.set()
    for worker in workers:
        worker.join(timeout=10)
    return {w.camera.id: w.published for w in workers}
