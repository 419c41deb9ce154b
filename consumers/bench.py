"""``classpulse bench pipeline``: frames/s, faces/s and capture-to-commit latency of a consumer.

N cameras publish a video through the real producer code into a broker (the embedded one unless
KAFKA_BOOTSTRAP_SERVERS is set); one consumer, in this process, analyses them and commits to a
database (a temporary SQLite file unless DATABASE_URL is set). Latency runs from a frame's
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
import platform
import queue
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from classpulse.flags import add_device_flag, positive_float, positive_int
from classpulse.settings import Settings
from consumers.config import DEFAULTS

if TYPE_CHECKING:  # the handler imports them: `classpulse --help` stays light
    import numpy as np

    from consumers.report import ConsumerReport
    from consumers.runner import FrameConsumer
    from producers.config import CameraConfig
    from producers.publisher import Publisher


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="throughput and latency of the whole consumer",
                       description=__doc__)
    p.add_argument("--source", required=True, help="video file every camera publishes")
    p.add_argument("--cameras", type=positive_int, default=4, help="cameras publishing at once (4)")
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
    s = sub.add_parser("soak", help="resident memory of one consumer over time",
                       description=SOAK_DOC)
    s.add_argument("--source", default="synthetic:classroom",
                   help="what every camera publishes, looped (synthetic:classroom)")
    s.add_argument("--cameras", type=positive_int, default=2, help="cameras publishing live (2)")
    s.add_argument("--fps", type=positive_float, default=2.0,
                   help="frames per second per camera (2)")
    s.add_argument("--minutes", type=positive_float, default=12.0, help="how long to run (12)")
    s.add_argument("--every", type=positive_float, default=60.0,
                   help="seconds between resident-memory samples (60)")
    add_device_flag(s)
    s.add_argument("--analyzer-only", type=int, default=0, metavar="BATCHES",
                   help="instead: feed the analyser alone this many batches of 1-8 frames of "
                        "--source (a video) and print resident memory every 20 batches")
    s.add_argument("--release", action=argparse.BooleanOptionalAction, default=True,
                   help="with --analyzer-only: return freed memory after each batch, as the "
                        "consumer does after each flush (--no-release: as before issue 19)")
    s.set_defaults(handler=run_soak)


SOAK_DOC = """Live cameras publish (the synthetic classroom unless --source says otherwise) into
the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set) and one consumer in this process
analyses them for --minutes, committing to a temporary SQLite file (unless DATABASE_URL is set).
Every --every seconds it prints the process's resident memory right after a flush (the median
over the period: what stays allocated between batches, where a leak shows), its peak (sampled each
second: a batch's working set on top) and the frames committed; at the end the spread of both from
minute 2 on (after warm-up). The settled memory should stay within 5%."""


def _bench_place(stack: ExitStack, settings: Settings, name: str, partitions: int) -> Settings:
    """Where a bench runs: the configured Kafka and database, or, where none was configured, an
    embedded broker and a temporary SQLite file (closed with ``stack``); a fresh topic, migrated
    database. The settings returned point at them."""
    from classpulse.broker import EmbeddedBroker
    from classpulse.db.migrate import upgrade
    from classpulse.db.weights import requested_weights
    from classpulse.topics import ensure_topic

    topic = f"{name}.{int(time.time())}"
    bootstrap = settings.kafka_bootstrap_servers
    if "kafka_bootstrap_servers" not in settings.explicit:
        bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap
    db_url, weights = settings.database_url, None
    if "database_url" not in settings.explicit:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"classpulse-{name}-"))
        db_url = f"sqlite:///{Path(folder) / f'{name}.db'}"
        # ENGAGEMENT_WEIGHTS given score this bench's own database; a configured database keeps
        # its stored weights (its consumer refuses others, saying how to store them)
        weights = requested_weights(settings)
    upgrade(db_url, engagement_weights=weights)
    ensure_topic(bootstrap, topic, partitions=max(1, partitions))
    return settings.with_overrides(kafka_bootstrap_servers=bootstrap, kafka_topic=topic,
                                   database_url=db_url)


def _check_source(source: str) -> None:
    """A source that cannot be read ends the benchmark in one line, before anything starts."""
    from classpulse.errors import UsageError
    from producers.sources import SourceError, check_source

    try:
        check_source(source)
    except SourceError as exc:
        raise UsageError(f"--source: {exc}") from None


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.engine import make_engine
    from classpulse.lifecycle import StopFlag
    from consumers.analyze import FrameAnalyzer
    from consumers.config import ConsumerConfig
    from consumers.runner import FrameConsumer
    from consumers.sink import DatabaseSink
    from producers.config import CameraConfig
    from producers.publisher import Publisher

    _check_source(args.source)
    with ExitStack() as stack, StopFlag() as stop:
        run = _bench_place(stack, settings, "bench", args.cameras)
        topic, db_url, bootstrap = run.kafka_topic, run.database_url, run.kafka_bootstrap_servers
        device = args.device or settings.device
        analyzer = FrameAnalyzer.load(run.with_overrides(device=device))
        publisher = Publisher(bootstrap, topic, max_pending=4096)
        cameras = [CameraConfig(id=f"bench-{i}", classroom="bench", source=args.source,
                                fps=args.fps, loop=True, realtime=args.realtime)
                   for i in range(args.cameras)]
        analyzer.analyze([_wire_frame(cameras[0])])  # warm-up outside the timing
        latencies: list[float] = []
        last_count: list[float] = []  # time.monotonic() of the last commit that counted a frame

        def on_commit(captured: list[int], committed_at: float) -> None:
            # the consumer's thread; read after consumer.run returns. ``captured`` holds one
            # captured_at per frame the commit counted: an empty one changed no count
            latencies.extend(committed_at - c / 1000 for c in captured)
            if captured:
                last_count[:] = [time.monotonic()]

        producer_stop = threading.Event()
        if not args.realtime:
            _preload(cameras, publisher, producer_stop, args.frames)
        engine = make_engine(db_url)
        stack.callback(engine.dispose)
        config = ConsumerConfig(group_id=f"bench-{topic}", batch_frames=args.batch_frames,
                                flush_interval_s=args.flush_interval, exit_when_idle_s=5.0,
                                max_lag_s=3600)
        consumer = FrameConsumer(run, config, analyzer, DatabaseSink(engine, config.group_id,
                                                                     topic), on_commit=on_commit)
        if args.realtime:
            producers = threading.Thread(target=_publish_when_assigned, daemon=True, args=(
                consumer, cameras, publisher, producer_stop, args.seconds, stop))
            producers.start()
        started = time.monotonic()
        report = consumer.run(stop)
        # from the group's assignment (the join, seconds on Tansu, is no throughput) to the
        # commit that made the committed frame count final; None when nothing was counted
        elapsed = (last_count[0] - (consumer.assigned_at or started)) if last_count else None
        publisher.close(5)  # waits for the last acknowledgements before they are counted
        sent = sum(publisher.stats(cam.id).sent for cam in cameras)
    _print(args, device, report, elapsed, latencies, sent)
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


def _publish_when_assigned(consumer: FrameConsumer, cameras: list[CameraConfig],
                           publisher: Publisher,
                           stop: threading.Event, seconds: float, quit_: threading.Event) -> None:
    """Live cameras start once the consumer holds its partitions, so latency is steady-state."""
    while not consumer.assigned.wait(0.5):
        if quit_.is_set():
            return
    _publish_for(cameras, publisher, stop, seconds)


def _publish_for(cameras: list[CameraConfig], publisher: Publisher, stop: threading.Event,
                 seconds: float) -> None:
    from producers.camera import run_cameras

    timer = threading.Timer(seconds, stop.set)
    timer.start()
    run_cameras(cameras, publisher, stop)
    timer.cancel()


def _print(args: argparse.Namespace, device: str, report: ConsumerReport,
           elapsed: float | None, latencies: list[float], sent: int) -> None:
    """The run's lines. Flat out, frames/s is the consumer's capacity and the waits are the
    backlog's; live, frames/s is the load the cameras offered and the waits are latency."""
    import numpy as np
    import torch

    frames, faces = report.frames, report.faces
    mode = (f"live: {args.cameras} cameras x {args.fps:g} fps for {args.seconds:g} s"
            if args.realtime else f"flat out: {frames} preloaded frames")
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
          f"torch threads, device={device}, cuda={torch.cuda.is_available()}")
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


def run_soak(args: argparse.Namespace, settings: Settings) -> int:
    if args.analyzer_only:
        return _soak_analyzer(args, settings)
    from classpulse.db.engine import make_engine
    from classpulse.lifecycle import StopFlag
    from consumers.analyze import FrameAnalyzer
    from consumers.config import ConsumerConfig
    from consumers.memory import resident_mb
    from consumers.runner import FrameConsumer
    from consumers.sink import DatabaseSink
    from producers.config import CameraConfig
    from producers.publisher import Publisher

    _check_source(args.source)
    samples: list[SoakSample] = []
    with ExitStack() as stack, StopFlag() as stop:
        run = _bench_place(stack, settings, "soak", args.cameras)
        topic, db_url, bootstrap = run.kafka_topic, run.database_url, run.kafka_bootstrap_servers
        analyzer = FrameAnalyzer.load(run.with_overrides(device=args.device or settings.device))
        publisher = Publisher(bootstrap, topic, max_pending=4096)
        stack.callback(publisher.close, 5)
        cameras = [CameraConfig(id=f"soak-{i}", classroom="soak", source=args.source,
                                fps=args.fps, loop=True, realtime=True)
                   for i in range(args.cameras)]
        engine = make_engine(db_url)
        stack.callback(engine.dispose)
        config = ConsumerConfig(group_id=f"soak-{topic}", max_lag_s=3600)
        # memory right after each flush, handed from the consumer's thread to the sampler's
        after_flush: queue.SimpleQueue[float] = queue.SimpleQueue()
        consumer = FrameConsumer(run, config, analyzer,
                                 DatabaseSink(engine, config.group_id, topic),
                                 on_commit=lambda _captured, _at: after_flush.put(resident_mb()))
        producer_stop = threading.Event()
        threading.Thread(target=_publish_when_assigned, daemon=True, args=(
            consumer, cameras, publisher, producer_stop, args.minutes * 60, stop)).start()
        sampler = threading.Thread(target=_sample_memory, daemon=True, args=(
            consumer, after_flush, args.every, args.minutes, stop, samples))
        sampler.start()
        report = consumer.run(stop)
        producer_stop.set()
        sampler.join(5)
    sent = sum(publisher.stats(cam.id).sent for cam in cameras)
    print(f"published={sent} frames={report.frames} faces={report.faces} "
          f"rejected={dict(report.rejected)}")
    warm = [s for s in samples if s.minute >= 2 - 1e-6]  # after the warm-up
    for name, values, rule in (
            ("settled", [s.settled for s in warm if s.settled is not None],
             " (flat means under 5%)"),
            ("peak", [s.peak for s in warm], "")):
        if values:
            low, high = min(values), max(values)
            print(f"resident memory {name} from minute 2: {low:.1f}-{high:.1f} MB, spread "
                  f"{(high - low) / low * 100:.1f}%{rule}")
    return 0


@dataclass(frozen=True)
class SoakSample:
    """One period of a soak. ``settled`` is the median of the resident memory measured right after
    each flush, once freed memory is returned: what stays allocated between batches, where a leak
    shows. ``peak`` is the highest of the once-a-second samples: a batch's working set on top,
    which depends on how many frames that batch held."""

    minute: float
    settled: float | None
    peak: float
    frames: int


def _sample_memory(consumer: FrameConsumer, after_flush: queue.SimpleQueue[float], every: float,
                   minutes: float, stop: threading.Event, samples: list[SoakSample]) -> None:
    """Print a SoakSample every ``every`` seconds from the group's assignment on; stop the
    soak after ``minutes``. Runs in its own thread and is joined before ``samples`` is read."""
    from consumers.memory import resident_mb

    if not consumer.assigned.wait(120):
        return
    started = time.monotonic()
    peaks: list[float] = []
    flushed: list[float] = []
    while not stop.wait(1.0):
        peaks.append(resident_mb())
        while not after_flush.empty():
            flushed.append(after_flush.get())
        minute = (time.monotonic() - started) / 60
        if minute * 60 >= (len(samples) + 1) * every:
            sample = SoakSample(minute, statistics.median(flushed) if flushed else None,
                                max(peaks), consumer.report.frames)
            samples.append(sample)
            peaks, flushed = [], []
            settled = "   n/a" if sample.settled is None else f"{sample.settled:7.1f}"
            print(f"minute {minute:5.1f}  rss after flush {settled} MB  peak {sample.peak:7.1f} MB"
                  f"  frames committed {sample.frames}", flush=True)
        if minute >= minutes:
            stop.set()


def _soak_analyzer(args: argparse.Namespace, settings: Settings) -> int:
    """The analyser alone on batches of changing size, the way a consumer feeds it."""
    import random

    from classpulse.wire import DEFAULT_MAX_SIDE, fit_max_side
    from consumers.analyze import FrameAnalyzer
    from consumers.memory import release_free_memory, resident_mb
    from producers.sources import read_frames

    _check_source(args.source)
    frames = []
    for i, frame in enumerate(read_frames(args.source)):
        if i % 3 == 0:
            frames.append(fit_max_side(frame.rgb, DEFAULT_MAX_SIDE))
        if len(frames) == 30:
            break
    analyzer = FrameAnalyzer.load(settings.with_overrides(device=args.device or settings.device))
    rng = random.Random(1)
    started = time.monotonic()
    for batch in range(args.analyzer_only + 1):
        analyzer.analyze(rng.sample(frames, rng.randint(1, min(8, len(frames)))))
        if args.release:
            release_free_memory()
        if batch % 20 == 0:
            print(f"batch {batch:4d}  rss {resident_mb():7.1f} MB  "
                  f"{time.monotonic() - started:5.0f} s", flush=True)
    return 0
