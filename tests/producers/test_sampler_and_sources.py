"""Sampling to --fps on a file's own timeline, and the sources (real video, folder of images)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from producers.sampler import Sampler
from producers.sources import (
    SourceError,
    SourceFrame,
    check_source,
    describe_source,
    read_frames,
)

ANCHOR = 1_780_000_000_000


def _timeline(fps: float, seconds: float) -> list[SourceFrame]:
    img = np.zeros((4, 4, 3), np.uint8)
    return [SourceFrame(img, i * 1000 / fps) for i in range(int(fps * seconds))]


def test_sampler_keeps_one_frame_per_period_of_the_file_timeline() -> None:
    out = list(Sampler(2, ANCHOR).sample(iter(_timeline(25, 4.2))))
    assert [f.captured_at_ms - ANCHOR for f in out] == [0, 520, 1000, 1520, 2000, 2520, 3000,
                                                        3520, 4000]


def test_sampler_continues_the_timeline_across_a_loop() -> None:
    sampler = Sampler(1, ANCHOR)
    first = list(sampler.sample(iter(_timeline(10, 2))))
    sampler.start_loop()
    second = list(sampler.sample(iter(_timeline(10, 2))))
    stamps = [f.captured_at_ms - ANCHOR for f in first + second]
    assert stamps == [0, 1000, 2000, 3000]


def test_a_file_sent_flat_out_is_stamped_when_sampled() -> None:
    """40 s of video sent in 0.4 s: on its own timeline the last frames would be 40 s ahead of
    the clock, past a consumer's allowance for clock skew (30 s), and refused as from the
    future."""
    clock = iter(100.0 + 0.01 * i for i in range(1000)).__next__
    sampler = Sampler(1, anchor_ms=100_000, clock=clock, stamp_with_clock=True)
    out = list(sampler.sample(iter(_timeline(10, 40))))
    assert len(out) == 40
    assert [f.timeline_ms for f in out[:3]] == [0, 1000, 2000]  # still one frame a second
    assert out[0].captured_at_ms == 100_000
    assert out[-1].captured_at_ms == 100_390  # the clock's 40th reading, not 39 s ahead


class FakeClocks:
    """A wall clock (``time``) and a monotonic clock (``monotonic``) that a test moves."""

    def __init__(self, wall_s: float) -> None:
        self.wall_s, self.monotonic_s = wall_s, 0.0

    def time(self) -> float:
        return self.wall_s

    def monotonic(self) -> float:
        return self.monotonic_s

    def advance(self, seconds: float) -> None:
        self.wall_s += seconds
        self.monotonic_s += seconds


def live_frames(clocks: FakeClocks, gaps_s: list[float],
                step_back: tuple[int, float] | None = None) -> Iterator[SourceFrame]:
    """A live camera's frames, each ``gaps_s[i]`` seconds after the one before; ``step_back``
    (i, seconds): the wall clock is stepped back that much (NTP) before frame i."""
    img = np.zeros((4, 4, 3), np.uint8)
    for i, gap in enumerate(gaps_s):
        clocks.advance(gap)
        if step_back is not None and i == step_back[0]:
            clocks.wall_s -= step_back[1]
        yield SourceFrame(img, None)


def test_live_frames_are_stamped_with_the_wall_clock() -> None:
    clocks = FakeClocks(100.0)
    sampler = Sampler(2, anchor_ms=100_000, clock=clocks.time, monotonic=clocks.monotonic)
    out = list(sampler.sample(live_frames(clocks, [0.0, 0.2, 0.4, 0.5, 0.2])))
    assert [f.captured_at_ms for f in out] == [100_000, 100_600, 101_100]


def test_live_frames_keep_coming_when_the_wall_clock_steps_back() -> None:
    """NTP steps the clock back five minutes after 3 s: the slots are on the monotonic clock, so
    the camera goes on at 2 fps, stamped with the (corrected) wall clock. Before, every frame was
    dropped until the wall clock passed its old high point: a five-minute silent gap."""
    clocks = FakeClocks(1000.0)
    sampler = Sampler(2, anchor_ms=1_000_000, clock=clocks.time, monotonic=clocks.monotonic)
    out = list(sampler.sample(live_frames(clocks, [0.0] + [0.25] * 23, step_back=(12, 300.0))))
    assert [f.captured_at_ms for f in out] == [
        1_000_000, 1_000_500, 1_001_000, 1_001_500, 1_002_000, 1_002_500,
        703_000, 703_500, 704_000, 704_500, 705_000, 705_500]


def test_real_video_is_read_with_its_timeline(shared_data: Path) -> None:
    frames = list(read_frames(str(shared_data / "faces" / "crowd-1080p-25fps.mp4")))
    assert len(frames) == 105
    assert frames[0].rgb.shape == (1080, 1920, 3)
    assert frames[25].position_ms == pytest.approx(1000.0)


MP4_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts")


def _mp4_box(data: bytes, kind: bytes, start: int = 0, end: int | None = None) -> list[int]:
    """Offsets of the boxes from the top down to the first ``kind`` box (empty: none)."""
    end = len(data) if end is None else end
    while start < end:
        size, name = struct.unpack(">I4s", data[start:start + 8])
        if name == kind:
            return [start]
        if name in MP4_CONTAINERS:
            inner = _mp4_box(data, kind, start + 8, start + size)
            if inner:
                return [start, *inner]
        start += size
    return []


def _replace_mp4_box(data: bytearray, kind: bytes, new: bytes) -> None:
    """Put ``new`` in place of the ``kind`` box, and resize the boxes around it."""
    *parents, at = _mp4_box(bytes(data), kind)
    old_size = struct.unpack(">I", data[at:at + 4])[0]
    data[at:at + old_size] = new
    for parent in parents:
        size = struct.unpack(">I", data[parent:parent + 4])[0]
        data[parent:parent + 4] = struct.pack(">I", size + len(new) - old_size)


def variable_rate_video(path: Path, durations_ms: list[int]) -> Path:
    """A real MP4 whose frames last ``durations_ms`` (a phone's variable frame rate): written at
    a constant rate by OpenCV, then its sample durations (``stts``, in the track's 1/10240 s)
    replaced. The edit list, which would cut the video at its old length, is dropped. The
    samples themselves sit in ``mdat``, before the rewritten ``moov``, and do not move."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(len(durations_ms)):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    stts = _mp4_box(bytes(data), b"stts")[-1]
    assert data[stts + 12:stts + 24] == struct.pack(">III", 1, len(durations_ms), 1024)
    entries = b"".join(struct.pack(">II", 1, ms * 10240 // 1000) for ms in durations_ms)
    _replace_mp4_box(data, b"stts", struct.pack(">I4sII", 16 + len(entries), b"stts", 0,
                                                len(durations_ms)) + entries)
    _replace_mp4_box(data, b"edts", b"")
    path.write_bytes(bytes(data))
    return path


def test_a_variable_frame_rate_video_is_read_on_its_own_timestamps(tmp_path: Path) -> None:
    """Frames 25 ms and 400 ms apart, in turn. OpenCV reports 4.7 fps (their average), and frame
    index / fps put frame 3 at 637.5 ms instead of 450 ms and frame 19 at 4037.5 ms instead of
    3850 ms: a camera at 2 fps kept other frames, stamped with other times."""
    durations = [25, 400] * 10
    video = variable_rate_video(tmp_path / "phone.mp4", durations)
    frames = list(read_frames(str(video)))
    starts = [sum(durations[:i]) for i in range(len(durations))]
    assert [f.position_ms for f in frames] == pytest.approx(starts)
    kept = list(Sampler(2, ANCHOR).sample(iter(frames)))
    assert [f.captured_at_ms - ANCHOR for f in kept] == [
        0, 850, 1275, 1700, 2125, 2550, 3000, 3825]


def test_folder_is_a_slide_show(tmp_path: Path) -> None:
    for i, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), np.full((8, 8, 3), color, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(read_frames(str(tmp_path), folder_fps=2))
    assert [f.position_ms for f in frames] == [0, 500, 1000]
    assert frames[0].rgb[0, 0].tolist() == [0, 0, 255]  # BGR file -> RGB pixels


def test_sources_are_recognised_and_missing_ones_named(tmp_path: Path) -> None:
    assert describe_source("0") == "webcam"
    assert describe_source("rtsp://cam/stream") == "stream"
    assert describe_source(str(tmp_path)) == "folder"
    with pytest.raises(SourceError, match=r"nope\.mp4"):
        check_source(str(tmp_path / "nope.mp4"))
    with pytest.raises(SourceError, match="holds no images"):
        check_source(str(tmp_path))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(SourceError):
        list(read_frames(str(broken)))


def test_stream_credentials_never_reach_an_error() -> None:
    """A camera that cannot be reached is named without its password (every rule of hiding it:
    tests/classpulse/test_redact.py)."""
    with pytest.raises(SourceError) as failed:
        list(read_frames("rtsp://admin:s3cret@127.0.0.1:9/live"))  # nothing listens on port 9
    assert "rtsp://admin:***@127.0.0.1:9/live" in str(failed.value)
    assert "s3cret" not in str(failed.value)
