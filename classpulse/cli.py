"""The ``classpulse`` command line: one console script, one subcommand per job.

Each part registers its own subcommands through a light ``register(subparsers)`` function that only
builds argparse parsers; heavy imports (torch, streamlit, kafka) happen inside the handlers, so
``classpulse --help`` stays fast. A handler has the signature ``(args, settings) -> int``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from classpulse.errors import UsageError
from classpulse.settings import Settings, SettingsError

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
BENCH_MODULES: tuple[str, ...] = ("model.bench", "consumers.bench", "dashboard.bench")

Handler = Callable[[argparse.Namespace, Settings], int]


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Flags every subcommand accepts; each overrides its environment variable."""
    group = parser.add_argument_group("common settings (override environment variables)")
    group.add_argument("--bootstrap-servers", dest="kafka_bootstrap_servers", default=None,
                       help="Kafka bootstrap servers host:port[,...] (KAFKA_BOOTSTRAP_SERVERS)")
    group.add_argument("--topic", dest="kafka_topic", default=None,
                       help="frames topic (KAFKA_TOPIC, default classpulse.frames)")
    group.add_argument("--database-url", dest="database_url", default=None,
                       help="SQLAlchemy URL (DATABASE_URL, default sqlite:///classpulse.db)")
    group.add_argument("--log-level", dest="log_level", default=None, type=str.upper,
                       help="DEBUG, INFO, WARNING or ERROR (CLASSPULSE_LOG_LEVEL)")


SETTINGS_FLAGS = ("kafka_bootstrap_servers", "kafka_topic", "database_url", "log_level",
                  "device", "model_weights", "min_faces_shown", "dashboard_password",
                  "max_clock_skew_s")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classpulse",
        description="Live classroom emotion and engagement aggregates, without keeping pictures.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for path in COMMAND_MODULES:
        import_module(path).register(sub)
    if BENCH_MODULES:
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


# the packages whose loggers follow --log-level; every other logger (kafka, urllib3, alembic, ...)
# stays at WARNING: kafka-python's DEBUG prints raw fetch responses, JPEG bytes of children's
# pictures included, and no library's chatter belongs in our DEBUG
OWN_LOGGERS: tuple[str, ...] = ("classpulse", "consumers", "producers", "model", "dashboard")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
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
