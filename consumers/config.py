"""How one consumer batches, flushes and behaves: the one place its defaults are declared (the
command line shows and overrides them)."""

from __future__ import annotations

from dataclasses import dataclass

from classpulse.errors import UsageError
from classpulse.flags import FLUSH_INTERVAL_S, MINUTE_CLOSES_AFTER_START_S
from classpulse.wire import DEFAULT_MAX_BYTES

# `classpulse consume --batch-wait-ms` at most: the wait is the Kafka poll's timeout, and a stop
# (SIGTERM) is seen only between polls, so a longer wait kept a stopped consumer running for as
# long; 10 s leaves most of compose's stop grace period (60 s) to the final flush
BATCH_WAIT_MAX_MS = 10_000
# `classpulse consume --max-poll-interval-ms` at most: kafka-python sends it as a 32-bit integer
# (a longer one hung the consumer); at least the session timeout (ConsumerConfig)
MAX_POLL_INTERVAL_MAX_MS = 2**31 - 1


@dataclass(frozen=True)
class ConsumerConfig:
    """Built once from the command line."""

    group_id: str = "classpulse"
    batch_frames: int = 16
    batch_wait_ms: int = 250
    flush_interval_s: float = FLUSH_INTERVAL_S  # classpulse.flags, beside when minutes close
    # frames older than this when read are skipped as stale; with two flush intervals it must fit
    # in the time a minute stays open after its end (classpulse.flags.MINUTE_CLOSES_AFTER_START_S,
    # :meth:`check`)
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
    # ``classpulse consume --backfill``: recorded footage into a database nobody reads while it
    # fills; a longer --max-lag is allowed (:meth:`check`), and its writes into minutes already
    # closed mark none revised (consumers.sink.DatabaseSink's ``backfill``)
    backfill: bool = False

    def check(self, max_clock_skew_s: float) -> None:
        """One :class:`UsageError` for a configuration that would count a frame where readers can
        no longer trust it, checked before ``classpulse consume`` starts.

        A frame is counted up to ``max_lag_s`` after its capture and committed within two flush
        intervals; a minute it belongs to must still be open then, or the frame changes a minute
        the views and the dashboard already show (two readings of it could be subtracted, and
        ``shown`` could flip). A frame's key is forgotten ``duplicate_window_s`` behind its
        camera's newest frame, which may be ``max_clock_skew_s`` ahead of this machine's clock:
        a frame still ``max_lag_s`` old must be remembered until then, or a repeat of it (a
        camera's clock stepping back, a producer's retry) is counted again.

        ``backfill`` (``classpulse consume --backfill``) allows the longer lag on purpose, for
        recorded footage counted into a database nobody is watching. Not in ``__post_init__``:
        the benchmarks replay old frames into databases of their own with a longer ``max_lag_s``.
        """
        late = self.max_lag_s + 2 * self.flush_interval_s
        open_after_end = MINUTE_CLOSES_AFTER_START_S - 60  # the minute's own 60 s
        if late > open_after_end and not self.backfill:
            raise UsageError(
                f"--max-lag {self.max_lag_s:g} plus twice --flush-interval "
                f"{self.flush_interval_s:g} is {late:g} s, over the {open_after_end} s after its "
                "end at which a minute is shown, so frames would change minutes already shown; "
                f"lower them so that --max-lag + 2 x --flush-interval <= {open_after_end}, or "
                "give --backfill to count recorded footage into a database nobody watches")
        remembered = self.max_lag_s + max_clock_skew_s
        if self.duplicate_window_s < remembered:
            raise UsageError(
                f"--duplicate-window {self.duplicate_window_s:g} is shorter than --max-lag "
                f"{self.max_lag_s:g} plus --max-clock-skew {max_clock_skew_s:g}, so a repeat "
                f"of a frame could be counted again; give --duplicate-window {remembered:g} or "
                "more")


DEFAULTS = ConsumerConfig()
