"""The frame message on topic ``classpulse.frames`` (wire format version 1), as code.

key: camera id (UTF-8), required. value: one JPEG, at most ``max_side`` pixels on its longer side
and under the broker's message limit. headers: ``classroom``, ``camera``, ``captured_at`` (ms since
the epoch, UTC, ASCII digits), ``seq`` (ASCII digits), ``v`` (``1``).

The producer builds messages with :func:`encode_frame`; the consumer checks them with
:func:`parse_message` and decodes pixels with :func:`decode_jpeg`. Every way a message can be wrong
raises :class:`FrameRejected` with a :class:`RejectReason`, so a consumer can count and skip it and
never crash or stall on one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import Enum

import cv2
import numpy as np

from classpulse.years import FIRST_DAY, LAST_DAY

WIRE_VERSION = "1"
# a 1080p camera's frames cross unshrunk: halving them would halve every face, and faces under
# 19 px cannot be read (the readability gate, model/README.md); 4K frames are halved
DEFAULT_MAX_SIDE = 1920
DEFAULT_JPEG_QUALITY = 80
DEFAULT_MAX_BYTES = 1_000_000  # Kafka's default message.max.bytes is 1 MB (1048588)
REQUIRED_HEADERS = ("classroom", "camera", "captured_at", "seq", "v")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # whole string: fullmatch (no "\n" at the end)
# the instants of the days a frame may be captured on (classpulse.years)
_DAY_MS = 86_400_000
_EARLIEST_MS = (FIRST_DAY - date(1970, 1, 1)).days * _DAY_MS  # FIRST_DAY's midnight, UTC
_END_MS = (LAST_DAY + timedelta(days=1) - date(1970, 1, 1)).days * _DAY_MS  # the midnight after
_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
# Start-of-scan marker. Inside a scan's entropy-coded data every 0xFF byte is followed by 0x00
# (byte stuffing), so in scan data FF DA is always a marker, and counting it over the whole file
# bounds the number of scans from above: FF DA bytes inside a metadata segment, and the scans of an
# embedded EXIF thumbnail or preview, count too (the safe side; a camera's JPEG stays far under
# the limit).
_JPEG_SOS = b"\xff\xda"
# A progressive JPEG is decoded in one pass over the whole picture per scan: thousands of scans of
# a few bytes each, in a 1 MB message, would hold a decode thread for minutes (27,310 scans of 33
# bytes at 4096x4096: 393 s, one core). A baseline JPEG (OpenCV's, so every producer's) has 1
# scan (3 when its colours are not interleaved), libjpeg's progressive default 10 (6 in
# grayscale); the limit leaves room for the scan scripts of other encoders, cameras' included.
MAX_JPEG_SCANS = 64
# how many characters of a value taken from a message a rejection's detail quotes: enough to
# recognise it in a log, never the whole of a megabyte-long header
DETAIL_CHARS = 80

Headers = Sequence[tuple[str, bytes]]


class RejectReason(str, Enum):
    """Why a message breaks the wire format; the value is what ``rejected_frames.reason`` stores.

    The consumer also refuses well-formed frames, under reasons of its own (``stale``,
    ``future``, ``duplicate``, ``analysis_failed``: defined in ``consumers.batch``, judged in
    ``consumers.rejections``).
    """

    EMPTY = "empty"
    OVERSIZE = "oversize"
    NOT_JPEG = "not_jpeg"
    TRUNCATED = "truncated"
    UNDECODABLE = "undecodable"
    MISSING_HEADER = "missing_header"
    DUPLICATE_HEADER = "duplicate_header"
    MALFORMED_HEADER = "malformed_header"
    UNSUPPORTED_VERSION = "unsupported_version"
    MISSING_KEY = "missing_key"
    KEY_MISMATCH = "key_mismatch"
    TOO_LARGE_IMAGE = "too_large_image"
    TOO_MANY_SCANS = "too_many_scans"


class FrameRejected(Exception):
    """A message that breaks the wire format. ``reason`` is machine-readable, ``detail`` human."""

    def __init__(self, reason: RejectReason, detail: str, camera: str | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        # only a well-formed camera id is kept: rejected_frames must not store arbitrary bytes
        self.camera = camera if camera and _ID.fullmatch(camera) else None


@dataclass(frozen=True)
class FrameMessage:
    """A validated frame message; ``jpeg`` is still encoded (decode with :func:`decode_jpeg`)."""

    camera: str
    classroom: str
    captured_at_ms: int
    seq: int
    # not in its repr: a message formatted into a log line or an error would print the picture
    jpeg: bytes = field(repr=False)


def in_time_range(ms: object) -> bool:
    """Whether ``ms`` is a time the wire format carries: ms since the epoch, on a day from
    :data:`FIRST_DAY` through :data:`LAST_DAY` (UTC), so 2000 to 2099."""
    return isinstance(ms, int) and _EARLIEST_MS <= ms < _END_MS


def check_id(kind: str, value: str) -> str:
    """Camera and classroom ids: 1-64 letters, digits, '.', '_' or '-', starting alphanumeric."""
    if not _ID.fullmatch(value):
        raise ValueError(
            f"{kind} id {value!r} is invalid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def fit_max_side(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale so the longer side is at most ``max_side``; never upscale."""
    h, w = image.shape[:2]
    longer = max(h, w)
    if longer <= max_side:
        return image
    scale = max_side / longer
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def encode_jpeg(image_rgb: np.ndarray, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """RGB uint8 (H, W, 3) -> JPEG bytes."""
    if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image_rgb.dtype} "
                         f"{image_rgb.shape}")
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return buf.tobytes()


def encode_frame(
    image_rgb: np.ndarray,
    *,
    camera: str,
    classroom: str,
    captured_at_ms: int,
    seq: int,
    max_side: int = DEFAULT_MAX_SIDE,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Build (key, value, headers) for one frame.

    A frame whose JPEG would exceed ``max_bytes`` is re-encoded at lower quality rather than sent
    to be silently dropped by the broker; if even quality 30 is too big, ValueError.
    """
    check_id("camera", camera)
    check_id("classroom", classroom)
    if not in_time_range(captured_at_ms) or seq < 0:
        raise ValueError(f"captured_at_ms={captured_at_ms} or seq={seq} out of range")
    image = fit_max_side(image_rgb, max_side)
    quality = jpeg_quality
    jpeg = encode_jpeg(image, quality)
    while len(jpeg) > max_bytes and quality > 30:
        quality = max(30, quality - 15)
        jpeg = encode_jpeg(image, quality)
    if len(jpeg) > max_bytes:
        raise ValueError(
            f"frame of {image.shape[1]}x{image.shape[0]} is {len(jpeg)} bytes as JPEG, over the "
            f"{max_bytes}-byte limit; lower max_side (--max-side, or max_side: in cameras.yaml)"
        )
    headers = [
        ("classroom", classroom.encode()),
        ("camera", camera.encode()),
        ("captured_at", str(int(captured_at_ms)).encode()),
        ("seq", str(int(seq)).encode()),
        ("v", WIRE_VERSION.encode()),
    ]
    return camera.encode(), jpeg, headers


def parse_message(
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> FrameMessage:
    """Validate a raw Kafka message without decoding pixels; raise FrameRejected if it is wrong.

    The version comes first: a frame of a later version is ``unsupported_version`` whatever else
    it lacks or adds, not a broken version-1 frame.
    """
    fields = _parse_headers(headers or ())
    camera = fields.get("camera")
    if "v" in fields and fields["v"] != WIRE_VERSION:
        raise FrameRejected(RejectReason.UNSUPPORTED_VERSION, f"v={_quote(fields['v'])}", camera)
    if not value:
        raise FrameRejected(RejectReason.EMPTY, "message has no value", camera)
    if len(value) > max_bytes:
        raise FrameRejected(RejectReason.OVERSIZE, f"{len(value)} bytes > {max_bytes}", camera)
    for name in REQUIRED_HEADERS:
        if name not in fields:
            raise FrameRejected(RejectReason.MISSING_HEADER, f"header {name!r} missing", camera)
    for name in ("camera", "classroom"):
        if not _ID.fullmatch(fields[name]):
            raise FrameRejected(RejectReason.MALFORMED_HEADER,
                                f"{name}={_quote(fields[name])} is not a valid id", None)
    captured_at = _digits(fields, "captured_at")
    if not in_time_range(captured_at):
        raise FrameRejected(RejectReason.MALFORMED_HEADER,
                            f"captured_at={captured_at} outside 2000-2100", camera)
    seq = _digits(fields, "seq")
    if key is None:
        # the key puts all of a camera's frames on one partition, in order, read by one consumer:
        # a keyless message lands on any partition and would break both promises
        raise FrameRejected(RejectReason.MISSING_KEY, "message has no key (the camera id)", camera)
    if key != fields["camera"].encode():
        raise FrameRejected(RejectReason.KEY_MISMATCH,
                            f"key {_quote(key)} != camera header {camera!r}", camera)
    if not value.startswith(_JPEG_SOI):
        raise FrameRejected(RejectReason.NOT_JPEG, "value does not start with a JPEG SOI", camera)
    if jpeg_cut_short(value):
        raise FrameRejected(RejectReason.TRUNCATED, "JPEG has no end-of-image marker", camera)
    return FrameMessage(camera, fields["classroom"], captured_at, seq, bytes(value))


def jpeg_cut_short(data: bytes) -> bool:
    """Whether ``data`` starts as a JPEG but does not end with its end-of-image marker (trailing
    NUL padding aside): a message, or an image file, cut off mid-write or mid-copy. OpenCV decodes
    such a JPEG without an error, its missing rows grey, so it is refused before decoding: by the
    consumers (``truncated``: a producer sends nothing after the marker), and by a folder source
    unless Pillow finds the whole image before bytes a phone appended (:mod:`producers.sources`)."""
    return data.startswith(_JPEG_SOI) and not data.rstrip(b"\x00").endswith(_JPEG_EOI)


def decode_jpeg(message: FrameMessage, max_side: int = 4096) -> np.ndarray:
    """Decode to RGB uint8 (H, W, 3); raise FrameRejected when the pixels cannot be read.

    The size is read from the JPEG's header before any pixel is: a few hundred bytes can declare
    a 30000x30000 picture, which the decoder would allocate (2.7 GB) before the size check. The
    scans are counted before decoding too (:data:`MAX_JPEG_SCANS`).
    """
    width, height = _declared_size(message)
    if max(width, height) > max_side:
        raise FrameRejected(RejectReason.TOO_LARGE_IMAGE,
                            f"{width}x{height} exceeds {max_side} pixels", message.camera)
    scans = message.jpeg.count(_JPEG_SOS)
    if scans > MAX_JPEG_SCANS:
        raise FrameRejected(RejectReason.TOO_MANY_SCANS,
                            f"{scans} scans exceed {MAX_JPEG_SCANS}", message.camera)
    buf = np.frombuffer(message.jpeg, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except (cv2.error, MemoryError):
        bgr = None
    if bgr is None or bgr.size == 0:
        raise FrameRejected(RejectReason.UNDECODABLE, "OpenCV could not decode the JPEG",
                            message.camera)
    if max(bgr.shape[:2]) > max_side:  # a header that lied
        raise FrameRejected(RejectReason.TOO_LARGE_IMAGE,
                            f"{bgr.shape[1]}x{bgr.shape[0]} exceeds {max_side} pixels",
                            message.camera)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _declared_size(message: FrameMessage) -> tuple[int, int]:
    """Width and height from the JPEG's frame header (Pillow reads the header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(message.jpeg), formats=["JPEG"]) as image:
            return image.size
    except Image.DecompressionBombError as exc:  # Pillow's own limit, far above ours
        raise FrameRejected(RejectReason.TOO_LARGE_IMAGE, str(exc), message.camera) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise FrameRejected(RejectReason.UNDECODABLE, "the JPEG's header cannot be read",
                            message.camera) from None


def _parse_headers(headers: Headers) -> dict[str, str]:
    """The wire format's own headers, decoded. Any other header is skipped before its value is
    looked at: newer producers may add some, and Kafka allows a null value, which tracing
    interceptors send (``("traceparent", None)``)."""
    fields: dict[str, str] = {}
    for item in headers:
        try:
            name, raw = item
        except (TypeError, ValueError):
            raise FrameRejected(RejectReason.MALFORMED_HEADER, "header is not a pair") from None
        if not isinstance(name, str) or name not in REQUIRED_HEADERS:
            continue
        if not isinstance(raw, (bytes, bytearray)):
            raise FrameRejected(RejectReason.MALFORMED_HEADER,
                                f"header {name!r} is {type(raw).__name__}, not bytes")
        if name in fields:
            raise FrameRejected(RejectReason.DUPLICATE_HEADER, f"header {name!r} repeated")
        try:
            fields[name] = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise FrameRejected(RejectReason.MALFORMED_HEADER,
                                f"header {name!r} is not UTF-8") from None
    return fields


def _digits(fields: dict[str, str], name: str) -> int:
    text = fields[name]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise FrameRejected(RejectReason.MALFORMED_HEADER,
                            f"{name}={_quote(text)} is not ASCII digits", fields.get("camera"))
    return int(text)


def _quote(value: str | bytes) -> str:
    """``repr`` of ``value`` cut to :data:`DETAIL_CHARS`, saying how long it was when cut."""
    if len(value) <= DETAIL_CHARS:
        return repr(value)
    return f"{value[:DETAIL_CHARS]!r}... ({len(value)} long)"
