"""Deterministic SYNTHETIC minute rows, for tests, benchmarks and demos of the SQL examples.

Nothing here is a measurement: the numbers come from a seeded random model that only aims to look
plausible. A class has a mood that drifts over the day, with short episodes where one emotion takes
over (a joke, a hard test); each camera sees part of the class; some minutes are empty or show only
one or two faces; every face's probabilities sum to one. The same arguments always give the same
rows; the random streams are keyed by seed, classroom id, camera and start, so seeding a classroom
alone or with others, one day or another, never changes the rows of the rest.

By default every face is read (``faces_read == faces``, nothing refused), as before the consumer's
readability gate. With ``refusals=True`` the gate refuses some faces: a share of each minute's faces
(a property of the camera, a little different each minute) is refused as too small, turned away or
uncertain, and in "heads down" episodes of the class (a written test) most faces are turned away, so
some minutes in which the cameras SEE a group are hidden because they READ too few faces at once.
The refusals come from random streams of their own, so every other number of a row (frames, faces,
frames with faces) is the same with and without them; emotion counts, probability sums and
engagement cover the read faces only.

Tests regenerate the rows with :func:`synthetic_minute_rows` and compute expected answers from them
independently of the database.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import Connection
from tqdm import tqdm

from classpulse.db.writes import MinuteRow, add_minute_rows
from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS, EMOTIONS, weights_vector

DEFAULT_START = datetime(2025, 3, 3, 8, 0, tzinfo=timezone.utc)  # a Monday
CHUNK_MINUTES = 1440  # minutes drawn at a time; fixed, so the output never depends on batching
# a class leans neutral, then happy (EMOTIONS order)
BASE_LOGITS = np.log(np.array([0.04, 0.01, 0.04, 0.25, 0.10, 0.08, 0.48]))
DAY_DRIFT = np.array([0.2, 0.1, 0.2, -0.5, 0.6, -0.2, 0.1])  # times sin(time of day)
EPISODE_RATE = 1 / 90  # chance per minute that an episode starts
EPISODE_EMOTIONS = tuple(EMOTIONS.index(e) for e in ("angry", "fear", "happy", "sad", "surprise"))
# refusals=True only. The gate's random streams add this word to the keys of the streams above; as
# a start minute it would be in the year 10136, past any datetime, so no key of theirs can match.
GATE_STREAM = 0xFFFF_FFFF
REFUSED_RATE = (0.05, 0.3)  # a camera's usual share of faces refused, drawn once per camera
REFUSED_JITTER = 0.05  # minute to minute, the share moves by up to this much either way
REFUSED_REASONS = np.array([0.45, 0.35, 0.2])  # small, turned, uncertain (REFUSED_COLUMNS order)
HEADS_DOWN_RATE = 1 / 100  # chance per minute that a heads-down episode of the class starts
HEADS_DOWN_REFUSED = (0.7, 0.95)  # share of faces refused in an episode, drawn per episode
HEADS_DOWN_REASONS = np.array([0.1, 0.8, 0.1])  # mostly turned away or bowed


def camera_ids(classroom: str, cameras_per_classroom: int) -> list[str]:
    """Synthetic camera ids of a classroom: ``<classroom>-cam1``, ``<classroom>-cam2``, ..."""
    return [f"{classroom}-cam{j + 1}" for j in range(cameras_per_classroom)]


def _timeline(
    start: datetime, minutes: int, school_hours: tuple[int, int] | None
) -> list[datetime]:
    if start.tzinfo is None or start.second or start.microsecond:
        raise ValueError(f"start {start!r} must be aware and on a whole minute")
    first = start.astimezone(timezone.utc)
    out = [first + timedelta(minutes=i) for i in range(minutes)]
    if school_hours is not None:
        lo, hi = school_hours
        out = [t for t in out if t.isoweekday() <= 5 and lo <= t.hour < hi]
    return out


def _class_mood(
    rng: np.random.Generator, bias: np.ndarray, chunk: Sequence[datetime]
) -> np.ndarray:
    """(minutes, 7) emotion probabilities of the whole class, shared by its cameras."""
    m = len(chunk)
    day_phase = np.array([(t.hour * 60 + t.minute) / 1440.0 for t in chunk])
    logits = BASE_LOGITS + bias + np.outer(np.sin(2 * np.pi * day_phase), DAY_DRIFT)
    logits = logits + rng.normal(0.0, 0.3, size=(m, 7))
    for s in np.flatnonzero(rng.random(m) < EPISODE_RATE):
        emotion = EPISODE_EMOTIONS[int(rng.integers(len(EPISODE_EMOTIONS)))]
        logits[s : s + int(rng.integers(3, 11)), emotion] += 3.0
    mood = np.exp(logits)
    return mood / mood.sum(axis=1, keepdims=True)


def _heads_down(rng: np.random.Generator, m: int) -> np.ndarray:
    """(minutes,) share of faces a heads-down episode of the class refuses; 0 outside episodes."""
    out = np.zeros(m)
    for s in np.flatnonzero(rng.random(m) < HEADS_DOWN_RATE):
        length = int(rng.integers(3, 16))
        out[s : s + length] = np.maximum(out[s : s + length], rng.uniform(*HEADS_DOWN_REFUSED))
    return out


@dataclass(frozen=True)
class _Gate:
    """One camera's refusals over a chunk: its random stream, its usual share of faces refused
    and the class's heads-down episodes."""

    rng: np.random.Generator
    rate: float
    heads_down: np.ndarray


def _refuse(
    gate: _Gate, n: np.ndarray, frames_with_faces: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The read part of ``n`` (faces by top emotion), the refused faces per reason and the frames
    with read faces.

    Each face is refused with the minute's share, whatever its emotion. A frame is without read
    faces when all of its faces were refused: with ``faces / frames_with_faces`` faces in a frame
    and a share ``q`` read, that happens with probability ``(1 - q) ** (faces per frame)``.
    """
    rng, m = gate.rng, len(n)
    jitter = rng.uniform(-REFUSED_JITTER, REFUSED_JITTER, size=m)
    share = np.maximum(np.clip(gate.rate + jitter, 0.0, 1.0), gate.heads_down)
    read = rng.binomial(n, (1.0 - share)[:, None])
    faces = n.sum(axis=1)
    faces_read = read.sum(axis=1)
    refused_total = faces - faces_read
    reasons = np.where((gate.heads_down > 0)[:, None], HEADS_DOWN_REASONS, REFUSED_REASONS)
    small = rng.binomial(refused_total, reasons[:, 0])
    turned = rng.binomial(refused_total - small, reasons[:, 1] / (1.0 - reasons[:, 0]))
    refused = np.stack([small, turned, refused_total - small - turned], axis=1)
    per_frame = faces / np.maximum(frames_with_faces, 1)
    unread = np.where(faces > 0, (refused_total / np.maximum(faces, 1)) ** per_frame, 0.0)
    frames_read = frames_with_faces - rng.binomial(frames_with_faces, unread)
    # a frame without read faces holds at least one refused face; a frame with some, a read one
    frames_read = np.maximum(frames_read, frames_with_faces - refused_total)
    frames_read = np.maximum(frames_read, np.minimum(faces_read, 1))
    frames_read = np.minimum(frames_read, np.minimum(frames_with_faces, faces_read))
    return read, refused, frames_read


def _camera_rows(
    rng: np.random.Generator,
    classroom: str,
    camera: str,
    visible: int,
    class_mood: np.ndarray,
    chunk: Sequence[datetime],
    weights: np.ndarray,
    gate: _Gate | None = None,
) -> Iterator[MinuteRow]:
    m = len(chunk)
    mood = class_mood * np.exp(rng.normal(0.0, 0.15, size=(m, 7)))  # what this camera's view shows
    mood /= mood.sum(axis=1, keepdims=True)
    frames = 60 - rng.integers(0, 4, size=m)  # about 1 fps, a few dropped
    kind = rng.random(m)  # < 0.03: empty room, < 0.06: one or two faces, else the class
    sparse = (kind >= 0.03) & (kind < 0.06)
    frames_with_faces = np.where(kind < 0.03, 0, frames - rng.integers(0, 3, size=m))
    frames_with_faces = np.where(sparse, rng.integers(1, 3, size=m), frames_with_faces)
    faces = np.where(sparse, frames_with_faces, rng.binomial(visible * frames_with_faces, 0.85))
    n = rng.multinomial(faces, mood)
    confidence = rng.uniform(0.45, 0.9, size=(m, 7))  # mean top-class probability per emotion
    refused: np.ndarray | None = None
    if gate is not None:  # from here on ``n`` counts the faces read
        n, refused, frames_with_read_faces = _refuse(gate, n, frames_with_faces)
    # each face puts `confidence` on its top class and spreads the rest like the mood
    p = n * confidence
    for e in range(7):
        others = mood.copy()
        others[:, e] = 0.0
        others /= others.sum(axis=1, keepdims=True)
        p += (n[:, e] * (1.0 - confidence[:, e]))[:, None] * others
    engagement = (n * confidence * weights).sum(axis=1)
    for i, t in enumerate(chunk):
        yield MinuteRow(
            camera_id=camera,
            classroom_id=classroom,
            minute_start=t,
            frames=int(frames[i]),
            frames_with_faces=int(frames_with_faces[i]),
            faces=int(faces[i]),
            n=tuple(int(x) for x in n[i]),
            p=tuple(float(x) for x in p[i]),
            engagement_sum=float(engagement[i]),
            # without a gate these are MinuteRow's defaults: every face read
            faces_read=None if refused is None else int(n[i].sum()),
            frames_with_read_faces=(
                None if refused is None else int(frames_with_read_faces[i])
            ),
            refused=(0, 0, 0) if refused is None else (
                int(refused[i, 0]), int(refused[i, 1]), int(refused[i, 2])
            ),
        )


def synthetic_minute_rows(
    classrooms: Sequence[str] = ("7A", "7B"),
    cameras_per_classroom: int = 2,
    start: datetime = DEFAULT_START,
    minutes: int = 60,
    seed: int = 0,
    school_hours: tuple[int, int] | None = None,
    *,
    refusals: bool = False,
) -> Iterator[MinuteRow]:
    """The rows :func:`seed_minutes` writes, without touching a database.

    ``minutes`` consecutive UTC minutes from ``start``; with ``school_hours=(8, 15)`` only the
    Monday-to-Friday minutes whose UTC hour lies in [8, 15) are kept. With ``refusals=True`` the
    readability gate refuses some faces (module docstring); the default reads every face, and its
    rows are the same as before the option existed.
    """
    times = _timeline(start, minutes, school_hours)
    weights = np.array(weights_vector(DEFAULT_ENGAGEMENT_WEIGHTS))
    start_key = int(start.timestamp()) // 60
    for classroom in classrooms:
        room_key = zlib.crc32(classroom.encode())
        bias = np.random.default_rng([seed, room_key]).normal(0.0, 0.3, size=7)
        class_rng = np.random.default_rng([seed, room_key, 0, start_key])
        cameras = camera_ids(classroom, cameras_per_classroom)
        keys = [[seed, room_key, j + 1] for j in range(len(cameras))]
        rngs = [np.random.default_rng([*key, start_key]) for key in keys]
        # how many students a camera sees: a property of the camera, the same every day
        visible = [int(np.random.default_rng(key).integers(8, 16)) for key in keys]
        # refusals only, from streams of their own (GATE_STREAM), so the others draw as without
        class_gate = np.random.default_rng([seed, room_key, 0, start_key, GATE_STREAM])
        gate_rngs = [np.random.default_rng([*key, start_key, GATE_STREAM]) for key in keys]
        # like `visible`, a property of the camera
        rates = [float(np.random.default_rng([*key, GATE_STREAM]).uniform(*REFUSED_RATE))
                 for key in keys]
        for lo in range(0, len(times), CHUNK_MINUTES):
            chunk = times[lo : lo + CHUNK_MINUTES]
            mood = _class_mood(class_rng, bias, chunk)
            heads_down = _heads_down(class_gate, len(chunk)) if refusals else None
            for camera, rng, seen, gate_rng, rate in zip(
                cameras, rngs, visible, gate_rngs, rates, strict=True
            ):
                gate = None if heads_down is None else _Gate(gate_rng, rate, heads_down)
                yield from _camera_rows(rng, classroom, camera, seen, mood, chunk, weights, gate)


def seed_minutes(
    conn: Connection,
    classrooms: Sequence[str] = ("7A", "7B"),
    cameras_per_classroom: int = 2,
    start: datetime = DEFAULT_START,
    minutes: int = 60,
    seed: int = 0,
    school_hours: tuple[int, int] | None = None,
    batch_rows: int = 5000,
    progress: bool = False,
    *,
    refusals: bool = False,
) -> int:
    """Write synthetic rows through :func:`add_minute_rows` and return how many were written.

    Runs in the caller's transaction. Seeding the same minutes twice ADDS the counts again, exactly
    as a second consumer flush would, and so hides the minutes that had closed as revised.
    ``refusals`` as in :func:`synthetic_minute_rows`.
    """
    total = len(_timeline(start, minutes, school_hours)) * len(classrooms) * cameras_per_classroom
    rows = synthetic_minute_rows(
        classrooms, cameras_per_classroom, start, minutes, seed, school_hours, refusals=refusals
    )
    written = 0
    with tqdm(total=total, unit="row", desc="seeding", disable=not progress) as bar:
        batch: list[MinuteRow] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_rows:
                add_minute_rows(conn, batch)
                written += len(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            add_minute_rows(conn, batch)
            written += len(batch)
            bar.update(len(batch))
    return written
