"""One camera's loop: source -> sampler -> JPEG encoder -> publisher, with retries on outages.

What can go wrong, and what happens:

- a live source fails (webcam unplugged, RTSP cut), or a looped file or folder does (a folder
  that cannot be listed or holds no decodable image, OpenCV failing to read): an outage,
  reopened with backoff (a file or folder from its first frame, its timeline continued);
- a live source sends nothing for a while without failing: a stall, logged each time;
- a file or folder without ``loop`` fails (deleted, unmounted, a folder moved away): the camera
  ends there, logged in one line and kept in :attr:`CameraResult.source_lost`, and
  ``classpulse produce`` exits non-zero; reopened, it would start over from its first frame, and
  retried, a file that is gone kept a run that has an end running for ever;
- a file or folder without ``loop`` is stopped (SIGINT, SIGTERM) before its end: its
  :attr:`CameraResult.reached_end` stays False, and ``classpulse produce`` exits non-zero, as
  for frames lost: an import cut short must not report success;
- one frame fails (too big as JPEG even at low quality, an OpenCV error while encoding, the
  publisher unable to reconnect to Kafka, a host clock outside 2000-2099), or one image of a
  folder cannot be read (deleted, cut short, not an image): that frame is counted by reason and
  skipped (all but ``unencodable``, a deliberate skip, make a run with an end incomplete);
- anything else is a bug: the camera's worker stops with the reason in its
  :class:`CameraResult`, :func:`run_cameras` stops every camera, and ``classpulse produce`` exits
  with status 1 so a supervisor (compose's ``restart:``, systemd) starts the process again,
  instead of running on with one camera fewer and exiting 0.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from classpulse.errors import UsageError
from classpulse.redact import hide_password
from classpulse.safe_text import safe_text
from classpulse.wire import DEFAULT_MAX_BYTES, encode_frame, in_time_range
from producers.config import CameraConfig
from producers.publisher import Publisher
from producers.sampler import SampledFrame, Sampler
from producers.sources import SourceError, is_live, read_frames

log = logging.getLogger(__name__)


class ClockOutOfRange(Exception):
    """The host's clock reads a time the wire format cannot carry (not 2000-2099): a machine
    booted without a real-time clock or network time reads 1970."""


# why a single frame was skipped (the camera goes on): the exception types and their reason,
# the first that matches
FRAME_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (ClockOutOfRange, "clock"),
    (ValueError, "unencodable"),  # e.g. over the broker's message limit even at low quality
    (cv2.error, "opencv"),
    (UsageError, "publisher"),  # e.g. the publisher could not reconnect to Kafka in time
)
# a folder's image that could not be read (producers.sources: deleted, cut short, no image)
UNREADABLE = "unreadable"
# skips a camera makes on purpose, which leave its run complete: a frame too big for Kafka even
# at low quality is documented as skipped (lower --max-side), not lost to a fault
DELIBERATE_SKIPS = frozenset({"unencodable"})
# how long all workers together get to stop once asked (one may be blocked reading its source);
# compose.yaml's producer stop_grace_period leaves room for it
WORKERS_STOP_TIMEOUT_S = 10.0
# the longest wait between two tries to reopen a failed source: a camera back from an outage is
# sending again within half a minute, and a source that stays down costs one attempt per 30 s
MAX_BACKOFF_S = 30.0
# how long a reopened source must deliver frames before its next outage starts the backoff over
# at 1 s: a stream that flaps (a frame, then a failure) backs off up to MAX_BACKOFF_S instead of
# logging an outage and its end every second
STEADY_S = 30.0
# how long a live source may send no frame (and more than two of its camera's periods and twice
# its own pace, :meth:`CameraWorker._note_stall`) before the gap is logged as a stall: FFmpeg
# waits up to 30 s for a stream that stops sending before it reports an outage, and a shorter
# silence lost its frames without a word
STALL_S = 5.0
# how many of a live source's last gaps between frames make its pace (:meth:`_note_stall`)
PACE_GAPS = 8
# how far a paced file may fall behind its timeline (a slow decode, a busy CPU, an outage) before
# its pacing starts over from the frame at hand, instead of sending every late frame at once
LATE_S = 5.0


@dataclass(frozen=True)
class CameraResult:
    """What one camera's worker did, read once it has stopped."""

    camera: str
    published: int  # frames the publisher took (handed to Kafka); those it dropped are not
    skipped: Mapping[str, int] = field(default_factory=dict)  # frames skipped, by reason
    outages: int = 0
    died: str | None = None  # why the worker stopped unexpectedly; None when it ended as it should
    # a file or folder without loop: a run with an end, whose every frame should reach Kafka
    finite: bool = False
    source_lost: str | None = None  # why such a source ended its camera before its end
    reached_end: bool = False  # such a source was read to its end, not stopped before it

    def lost_skips(self) -> dict[str, int]:
        """The frames skipped for a reason that makes a run with an end incomplete: all but
        :data:`DELIBERATE_SKIPS`."""
        return {reason: n for reason, n in sorted(self.skipped.items())
                if n and reason not in DELIBERATE_SKIPS}


class CameraWorker(threading.Thread):
    """Publishes one camera until its file ends (without ``loop``) or ``stop`` is set.

    A live or looped source that fails (RTSP cut, a looped folder gone) is reopened with
    exponential backoff; a file or folder without ``loop`` that fails ends the camera. The outage
    is logged once when it starts and once when it ends, at the first frame from the reopened
    source (a live one never ends normally, it fails again); it never affects other cameras. The
    backoff (up to :data:`MAX_BACKOFF_S`) starts over at 1 s only when the reopened source had
    delivered frames for :data:`STEADY_S` before failing again. A frame that fails is skipped and
    counted (:data:`FRAME_FAILURES`); the first of each reason is logged.

    A paced file is paced on ``monotonic``, which no NTP step moves; every frame is stamped with
    ``clock`` (the wall clock) when it is sent, its capture time as a live camera's would be.
    Its counts change only under its lock, and other threads read them only through
    :meth:`result`, a copy taken under the same lock.
    """

    def __init__(self, camera: CameraConfig, publisher: Publisher, stop: threading.Event,
                 max_bytes: int = DEFAULT_MAX_BYTES, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 camera_file: bool = False) -> None:
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.camera = camera
        # from a cameras.yaml, whose producer a supervisor restarts after any exit
        self.camera_file = camera_file
        self.publisher = publisher
        self.stop = stop
        self.max_bytes = max_bytes
        self.clock = clock
        self.monotonic = monotonic
        # the outage and pacing state, read and written by this worker's thread only
        self._in_outage = False
        self._backoff_s = 1.0
        self._flowing_since: float | None = None  # monotonic time frames came back
        self._last_live_s: float | None = None  # monotonic time of this pass's last live frame
        self._gaps: deque[float] = deque(maxlen=PACE_GAPS)  # the last gaps between them (s)
        self._stalls = 0
        self._pace_origin_s = 0.0  # monotonic time at which a paced file's timeline is at 0
        self._repace = False  # the next paced frame sets _pace_origin_s (after an outage)
        self._late_logged = False
        self._unreadable: set[Path] = set()  # a folder's images already logged as unreadable
        self._lock = threading.Lock()
        self._seq = 0  # the wire's frame counter: every frame encoded, so a gap shows a loss
        self._published = 0
        self._outages = 0
        self._skipped: Counter[str] = Counter()
        self._died: str | None = None
        self._source_lost: str | None = None
        self._reached_end = False
        # live by the source's name; an http(s) URL turns out to serve a recorded video when its
        # frames carry their position (_follow_source)
        self._live = is_live(camera.source)
        self._finite = not camera.loop and not self._live
        # a looped http(s) recording is paced whatever realtime says: flat out and for ever, its
        # frames stamped now would outweigh every other camera of its classroom; the command
        # line refuses --loop --no-realtime for a file, but cannot know that a URL serves one
        # (pipeline_bench loops a file flat out on purpose)
        self._paced = camera.realtime or (camera.loop and self._live)

    def result(self) -> CameraResult:
        """The worker's totals so far; final once the thread has stopped."""
        with self._lock:
            return CameraResult(self.camera.id, self._published, dict(self._skipped),
                                self._outages, self._died, self._finite, self._source_lost,
                                self._reached_end)

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a bug: stop this camera, and let run_cameras stop the process
            with self._lock:
                self._died = f"{type(exc).__name__}: {exc}"
            log.exception("camera worker died camera=%s published=%d", self.camera.id,
                          self._published)

    def _run(self) -> None:
        cam = self.camera
        sampler = Sampler(cam.fps, self.monotonic)
        self._pace_origin_s = self.monotonic()
        while not self.stop.is_set():
            try:
                ended = self._stream(sampler)
            except (SourceError, cv2.error) as exc:  # OpenCV failing inside a source too
                if self._finite:
                    lost = (str(exc).strip().splitlines() or [repr(exc)])[0]
                    with self._lock:
                        self._source_lost = lost
                    log.error("camera stopped camera=%s source=%s error=%s (a file or folder "
                              "without --loop is not reopened)", cam.id,
                              _shown(cam.source), safe_text(lost))
                    return
                if not self._in_outage:
                    self._in_outage = True
                    if (self._flowing_since is not None
                            and self.monotonic() - self._flowing_since >= STEADY_S):
                        self._backoff_s = 1.0  # it had recovered: a new outage, not a flap
                    with self._lock:
                        self._outages += 1
                    log.warning("camera outage camera=%s source=%s error=%s; retrying with backoff",
                                cam.id, _shown(cam.source), safe_text(str(exc)))
                self.stop.wait(self._backoff_s)
                self._backoff_s = min(self._backoff_s * 2, MAX_BACKOFF_S)
                if not self._live:
                    # a file or folder is read again from its first frame: a pass of its own,
                    # or the sampler, still past the failed pass's last slot, dropped every
                    # frame up to there; paced from its first frame, not as late by the outage
                    sampler.start_loop()
                    self._repace = True
                continue
            if not ended:
                return  # stopped
            if self._live:
                continue  # a live stream that ended cleanly is reopened
            if not cam.loop:
                with self._lock:
                    self._reached_end = True
                if is_live(cam.source):  # a URL that served a recording (_follow_source)
                    self._log_recording_ended()
                return
            sampler.start_loop()

    def _stream(self, sampler: Sampler) -> bool:
        """One pass over the source; False when stopped before its end."""
        cam = self.camera
        # whole: a file sent once that ends short of its announced frames ends as lost (no
        # effect on a live source, whose end is an outage anyway)
        frames = read_frames(cam.source, folder_fps=cam.fps, unreadable=self._unreadable,
                             whole=not cam.loop, skipped=self._skip_unreadable)
        self._last_live_s = None  # the gap before a pass is an outage's, logged as one
        for frame in sampler.sample(frames):
            if self.stop.is_set():
                return False
            if frame.live != self._live:
                self._follow_source(frame)
            if frame.live:
                self._note_stall()
            if self._in_outage:  # frames flow again
                self._in_outage, self._flowing_since = False, self.monotonic()
                log.info("camera back camera=%s", cam.id)
            if self._paced and not self._live and not self._wait_until_due(frame.timeline_ms):
                return False
            try:
                self._publish(frame)
            except tuple(kind for kind, _ in FRAME_FAILURES) as exc:
                self._skip(exc)
        return True

    def _note_stall(self) -> None:
        """Log a live source's silence longer than :data:`STALL_S`, two of its camera's periods
        and twice the source's own pace (the median of its last :data:`PACE_GAPS` gaps between
        frames), each time, with the count so far: shorter than FFmpeg's 30 s it raised no
        error, and its seconds have no frames. The source's pace counts: a camera that sends a
        frame every 6 s, steadily, is slow, not stalled (each of its frames was once logged as a
        stall; its first gap, before it has a pace, still is); a median, not the last gap, so
        that a second stall soon after a first is seen."""
        now, last = self.monotonic(), self._last_live_s
        self._last_live_s = now
        if last is None:
            return
        gap_s = now - last
        pace_s = statistics.median(self._gaps) if self._gaps else 0.0
        self._gaps.append(gap_s)
        if gap_s <= max(STALL_S, 2 / self.camera.fps, 2 * pace_s):
            return
        self._stalls += 1
        log.warning("camera stalled camera=%s source=%s for_s=%.1f stalls=%d (the source sent "
                    "no frame for that long: those seconds have none)", self.camera.id,
                    _shown(self.camera.source), gap_s, self._stalls)

    def _follow_source(self, frame: SampledFrame) -> None:
        """The source is not what its name said: an http(s) URL serving a recorded video (its
        frames carry their position, :func:`producers.sources.read_frames`). It is sent as a
        video file is: paced on its own timeline from this frame, once (a run with an end) or
        looped; read as live, it was decoded flat out, its first frames only kept, and reopened
        at its end for ever."""
        cam = self.camera
        self._live = frame.live
        self._pace_origin_s = self.monotonic() - frame.timeline_ms / 1000.0
        with self._lock:
            self._finite = not cam.loop and not self._live
        log.info("camera source serves %s camera=%s source=%s", "a live stream" if self._live
                 else "a recorded video, sent as a video file is", cam.id, _shown(cam.source))

    def _log_recording_ended(self) -> None:
        """A URL named as a camera served a recorded video, now sent to its end. From a
        cameras.yaml that is a mistake to see in the log (a WARNING): the camera is gone from
        its classroom while the others run on, and each restart of the producer sends the
        recording again from its first frame, counted twice; sent once with ``--source``, it is
        what was asked."""
        cam = self.camera
        if self.camera_file:
            log.warning("camera ended camera=%s source=%s: the URL served a recorded video, now "
                        "sent to its end, not a live camera; each restart of the producer sends "
                        "it again from its first frame: give the camera loop: true, or send it "
                        "once with --source", cam.id, _shown(cam.source))
        else:
            log.info("camera ended camera=%s source=%s: the URL served a recorded video, sent "
                     "to its end", cam.id, _shown(cam.source))

    def _wait_until_due(self, timeline_ms: float) -> bool:
        """Wait until a paced file's frame at ``timeline_ms`` is due; False when stopped first.

        On the monotonic clock: a wall clock stepped back (NTP) would hold every frame for as long
        as the step, silently. A frame over :data:`LATE_S` late starts the pacing over from now
        (logged the first time): sent at once, the late frames would leave as a burst, a whole
        stall's frames within milliseconds of each other.
        """
        if self._repace:
            self._repace, self._pace_origin_s = False, self.monotonic() - timeline_ms / 1000.0
        delay = self._pace_origin_s + timeline_ms / 1000.0 - self.monotonic()
        if delay < -LATE_S:
            self._pace_origin_s -= delay
            if not self._late_logged:
                self._late_logged = True
                log.warning("camera behind its file's timeline camera=%s late_s=%.1f (a slow "
                            "decode, a busy CPU, an outage); pacing on from this frame, logged "
                            "once", self.camera.id, -delay)
            return True
        # within what a lock can wait: past threading.TIMEOUT_MAX it raises OverflowError
        return delay <= 0 or not self.stop.wait(min(delay, threading.TIMEOUT_MAX))

    def _publish(self, frame: SampledFrame) -> None:
        cam = self.camera
        captured_at_ms = round(self.clock() * 1000)
        if not in_time_range(captured_at_ms):
            raise ClockOutOfRange(
                f"this host's clock reads {_utc(captured_at_ms)}, outside 2000-2099, and every "
                "frame is stamped with it: set the clock (turn on network time, e.g. "
                "`timedatectl set-ntp true`); frames are sent again once it is right")
        key, value, headers = encode_frame(
            frame.rgb, camera=cam.id, classroom=cam.classroom, captured_at_ms=captured_at_ms,
            seq=self._seq, max_side=cam.max_side, jpeg_quality=cam.jpeg_quality,
            max_bytes=self.max_bytes,
        )
        self._seq += 1
        # a run with an end waits for room in the publisher's buffer; a live camera cannot
        taken = self.publisher.publish(key, value, headers,
                                       wait=self.stop if self._finite else None)
        if taken:  # a dropped frame is the publisher's to count (its stats' dropped)
            with self._lock:
                self._published += 1

    def _skip_unreadable(self, _path: Path) -> None:
        """A folder's image that could not be read: a frame skipped, logged by the source (once
        per image)."""
        with self._lock:
            self._skipped[UNREADABLE] += 1

    def _skip(self, exc: Exception) -> None:
        reason = next(name for kind, name in FRAME_FAILURES if isinstance(exc, kind))
        with self._lock:
            self._skipped[reason] += 1
            first = self._skipped[reason] == 1
        if first:  # the count carries the rest
            log.warning("frame skipped camera=%s reason=%s error=%s", self.camera.id, reason,
                        str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))


def _shown(source: str) -> str:
    """A source as a log line may hold it: a stream URL is the camera's, or anyone's who can edit
    cameras.yaml, and its password or an escape sequence (a forged log line, a cleared terminal)
    must not reach the log."""
    return safe_text(hide_password(source))


def _utc(ms: int) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms since 1970"


def run_cameras(cameras: list[CameraConfig], publisher: Publisher, stop: threading.Event,
                report_every_s: float = 60.0, camera_file: bool = False
                ) -> dict[str, CameraResult]:
    """Run one worker per camera until all finish, ``stop`` is set, or one dies (then all stop).

    Returns each camera's :class:`CameraResult`; a ``died`` in any of them means the process
    should exit non-zero. ``camera_file``: the cameras come from a cameras.yaml
    (:meth:`CameraWorker._log_recording_ended`).
    """
    workers = [CameraWorker(cam, publisher, stop, camera_file=camera_file) for cam in cameras]
    for worker in workers:
        worker.start()
    last_report = time.monotonic()
    while any(w.is_alive() for w in workers) and not stop.is_set():
        stop.wait(0.2)
        if any(w.result().died for w in workers):
            break
        if time.monotonic() - last_report >= report_every_s:
            last_report = time.monotonic()
            for w in workers:
                r, s = w.result(), publisher.stats(w.camera.id)
                log.info("camera=%s published=%d skipped=%d outages=%d sent=%d failed=%d "
                         "dropped=%d pending=%d", r.camera, r.published, sum(r.skipped.values()),
                         r.outages, s.sent, s.failed, s.dropped, s.pending)
    stop.set()
    deadline = time.monotonic() + WORKERS_STOP_TIMEOUT_S
    for worker in workers:
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
    return {w.camera.id: w.result() for w in workers}
