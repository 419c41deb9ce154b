"""Flags that several parts share, declared once: ports, the compute device, the consumers' flush
interval, and when a minute closes (the views and the dashboard show a minute only from then on).

Argparse types raise ``ArgumentTypeError``, so a bad value ends the command in one line that names
the flag and the value (see :class:`classpulse.cli.OneLineParser`), before anything starts.
"""

from __future__ import annotations

import argparse

from classpulse.settings import DEVICES, Settings, port_number

DASHBOARD_PORT = 8501  # `classpulse dashboard --port` and `classpulse demo --port`
# the address the dashboard listens on unless told (`classpulse dashboard --host`), which the demo's
# dashboard keeps: this machine only
DASHBOARD_HOST = "127.0.0.1"
# a camera's frame rate lies in [MIN_FPS, MAX_FPS]: cameras.yaml's fps, `produce --fps`, `demo
# --fps` (both flags refused as they are read, `camera_fps`). At least a frame a minute: the
# views and the dashboard count by the minute, and a slower camera leaves most of its minutes
# without a frame; far slower rates were typos, and --fps 1e-10 waited longer than a lock can
# (an OverflowError that ended the camera, and each restart sent its first frame again)
MIN_FPS = 1 / 60
MAX_FPS = 60.0
# the longest a timeout flag waits (`produce --connect-timeout`, `--close-timeout`): a day, which
# no broker outage worth waiting out exceeds; --close-timeout 1e10 overflowed the lock it waits
# on (OverflowError, exit 1 without the summary, after every frame was sent)
MAX_TIMEOUT_S = 86400.0
# `classpulse consume --flush-interval`; MINUTE_CLOSES_AFTER_START_S allows two of them
FLUSH_INTERVAL_S = 5.0
# A minute is closed this many seconds after its start: no consumer adds to it later, so the views
# (migration 0015_closes_after_max_lag, by the database's clock) and the dashboard's charts
# (dashboard.periods.closed_until) show it from then on, and two readings of it are the same.
# Its 60 s, then `classpulse consume --max-lag` (consumers.config, 120 s): a frame captured in the
# minute's last instant is still counted when read that much later; then two flush intervals, for
# its batch's analysis and the flush that commits it. ConsumerConfig.check (consumers.config)
# refuses a --max-lag and --flush-interval that would write later; tests check the sum and the
# migration's literal.
MINUTE_CLOSES_AFTER_START_S = 190
# `--partitions` of `classpulse produce` and `classpulse broker` at most: a partition is read by
# one consumer, and a school has tens of cameras and a handful of consumers, so 1000 is ample; a
# count past 2**31-1 was a struct.error traceback from kafka's create_topics, and 2147483647 hung
# the embedded broker
MAX_PARTITIONS = 1000


def port(text: str) -> int:
    """A TCP port to listen on or connect to: a whole number from 1 to 65535."""
    try:
        return port_number(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def port_or_off(text: str) -> int:
    """:func:`port`, or 0 for "do not listen"."""
    if text.strip() == "0":
        return 0
    try:
        return port(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or 0 for off)") from None


def add_device_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                    help: str | None = None) -> None:
    """``--device auto|cpu|cuda`` (setting ``device``, CLASSPULSE_DEVICE; default from settings)."""
    parser.add_argument("--device", choices=DEVICES, default=None,
                        help=help or f"{', '.join(DEVICES)} (CLASSPULSE_DEVICE, default "
                        f"{Settings.device})")


def positive_int(text: str) -> int:
    """A count that must be 1 or more (frames, cameras, batch sizes, rounds)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not a count; give a whole number >= 1")
    return number


def partition_count(text: str) -> int:
    """``--partitions``: a count from 1 to :data:`MAX_PARTITIONS`."""
    number = positive_int(text)
    if number > MAX_PARTITIONS:
        raise argparse.ArgumentTypeError(f"{number} partitions is more than {MAX_PARTITIONS}; "
                                         f"give 1 to {MAX_PARTITIONS}, e.g. as many as the "
                                         "consumers")
    return number


def positive_float(text: str) -> float:
    """A rate or a length of time that must be above 0 (frames per second, seconds, minutes)."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < number < float("inf"):  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text!r} must be a number above 0")
    return number


def camera_fps(text: str) -> float:
    """A camera's frames per second, from :data:`MIN_FPS` (a frame a minute) to :data:`MAX_FPS`."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not MIN_FPS <= number <= MAX_FPS:  # NaN fails too
        raise argparse.ArgumentTypeError(
            f"{text!r} frames a second is outside what a camera sends; give {MIN_FPS:.4g} (a "
            f"frame a minute) to {MAX_FPS:g}")
    return number


def timeout_seconds(text: str) -> float:
    """A timeout in seconds: above 0, at most :data:`MAX_TIMEOUT_S` (a day)."""
    number = positive_float(text)
    if number > MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"{text!r} seconds is more than a day; give at most "
                                         f"{MAX_TIMEOUT_S:g}")
    return number


def positive_ints(text: str) -> list[int]:
    """A comma-separated list of counts, e.g. ``1,8,32`` (batch sizes, image sides)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r} names no number; give e.g. 1,8,32")
    return [positive_int(item) for item in items]
