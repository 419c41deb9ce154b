"""Sampling a source down to the camera's ``fps`` and stamping each frame's capture time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from producers.sources import SourceFrame


@dataclass(frozen=True)
class SampledFrame:
    """A frame chosen for publishing, with its capture time in ms since the epoch (UTC)."""

    rgb: np.ndarray
    captured_at_ms: int
    timeline_ms: float  # position on the source's own timeline (monotonic offset for live)


class Sampler:
    """Keeps one frame per ``1/fps`` seconds of the source's timeline.

    Files: the timeline is the video's own (its container's timestamps), anchored at ``anchor_ms``
    (the wall time the camera started), and a looped file continues the timeline instead of
    jumping back. A file paced like a live camera is stamped on that timeline (it is sent when its
    stamp comes); one sent as fast as the broker takes it (``stamp_with_clock``) is stamped with
    the clock when sampled: its timeline would run ahead of every clock (a 45-minute video sent in
    seconds), and a consumer refuses frames from the future. Live sources: the timeline is
    ``monotonic``'s time since the sampler was made, and each frame is stamped with ``clock`` (the
    wall clock): the wall clock can step back (NTP), and a timeline on it would drop every frame
    until it passed its old high point again, a silent gap as long as the step.
    """

    def __init__(self, fps: float, anchor_ms: int,
                 clock: Callable[[], float] = time.time, stamp_with_clock: bool = False,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.period_ms = 1000.0 / fps
        self.anchor_ms = anchor_ms
        self._clock = clock
        self._stamp_with_clock = stamp_with_clock
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
        for frame in frames:
            live = frame.position_ms is None
            if live:
                timeline = (self._monotonic() - self._monotonic_start_s) * 1000.0
            else:
                timeline = self._loop_offset_ms + frame.position_ms
            self._frame_step_ms = timeline - self._last_position_ms
            self._last_position_ms = timeline
            if timeline + 1e-6 < self._next_due_ms:
                continue
            # the next slot follows this frame's slot, so a late frame does not cause a burst
            slots = int((timeline - self._next_due_ms) // self.period_ms) + 1
            self._next_due_ms += slots * self.period_ms
            stamp = (round(self._clock() * 1000.0) if self._stamp_with_clock or live
                     else self.anchor_ms + round(timeline))
            yield SampledFrame(frame.rgb, stamp, timeline)
