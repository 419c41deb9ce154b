"""The ``classpulse`` command line: one console script, one subcommand per job.

Each part registers its own subcommands through a light ``register(subparsers)`` function that only
builds argparse parsers; heavy imports (torch, streamlit, kafka) happen inside the handlers, so
``classpulse --help`` stays fast. A handler has the signature ``(args, settings) -> int``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from importlib import import_module
from typing import NoReturn

from classpulse.errors import UsageError
from classpulse.redact import hide_password
from classpulse.settings import (
    DEFAULT_DATABASE_URL,
    DEFAULT_TOPIC,
    LOG_LEVELS,
    Settings,
    SettingsError,
)

# module paths whose ``register(subparsers)`` adds top-level subcommands, in help order
COMMAND_MODULES: tuple[str, ...] = (
    "classpulse.demo",
    "classpulse.commands",
    "producers.cli",
    "consumers.cli",
    "model.cli",
    "classpulse.db.cli",
    "classpulse.lessons.cli",
    "dashboard.cli",
)
# module paths whose ``register(subparsers)`` adds ``classpulse bench <what>`` subcommands
BENCH_MODULES: tuple[str, ...] = ("model.bench", "pipeline_bench.pipeline", "pipeline_bench.soak",
                                  "consumers.gate_bench", "dashboard.bench")

Handler = Callable[[argparse.Namespace, Settings], int]


class OneLineParser(argparse.ArgumentParser):
    """A parser whose errors are one line naming the flag and the value, and where to read more.

    argparse's default prints the whole usage first, which buries the one thing to fix. Subparsers
    inherit the class (``add_subparsers`` makes children of the parent's type), so every
    ``classpulse`` subcommand (``lessons`` included) answers through :meth:`error`.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``message`` with the passwords of the values it quotes hidden: a mistyped flag
        (``--databse-url postgresql://ops:pw@db/cp``) is echoed back whole, to a terminal that
        may be shared or recorded. Word by word, and a ``--flag=`` taken off the value, so that a
        URL given without its scheme (``ops:pw@db/cp``) is still read as one
        (:func:`hide_password` reads that only at the start of its text)."""
        shown = " ".join(_hide_in_word(word) for word in message.split(" "))
        self.exit(2, f"{self.prog}: error: {shown} (see {self.prog} --help)\n")


def _hide_in_word(word: str) -> str:
    """One word of a message, ``--flag=value`` or a value, with the value's password hidden."""
    flag, sep, value = word.partition("=")
    if sep and flag.startswith("-"):
        return f"{flag}={hide_password(value)}"
    return hide_password(word)


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Flags every subcommand accepts; each overrides its environment variable."""
    group = parser.add_argument_group("common settings (override environment variables)")
    group.add_argument("--bootstrap-servers", dest="kafka_bootstrap_servers", default=None,
                       help="Kafka bootstrap servers host:port[,...] (KAFKA_BOOTSTRAP_SERVERS)")
    group.add_argument("--topic", dest="kafka_topic", default=None,
                       help=f"frames topic (KAFKA_TOPIC, default {DEFAULT_TOPIC})")
    group.add_argument("--database-url", dest="database_url", default=None,
                       help=f"SQLAlchemy URL (DATABASE_URL, default {DEFAULT_DATABASE_URL})")
    group.add_argument("--log-level", dest="log_level", default=None, type=str.upper,
                       help=f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]} "
                       "(CLASSPULSE_LOG_LEVEL)")


# the Settings fields a flag can set (DASHBOARD_PASSWORD never: a command line is visible to others)
SETTINGS_FLAGS = ("kafka_bootstrap_servers", "kafka_topic", "database_url", "log_level",
                  "device", "model_weights", "min_faces_shown", "max_clock_skew_s",
                  "engagement_weights")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="classpulse",
        description="Live classroom emotion and engagement aggregates, without keeping pictures.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for path in COMMAND_MODULES:
        import_module(path).register(sub)
    bench = sub.add_parser("bench", help="throughput and latency benchmarks (not tests)")
    bench_sub = bench.add_subparsers(dest="bench", metavar="WHAT", required=True)
    for path in BENCH_MODULES:
        import_module(path).register(bench_sub)
    for action in sub.choices.values():
        _add_common_recursively(action)
    return parser


def _add_common_recursively(parser: argparse.ArgumentParser) -> None:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        add_common_flags(parser)
        return
    for action in subs:
        for child in action.choices.values():
            _add_common_recursively(child)


AV_LOG_FATAL = 8  # FFmpeg's log level that keeps only fatal errors
KAFKA_LOG_WINDOW_S = 30.0  # at most one kafka-python line per this many seconds


class OnePerWindow(logging.Filter):
    """Let one record of a library's loggers through per window; count the rest into the next.

    An unreachable broker makes kafka-python log four lines per reconnect attempt (38 to 45 before
    our own one-line error); ClassPulse says what is wrong itself, so one of kafka-python's lines
    per window is kept, ending in how many were left out.
    """

    def __init__(self, prefix: str, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.prefix, self.window_s, self.clock = prefix, window_s, clock
        self._lock = threading.Lock()
        self._next = -float("inf")
        self._hidden = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != self.prefix and not record.name.startswith(self.prefix + "."):
            return True
        with self._lock:
            now = self.clock()
            if now < self._next:
                self._hidden += 1
                return False
            self._next = now + self.window_s
            hidden, self._hidden = self._hidden, 0
        if hidden:
            record.msg = f"{record.getMessage()} ({hidden} more {self.prefix} lines not shown)"
            record.args = None
        return True


# the packages whose loggers follow --log-level; every other logger (kafka, urllib3, alembic, ...)
# stays at WARNING: kafka-python's DEBUG prints raw fetch responses, JPEG bytes of children's
# pictures included, and no library's chatter belongs in our DEBUG
OWN_LOGGERS: tuple[str, ...] = ("classpulse", "consumers", "producers", "model", "dashboard",
                                "pipeline_bench")


def configure_logging(level: str) -> None:
    """Our loggers at ``level``, every library at WARNING (``OWN_LOGGERS`` says why)."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if level == "DEBUG":
        return
    # FFmpeg, inside OpenCV, writes to stderr itself ("moov atom not found" before our one-line
    # error about a file that is no video); OpenCV reads this switch when it first opens a file
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", str(AV_LOG_FATAL))
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, OnePerWindow) for f in handler.filters):
            handler.addFilter(OnePerWindow("kafka", KAFKA_LOG_WINDOW_S))


def disable_core_dumps() -> None:
    """Set this process's core file size limit to 0, soft and hard, for it and its children, and,
    on Linux, mark it not dumpable.

    A crash inside FFmpeg, OpenCV or torch would otherwise let the kernel (or systemd-coredump,
    which honours the limit) write the process's memory, frames of children included, to disk.
    A kernel that pipes core dumps to a program ignores the limit (``man 5 core``): Ubuntu's
    Apport (``core_pattern`` ``|/usr/share/apport/apport ...``) writes a crash of the packaged
    python3 to /var/crash whole. It skips a process that is not dumpable (``PR_SET_DUMPABLE``
    0), which an exec undoes: each ClassPulse process calls this (the dashboard's Streamlit
    child in dashboard/app.py).
    """
    try:
        import resource
    except ImportError:  # not a Unix (Windows): no core dumps to turn off
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def main(argv: Sequence[str] | None = None) -> int:
    disable_core_dumps()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.load({k: getattr(args, k, None) for k in SETTINGS_FLAGS})
    except SettingsError as exc:
        parser.exit(2, f"classpulse: configuration error: {exc}\n")
    configure_logging(settings.log_level)
    handler: Handler = args.handler
    try:
        return int(handler(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except (SettingsError, UsageError) as exc:
        print(f"classpulse {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
