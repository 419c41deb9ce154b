"""The wire format: valid frames round-trip; every broken message is rejected with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classpulse.wire import (
    DEFAULT_MAX_BYTES,
    FrameRejected,
    RejectReason,
    decode_jpeg,
    encode_frame,
    parse_message,
)

NOW_MS = 1_780_000_000_000


def _frame(h: int = 120, w: int = 200, seed: int = 0) -> np.ndarray:
    """Channels differ (red ramp, flat green, blue reverse ramp), so an RGB/BGR swap shows."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    base = np.stack([ramp, np.full_like(ramp, 60), 255 - ramp], axis=2)
    noise = rng.normal(0, 2, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _valid(**kw: object) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    args = dict(camera="cam-1", classroom="7B", captured_at_ms=NOW_MS, seq=5)
    args.update(kw)
    return encode_frame(_frame(), **args)  # type: ignore[arg-type]


def test_round_trip_keeps_metadata_and_pixels() -> None:
    image = _frame()
    key, value, headers = encode_frame(image, camera="cam-1", classroom="7B",
                                       captured_at_ms=NOW_MS, seq=42, jpeg_quality=95)
    assert key == b"cam-1"
    assert dict(headers) == {"classroom": b"7B", "camera": b"cam-1",
                             "captured_at": str(NOW_MS).encode(), "seq": b"42", "v": b"1"}
    msg = parse_message(key, value, headers)
    assert (msg.camera, msg.classroom, msg.captured_at_ms, msg.seq) == ("cam-1", "7B", NOW_MS, 42)
    rgb = decode_jpeg(msg)
    assert rgb.shape == image.shape
    error = np.abs(rgb.astype(int) - image.astype(int)).mean(axis=(0, 1))
    assert (error < 4).all(), error  # JPEG at q95 is close, channel by channel
    assert rgb[:, -10:, 0].mean() > 200 and rgb[:, -10:, 2].mean() < 55  # red right, blue left


def test_encode_downscales_to_max_side_and_never_upscales() -> None:
    _, value, headers = encode_frame(_frame(600, 1000), camera="c", classroom="r",
                                     captured_at_ms=NOW_MS, seq=0, max_side=500)
    assert decode_jpeg(parse_message(b"c", value, headers)).shape == (300, 500, 3)
    _, value, headers = encode_frame(_frame(60, 100), camera="c", classroom="r",
                                     captured_at_ms=NOW_MS, seq=0, max_side=500)
    assert decode_jpeg(parse_message(b"c", value, headers)).shape == (60, 100, 3)


def test_encode_refuses_bad_ids() -> None:
    with pytest.raises(ValueError, match="camera id"):
        encode_frame(_frame(), camera="bad id", classroom="r", captured_at_ms=NOW_MS, seq=0)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda k, v, h: (k, b"", h), RejectReason.EMPTY),
        (lambda k, v, h: (k, v + b"x" * DEFAULT_MAX_BYTES, h), RejectReason.OVERSIZE),
        (lambda k, v, h: (k, b"GIF89a" + v[6:], h), RejectReason.NOT_JPEG),
        (lambda k, v, h: (k, v[: len(v) // 2], h), RejectReason.TRUNCATED),
        (lambda k, v, h: (k, v, [x for x in h if x[0] != "seq"]), RejectReason.MISSING_HEADER),
        (lambda k, v, h: (k, v, [*h, ("seq", b"1")]), RejectReason.DUPLICATE_HEADER),
        (lambda k, v, h: (k, v, _set(h, "captured_at", b"12:00")), RejectReason.MALFORMED_HEADER),
        (lambda k, v, h: (k, v, _set(h, "captured_at", b"5")), RejectReason.MALFORMED_HEADER),
        (lambda k, v, h: (k, v, _set(h, "camera", b"\xff\xfe")), RejectReason.MALFORMED_HEADER),
        (lambda k, v, h: (k, v, _set(h, "v", b"2")), RejectReason.UNSUPPORTED_VERSION),
        (lambda k, v, h: (k, v, _set(h, "camera", b"cam-1\n")), RejectReason.MALFORMED_HEADER),
        (lambda k, v, h: (k, v, _set(h, "classroom", b"7B\n")), RejectReason.MALFORMED_HEADER),
        (lambda k, v, h: (b"other-cam", v, h), RejectReason.KEY_MISMATCH),
        (lambda k, v, h: (None, v, h), RejectReason.MISSING_KEY),
    ],
)
def test_each_defect_has_its_reason(mutate, reason: RejectReason) -> None:
    key, value, headers = mutate(*_valid())
    with pytest.raises(FrameRejected) as info:
        parse_message(key, value, headers)
    assert info.value.reason is reason


def test_corrupt_jpeg_body_is_undecodable() -> None:
    key, value, headers = _valid()
    broken = value[:4] + b"\x00" * (len(value) - 6) + value[-2:]
    with pytest.raises(FrameRejected) as info:
        decode_jpeg(parse_message(key, broken, headers))
    assert info.value.reason is RejectReason.UNDECODABLE


def _declaring(side: int) -> bytes:
    """A few hundred bytes of JPEG whose header declares a side x side picture: a real header,
    four bytes of scan data, then the end-of-image marker."""
    import struct

    import cv2

    jpeg = bytearray(cv2.imencode(".jpg", np.zeros((16, 16), np.uint8))[1].tobytes())
    struct.pack_into(">HH", jpeg, jpeg.index(b"\xff\xc0") + 5, side, side)  # SOF0 height, width
    scan = jpeg.index(b"\xff\xda")
    header_len = struct.unpack(">H", jpeg[scan + 2:scan + 4])[0]
    return bytes(jpeg[:scan + 2 + header_len + 4]) + b"\xff\xd9"


BOMB = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB: the picture would need 2.7
from classpulse.wire import FrameRejected, decode_jpeg, parse_message
jpeg = bytes.fromhex(sys.argv[1])
headers = [("classroom", b"7B"), ("camera", b"cam-1"), ("captured_at", b"1780000000000"),
           ("seq", b"1"), ("v", b"1")]
try:
    decode_jpeg(parse_message(b"cam-1", jpeg, headers))
except FrameRejected as exc:
    print(exc.reason.value, len(jpeg))
"""


def test_a_tiny_jpeg_declaring_a_huge_picture_is_refused_before_decoding() -> None:
    """334 bytes declaring 30000x30000 px: the decoder would allocate 2.7 GB before the size
    check; in a process allowed 1 GiB, it must be refused from the header alone."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", BOMB, _declaring(30_000).hex()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["too_large_image", "334"]


def test_a_header_within_the_limit_is_decoded_as_usual() -> None:
    key, value, headers = _valid()
    assert decode_jpeg(parse_message(key, value, headers)).shape == (120, 200, 3)
    with pytest.raises(FrameRejected) as info:  # declares 9000 px: refused, nothing allocated
        decode_jpeg(parse_message(key, _declaring(9000), headers))
    assert info.value.reason is RejectReason.TOO_LARGE_IMAGE


def _set(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(n, value if n == name else v) for n, v in headers]


def _consume(key: bytes | None, value: bytes | None, headers: object) -> RejectReason | None:
    """What a consumer does with a message: its rejection reason, or None when accepted."""
    try:
        decode_jpeg(parse_message(key, value, headers))  # type: ignore[arg-type]
    except FrameRejected as exc:
        assert isinstance(exc.reason, RejectReason)
        assert exc.detail
        return exc.reason
    return None


header_names = st.sampled_from(["classroom", "camera", "captured_at", "seq", "v", "x-extra"])
header_lists = st.lists(st.tuples(header_names, st.binary(max_size=24)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(key=st.one_of(st.none(), st.binary(max_size=32)), value=st.binary(max_size=4096),
       headers=header_lists)
def test_random_bytes_and_headers_are_always_rejected_with_a_reason(
    key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    assert _consume(key, value, headers) is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_header_values_on_a_real_jpeg_never_raise_anything_else(data: st.DataObject) -> None:
    key, value, headers = _valid()
    name = data.draw(st.sampled_from([n for n, _ in headers]))
    raw = data.draw(st.binary(max_size=30))
    result = _consume(key, value, _set(headers, name, raw))
    if result is None:  # accepted only if the random header happened to be valid
        parse_message(key, value, _set(headers, name, raw))


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(min_value=1, max_value=10_000), seed=st.integers(0, 50))
def test_truncated_jpegs_are_always_rejected(cut: int, seed: int) -> None:
    key, value, headers = encode_frame(_frame(seed=seed), camera="cam-1", classroom="7B",
                                       captured_at_ms=NOW_MS, seq=1)
    truncated = value[: max(0, len(value) - cut)]
    assert _consume(key, truncated, headers) in {
        RejectReason.EMPTY, RejectReason.NOT_JPEG, RejectReason.TRUNCATED, RejectReason.UNDECODABLE
    }


@settings(max_examples=100, deadline=None)
@given(garbage=st.lists(st.one_of(st.integers(), st.text(), st.none(), st.tuples(st.integers())),
                        max_size=4))
def test_headers_of_wrong_types_are_rejected(garbage: list[object]) -> None:
    key, value, headers = _valid()
    reason = _consume(key, value, [*headers, *garbage]) if garbage else None
    if garbage:
        assert reason is RejectReason.MALFORMED_HEADER
