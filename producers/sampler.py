"""Sampling a source down to the camera's ``fps``, on the source's own timeline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from producers.sources import SourceFrame


@dataclass(frozen=True)
class SampledFrame:
    """A frame chosen for publishing, and where it sits on its source's timeline."""

    rgb: np.ndarray
    timeline_ms: float  # position on the source's own timeline (monotonic offset for live)


class Sampler:
    """Keeps one frame per ``1/fps`` seconds of the source's timeline.

    Files: the timeline is the video's own (its container's timestamps), and a looped file
    continues the timeline instead of jumping back. Live sources: the timeline is ``monotonic``'s
    time since the sampler was made: the wall clock can step back (NTP), and a timeline on it
    would drop every frame until it passed its old high point again, a silent gap as long as the
    step. The sampler stamps nothing: every frame is stamped with the wall clock when its camera
    sends it (:class:`producers.camera.CameraWorker`); a file's timeline, sent flat out or paced
    on the monotonic clock, runs ahead of the wall clock or drifts from it.
    """

    def __init__(self, fps: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.period_ms = 1000.0 / fps
        self._monotonic = monotonic
        self._monotonic_start_s = monotonic()
        self._next_due_ms = 0.0
        self._loop_offset_ms = 0.0
        self._last_position_ms = 0.0
        self._frame_step_ms = 0.0

    def start_loop(self) -> None:
        """The file starts over: continue its timeline one source frame after the last one."""
        self._loop_offset_ms = self._last_position_ms + (self._frame_step_ms or self.period_ms)

    def sample(self, frames: Iterator[SourceFrame]) -> Iterator[SampledFrame]:
        """The frames of ``frames`` that open a new ``1/fps`` slot of the timeline."""
        for frame in frames:
            if frame.position_ms is None:  # live
                timeline = (self._monotonic() - self._monotonic_start_s) * 1000.0
            else:
                timeline = self._loop_offset_ms + frame.position_ms
            self._frame_step_ms = timeline - self._last_position_ms
            self._last_position_ms = timeline
            # a frame a hair before its slot opens it: positions such as i * 1000 / 30 fall a
            # rounding error short of slots such as k * 1000 / 3
            if timeline + 1e-6 < self._next_due_ms:
                continue
            # the next slot follows this frame's slot, so a late frame does not cause a burst;
            # at least one slot on, or the frame after one a hair early would go out too
            late_ms = max(0.0, timeline - self._next_due_ms)
            slots = int(late_ms // self.period_ms) + 1
            self._next_due_ms += slots * self.period_ms
            yield SampledFrame(frame.rgb, timeline)
