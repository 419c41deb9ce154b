"""One polled batch between the broker and the buffer, split where the loop overlaps its work.

The loop's thread judges each record (malformed, stale, from the future, a repeat of a counted
frame) and keeps its verdicts in a :class:`Batch`; a worker decodes and analyses the accepted
frames (:func:`analyse`) while the loop's thread polls the next batch, so the broker's round trips
can hide behind the analysis (on two CPU cores, where detection takes nine tenths of the time, it
measured no faster: docs/benchmarks.md). Only when the analysis is done does the loop's thread
count the batch and move its offsets (``FrameConsumer._finish_inflight``), so a flush on a
rebalance inside the poll commits nothing of it (the periodic flush waits for it: it comes between
batches). If one of its partitions was sought or revoked meanwhile (a rebalance, the rewind
after a flush that conflicted), that partition's part of the batch is dropped: it is read again
from where the partition was moved to, or by the member that owns it now.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from classpulse.wire import FrameMessage, FrameRejected, decode_jpeg
from consumers.gate import FrameReading

log = logging.getLogger(__name__)
STALE = "stale"
FUTURE = "future"
DUPLICATE = "duplicate"
ANALYSIS_FAILED = "analysis_failed"
EXPIRED = "expired"  # deleted by the broker's retention before anyone read it
UNREADABLE = "unreadable"  # the Kafka client cannot parse it (bad CRC, non-UTF-8 header key)
# what the analyser must always get through: a plain grey frame, no face in it
_PROBE = np.full((96, 96, 3), 128, np.uint8)
_PROBE.setflags(write=False)


class AnalyzerBroken(RuntimeError):
    """Every frame of a batch failed and so did a blank frame: the analyser itself is broken (a
    device fault, memory), not the frames. Counting them as ``analysis_failed`` would commit
    their offsets and throw every camera's frames away for as long as the fault lasts; the
    consumer stops instead, uncommitted, and its restart reads them again."""


class Analyzer(Protocol):
    """Faces and emotions for a batch of RGB frames (consumers.analyze.FrameAnalyzer)."""

    def analyze(self, frames: Sequence[np.ndarray]) -> list[FrameReading]: ...


@dataclass(frozen=True)
class Rejection:
    """A record refused before analysis, counted when its batch is."""

    partition: int
    offset: int
    at_ms: int
    camera: str | None
    reason: str
    count: int = 1
    detail: str = ""  # what was wrong, for the first rejection's warning (``FrameConsumer``)


# per accepted message: its reading, why its pixels were refused (the detail goes to the log), or
# the reason it is not counted
Result = FrameReading | FrameRejected | str


@dataclass(frozen=True)
class Analysed:
    results: list[Result]  # one per accepted message, in order
    seconds: float  # decode + detect + classify


@dataclass
class Batch:
    """What the loop's thread decided about one polled batch, and the worker's analysis of it."""

    now_ms: int  # the wall clock when it started (event lag); records are judged by their
    #              first poll's (consumers/first_reads.py)
    records: int
    # partition -> its epoch when the batch started (its records were filtered to their
    # partitions' current epochs just before): a partition sought or revoked since has a new one
    epochs: dict[int, int] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)  # partition -> offset after its last record
    # partition -> its records in the batch: what the open buffer holds uncommitted is bounded
    polled: Counter[int] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    accepted: list[tuple[int, FrameMessage]] = field(default_factory=list)  # (partition, message)
    # partition -> the newest broker timestamp of its records (ms; none where unknown), how far
    # behind the log the consumer reads when it counts none of them (all refused as stale)
    appended: dict[int, int] = field(default_factory=dict)
    analysed: Future[Analysed] | None = None


def analyse(analyzer: Analyzer, messages: Sequence[FrameMessage], repeats: Sequence[bool],
            decode_pool: Executor) -> Analysed:
    """Decode every message and analyse those that decoded and were not counted before.

    Runs on the worker: it touches nothing but its arguments and returns the outcome.
    """
    started = time.monotonic()
    decoded = list(decode_pool.map(_decode, messages))
    results: list[Result] = []
    todo: list[int] = []
    frames: list[np.ndarray] = []
    for i, (pixels, repeat) in enumerate(zip(decoded, repeats, strict=True)):
        # what is wrong with a message is named before its being a repeat
        if isinstance(pixels, FrameRejected):
            results.append(pixels)
        elif repeat:  # counted before: skip the analysis
            results.append(DUPLICATE)
        else:
            results.append(ANALYSIS_FAILED)  # until its reading replaces it
            todo.append(i)
            frames.append(pixels)
    for i, reading in zip(todo, _read(analyzer, frames, [messages[i] for i in todo]),
                          strict=True):
        results[i] = reading
    return Analysed(results, time.monotonic() - started)


def _decode(message: FrameMessage) -> np.ndarray | FrameRejected:
    """Pixels, or the rejection (returned: the decode threads never raise into the batch)."""
    try:
        return decode_jpeg(message)
    except FrameRejected as exc:
        return exc


def _read(analyzer: Analyzer, frames: list[np.ndarray], messages: list[FrameMessage]
          ) -> list[Result]:
    """Batch analysis; if the batch fails, frame by frame, so one bad frame costs only itself
    (``analysis_failed``) and never the consumer. When every frame fails, a blank frame tells a
    broken analyser (:class:`AnalyzerBroken`) from bad frames."""
    if not frames:
        return []
    try:
        return list(analyzer.analyze(frames))
    except Exception:
        log.exception("batch analysis failed frames=%d; retrying frame by frame", len(frames))
    results: list[Result] = []
    last: Exception | None = None
    for rgb, message in zip(frames, messages, strict=True):
        try:
            results.append(analyzer.analyze([rgb])[0])
        except Exception as exc:
            log.warning("frame analysis failed camera=%s seq=%d error=%r", message.camera,
                        message.seq, exc)
            results.append(ANALYSIS_FAILED)
            last = exc
    if all(r == ANALYSIS_FAILED for r in results):
        try:
            analyzer.analyze([_PROBE])
        except Exception as exc:
            raise AnalyzerBroken(f"the analyser fails on a blank frame too ({exc!r}; frames "
                                 f"before it: {last!r})") from exc
    return results
