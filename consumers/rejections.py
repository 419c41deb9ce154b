"""Why a record is refused, and how a refusal is told to the operator.

The judging is a pure function of the record, the time it was first read and the consumer's
limits, so it stands apart from the loop that keeps those times (``FirstReads``); the telling
keeps its own memory of what was warned about, so that a flood of rejections costs one WARNING
per camera and reason, not one per message.
"""

from __future__ import annotations

import logging

from classpulse.wire import FrameMessage, FrameRejected, RejectReason
from classpulse.wire import parse_message as parse_frame
from consumers.batch import DUPLICATE, FUTURE, STALE, UNREADABLE, Rejection
from consumers.source import Record, Unreadable

log = logging.getLogger(__name__)
# (camera, reason) pairs whose first rejection is logged at WARNING: a flood of new camera ids
# from a broken producer must not grow the set without end (past it, DEBUG only)
MAX_WARNED_REJECTIONS = 1000
# what to do about a rejection, in its first warning; reasons not here warn on their own
_WIRE_HINT = ("its producer breaks the wire format (classpulse/wire.py): fix that producer; the "
              "message is skipped and counted in rejected_frames")
REJECTION_HINTS = {
    **{reason.value: _WIRE_HINT for reason in RejectReason},
    RejectReason.OVERSIZE.value: "its producer sends frames over the consumer's message limit: "
                                 "lower that producer's JPEG quality or max side",
    STALE: "frames waited longer than --max-lag before they were read: add consumers if the "
           "count grows, or check that the camera's clock is not behind (NTP)",
    FUTURE: "the camera's clock runs ahead of this machine's: synchronise it (NTP), or raise "
            "--max-clock-skew",
    DUPLICATE: "repeats of frames counted before (a producer's retries, or two cameras sending "
               "under one id): give each camera its own id if the count grows",
}


def judge(record: Record, read_ms: int, *, max_lag_s: float, max_clock_skew_s: float,
          max_message_bytes: int) -> FrameMessage | Rejection:
    """The validated message, or why it is skipped; ``read_ms`` is when the record was first
    polled (``FirstReads``), so a record read again is judged as it was then."""
    def refused(at_ms: int, camera: str | None, reason: str, detail: str = "") -> Rejection:
        return Rejection(record.partition, record.offset, at_ms, camera, reason, 1, detail)

    max_lag_ms = max_lag_s * 1000
    skew_ms = max_clock_skew_s * 1000
    if isinstance(record, Unreadable):  # nothing of it is known, not even its camera
        return refused(read_ms, None, UNREADABLE)
    try:
        message = parse_frame(record.key, record.value, record.headers, max_message_bytes)
    except FrameRejected as exc:
        # the record's timestamp is the broker's (LogAppendTime) or, on a topic ClassPulse did
        # not create, whatever the sender set: it files the rejection only
        # where a frame sent then could have been counted, never in a minute long past or
        # yet to come (a broken producer's 2099 would otherwise be in rejected_frames)
        sent = record.timestamp
        at = sent if read_ms - max_lag_ms <= sent <= read_ms + skew_ms else read_ms
        return refused(at, exc.camera, exc.reason.value, exc.detail)
    age_ms = read_ms - message.captured_at_ms
    if age_ms > max_lag_ms:
        return refused(message.captured_at_ms, message.camera, STALE,
                       f"captured {age_ms / 1000:.0f} s before it was read, over --max-lag "
                       f"({max_lag_s:g} s)")
    if -age_ms > skew_ms:
        # counted in the minute it was read: a future minute would not exist yet
        return refused(read_ms, message.camera, FUTURE,
                       f"captured_at {message.captured_at_ms} is {-age_ms / 1000:.0f} s "
                       f"ahead of this machine's clock, over --max-clock-skew "
                       f"({max_clock_skew_s:g} s)")
    return message


def repeat(message: FrameMessage) -> str:
    """What names a frame that was counted before (``DUPLICATE``'s detail)."""
    return f"captured_at {message.captured_at_ms} seq {message.seq} was counted before"


class RejectionLog:
    """The first rejection of each camera for each reason at WARNING, with what was wrong (as
    ``classpulse.wire`` words it: quoted values cut short, never the frame) and what to do; the
    rest at DEBUG, counted in rejected_frames either way."""

    def __init__(self) -> None:
        self._warned: set[tuple[str, str]] = set()  # (camera, reason) rejections logged

    def tell(self, partition: int, offset: int | None, camera: str | None, reason: str,
             detail: str) -> None:
        who = camera or "unknown"
        where = f"partition={partition}" + ("" if offset is None else f" offset={offset}")
        hint = REJECTION_HINTS.get(reason)
        first = (who, reason) not in self._warned and len(self._warned) < MAX_WARNED_REJECTIONS
        if hint is None or not first:
            log.debug("rejected camera=%s %s reason=%s %s", who, where, reason, detail)
            return
        self._warned.add((who, reason))
        log.warning("rejected a frame of camera=%s %s reason=%s: %s; %s (further %s rejections "
                    "of this camera are logged at DEBUG)", who, where, reason, detail or reason,
                    hint, reason)
