"""How one consumer batches, flushes and behaves: the one place its defaults are declared (the
command line shows and overrides them)."""

from __future__ import annotations

from dataclasses import dataclass

from classpulse.flags import FLUSH_INTERVAL_S
from classpulse.wire import DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class ConsumerConfig:
    """Built once from the command line."""

    group_id: str = "classpulse"
    batch_frames: int = 16
    batch_wait_ms: int = 250
    flush_interval_s: float = FLUSH_INTERVAL_S  # the dashboard reads it too (classpulse.flags)
    max_lag_s: float = 120.0
    # repeats of a (camera, captured_at, seq) are dropped within this much of the camera's event
    # time; it covers a producer's retries (kafka-python gives up after 120 s by default)
    duplicate_window_s: float = 600.0
    exit_when_idle_s: float | None = None
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 10_000
    decode_threads: int = 2
    # PostgreSQL: a statement or lock wait longer than this fails its flush, which is retried
    db_timeout_s: float = 30.0
    # while the database refuses flushes, the counts wait in memory (a few hundred bytes a
    # record: its frame key, its first poll's time) up to this many records, then the partitions
    # pause; 100,000 is 55 minutes of 15 cameras at 2 fps, some 30 MB
    max_uncommitted_records: int = 100_000
    max_message_bytes: int = DEFAULT_MAX_BYTES


DEFAULTS = ConsumerConfig()
