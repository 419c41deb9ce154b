"""Sampling a source down to the camera's ``fps``, on the source's own timeline."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from producers.sources import SourceFrame

# how far before its slot a frame still opens it: Matroska and WebM store positions in whole
# milliseconds (a 30 fps video's frames at 33, 67, 100 ms, its slots at --fps 30 at 33.3, 66.7,
# 100: a tolerance of a rounding error kept 60 of its 90 frames), and positions such as
# i * 1000 / 30 fall a rounding error short of slots such as k * 1000 / 3
SLOT_TOLERANCE_MS = 1.0


@dataclass(frozen=True)
class SampledFrame:
    """A frame chosen for publishing, and where it sits on its source's timeline."""

    rgb: np.ndarray
    timeline_ms: float  # position on the source's own timeline (monotonic offset for live)
    live: bool = False  # from a source without a timeline (its frames had no position)


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
        self._next_slot = 0  # the first slot, k * period_ms from 0, not yet given a frame
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
            slot = self._slot_of(timeline)
            if slot < self._next_slot:
                continue
            # the next slot follows this frame's slot, so a late frame does not cause a burst
            self._next_slot = slot + 1
            yield SampledFrame(frame.rgb, timeline, frame.position_ms is None)

    def _slot_of(self, timeline_ms: float) -> int:
        """The slot ``timeline_ms`` falls in, a frame up to :data:`SLOT_TOLERANCE_MS` before a
        slot counting as in it.

        Each slot's start is its index times the period, computed afresh: a start advanced by
        adding the period slot after slot gathered the rounding errors of every addition, and
        hours into a folder at 3 fps (image i at exactly i / fps) it passed an image's position,
        which was then dropped as belonging to the slot before. The tolerance dwarfs the
        division's rounding, so no frame near a slot's start falls on the wrong side of it."""
        return math.floor((timeline_ms + SLOT_TOLERANCE_MS) / self.period_ms)
