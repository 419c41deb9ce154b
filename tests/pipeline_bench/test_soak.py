"""``classpulse bench soak``: the real consumer's resident memory over time, and the sampler's
thread, whose samples come back through a future once it has ended."""

from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import Future
from types import SimpleNamespace

import pytest

from pipeline_bench.soak import SoakSample, finish_sampling, start_sampling

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="needs Linux /proc")


def _consumer(assigned: bool = True) -> SimpleNamespace:
    event = threading.Event()
    if assigned:
        event.set()
    return SimpleNamespace(assigned=event, report=SimpleNamespace(frames=7))


@needs_proc
def test_the_samples_come_back_once_the_sampler_has_ended(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """The sampler ends the soak after --minutes and hands its samples over only then (it
    appended to a list its caller read after an unchecked join)."""
    after_flush: queue.SimpleQueue[float] = queue.SimpleQueue()
    after_flush.put(123.0)
    stop = threading.Event()
    sampling = start_sampling(_consumer(), after_flush, every=1.0, minutes=2.5 / 60, stop=stop)
    samples = finish_sampling(sampling, timeout_s=30)
    assert stop.is_set() and sampling.done()
    assert 2 <= len(samples) <= 3, samples
    assert all(isinstance(s, SoakSample) and s.frames == 7 and s.peak > 0 for s in samples)
    assert samples[0].settled == 123.0 and samples[1].settled is None
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("minute")]
    assert len(rows) == len(samples)


def test_a_sampler_waiting_for_an_assignment_ends_with_the_run() -> None:
    """A consumer that ended before its partitions were assigned: the sampler stops with it, at
    once, rather than waiting out its two minutes for an assignment."""
    stop = threading.Event()
    sampling = start_sampling(_consumer(assigned=False), queue.SimpleQueue(), every=1.0,
                              minutes=1.0, stop=stop)
    stop.set()
    started = time.monotonic()
    assert finish_sampling(sampling, timeout_s=5) == []
    assert time.monotonic() - started < 2


def test_a_failing_sampler_stops_the_soak_and_its_error_is_raised() -> None:
    """Nobody would count --minutes: the soak is stopped, and the error reaches its end."""
    broken = SimpleNamespace(assigned=None, report=None)  # .assigned.wait raises
    stop = threading.Event()
    sampling = start_sampling(broken, queue.SimpleQueue(), every=1.0, minutes=1.0, stop=stop)
    assert stop.wait(5)
    with pytest.raises(AttributeError):
        finish_sampling(sampling, timeout_s=5)


def test_a_sampler_that_does_not_end_gives_no_samples(caplog: pytest.LogCaptureFixture) -> None:
    never: Future[list[SoakSample]] = Future()
    with caplog.at_level("WARNING", logger="pipeline_bench.soak"):
        assert finish_sampling(never, timeout_s=0.05) == []
    assert "did not stop within" in caplog.text


@pytest.mark.slow
@pytest.mark.broker
def test_bench_soak_runs_the_real_consumer_and_prints_memory(capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    """A 15-second ``classpulse bench soak``: an embedded broker, one live synthetic camera, the
    consumer the product runs; resident memory printed per period (right after the flushes and
    at its peak) and the frames it committed."""
    from classpulse.cli import main as cli_main

    assert cli_main(["bench", "soak", "--minutes", "0.25", "--every", "5", "--cameras", "1",
                     "--fps", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("minute")]
    assert len(rows) >= 2
    settled = [float(row[5]) for row in rows if row[5] != "n/a"]
    assert settled, "no flush was measured"  # the consumer flushes every 5 s
    assert all(100 < value < 8000 for value in settled)
    assert all(100 < float(row[8]) < 8000 for row in rows)
    summary = next(line for line in out.splitlines() if line.startswith("published="))
    counts = dict(part.split("=", 1) for part in summary.split()[:3])
    assert 0 < int(counts["frames"]) <= int(counts["published"])


@pytest.mark.timeout(30)  # the code before this fix ran a bench here
@pytest.mark.parametrize("given", ["0", "-3"])
def test_analyzer_only_takes_a_count_of_batches(given: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """-3 loaded the model and printed nothing; 0 ran a full 12-minute soak instead."""
    from classpulse.cli import main as cli_main

    with pytest.raises(SystemExit) as exc:
        cli_main(["bench", "soak", "--analyzer-only", given])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--analyzer-only" in err[0] and given in err[0], err


@pytest.mark.slow
def test_bench_soak_analyzer_only_prints_memory_per_batch(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """One warm-up batch, printed as batch 0 and said to be one, then the BATCHES asked for, the
    last of them printed whatever its number."""
    from classpulse.cli import main as cli_main

    assert cli_main(["bench", "soak", "--analyzer-only", "2", "--source",
                     "synthetic:classroom-cctv", "--device", "cpu"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith("batch")]
    assert [row[1] for row in rows] == ["0", "2"], rows
    assert rows[0][-1] == "(warm-up)" and rows[1][-1] != "(warm-up)"
    assert all(float(row[3]) > 100 for row in rows)
