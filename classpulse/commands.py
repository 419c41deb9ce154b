"""Subcommands that belong to no single part: ``classpulse broker``."""

from __future__ import annotations

import argparse

from classpulse.flags import port
from classpulse.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    broker = sub.add_parser(
        "broker",
        help="run the embedded Kafka-compatible broker in the foreground (development, demo)",
        description="Start Tansu, a Kafka-compatible broker that keeps data in memory only, and "
        "create the frames topic. For development and the demo; production uses Apache Kafka.",
    )
    broker.add_argument("--host", default="127.0.0.1", help="address to listen on")
    broker.add_argument("--port", type=port, default=9092, help="port to listen on (default 9092)")
    broker.add_argument("--partitions", type=int, default=4,
                        help="partitions of the frames topic created at start (default 4)")
    broker.set_defaults(handler=run_broker)


def run_broker(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.broker import EmbeddedBroker
    from classpulse.lifecycle import StopFlag
    from classpulse.topics import ensure_topic

    with StopFlag() as stop, EmbeddedBroker(port=args.port, host=args.host) as broker:
        ensure_topic(broker.bootstrap, settings.kafka_topic, args.partitions)
        print(f"embedded broker listening on {broker.bootstrap} (topic {settings.kafka_topic}, "
              f"{args.partitions} partitions); Ctrl-C stops it", flush=True)
        while not stop.wait(0.5):
            if not broker.running():
                print("embedded broker exited unexpectedly")
                return 1
    return 0
