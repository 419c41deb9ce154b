"""Frame sources: a webcam, an RTSP/HTTP stream, a video file or a folder of images.

A source yields ``SourceFrame``s: RGB pixels plus where the frame sits on the source's own
timeline. Live sources have no timeline (``position_ms`` is None). Files and folders have one, so a
video's frames are sampled by their real spacing even when sent faster than real time: a video's
frames are where its container's timestamps put them, which holds for variable-frame-rate files
too (phones record them), where frame index / fps does not. Every frame, live or not, is stamped
with the wall clock when its camera sends it (:mod:`producers.camera`). Which kind of source a
string names is :func:`classpulse.sources.describe_source`'s to say (the demo asks it too).
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from classpulse.redact import hide_password
from classpulse.safe_text import safe_text
from classpulse.sources import (
    HTTP_PREFIXES,
    STREAM_PREFIXES,
    describe_source,
    source_paths,
    stream_authority,
)
from classpulse.wire import jpeg_cut_short

log = logging.getLogger(__name__)

# a file that ends more than this share short of the frames its container announces lost them;
# the count is an estimate in some containers (MKV, WebM, TS: the file's duration, audio included,
# times the frame rate), so a few percent short is no loss
SHORT_OF_ANNOUNCED = 0.10
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # any URL's scheme, supported or not
_SCHEME_TYPO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # a URL meant, its slashes mistyped
SYNTHETIC_VIEWS = {"classroom": "demo", "classroom-cctv": "cctv"}


class SourceError(Exception):
    """The source cannot be opened or stopped delivering frames: an outage, retried for a live
    or looped source, the end of its camera for a file or folder without loop
    (:mod:`producers.camera`)."""


@dataclass(frozen=True)
class SourceFrame:
    """One decoded frame. ``position_ms`` is the offset on a file's timeline, None when live.

    ``pixels`` are RGB, or BGR (as OpenCV decodes) when ``bgr``: turned into RGB only when
    :attr:`rgb` is read, so the frames the sampler drops (most of a 25 fps camera's at 2 fps)
    are never converted.
    """

    pixels: np.ndarray
    position_ms: float | None
    bgr: bool = False

    @property
    def rgb(self) -> np.ndarray:
        return cv2.cvtColor(self.pixels, cv2.COLOR_BGR2RGB) if self.bgr else self.pixels


def _in_dev(src: str) -> bool:
    return any(p == "/dev" or p.startswith("/dev/") for p in source_paths(src))


def is_live(src: str) -> bool:
    """Whether ``src`` has no timeline of its own (webcam, stream, synthetic): it is sampled on
    the monotonic clock, never paced, and reopened when it ends.

    Told from the string: an http(s) URL is live until it is opened, and then only if it serves a
    live stream; one that serves a recorded video is read as a file (:func:`read_frames`, whose
    frames then carry their position; :class:`producers.camera.CameraWorker` follows them)."""
    return describe_source(src) in {"webcam", "stream", "synthetic"}


def check_source(src: str) -> None:
    """Fail early, naming the source, when a stream URL has a scheme we do not read or names no
    host, or a file or folder source does not exist, lies under ``/dev`` without being a webcam,
    or holds no frame OpenCV can decode (a folder: no image; a file: no video frame).

    Every message shows the source through :func:`hide_password`: a mistyped stream URL
    (``rstp://admin:pw@...``) carries the camera's password like a correct one does.
    """
    kind, shown = describe_source(src), hide_password(src)
    if kind == "synthetic" and _synthetic_view(src) is None:
        raise SourceError(f"synthetic source {shown!r} must be synthetic:classroom[:SEED] or "
                          "synthetic:classroom-cctv[:SEED]")
    scheme = _SCHEME.match(src)
    if kind in ("file", "folder") and _in_dev(src):
        raise SourceError(f"source {shown!r} is under /dev but no webcam; a webcam is an index "
                          "(0), /dev/video0 or a link under /dev/v4l/ (by-id/...)")
    if kind == "file" and scheme is not None:
        raise SourceError(f"source {shown!r} is a {scheme[0]} stream, which is not supported; "
                          f"use {', '.join(STREAM_PREFIXES)} (a typo such as rstp://?)")
    if kind == "stream" and not _stream_host(src):  # else an outage, retried for ever
        raise SourceError(f"stream {shown!r} names no host; write the camera's address after "
                          "the '//', e.g. rtsp://user:password@192.0.2.10:554/stream")
    if kind == "file" and not os.path.exists(src) and not _SCHEME_TYPO.match(src):
        raise SourceError(
            f"source {shown!r} does not exist: no file or folder of that name; give the path of "
            "a video file or a folder of images, a webcam index (0) or an rtsp:// or http(s):// "
            "URL"
        )
    if kind == "file" and not os.path.isfile(src):
        raise SourceError(
            f"source {shown!r} is not a webcam index, an rtsp:// or http(s):// URL, a video file "
            "or a folder of images"
        )
    if kind == "folder":
        _check_folder(Path(src))
    if kind == "file":
        _check_video(src)


def _stream_host(src: str) -> str | None:
    """The host a stream URL names; None when it names none (``rtsp://user:pw@``, ``http://``).

    A URL urlsplit refuses (a ``[`` or ``]`` in the authority: an unencoded camera password
    such as ``rtsp://admin:Ab[1]x@10.0.0.5/stream``, which FFmpeg opens) is split as FFmpeg
    does (:func:`classpulse.sources.stream_authority`); an unclosed ``[IPv6`` address names
    none."""
    try:
        return urlsplit(src).hostname
    except ValueError:  # "Invalid IPv6 URL"
        pass
    host = stream_authority(src)[0]
    if host.startswith("["):
        literal = host[1:].removesuffix("]")
        return literal if host.endswith("]") and literal else None
    return host or None


def _check_folder(folder: Path) -> None:
    """A folder must hold an image OpenCV can decode: its images are read from the first, to the
    first that decodes. A folder of broken or mislabelled files is a mistake to fix now; found
    by its camera, it was an outage retried for ever."""
    images = _folder_images(folder)
    if not any(_read_image(path) is not None for path in images):
        raise _nothing_to_decode(folder, len(images))


def _read_image(path: Path) -> np.ndarray | None:
    """An image file's BGR pixels; None when it cannot be read (gone, no permission), is no image
    OpenCV decodes, or is a JPEG cut short: OpenCV decodes one without its end-of-image marker
    (a copy not finished) with its missing rows grey, a corrupt frame sent as a good one.

    Some images OpenCV refuses with an exception rather than None (a PNG declaring 40000x40000
    pixels, over its limit): raised, it ended ``--source FOLDER`` at start with a traceback, a
    folder sent once at that image, and a looped folder in an outage at each pass."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data or (jpeg_cut_short(data) and not _whole_jpeg(data)):
        return None
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        return None


def _whole_jpeg(data: bytes) -> bool:
    """Whether a JPEG that does not end with its end-of-image marker holds one all the same, with
    bytes after it (a phone's motion photo or maker trailer, a stray newline): Pillow decodes it
    to its end-of-image marker, ignoring what follows, and refuses one cut short. Only such files
    are decoded twice; a JPEG ending with its marker is whole without this."""
    from PIL import Image

    try:
        # without trailing zeros: a copy preallocated, or cut off and zero-filled, would have
        # Pillow decode the zeros as the rest of the image
        with Image.open(io.BytesIO(data.rstrip(b"\x00")), formats=["JPEG"]) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    return True


def _check_video(src: str) -> None:
    """A file must be a video OpenCV can read a frame of: a wrong file is a mistake to fix now,
    not an outage to retry forever (streams and webcams are retried: they come back)."""
    cap = cv2.VideoCapture(src)
    try:
        readable = cap.isOpened() and cap.read()[0]
    finally:
        cap.release()
    if not readable:
        raise SourceError(
            f"file {hide_password(src)!r} is not a video OpenCV can read (no frame could be "
            "decoded); give a video file (mp4, avi, mkv, ...), a folder of images, a webcam "
            "index or a stream URL"
        )


def read_frames(src: str, folder_fps: float = 1.0, unreadable: set[Path] | None = None,
                whole: bool = False,
                skipped: Callable[[Path], None] | None = None) -> Iterator[SourceFrame]:
    """Yield the frames of ``src`` once, from the start. Raises SourceError when it fails, and
    when a pass yields no frame at all: a looped source that can never deliver one then backs
    off like any outage instead of starting over at once, forever.

    ``unreadable``: a folder's images already reported as unreadable, kept by the caller from one
    pass to the next so that each is logged once, not once per pass of a looped folder.
    ``skipped``: called with each image a pass skips as unreadable, every pass, so that the caller
    counts it: a folder sent once that lost an image is incomplete, not a success.
    ``whole``: a video file that stops well short of the frames its container announces (a copy
    still being written, a download cut off) raises SourceError at its last frame instead of
    ending as if complete, so that a file sent once reports the frames it lost (a looped file
    keeps starting over after what it has).

    An http(s) URL that serves a recorded video (its capture announces more than one frame,
    which a live stream or a snapshot URL never does: :func:`_recording`) is read as a file: its
    frames carry their position, and its end is its end, not an outage.
    """
    kind = describe_source(src)
    if kind == "folder":
        yield from _read_folder(Path(src), folder_fps, set() if unreadable is None else unreadable,
                                skipped)
    elif kind == "synthetic":
        from producers.synthetic import synthetic_frames

        view, seed = _synthetic_view(src) or ("demo", 0)
        for rgb in synthetic_frames(seed=seed, view=view):
            yield SourceFrame(rgb, None)
    else:
        yield from _read_capture(src, whole)


def _synthetic_view(src: str) -> tuple[str, int] | None:
    """(view, seed) of ``synthetic:classroom[-cctv][:SEED]``, None when malformed."""
    parts = src.split(":")
    if len(parts) not in (2, 3) or parts[1] not in SYNTHETIC_VIEWS:
        return None
    if len(parts) == 3 and not parts[2].isdigit():
        return None
    return SYNTHETIC_VIEWS[parts[1]], int(parts[2]) if len(parts) == 3 else 0


def _open_capture(src: str) -> cv2.VideoCapture:
    kind = describe_source(src)
    cannot_open = SourceError(f"cannot open {kind} {hide_password(src)!r}")
    index = kind == "webcam" and src.isascii() and src.isdigit()  # else a device's path
    opened: int | str = int(src) if index else src
    if kind == "stream":
        opened = _lower_scheme(src)
    try:
        cap = cv2.VideoCapture(opened)
    except cv2.error:  # a webcam index past a C int: OpenCV's own message spans ten lines
        raise cannot_open from None
    if not cap.isOpened():
        cap.release()
        raise cannot_open
    return cap


def _lower_scheme(url: str) -> str:
    """A stream URL with its scheme in lower case, the rest as written (a path or a password is
    case-sensitive). A scheme's case means nothing (RFC 3986), and the checks at start read it
    so (``RTSP://`` is a stream), but FFmpeg finds no protocol for ``RTSP`` or ``HTTP``: such a
    camera passed them and was never opened, an outage for ever."""
    scheme, sep, rest = url.partition("://")
    return scheme.lower() + sep + rest


def _read_capture(src: str, whole: bool = False) -> Iterator[SourceFrame]:
    cap = _open_capture(src)
    live = is_live(src) and not _recording(src, cap)
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    index = 0
    position: float | None = None
    try:
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                if live:
                    raise SourceError(
                        f"{describe_source(src)} {hide_password(src)!r} stopped delivering frames"
                    )
                if index == 0:
                    raise SourceError(f"video file {hide_password(src)!r} has no readable "
                                      "frame")
                if whole:
                    _check_whole(src, index, cap.get(cv2.CAP_PROP_FRAME_COUNT), position)
                return
            if not live:
                position = _file_position_ms(cap.get(cv2.CAP_PROP_POS_MSEC), index, fps, position)
            index += 1
            yield SourceFrame(bgr, position, bgr=True)
    finally:
        cap.release()


def _recording(src: str, cap: cv2.VideoCapture) -> bool:
    """Whether an http(s) URL serves a recorded video rather than a live stream: its capture
    announces more than one frame (a live MJPEG or HLS stream announces none, or a negative
    count). Read as live, a recording was decoded flat out, the sampler kept its first frames
    only (on the clock, a minute of video lasts milliseconds), and it was reopened at its end for
    ever. One frame is a camera's snapshot URL (each GET a fresh JPEG, which FFmpeg counts as a
    one-frame file): read as a recording, it was sent once and its camera ended, a live camera
    gone from its classroom with an INFO line; live, it is reopened for its next picture."""
    if not src.lower().startswith(HTTP_PREFIXES):
        return False
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    return math.isfinite(count) and count > 1


def _check_whole(src: str, read: int, announced: float, position_ms: float | None) -> None:
    """Raise SourceError when a file ended more than :data:`SHORT_OF_ANNOUNCED` short of the frame
    count its container announces. The count is the container's own or its duration times its
    frame rate, which a variable frame rate makes inexact: a small shortfall is no loss."""
    if not (math.isfinite(announced) and announced > 0):
        return  # nothing announced: the end read is the end
    if read >= announced * (1 - SHORT_OF_ANNOUNCED):
        return
    at = "" if position_ms is None else f", at {position_ms / 1000:.1f} s"
    raise SourceError(f"video file {hide_password(src)!r} ended after {read} of the "
                      f"{int(announced)} frames its container announces{at}: it is cut short "
                      "or unreadable from there (a copy not finished?); if it plays to its end "
                      "elsewhere, the container's count is wrong and nothing was lost")


def _file_position_ms(stamp_ms: float, index: int, fps: float, last_ms: float | None) -> float:
    """Where the frame just read sits in its file: the container's timestamp for it when that is
    sane (a number, not negative, after the previous frame's), else frame index / fps.

    Frame index / fps alone is wrong for variable-frame-rate files, whose frames are not evenly
    spaced, and the frame rate OpenCV reports for them is an average or a guess; a backend that
    reports no usable timestamp (0 for every frame, say) falls back to it.
    """
    if math.isfinite(stamp_ms) and stamp_ms >= 0 and (last_ms is None or stamp_ms > last_ms):
        return stamp_ms
    if fps > 0:
        return index * 1000.0 / fps
    return stamp_ms if math.isfinite(stamp_ms) else 0.0


def _folder_images(folder: Path) -> list[Path]:
    """The folder's images by name; SourceError when it cannot be listed (gone, no permission)."""
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as exc:
        raise SourceError(f"folder {str(folder)!r} cannot be listed: "
                          f"{exc.strerror or exc}") from None


def _read_folder(folder: Path, fps: float, unreadable: set[Path],
                 skipped: Callable[[Path], None] | None = None) -> Iterator[SourceFrame]:
    """A folder is a slide show at ``fps``: image i sits at i / fps seconds. An image that cannot
    be decoded (broken from the start, or deleted or cut short since the folder was listed) is
    skipped, handed to ``skipped`` to be counted, and logged the first time only
    (``unreadable`` remembers it). A folder that is gone when an image fails (moved, deleted,
    unmounted: gone, or holding no image any more) raises SourceError: its remaining images are
    not each an unreadable one."""
    images = _folder_images(folder)
    decoded = 0
    for i, path in enumerate(images):
        bgr = _read_image(path)
        if bgr is None:
            if not os.path.exists(path) and not _holds_images(folder):  # no raise on EACCES
                # moved or deleted, or an unmounted share's mount point left behind, empty
                raise SourceError(f"folder {hide_password(str(folder))!r} went away after {i} "
                                  f"of its {len(images)} images (moved, deleted or unmounted)")
            if path not in unreadable:
                unreadable.add(path)
                log.warning("skipping unreadable image path=%s", safe_text(str(path)))
            if skipped is not None:
                skipped(path)
            continue
        decoded += 1
        yield SourceFrame(bgr, i * 1000.0 / fps, bgr=True)
    if not decoded:
        raise _nothing_to_decode(folder, len(images))


def _holds_images(folder: Path) -> bool:
    """Whether ``folder`` is there and holds an image still: looked at when an image is gone,
    and stopping at the first image, so that a pass over a large folder with many unreadable
    images does not list it whole at each (20,000 images, 200 unreadable: 51 s)."""
    try:
        with os.scandir(folder) as entries:
            return any(Path(e.name).suffix.lower() in IMAGE_SUFFIXES for e in entries)
    except OSError:
        return False


def _nothing_to_decode(folder: Path, images: int) -> SourceError:
    """A folder without one image OpenCV can decode, at start (:func:`check_source`) and on a
    pass (:func:`read_frames`): one message for both."""
    shown = hide_password(str(folder))
    if not images:
        return SourceError(f"folder {shown!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return SourceError(f"folder {shown!r} holds no image OpenCV can decode ({images} unreadable)")
