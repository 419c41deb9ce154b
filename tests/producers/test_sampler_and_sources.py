"""Sampling to --fps on a file's own timeline, and the sources (real video, folder of images)."""

from __future__ import annotations

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


def test_live_frames_are_stamped_with_the_wall_clock() -> None:
    clock = iter([100.0, 100.2, 100.6, 101.1, 101.3]).__next__
    sampler = Sampler(2, anchor_ms=100_000, clock=clock)
    img = np.zeros((4, 4, 3), np.uint8)
    out = list(sampler.sample(iter([SourceFrame(img, None)] * 5)))
    assert [f.captured_at_ms for f in out] == [100_000, 100_600, 101_100]


def test_real_video_is_read_with_its_timeline(shared_data: Path) -> None:
    frames = list(read_frames(str(shared_data / "faces" / "crowd-1080p-25fps.mp4")))
    assert len(frames) == 105
    assert frames[0].rgb.shape == (1080, 1920, 3)
    assert frames[25].position_ms == pytest.approx(1000.0)


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
