"""The wire format: valid frames round-trip; every broken message is rejected with a reason."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classpulse.wire import (
    DEFAULT_MAX_BYTES,
    DETAIL_CHARS,
    MAX_JPEG_SCANS,
    REQUIRED_HEADERS,
    FrameRejected,
    RejectReason,
    decode_jpeg,
    encode_frame,
    in_time_range,
    parse_message,
)
from classpulse.years import FIRST_DAY, LAST_DAY

NOW_MS = 1_780_000_000_000


def test_the_time_range_is_every_millisecond_of_first_day_to_last_day_utc() -> None:
    """The days a timetable may name and the lessons view opens are the days frames may carry."""
    assert (FIRST_DAY.isoformat(), LAST_DAY.isoformat()) == ("2000-01-01", "2099-12-31")
    first, end = (int(datetime.combine(day, time(0), timezone.utc).timestamp()) * 1000
                  for day in (FIRST_DAY, LAST_DAY + timedelta(days=1)))
    assert (first, end) == (946_684_800_000, 4_102_444_800_000)
    assert [in_time_range(ms) for ms in (first - 1, first, end - 1, end)] == [
        False, True, True, False]
    assert not in_time_range(float(first)) and not in_time_range(str(first))


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
    # a message formatted into a log line or an error shows no picture (its repr held the JPEG)
    assert repr(msg) == f"FrameMessage(camera='cam-1', classroom='7B', captured_at_ms={NOW_MS}, "\
        "seq=42)"


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
@given(garbage=st.lists(st.one_of(st.integers(), st.none(), st.tuples(st.integers())),
                        min_size=1, max_size=4))
def test_headers_that_are_not_pairs_are_rejected(garbage: list[object]) -> None:
    key, value, headers = _valid()
    assert _consume(key, value, [*headers, *garbage]) is RejectReason.MALFORMED_HEADER


@settings(max_examples=100, deadline=None)
@given(extra=st.lists(st.tuples(st.one_of(st.text(max_size=12), st.binary(max_size=8),
                                          st.none()),
                                st.one_of(st.none(), st.integers(), st.text(), st.binary())),
                      max_size=4))
def test_headers_of_other_names_are_skipped_whatever_their_value(extra: list[object]) -> None:
    """Kafka allows null header values and newer producers may add headers: only the wire
    format's own are looked at."""
    extra = [(name, raw) for name, raw in extra if name not in REQUIRED_HEADERS]
    key, value, headers = _valid()
    message = parse_message(key, value, [*extra, *headers, *extra])
    assert (message.camera, message.classroom, message.captured_at_ms, message.seq) == (
        "cam-1", "7B", NOW_MS, 5)


def test_a_null_tracing_header_is_skipped() -> None:
    """A tracing interceptor's ("traceparent", None) rejected the whole frame as malformed."""
    key, value, headers = _valid()
    message = parse_message(key, value, [*headers, ("traceparent", None)])
    assert (message.camera, message.seq) == ("cam-1", 5)
    assert decode_jpeg(message).shape == (120, 200, 3)


@pytest.mark.parametrize("name", REQUIRED_HEADERS)
@pytest.mark.parametrize("raw", [None, "1", 1], ids=["null", "text", "int"])
def test_a_required_header_that_is_not_bytes_is_malformed(name: str, raw: object) -> None:
    key, value, headers = _valid()
    with pytest.raises(FrameRejected) as info:
        parse_message(key, value, [(n, raw if n == name else v) for n, v in headers])
    assert info.value.reason is RejectReason.MALFORMED_HEADER
    assert info.value.detail == f"header {name!r} is {type(raw).__name__}, not bytes"


def test_a_later_version_is_named_before_what_it_lacks() -> None:
    """A v2 frame without v1's `seq` was counted as a broken v1 frame (missing_header)."""
    key, value, headers = _valid()
    v2 = [(n, b"2" if n == "v" else raw) for n, raw in headers if n != "seq"]
    for value_ in (value, b""):
        with pytest.raises(FrameRejected) as info:
            parse_message(key, value_, v2)
        assert info.value.reason is RejectReason.UNSUPPORTED_VERSION
        assert info.value.detail == "v='2'"
        assert info.value.camera == "cam-1"


@pytest.mark.parametrize(("name", "reason"), [
    ("v", RejectReason.UNSUPPORTED_VERSION),
    ("camera", RejectReason.MALFORMED_HEADER),
    ("classroom", RejectReason.MALFORMED_HEADER),
    ("captured_at", RejectReason.MALFORMED_HEADER),
    ("seq", RejectReason.MALFORMED_HEADER),
    ("key", RejectReason.KEY_MISMATCH),
])
def test_a_rejection_quotes_at_most_80_characters_of_a_value(name: str,
                                                             reason: RejectReason) -> None:
    """A 500 KB `v` header made a 500 KB detail (logged, kept in memory)."""
    key, value, headers = _valid()
    huge = b"9" * 500_000
    if name == "key":
        key = huge
    else:
        headers = _set(headers, name, huge)
    with pytest.raises(FrameRejected) as info:
        parse_message(key, value, headers)
    assert info.value.reason is reason
    quoted = repr("9" * DETAIL_CHARS) if name != "key" else repr(b"9" * DETAIL_CHARS)
    assert f"{quoted}... (500000 long)" in info.value.detail
    assert len(info.value.detail) < 2 * DETAIL_CHARS + 40


def _progressive(side: int, extra_scans: int) -> bytes:
    """A progressive JPEG (10 scans, libjpeg's default script) with its last scan repeated
    ``extra_scans`` times: libjpeg warns of the inconsistent progression and decodes every one,
    a pass over the whole picture each."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_frame(side, side)).save(buf, "JPEG", quality=90, progressive=True)
    jpeg = buf.getvalue()
    assert jpeg.count(b"\xff\xda") == 10 and jpeg.endswith(b"\xff\xd9")
    last_scan = jpeg[jpeg.rindex(b"\xff\xda"):-2]
    return jpeg[:-2] + last_scan * extra_scans + jpeg[-2:]


def test_a_jpeg_of_a_few_scans_more_than_the_limit_is_refused_before_decoding() -> None:
    """At 4096x4096 each scan costs about 14 ms of a decode thread (33 bytes of the message):
    the 1 MB limit held some 27,000 of them, over 6 minutes of decoding."""
    key, _, headers = _valid()
    for scans, decoded in ((10, True), (MAX_JPEG_SCANS, True), (MAX_JPEG_SCANS + 1, False),
                           (3000, False)):
        message = parse_message(key, _progressive(64, scans - 10), headers)
        if decoded:
            assert decode_jpeg(message).shape == (64, 64, 3)
            continue
        with pytest.raises(FrameRejected) as info:
            decode_jpeg(message)
        assert info.value.reason is RejectReason.TOO_MANY_SCANS
        assert info.value.detail == f"{scans} scans exceed {MAX_JPEG_SCANS}"
        assert info.value.camera == "cam-1"
