"""Subcommands that belong to no single part: ``classpulse broker``."""

from __future__ import annotations

import argparse

from classpulse.errors import UsageError
from classpulse.flags import MAX_PARTITIONS, partition_count, port
from classpulse.settings import DEFAULT_BOOTSTRAP, Settings


def register(sub: argparse._SubParsersAction) -> None:
    broker = sub.add_parser(
        "broker",
        help="run the embedded Kafka-compatible broker in the foreground (development, demo)",
        description="Start Tansu, a Kafka-compatible broker that keeps data in memory only, and "
        "create the frames topic. For development and the demo; production uses Apache Kafka.",
    )
    broker.add_argument("--host", default=None,
                        help="address to listen on (default: the host of --bootstrap-servers, "
                        f"KAFKA_BOOTSTRAP_SERVERS, {DEFAULT_BOOTSTRAP})")
    broker.add_argument("--port", type=port, default=None,
                        help="port to listen on (default: the port of --bootstrap-servers)")
    broker.add_argument("--partitions", type=partition_count, default=4,
                        help=f"partitions of the frames topic created at start, 1 to "
                        f"{MAX_PARTITIONS} (default %(default)s)")
    broker.set_defaults(handler=run_broker)


def run_broker(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.broker import EmbeddedBroker
    from classpulse.lifecycle import StopFlag
    from classpulse.topics import ensure_topic

    host, port_ = _listen_address(settings.kafka_bootstrap_servers)
    host, port_ = args.host or host, args.port or port_
    with StopFlag() as stop, EmbeddedBroker(port=port_, host=host) as broker:
        ensure_topic(broker.bootstrap, settings.kafka_topic, args.partitions)
        print(f"embedded broker listening on {broker.bootstrap} (topic {settings.kafka_topic}, "
              f"{args.partitions} partitions); Ctrl-C stops it", flush=True)
        while not stop.wait(0.5):
            if not broker.running():
                print("embedded broker exited unexpectedly")
                return 1
    return 0


def _listen_address(bootstrap: str) -> tuple[str, int]:
    """Where the broker listens when no --host/--port is given: where clients are told to
    connect, so ``--bootstrap-servers`` means the same address to every command. (Settings has
    refused an entry without a host.)"""
    first = bootstrap.split(",")[0].strip()
    host, _, number = first.rpartition(":")
    try:
        return host, port(number)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"bootstrap server {first!r} has no usable port ({exc}); give "
                         "host:port, or --host and --port") from None
