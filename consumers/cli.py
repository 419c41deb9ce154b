"""``classpulse consume``: one member of the consumer group."""

from __future__ import annotations

import argparse

from classpulse.flags import add_device_flag, port_or_off
from classpulse.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "consume",
        help="detect faces and emotions in frames from Kafka and write per-minute aggregates",
        description="Join the consumer group, analyse frames in batches and write per-camera "
        "minute aggregates with the partitions' offsets in one transaction (exactly once). Start "
        "more consumers with the same --group to scale out.",
    )
    p.add_argument("--group", default="classpulse", help="consumer group id (classpulse)")
    add_device_flag(p, help="where the networks run (auto: CUDA when present)")
    p.add_argument("--weights", dest="model_weights", default=None,
                   help="emotion weights file (default: the shipped model/weights)")
    p.add_argument("--batch-frames", type=int, default=16, help="frames per batch (16)")
    p.add_argument("--batch-wait-ms", type=int, default=250,
                   help="longest wait to fill a batch (250)")
    p.add_argument("--flush-interval", type=float, default=5.0,
                   help="seconds between database flushes (5)")
    p.add_argument("--max-lag", type=float, default=120.0,
                   help="skip (and count) frames older than this many seconds when read (120)")
    p.add_argument("--exit-when-idle", type=float, default=None, metavar="SECONDS",
                   help="exit after a final flush once no message came for this long")
    p.add_argument("--max-poll-interval-ms", type=int, default=300_000,
                   help="Kafka max.poll.interval.ms (300000)")
    p.add_argument("--metrics-port", type=port_or_off, default=0,
                   help="serve Prometheus metrics on this port (0: off)")
    p.add_argument("--no-migrate", action="store_true",
                   help="do not migrate the database to the newest schema at start")
    p.set_defaults(handler=run_consume)


def config_from_args(args: argparse.Namespace):
    from classpulse.errors import UsageError
    from consumers.runner import ConsumerConfig

    checks = {"--batch-frames": args.batch_frames >= 1, "--batch-wait-ms": args.batch_wait_ms >= 1,
              "--flush-interval": args.flush_interval > 0, "--max-lag": args.max_lag > 0,
              "--exit-when-idle": args.exit_when_idle is None or args.exit_when_idle > 0}
    bad = [flag for flag, ok in checks.items() if not ok]
    if bad:
        raise UsageError(f"{', '.join(bad)} must be positive")
    return ConsumerConfig(
        group_id=args.group, batch_frames=args.batch_frames, batch_wait_ms=args.batch_wait_ms,
        flush_interval_s=args.flush_interval, max_lag_s=args.max_lag,
        exit_when_idle_s=args.exit_when_idle, max_poll_interval_ms=args.max_poll_interval_ms,
    )


def run_consume(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from classpulse.db.engine import make_engine
    from classpulse.db.migrate import upgrade
    from classpulse.lifecycle import StopFlag
    from consumers.analyze import FrameAnalyzer
    from consumers.metrics import ConsumerMetrics
    from consumers.runner import FrameConsumer
    from consumers.sink import DatabaseSink

    log = logging.getLogger("consumers")
    config = config_from_args(args)
    if not args.no_migrate:
        upgrade(settings.database_url)
    analyzer = FrameAnalyzer.load(settings)
    engine = make_engine(settings.database_url)
    metrics = ConsumerMetrics()
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    sink = DatabaseSink(engine, config.group_id, settings.kafka_topic)
    consumer = FrameConsumer(settings, config, analyzer, sink, metrics)
    try:
        with StopFlag() as stop:
            log.info("consuming topic=%s group=%s", settings.kafka_topic, config.group_id)
            report = consumer.run(stop)
    finally:
        engine.dispose()
    rejected = ",".join(f"{k}={v}" for k, v in sorted(report.rejected.items())) or "none"
    print(f"frames={report.frames} faces={report.faces} faces_read={report.faces_read} "
          f"rejected={rejected} "
          f"flushes={report.flushes} conflicts={report.conflicts}", flush=True)
    return 0
