"""``classpulse bench pipeline``: frames/s, faces/s and capture-to-commit latency of a consumer.

N cameras publish a video through the real producer code into a broker (the embedded one unless
KAFKA_BOOTSTRAP_SERVERS is set; the bench's own topic, deleted at its end); one consumer, in this
process, analyses them and commits to a database: a temporary SQLite file, unless this command is
given --database-url (DATABASE_URL in the environment is not written to: the bench's classroom
"bench" and its counts would sit among real ones). Latency runs from a frame's
``captured_at`` to the commit of the transaction that counted it. The elapsed time runs from the
group's assignment of the partitions (live cameras start publishing then; the join before it is
no throughput) to the commit that brought the committed frames to their final count: the idle
wait before the consumer exits, its last empty flushes and its shutdown are not in it; the wait
for that commit's flush (at most --flush-interval after the last batch) is. The
analyser is warmed up first on one frame of the source, as it arrives over the wire, outside the
timing. The producers decode the video in this process too, so on a small machine they take CPU
from the consumer, as they would on a one-box installation. A benchmark, not a test.

Flat out (``--no-realtime``) frames/s is the consumer's capacity, and the "latency" only how long
the preloaded backlog waited; live, frames/s is the load the cameras offered (the consumer kept up
when it committed every published frame), and the latency is the one a viewer sees.
"""

from __future__ import annotations

import argparse
import threading
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

from classpulse.flags import add_device_flag, partition_count, positive_float, positive_int
from classpulse.settings import Settings
from consumers.config import DEFAULTS
from pipeline_bench.harness import bench_place, check_source, publish_when_assigned

if TYPE_CHECKING:  # the handler imports them: `classpulse --help` stays light
    import numpy as np

    from consumers.report import ConsumerReport
    from producers.config import CameraConfig
    from producers.publisher import Publisher


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="throughput and latency of the whole consumer",
                       description=__doc__)
    p.add_argument("--source", required=True, help="video file every camera publishes")
    p.add_argument("--cameras", type=partition_count, default=4,
                   help="cameras publishing at once, one partition each (4)")
    p.add_argument("--fps", type=positive_float, default=1.0,
                   help="frames per second per camera (1)")
    p.add_argument("--seconds", type=positive_float, default=60.0,
                   help="how long the cameras publish in --realtime mode (60)")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True,
                   help="cameras publish live at --fps (latency); --no-realtime preloads "
                        "--frames and measures the consumer flat out (throughput)")
    p.add_argument("--frames", type=positive_int, default=200,
                   help="frames to preload with --no-realtime (200)")
    add_device_flag(p)
    p.add_argument("--batch-frames", type=positive_int, default=DEFAULTS.batch_frames,
                   help=f"frames analysed together (default {DEFAULTS.batch_frames}, the "
                   "consumer's)")
    p.add_argument("--flush-interval", type=positive_float, default=2.0,
                   help="seconds between commits (2: shorter than a consumer's, so that "
                   "latency shows the analysis more than the flush)")
    p.set_defaults(handler=run_bench)


class Commits:
    """What the consumer's commits tell the bench: each counted frame's wait from ``captured_at``
    to its commit, and when the last commit that counted a frame came. :meth:`record` is the
    consumer's ``on_commit`` (its thread); the run that owns this reads it once ``consumer.run``
    has returned, under the same lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latencies: list[float] = []
        self._last_count: float | None = None  # time.monotonic() of the last commit that counted

    def record(self, captured: list[int], committed_at: float) -> None:
        """``captured`` holds one captured_at (ms) per frame the commit counted: an empty one
        changed no count."""
        with self._lock:
            self._latencies.extend(committed_at - c / 1000 for c in captured)
            if captured:
                self._last_count = time.monotonic()

    def latencies(self) -> list[float]:
        with self._lock:
            return list(self._latencies)

    def last_count(self) -> float | None:
        with self._lock:
            return self._last_count


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.engine import make_engine
    from classpulse.lifecycle import StopFlag
    from consumers.analyze import FrameAnalyzer
    from consumers.config import ConsumerConfig
    from consumers.runner import FrameConsumer
    from consumers.sink import DatabaseSink
    from producers.config import CameraConfig
    from producers.publisher import Publisher

    check_source(args.source)
    with ExitStack() as stack, StopFlag() as stop:
        run = bench_place(stack, settings, "bench", args.cameras, args.database_url)
        topic, db_url, bootstrap = run.kafka_topic, run.database_url, run.kafka_bootstrap_servers
        device = args.device or settings.device
        analyzer = FrameAnalyzer.load(run.with_overrides(device=device))
        publisher = Publisher(bootstrap, topic, max_pending=4096)
        cameras = [CameraConfig(id=f"bench-{i}", classroom="bench", source=args.source,
                                fps=args.fps, loop=True, realtime=args.realtime)
                   for i in range(args.cameras)]
        analyzer.analyze([_wire_frame(cameras[0])])  # warm-up outside the timing
        commits = Commits()
        producer_stop = threading.Event()
        if not args.realtime:
            _preload(cameras, publisher, producer_stop, args.frames)
        engine = make_engine(db_url)
        stack.callback(engine.dispose)
        config = ConsumerConfig(group_id=f"bench-{topic}", batch_frames=args.batch_frames,
                                flush_interval_s=args.flush_interval, exit_when_idle_s=5.0,
                                max_lag_s=3600)
        consumer = FrameConsumer(run, config, analyzer, DatabaseSink(engine, config.group_id,
                                                                     topic),
                                 on_commit=commits.record)
        if args.realtime:
            producers = threading.Thread(target=publish_when_assigned, daemon=True, args=(
                consumer, cameras, publisher, producer_stop, args.seconds, stop))
            producers.start()
        started = time.monotonic()
        report = consumer.run(stop)
        # from the group's assignment (the join, seconds on Tansu, is no throughput) to the
        # commit that made the committed frame count final; None when nothing was counted
        last_count = commits.last_count()
        elapsed = (None if last_count is None
                   else last_count - (consumer.assigned_at or started))
        publisher.close(5)  # waits for the last acknowledgements before they are counted
        sent = sum(publisher.stats(cam.id).sent for cam in cameras)
    _print(args, device, report, elapsed, commits.latencies(), sent)
    return 0


def _wire_frame(camera: CameraConfig) -> np.ndarray:
    """The source's first frame as the consumer gets it: shrunk to the camera's ``max_side``,
    JPEG-encoded and decoded. Warming up on it runs the detector at the bench's own frame size
    and, on a source with faces, the classifier too (a blank frame reaches neither)."""
    from classpulse.errors import UsageError
    from classpulse.wire import decode_jpeg, encode_frame, parse_message
    from producers.sources import SourceError, read_frames

    frames = read_frames(camera.source)
    try:
        first = next(frames, None)
    except SourceError as exc:
        raise UsageError(f"--source: {exc}") from None
    finally:
        frames.close()
    if first is None:
        raise UsageError(f"--source {camera.source}: no frame could be read")
    key, value, headers = encode_frame(first.rgb, camera=camera.id, classroom=camera.classroom,
                                       captured_at_ms=round(time.time() * 1000), seq=0,
                                       max_side=camera.max_side,
                                       jpeg_quality=camera.jpeg_quality)
    return decode_jpeg(parse_message(key, value, headers))


def _preload(cameras: list[CameraConfig], publisher: Publisher, stop: threading.Event,
             frames: int) -> None:
    """Publish ``frames`` frames in total as fast as the broker takes them."""
    from producers.camera import CameraWorker

    per_camera = max(1, frames // len(cameras))
    workers = [CameraWorker(cam, publisher, stop) for cam in cameras]
    for w in workers:
        w.start()
    while any(w.is_alive() and w.result().published < per_camera for w in workers):
        time.sleep(0.05)
    stop.set()
    for w in workers:
        w.join()
    publisher.flush()


def _print(args: argparse.Namespace, device: str, report: ConsumerReport,
           elapsed: float | None, latencies: list[float], sent: int) -> None:
    """The run's lines. Flat out, frames/s is the consumer's capacity and the waits are the
    backlog's; live, frames/s is the load the cameras offered and the waits are latency."""
    import numpy as np

    from classpulse.machine import describe_machine

    frames, faces = report.frames, report.faces
    mode = (f"live: {args.cameras} cameras x {args.fps:g} fps for {args.seconds:g} s"
            if args.realtime else f"flat out: {frames} preloaded frames")
    machine = describe_machine()
    print(f"machine: {machine.arch}, {machine.torch_info().threads} torch threads, "
          f"device={device}, cuda={machine.torch_info().cuda}")
    print(f"source: {args.source}; {mode}; batch {args.batch_frames}, flush every "
          f"{args.flush_interval:g} s")
    print(f"published={sent} (acknowledged by the broker)")
    if elapsed is None or elapsed <= 0:
        print(f"frames={frames} faces={faces}: no commit counted a frame, no rate")
    elif args.realtime:
        print(f"frames={frames} faces={faces} in {elapsed:.1f} s -> {frames / elapsed:.1f} "
              f"frames/s offered, {faces / elapsed:.1f} faces/s (the cameras' load, not the "
              "consumer's capacity: --no-realtime measures that; elapsed: partitions assigned "
              "-> last commit that counted a frame)")
    else:
        print(f"frames={frames} faces={faces} in {elapsed:.1f} s -> {frames / elapsed:.1f} "
              f"frames/s, {faces / elapsed:.1f} faces/s (the consumer's capacity; elapsed: "
              "partitions assigned -> last commit that counted a frame)")
    if latencies:
        p50, p95 = np.percentile(latencies, [50, 95])
        what = ("latency captured_at -> committed row" if args.realtime else
                "backlog wait captured_at -> committed row (preloaded frames: how long the "
                "backlog waited, not a live latency)")
        print(f"{what}: p50 {p50:.2f} s, p95 {p95:.2f} s")
