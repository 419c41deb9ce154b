"""``classpulse bench soak``: the resident memory of one consumer over time, fed by live cameras;
or, with ``--analyzer-only``, of the analyser alone."""

from __future__ import annotations

import argparse
import logging
import queue
import statistics
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from classpulse.flags import add_device_flag, partition_count, positive_float, positive_int
from classpulse.settings import Settings
from pipeline_bench.harness import bench_place, check_source, publish_when_assigned

if TYPE_CHECKING:  # the handler imports them: `classpulse --help` stays light
    from consumers.runner import FrameConsumer

log = logging.getLogger(__name__)

SAMPLER_FINISH_S = 5.0  # how long the end of a soak waits for its sampler's last period
ASSIGNMENT_WAIT_S = 120.0  # a consumer not assigned by then is sampled no more


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("soak", help="resident memory of one consumer over time",
                       description=SOAK_DOC)
    s.add_argument("--source", default="synthetic:classroom",
                   help="what every camera publishes, looped (synthetic:classroom)")
    s.add_argument("--cameras", type=partition_count, default=2,
                   help="cameras publishing live, one partition each (2)")
    s.add_argument("--fps", type=positive_float, default=2.0,
                   help="frames per second per camera (2)")
    s.add_argument("--minutes", type=positive_float, default=12.0, help="how long to run (12)")
    s.add_argument("--every", type=positive_float, default=60.0,
                   help="seconds between resident-memory samples (60)")
    add_device_flag(s)
    s.add_argument("--analyzer-only", type=positive_int, default=None, metavar="BATCHES",
                   help="instead: feed the analyser alone one warm-up batch (printed as batch "
                        "0) and then this many batches of 1-8 frames of --source (a video), "
                        "and print resident memory every 20 batches and after the last")
    s.add_argument("--release", action=argparse.BooleanOptionalAction, default=True,
                   help="with --analyzer-only: return freed memory after each batch, as the "
                        "consumer does after each flush (--no-release: as before issue 19)")
    s.set_defaults(handler=run_soak)


SOAK_DOC = """Live cameras publish (the synthetic classroom unless --source says otherwise) into
the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set; the soak's own topic, deleted at its
end) and one consumer in this process analyses them for --minutes, committing to a temporary SQLite
file (unless this command is given --database-url; DATABASE_URL in the environment is not written
to, the soak's classroom and its counts would sit among real ones).
Every --every seconds it prints the process's resident memory right after a flush (the median
over the period: what stays allocated between batches, where a leak shows), its peak (sampled each
second: a batch's working set on top) and the frames committed; at the end the spread of both from
minute 2 on (after warm-up). The settled memory should stay within 5%."""


def run_soak(args: argparse.Namespace, settings: Settings) -> int:
    if args.analyzer_only is not None:
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

    check_source(args.source)
    with ExitStack() as stack, StopFlag() as stop:
        run = bench_place(stack, settings, "soak", args.cameras, args.database_url)
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
        threading.Thread(target=publish_when_assigned, daemon=True, args=(
            consumer, cameras, publisher, producer_stop, args.minutes * 60, stop)).start()
        sampling = start_sampling(consumer, after_flush, args.every, args.minutes, stop)
        report = consumer.run(stop)
        producer_stop.set()
        stop.set()  # the run is over (it ends on ``stop`` but for a failure): so is the sampling
        samples = finish_sampling(sampling)
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


def start_sampling(consumer: FrameConsumer, after_flush: queue.SimpleQueue[float], every: float,
                   minutes: float, stop: threading.Event) -> Future[list[SoakSample]]:
    """Sample on a thread of its own (:func:`_sample_memory`) until ``stop`` is set; its samples
    come back through the future once the thread has ended. A sampler that fails sets ``stop``
    (a soak whose --minutes nobody counts would never end) and the future holds its error."""
    result: Future[list[SoakSample]] = Future()

    def main() -> None:
        try:
            samples = _sample_memory(consumer, after_flush, every, minutes, stop)
        except BaseException as exc:
            result.set_exception(exc)
            stop.set()
        else:
            result.set_result(samples)

    threading.Thread(target=main, name="soak-sampler", daemon=True).start()
    return result


def finish_sampling(sampling: Future[list[SoakSample]],
                    timeout_s: float = SAMPLER_FINISH_S) -> list[SoakSample]:
    """The sampler's samples, once ``stop`` is set and its thread has ended; none (logged) when
    it did not end within ``timeout_s``. A sampler's error is raised here."""
    try:
        return sampling.result(timeout_s)
    except FutureTimeout:
        log.warning("the memory sampler did not stop within %.0f s; the soak's spread is not "
                    "printed", timeout_s)
        return []


def _sample_memory(consumer: FrameConsumer, after_flush: queue.SimpleQueue[float], every: float,
                   minutes: float, stop: threading.Event) -> list[SoakSample]:
    """Print a SoakSample every ``every`` seconds from the group's assignment on; stop the
    soak after ``minutes``. Returns the samples once ``stop`` is set (none when the consumer was
    not assigned its partitions within ASSIGNMENT_WAIT_S)."""
    from consumers.memory import resident_mb

    deadline = time.monotonic() + ASSIGNMENT_WAIT_S
    while not consumer.assigned.wait(0.5):
        if stop.is_set() or time.monotonic() >= deadline:
            return []
    samples: list[SoakSample] = []
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
    return samples


def _soak_analyzer(args: argparse.Namespace, settings: Settings) -> int:
    """The analyser alone on batches of changing size, the way a consumer feeds it."""
    import random

    from classpulse.wire import DEFAULT_MAX_SIDE, fit_max_side
    from consumers.analyze import FrameAnalyzer
    from consumers.memory import release_free_memory, resident_mb
    from producers.sources import read_frames

    check_source(args.source)
    frames = []
    for i, frame in enumerate(read_frames(args.source)):
        if i % 3 == 0:
            frames.append(fit_max_side(frame.rgb, DEFAULT_MAX_SIDE))
        if len(frames) == 30:
            break
    analyzer = FrameAnalyzer.load(settings.with_overrides(device=args.device or settings.device))
    rng = random.Random(1)
    started = time.monotonic()
    # batch 0 is a warm-up, not one of the --analyzer-only BATCHES: its line is the baseline the
    # counted batches 1..BATCHES are read against (the first analysis sets up the models' lazy
    # state); the last counted batch is printed too, whatever its number
    for batch in range(args.analyzer_only + 1):
        analyzer.analyze(rng.sample(frames, rng.randint(1, min(8, len(frames)))))
        if args.release:
            release_free_memory()
        if batch % 20 == 0 or batch == args.analyzer_only:
            what = " (warm-up)" if batch == 0 else ""
            print(f"batch {batch:4d}  rss {resident_mb():7.1f} MB  "
                  f"{time.monotonic() - started:5.0f} s{what}", flush=True)
    return 0
