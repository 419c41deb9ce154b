"""Sampling to --fps on a file's own timeline, and the sources (real video, folder of images)."""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

import producers.sources
from classpulse.sources import describe_source
from producers.sampler import Sampler
from producers.sources import (
    SourceError,
    SourceFrame,
    check_source,
    is_live,
    read_frames,
)
from tests.producers.videos import (
    cut_short,
    cut_video,
    folder_of_jpegs,
    grey_video,
    index_of,
    live_mjpeg,
    oversized_png,
    served,
    snapshots,
)


def _timeline(fps: float, seconds: float) -> list[SourceFrame]:
    img = np.zeros((4, 4, 3), np.uint8)
    return [SourceFrame(img, i * 1000 / fps) for i in range(int(fps * seconds))]


def test_sampler_keeps_one_frame_per_period_of_the_file_timeline() -> None:
    out = list(Sampler(2).sample(iter(_timeline(25, 4.2))))
    assert [f.timeline_ms for f in out] == [0, 520, 1000, 1520, 2000, 2520, 3000, 3520, 4000]


@pytest.mark.parametrize(("source_fps", "fps"), [
    (30, 3), (24, 3), (60, 3), (25, 3), (30, 1.5), (30, 6), (30, 15), (29.97, 2), (25, 2)])
def test_sampler_keeps_exactly_fps_frames_a_second_of_any_file(source_fps: float,
                                                              fps: float) -> None:
    """A frame a hair (under 1e-6 ms) before its slot was let through without moving the next
    slot, so the frame after it went out too: a 30 fps file at --fps 3 sent 1.5x its frames."""
    minutes = 10
    out = list(Sampler(fps).sample(iter(_timeline(source_fps, minutes * 60))))
    assert len(out) == pytest.approx(fps * minutes * 60, abs=1)
    gaps = np.diff([f.timeline_ms for f in out])
    assert gaps.min() >= 1000 / fps - 1000 / source_fps  # never two frames in one slot


@pytest.mark.parametrize("fps", [3, 7, 0.3, 29.97])
def test_a_folder_keeps_every_image_hours_into_its_slide_show(fps: float) -> None:
    """Image i of a folder sits at exactly i / fps, the start of its slot. The slots' starts were
    advanced by adding the period, slot after slot, and their rounding errors added up until a
    start passed an image's position: that image was dropped, silently (the first at image 4635
    at 0.3 fps, 4.3 h in; at 27092 at 7 fps; 31811 at 3 fps; 33172 at 29.97 fps)."""
    positions = [i * 1000.0 / fps for i in range(40_000)]
    img = np.zeros((4, 4, 3), np.uint8)
    kept = list(Sampler(fps).sample(SourceFrame(img, p) for p in positions))
    assert [f.timeline_ms for f in kept] == positions


@pytest.mark.parametrize("fps", [30.0, 29.97, 3.0])
def test_positions_in_whole_milliseconds_keep_their_slots(fps: float) -> None:
    """Matroska and WebM store a frame's position in whole milliseconds: a 30 fps .mkv sampled
    at --fps 30 kept 60 of its 90 frames (33 ms falls before the slot at 33.3)."""
    rate = 30.0 if fps == 3.0 else fps
    positions = [float(round(i * 1000.0 / rate)) for i in range(900)]
    img = np.zeros((4, 4, 3), np.uint8)
    kept = list(Sampler(fps).sample(SourceFrame(img, p) for p in positions))
    assert len(kept) == (90 if fps == 3.0 else 900)


def test_sampler_continues_the_timeline_across_a_loop() -> None:
    sampler = Sampler(1)
    first = list(sampler.sample(iter(_timeline(10, 2))))
    sampler.start_loop()
    second = list(sampler.sample(iter(_timeline(10, 2))))
    assert [f.timeline_ms for f in first + second] == [0, 1000, 2000, 3000]


class FakeMonotonic:
    """A monotonic clock that a test moves."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def live_frames(clock: FakeMonotonic, gaps_s: list[float]) -> Iterator[SourceFrame]:
    """A live camera's frames, each ``gaps_s[i]`` seconds after the one before."""
    img = np.zeros((4, 4, 3), np.uint8)
    for gap in gaps_s:
        clock.now_s += gap
        yield SourceFrame(img, None)


def test_live_frames_are_sampled_on_the_monotonic_clock() -> None:
    """The wall clock, which NTP steps back and forth, plays no part: a step back used to drop
    every frame until the wall clock passed its old high point again (tests/producers/
    test_camera_pacing.py: the stamps follow the wall clock)."""
    clock = FakeMonotonic()
    sampler = Sampler(2, monotonic=clock)
    out = list(sampler.sample(live_frames(clock, [0.0, 0.2, 0.4, 0.5, 0.2])))
    assert [f.timeline_ms for f in out] == pytest.approx([0, 600, 1100])


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
    kept = list(Sampler(2).sample(iter(frames)))
    assert [f.timeline_ms for f in kept] == pytest.approx([
        0, 850, 1275, 1700, 2125, 2550, 3000, 3825])


def test_folder_is_a_slide_show(tmp_path: Path) -> None:
    for i, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), np.full((8, 8, 3), color, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(read_frames(str(tmp_path), folder_fps=2))
    assert [f.position_ms for f in frames] == [0, 500, 1000]
    assert frames[0].rgb[0, 0].tolist() == [0, 0, 255]  # BGR file -> RGB pixels


def test_a_folder_s_image_cut_short_or_broken_is_skipped_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A JPEG without its end-of-image marker (a copy not finished) is decoded by OpenCV without
    an error, its missing rows grey, and was sent as a good frame. It is refused now as the
    consumers refuse such a message (classpulse.wire), and every skipped image is handed to
    ``skipped`` to be counted, each pass, though logged once."""
    paths = folder_of_jpegs(tmp_path / "f", 4)
    cut_short(paths[1])
    assert cv2.imread(str(paths[1])) is not None  # what OpenCV alone lets through
    paths[2].write_bytes(b"not an image")
    skipped: list[Path] = []
    unreadable: set[Path] = set()
    with caplog.at_level("WARNING", logger="producers.sources"):
        for _ in range(2):
            frames = list(read_frames(str(tmp_path / "f"), folder_fps=2, unreadable=unreadable,
                                      skipped=skipped.append))
            assert [f.position_ms for f in frames] == [0, 1500]
    assert skipped == [paths[1], paths[2]] * 2
    assert [r.getMessage() for r in caplog.records] == [
        f"skipping unreadable image path={paths[1]}", f"skipping unreadable image path={paths[2]}"]
    # a folder whose only image is cut short holds nothing to send: refused at start
    for path in (paths[0], paths[2], paths[3]):
        path.unlink()
    with pytest.raises(SourceError) as info:
        check_source(str(tmp_path / "f"))
    assert str(info.value) == (f"folder {str(tmp_path / 'f')!r} holds no image OpenCV can "
                               "decode (1 unreadable)")


def test_an_image_opencv_refuses_with_an_exception_is_skipped_as_unreadable(
    tmp_path: Path
) -> None:
    """A PNG declaring 40000x40000 pixels makes OpenCV raise instead of returning None: the
    check at start ended in a 27-line traceback, and a pass in an error at that image, the
    images after it never sent. It is unreadable, as any image OpenCV cannot decode."""
    paths = folder_of_jpegs(tmp_path / "f", 2)
    big = oversized_png(tmp_path / "f" / "00-big.png")  # read first
    check_source(str(tmp_path / "f"))
    skipped: list[Path] = []
    frames = list(read_frames(str(tmp_path / "f"), folder_fps=2, unreadable=set(),
                              skipped=skipped.append))
    assert [f.position_ms for f in frames] == [500, 1000] and skipped == [big]
    for path in paths:
        path.unlink()
    with pytest.raises(SourceError) as info:
        check_source(str(tmp_path / "f"))
    assert str(info.value) == (f"folder {str(tmp_path / 'f')!r} holds no image OpenCV can "
                               "decode (1 unreadable)")


def test_a_jpeg_with_bytes_after_its_end_is_sent(tmp_path: Path) -> None:
    """Phones append data after a JPEG's end-of-image marker (a motion photo's video, a maker's
    trailer): the image is whole, and was skipped as cut short, a folder of such photos refused
    at start. Pillow finds the end; one cut short is still refused."""
    paths = folder_of_jpegs(tmp_path / "f", 4)
    whole = paths[0].read_bytes()
    paths[0].write_bytes(whole + b"MotionPhoto_Data" + bytes(range(256)) * 40)
    paths[1].write_bytes(whole + b"ftyp....mdat\x01\x00")  # a trailer whose last byte is 0
    cut_short(paths[2])
    # a copy cut off and zero-filled (preallocated): Pillow decodes the zeros as image
    paths[3].write_bytes(whole[:len(whole) // 2] + bytes(len(whole) // 2))
    check_source(str(tmp_path / "f"))
    skipped: list[Path] = []
    frames = list(read_frames(str(tmp_path / "f"), folder_fps=2, unreadable=set(),
                              skipped=skipped.append))
    assert [f.position_ms for f in frames] == [0, 500] and skipped == paths[2:]
    assert np.array_equal(frames[0].pixels, frames[1].pixels)


def test_a_folder_that_goes_away_during_a_pass_fails_the_pass(tmp_path: Path) -> None:
    """Moved away (or unmounted) after it was listed, its remaining images were each skipped as
    unreadable and the pass ended as if complete: a folder sent once ended with exit status 0,
    4 of its 10 images sent. Now the pass fails, as a video file that is cut off does."""
    folder_of_jpegs(tmp_path / "f", 3)
    frames = read_frames(str(tmp_path / "f"), skipped=lambda path: pytest.fail(f"{path}"))
    assert next(frames).position_ms == 0
    (tmp_path / "f").rename(tmp_path / "moved")
    with pytest.raises(SourceError) as info:
        next(frames)
    assert str(info.value) == (f"folder {str(tmp_path / 'f')!r} went away after 1 of its 3 "
                               "images (moved, deleted or unmounted)")
    # an unmounted share leaves its mount point behind, an empty folder
    folder_of_jpegs(tmp_path / "share", 3)
    frames = read_frames(str(tmp_path / "share"), skipped=lambda path: pytest.fail(f"{path}"))
    assert next(frames).position_ms == 0
    for path in (tmp_path / "share").iterdir():
        path.unlink()
    with pytest.raises(SourceError, match=r"went away after 1 of its 3 images"):
        next(frames)


def test_an_http_url_serving_a_recorded_video_is_read_as_a_file(tmp_path: Path) -> None:
    """An http(s) URL was live by its name: a recorded lesson on a web server was decoded flat
    out without positions (the sampler kept its first frames only) and, at its end, reopened
    for ever. Its capture announces a frame count, which a live stream's never does: read as a
    file, its frames carry their position and its end is its end. A live MJPEG stream over HTTP
    stays live."""
    grey_video(tmp_path / "lesson.avi", 12)
    with served(tmp_path) as base:
        url = f"{base}lesson.avi"
        assert is_live(url)  # by its name; the capture tells
        frames = list(read_frames(url, whole=True))
    assert [f.position_ms for f in frames] == pytest.approx([100.0 * i for i in range(12)])
    assert [index_of(cv2.imencode(".jpg", f.pixels)[1].tobytes()) for f in frames] == list(
        range(12))
    with live_mjpeg(frames=5) as url:
        live: list[SourceFrame] = []
        with pytest.raises(SourceError, match=r"stopped delivering frames$"):
            live.extend(read_frames(url, whole=True))
    assert len(live) == 5 and all(f.position_ms is None for f in live)


@pytest.mark.parametrize("scheme", ["HTTP", "Http"])
def test_a_stream_url_s_scheme_is_read_in_any_case(scheme: str, tmp_path: Path) -> None:
    """``HTTP://`` and ``RTSP://`` passed the checks at start, which read a scheme in any case,
    but FFmpeg opens only lower-case schemes: the camera was an outage for ever. OpenCV gets
    the scheme in lower case; the rest of the URL stays as written."""
    grey_video(tmp_path / "Lesson.avi", 6)
    with served(tmp_path) as base:
        url = scheme + base.removeprefix("http") + "Lesson.avi"
        check_source(url)
        frames = list(read_frames(url, whole=True))
    assert [index_of(cv2.imencode(".jpg", f.pixels)[1].tobytes()) for f in frames] == list(
        range(6))


def test_a_snapshot_url_is_live_not_a_one_frame_recording() -> None:
    """A camera's snapshot URL answers each GET with a fresh JPEG, which FFmpeg counts as a
    one-frame file: it was read as a recorded video, its one frame sent at position 0 and its
    camera ended. It is live: the frame carries no position, the pass ends as a live stream's
    does (an outage, reopened), and the next pass brings the next picture."""
    with snapshots() as url:
        frames = read_frames(url, whole=True)
        first = next(frames)
        with pytest.raises(SourceError, match=r"stopped delivering frames$"):
            next(frames)
        second = next(read_frames(url, whole=True))
    assert (first.position_ms, second.position_ms) == (None, None)
    assert [index_of(cv2.imencode(".jpg", f.pixels)[1].tobytes()) for f in (first, second)] == [
        0, 1]


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


def test_a_missing_file_is_said_not_to_exist(tmp_path: Path) -> None:
    """It was called no webcam index, URL, video file or folder, which it may well be meant as."""
    with pytest.raises(SourceError) as refused:
        check_source(str(tmp_path / "lesson.mp4"))
    assert str(refused.value) == (
        f"source '{tmp_path / 'lesson.mp4'}' does not exist: no file or folder of that name; give "
        "the path of a video file or a folder of images, a webcam index (0) or an rtsp:// or "
        "http(s):// URL")


@pytest.mark.parametrize("url", ["http://", "rtsp://admin:s3cret@", "rtsp://admin:s3cret@/live",
                                 "rtsps://:554/live", "http://[::1/x"])
def test_a_stream_url_without_a_host_is_refused_at_start(url: str) -> None:
    """It was taken for a camera that is down, and retried for ever."""
    with pytest.raises(SourceError) as refused:
        check_source(url)
    assert str(refused.value).endswith(
        "' names no host; write the camera's address after the '//', e.g. "
        "rtsp://user:password@192.0.2.10:554/stream")
    assert "s3cret" not in str(refused.value)
    check_source("rtsp://admin:s3cret@192.0.2.10:554/live")  # a host: down or not, retried


@pytest.mark.parametrize("url", ["rtsp://admin:Ab[1]x@10.0.0.5:554/stream",
                                 "rtsp://admin:p]w@10.0.0.5/stream", "http://[::1]:8080/x",
                                 "rtsp://admin:Ab[1]x@[::1]:554/stream"])
def test_a_stream_url_urlsplit_refuses_is_read_for_its_host_as_ffmpeg_does(url: str) -> None:
    """An unencoded password holding ``[`` or ``]`` makes urlsplit raise ("Invalid IPv6 URL"):
    it was refused as naming no host, though FFmpeg (login up to the last ``@``) opens it."""
    check_source(url)


@pytest.mark.parametrize("url", ["rtsp://admin:Ab[1]x@", "rtsp://admin:Ab[1]x@/live",
                                 "rtsp://admin:Ab[1]x@:554/live", "rtsp://admin:[x@[::1/live"])
def test_a_stream_url_urlsplit_refuses_without_a_host_is_still_refused(url: str) -> None:
    with pytest.raises(SourceError, match="' names no host; write the camera's address"):
        check_source(url)


def test_stream_credentials_never_reach_an_error() -> None:
    """A camera that cannot be reached is named without its password (every rule of hiding it:
    tests/classpulse/test_redact.py)."""
    with pytest.raises(SourceError) as failed:
        list(read_frames("rtsp://admin:s3cret@127.0.0.1:9/live"))  # nothing listens on port 9
    assert "rtsp://admin:***@127.0.0.1:9/live" in str(failed.value)
    assert "s3cret" not in str(failed.value)


def test_a_webcam_index_is_ascii_digits_that_name_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``'²'.isdigit()`` is true: int('²') raised ValueError in the camera's thread, and the
    process ended. A video named ``2024`` was opened as webcam 2024."""
    monkeypatch.chdir(tmp_path)
    assert describe_source("2024") == "webcam"
    writer = cv2.VideoWriter("v.avi", cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    Path("v.avi").rename("2024")
    assert describe_source("2024") == "file"
    check_source("2024")
    assert len(list(read_frames("2024"))) == 3
    assert describe_source("²") == "file"
    with pytest.raises(SourceError, match="source '²' does not exist: no file or folder"):
        check_source("²")
    with pytest.raises(SourceError, match=r"^cannot open file '²'$"):
        list(read_frames("²"))
    with pytest.raises(SourceError, match=r"^cannot open webcam '99999999999'$"):
        list(read_frames("99999999999"))  # past a C int: OpenCV's error was ten lines long


def test_a_folder_of_undecodable_images_fails_each_pass_and_names_each_image_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A pass that yields no frame is an outage (the camera backs off), and a looped folder's
    unreadable images are logged the first time only, not once a pass."""
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_bytes(b"not an image")
    unreadable: set[Path] = set()
    with caplog.at_level("WARNING", logger="producers.sources"):
        for _ in range(2):
            with pytest.raises(SourceError, match=r"holds no image OpenCV can decode \(2 "):
                list(read_frames(str(tmp_path), unreadable=unreadable))
    assert [r.getMessage() for r in caplog.records] == [
        f"skipping unreadable image path={tmp_path / 'a.jpg'}",
        f"skipping unreadable image path={tmp_path / 'b.png'}"]


def test_an_unreadable_image_s_name_is_logged_escaped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file name holding a line break and an escape sequence forged a log line."""
    (tmp_path / "a\nERROR producers.camera: forged \x1b[31mline.jpg").write_bytes(b"no image")
    with (caplog.at_level("WARNING", logger="producers.sources"),
          pytest.raises(SourceError)):
        list(read_frames(str(tmp_path), unreadable=set()))
    assert [r.getMessage() for r in caplog.records] == [
        f"skipping unreadable image path={tmp_path}/a\\nERROR producers.camera: forged "
        "\\x1b[31mline.jpg"]


def test_a_folder_that_cannot_be_listed_is_a_source_error(tmp_path: Path) -> None:
    """An OSError while listing (no permission, a share gone; here a file in the folder's place,
    as no permission stops root) is an outage the camera retries, not an exception that ends it."""
    from producers.sources import _folder_images

    (tmp_path / "file").write_text("x")
    with pytest.raises(SourceError, match=r"^folder '.*file' cannot be listed: Not a directory$"):
        _folder_images(tmp_path / "file")


def test_a_video_device_is_a_webcam_by_its_path_whether_plugged_in_or_not(
    tmp_path: Path,
) -> None:
    """/dev/video0, and the stable /dev/v4l/by-id/... links to it, were refused at start (not a
    regular file) and would have been read as a file: paced, never reopened. Then a path was a
    webcam only while its character device existed: a webcam unplugged at start was refused as
    'not a webcam index, ...' and the producer exited 2, restarted by compose over and over; and
    /dev/null was a webcam. None of these devices is opened here."""
    absent = ("/dev/video97", "/dev/v4l/by-id/usb-ClassPulse_Absent_Webcam-video-index0",
              "/dev/v4l/by-path/pci-0000:00:14.0-usb-0:9:1.0-video-index0")
    link = tmp_path / "front-webcam"
    link.symlink_to(absent[1])  # a link of one's own to the stable name: followed, not opened
    for device in (*absent, str(link)):
        assert not os.path.exists(device)
        assert describe_source(device) == "webcam"
        assert is_live(device)
        check_source(device)  # no error: a webcam that is away is retried, not refused
    to_null = tmp_path / "clip.mp4"
    to_null.symlink_to("/dev/null")
    for other in ("/dev/null", "/dev/tty", "/dev/sda", str(to_null)):
        assert describe_source(other) == "file"
        assert not is_live(other)
        with pytest.raises(SourceError) as info:
            check_source(other)
        assert str(info.value) == (
            f"source {other!r} is under /dev but no webcam; a webcam is an index (0), "
            "/dev/video0 or a link under /dev/v4l/ (by-id/...)")
    regular = tmp_path / "lesson.mp4"
    regular.write_bytes(b"")
    assert describe_source(str(regular)) == "file"
    assert describe_source(str(tmp_path / "gone")) == "file"


def test_a_webcam_unplugged_at_start_is_an_outage_retried_like_an_index(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its camera reopens it with backoff, as a webcam index that opens nothing: the camera
    neither ends nor dies. Nothing is published, so no publisher is needed."""
    from producers.camera import CameraWorker
    from producers.config import CameraConfig

    device = "/dev/v4l/by-id/usb-ClassPulse_Absent_Webcam-video-index0"
    stop = threading.Event()
    worker = CameraWorker(CameraConfig(id="front", classroom="7B", source=device),
                          publisher=None, stop=stop)  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="producers.camera"):
        worker.start()
        time.sleep(1.5)  # the first try, and the second after 1 s of backoff
        stop.set()
        worker.join(5)
    result = worker.result()
    assert not worker.is_alive()
    assert (result.outages, result.died, result.source_lost, result.finite) == (
        1, None, None, False)
    assert [r.getMessage() for r in caplog.records] == [
        f"camera outage camera=front source={device} error=cannot open webcam {device!r}; "
        "retrying with backoff"]


@pytest.mark.parametrize(("kept_bytes", "frames", "lost"), [(0.93, 56, False), (0.88, 53, True)])
def test_a_file_short_of_its_announced_frames_by_more_than_a_tenth_is_cut_short(
    tmp_path: Path, kept_bytes: float, frames: int, lost: bool
) -> None:
    """The container's frame count is an estimate in some formats (duration, audio included,
    times the rate), so a file a few frames short ends as complete, and one more than
    SHORT_OF_ANNOUNCED short, sent once (``whole``), ends in SourceError."""
    assert producers.sources.SHORT_OF_ANNOUNCED == 0.10  # 54 of 60 frames still complete
    cut = cut_video(tmp_path, kept_bytes)
    assert len(list(read_frames(str(cut)))) == frames  # sent as read, looped or not
    if not lost:
        assert len(list(read_frames(str(cut), whole=True))) == frames
        return
    with pytest.raises(SourceError, match=f"ended after {frames} of the 60 frames"):
        list(read_frames(str(cut), whole=True))


def test_a_folder_of_images_none_of_which_decodes_is_refused_at_start(tmp_path: Path) -> None:
    """Only the names were checked: a folder of broken files started, and its camera retried the
    folder for ever, even without --loop."""
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_bytes(b"not an image")
    with pytest.raises(SourceError) as info:
        check_source(str(tmp_path))
    assert str(info.value) == (f"folder {str(tmp_path)!r} holds no image OpenCV can decode "
                               "(2 unreadable)")
    cv2.imwrite(str(tmp_path / "c.png"), np.full((8, 8, 3), 200, np.uint8))
    check_source(str(tmp_path))  # one image that decodes is enough


def test_a_folder_without_a_decodable_image_reads_the_same_at_start_and_on_a_pass(
    tmp_path: Path,
) -> None:
    """Written twice, the messages had drifted apart: an empty folder named the image suffixes
    at start only."""
    empty, broken = tmp_path / "empty", tmp_path / "broken"
    empty.mkdir()
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"not an image")
    for folder, said in ((empty, "holds no images (.jpg, .jpeg, .png, .bmp, .webp)"),
                         (broken, "holds no image OpenCV can decode (1 unreadable)")):
        with pytest.raises(SourceError) as at_start:
            check_source(str(folder))
        with pytest.raises(SourceError) as on_a_pass:
            list(read_frames(str(folder), unreadable=set()))
        assert str(at_start.value) == str(on_a_pass.value) == f"folder {str(folder)!r} {said}"


def test_only_the_frames_the_sampler_keeps_are_turned_into_rgb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every decoded frame was turned from OpenCV's BGR into RGB, and most were then dropped by
    the sampler (23 of a 25 fps camera's 25 a second, at 2 fps). OpenCV's own conversion runs,
    counted as it goes."""
    calls: list[int] = []
    real = cv2.cvtColor

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(producers.sources.cv2, "cvtColor", counted)
    video = variable_rate_video(tmp_path / "phone.mp4", [100] * 20)  # 10 fps, 2 s
    kept = list(Sampler(2).sample(read_frames(str(video))))
    assert len(kept) == 4
    assert len(calls) == 4
    assert kept[1].rgb.shape == (48, 64, 3)
