"""``classpulse consume``: one member of the consumer group."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from typing import TYPE_CHECKING

from classpulse.errors import UsageError
from classpulse.flags import add_device_flag, port_or_off
from classpulse.settings import Settings, listen_address
from classpulse.years import FIRST_DAY, LAST_DAY
from consumers.config import BATCH_WAIT_MAX_MS, DEFAULTS, MAX_POLL_INTERVAL_MAX_MS, ConsumerConfig

log = logging.getLogger("consumers")

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from consumers.report import ConsumerReport


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "consume",
        help="detect faces and emotions in frames from Kafka and write per-minute aggregates",
        description="Join the consumer group, analyse frames in batches and write aggregates "
        "per camera, minute and classroom with the partitions' offsets in one transaction "
        "(exactly once). Start more consumers with the same --group to scale out.",
    )
    p.add_argument("--group", default=DEFAULTS.group_id,
                   help=f"consumer group id ({DEFAULTS.group_id})")
    add_device_flag(p, help="where the networks run (auto: CUDA when present)")
    p.add_argument("--weights", dest="model_weights", default=None,
                   help="emotion weights file (default: the shipped model/weights)")
    p.add_argument("--batch-frames", type=int, default=DEFAULTS.batch_frames,
                   help=f"frames per batch ({DEFAULTS.batch_frames})")
    p.add_argument("--batch-wait-ms", type=int, default=DEFAULTS.batch_wait_ms,
                   help=f"longest wait to fill a batch, 1 to {BATCH_WAIT_MAX_MS} "
                        f"({DEFAULTS.batch_wait_ms})")
    p.add_argument("--flush-interval", type=float, default=DEFAULTS.flush_interval_s,
                   help=f"seconds between database flushes ({DEFAULTS.flush_interval_s:g})")
    p.add_argument("--max-lag", type=float, default=DEFAULTS.max_lag_s,
                   help="skip (and count) frames older than this many seconds when read "
                        f"({DEFAULTS.max_lag_s:g})")
    p.add_argument("--max-clock-skew", dest="max_clock_skew_s", type=float, default=None,
                   help="skip (and count) frames captured more than this many seconds ahead of "
                        "this machine's clock (CLASSPULSE_MAX_CLOCK_SKEW_S, default "
                        f"{Settings.max_clock_skew_s:g})")
    p.add_argument("--backfill", action="store_true",
                   help="allow a --max-lag longer than minutes stay open, to count recorded "
                        "footage into a database nobody is watching: frames read late then "
                        "change minutes the views and the dashboard already show (without it, "
                        "a minute added to after it closed is hidden from then on)")
    p.add_argument("--duplicate-window", type=float, default=DEFAULTS.duplicate_window_s,
                   help="drop repeats of a camera's frame within this many seconds of its "
                        f"event time ({DEFAULTS.duplicate_window_s:g})")
    p.add_argument("--exit-when-idle", type=float, default=None, metavar="SECONDS",
                   help="exit after a final flush once no message came for this long (status "
                        "1 when that flush is refused, or conflicts and leaves records read "
                        "uncommitted; partitions paused for a full buffer are not idle)")
    p.add_argument("--max-poll-interval-ms", type=int, default=DEFAULTS.max_poll_interval_ms,
                   help=f"Kafka max.poll.interval.ms, {DEFAULTS.session_timeout_ms} (the "
                        f"session timeout) to {MAX_POLL_INTERVAL_MAX_MS} "
                        f"({DEFAULTS.max_poll_interval_ms})")
    p.add_argument("--db-timeout", type=float, default=DEFAULTS.db_timeout_s, metavar="SECONDS",
                   help="PostgreSQL: a statement that takes longer (waiting for a lock included) "
                        "fails, and the flush is tried again later, with what was counted "
                        "meanwhile (SQLite waits on its busy timeout instead) "
                        f"({DEFAULTS.db_timeout_s:g})")
    p.add_argument("--metrics-port", type=port_or_off, default=0,
                   help="serve Prometheus metrics on this port (0: off)")
    p.add_argument("--metrics-host", type=metrics_host, default=None, metavar="ADDRESS",
                   help="the IP address the metrics port listens on (CLASSPULSE_METRICS_HOST, "
                        f"default {Settings.metrics_host}: this host only; 0.0.0.0: every "
                        "network, as compose's consumers on their metrics network); the metrics "
                        "name the cameras")
    p.add_argument("--no-migrate", action="store_true",
                   help="do not migrate the database at start; it must already be at the newest "
                        "schema (`classpulse db upgrade`), or the consumer stops with one line")
    p.set_defaults(handler=run_consume)


def metrics_host(text: str) -> str:
    """``--metrics-host``: an IP address (:func:`classpulse.settings.listen_address`)."""
    try:
        return listen_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# PostgreSQL's statement_timeout is milliseconds in a 32-bit integer: at most this many seconds
# (about 24 days); a longer --db-timeout was an OverflowError or a DataError at the first connect
DB_TIMEOUT_MAX_S = 2_147_483
# the longest a time flag may be: the span of capture times the wire carries (2000 to 2099)
WIRE_YEARS = LAST_DAY.year - FIRST_DAY.year + 1
WIRE_SPAN_S = (LAST_DAY - FIRST_DAY).days * 86_400.0 + 86_400.0


def config_from_args(args: argparse.Namespace) -> ConsumerConfig:
    if not (math.isfinite(args.db_timeout) and args.db_timeout <= DB_TIMEOUT_MAX_S):
        raise UsageError(f"--db-timeout {args.db_timeout} is not a number of seconds up to "
                         f"{DB_TIMEOUT_MAX_S} (about 24 days, PostgreSQL's longest statement "
                         f"timeout); give e.g. {DEFAULTS.db_timeout_s:g}")
    checks = {"--batch-frames": args.batch_frames >= 1, "--batch-wait-ms": args.batch_wait_ms >= 1,
              "--flush-interval": args.flush_interval > 0, "--max-lag": args.max_lag > 0,
              "--duplicate-window": args.duplicate_window > 0, "--db-timeout": args.db_timeout > 0,
              "--exit-when-idle": args.exit_when_idle is None or args.exit_when_idle > 0}
    bad = [flag for flag, ok in checks.items() if not ok]
    if bad:
        raise UsageError(f"{', '.join(bad)} must be positive")
    for flag, seconds in (("--max-lag", args.max_lag),
                          ("--duplicate-window", args.duplicate_window),
                          ("--flush-interval", args.flush_interval),
                          ("--exit-when-idle", args.exit_when_idle)):
        # inf was an OverflowError traceback once the networks had loaded, 1e300 a refused flush
        # blamed on the database (bigint out of range)
        if seconds is not None and not (math.isfinite(seconds) and seconds <= WIRE_SPAN_S):
            raise UsageError(f"{flag} {seconds:g} is not a number of seconds up to "
                             f"{WIRE_SPAN_S:.0f} (the {WIRE_YEARS} years of times a frame "
                             "carries); give a finite number")
    if args.batch_wait_ms > BATCH_WAIT_MAX_MS:
        raise UsageError(f"--batch-wait-ms {args.batch_wait_ms} is over {BATCH_WAIT_MAX_MS}: a "
                         "stop is seen only between polls; give 1 to "
                         f"{BATCH_WAIT_MAX_MS}, e.g. {DEFAULTS.batch_wait_ms}")
    session_ms = DEFAULTS.session_timeout_ms
    if not session_ms <= args.max_poll_interval_ms <= MAX_POLL_INTERVAL_MAX_MS:
        raise UsageError(f"--max-poll-interval-ms {args.max_poll_interval_ms} is not from "
                         f"{session_ms} (the consumer's session timeout) to "
                         f"{MAX_POLL_INTERVAL_MAX_MS}; give e.g. {DEFAULTS.max_poll_interval_ms}")
    return ConsumerConfig(
        group_id=args.group, batch_frames=args.batch_frames, batch_wait_ms=args.batch_wait_ms,
        flush_interval_s=args.flush_interval, max_lag_s=args.max_lag,
        duplicate_window_s=args.duplicate_window, exit_when_idle_s=args.exit_when_idle,
        max_poll_interval_ms=args.max_poll_interval_ms, db_timeout_s=args.db_timeout,
        backfill=args.backfill,
    )


def run_consume(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.engine import make_engine
    from classpulse.db.migrate import require_head, upgrade
    from consumers.batch import AnalyzerBroken
    from consumers.metrics import check_metrics_port
    from model import check_weights_path, pick_device

    settings = settings.with_overrides(metrics_host=args.metrics_host)
    config = config_from_args(args)
    config.check(settings.max_clock_skew_s)
    # the cheap checks of what was given, before the database is touched (a SQLite file created,
    # a PostgreSQL schema migrated) and the networks load
    check_weights_path(settings.model_weights)
    if args.metrics_port:
        check_metrics_port(args.metrics_port, settings.metrics_host)
    if config.backfill:
        log.warning("--backfill: frames up to --max-lag %g s late are counted, into minutes the "
                    "views may already show, and such minutes are not hidden as revised",
                    config.max_lag_s)
    pick_device(settings.device)  # a GPU asked for and missing, before the database is touched
    if args.no_migrate:
        require_head(settings.database_url)
    else:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url, statement_timeout_s=config.db_timeout_s)
    try:  # the engine's connections are closed on every way out, a failed load included
        report = _consume(args, settings, config, engine)
    except AnalyzerBroken as exc:
        # exit non-zero, nothing of the batch committed: a supervisor's restart (compose:
        # unless-stopped) gets a new device context and reads the frames again
        print(f"classpulse consume: {exc}; stopped without committing the frames in hand, which "
              "a restart reads again", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    rejected = ",".join(f"{k}={v}" for k, v in sorted(report.rejected.items())) or "none"
    # counts of committed flushes only: a buffer dropped uncommitted is read and counted again
    print(f"frames={report.frames} faces={report.faces} faces_read={report.faces_read} "
          f"rejected={rejected} flushes={report.flushes} conflicts={report.conflicts} "
          f"failed_flushes={report.failed_flushes}", flush=True)
    if report.uncommitted:
        # non-zero: a supervisor or script must not take the run for complete
        print(uncommitted_line(report, config), file=sys.stderr)
        return 1
    return 0


def _consume(args: argparse.Namespace, settings: Settings, config: ConsumerConfig,
             engine: Engine) -> ConsumerReport:
    """Check the weights against the database's, load the networks, serve the metrics, and run
    the consumer until it stops."""
    from classpulse.db.weights import check_consumer_weights
    from classpulse.lifecycle import StopFlag
    from consumers.analyze import FrameAnalyzer
    from consumers.metrics import ConsumerMetrics
    from consumers.runner import FrameConsumer
    from consumers.sink import DatabaseSink

    sink = DatabaseSink(engine, config.group_id, settings.kafka_topic, backfill=config.backfill)
    # refused before the networks load (10-20 s of their log lines first); the run checks again,
    # for a consumer started without this command (the benches)
    check_consumer_weights(settings, sink.engagement_weights())
    analyzer = FrameAnalyzer.load(settings)
    metrics = ConsumerMetrics()
    if args.metrics_port:
        metrics.serve(args.metrics_port, settings.metrics_host)
    consumer = FrameConsumer(settings, config, analyzer, sink, metrics)
    with StopFlag() as stop:
        log.info("consuming topic=%s group=%s", settings.kafka_topic, config.group_id)
        return consumer.run(stop)


def uncommitted_line(report: ConsumerReport, config: ConsumerConfig) -> str:
    """The one line of a run that exits with records read but not committed."""
    if report.conflict:
        why = ("the last flush conflicted: another consumer committed offsets of these "
               "partitions first, and they were rewound to them; start the consumer again")
    else:
        why = (f"the database refused the last flush ({report.failure}); start the consumer "
               "again once the database takes writes")
    return (f"classpulse consume: {report.uncommitted} records read are uncommitted: {why}: it "
            "reads them again from the stored offsets, and counts those captured within "
            f"--max-lag ({config.max_lag_s:g} s) of that read (older ones as stale)")
