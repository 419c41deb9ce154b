"""The consumer's memory measure: freed heap goes back to the operating system."""

from __future__ import annotations

import os

import numpy as np
import pytest

from consumers.memory import release_free_memory, resident_mb


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_freed_fragmented_arrays_are_returned_to_the_os() -> None:
    # 240 MB in 100 kB arrays (below glibc's mmap threshold, so on the heap), every 40th kept:
    # the holes cannot be trimmed from the heap's top, the way a batch's arrays fragment it
    arrays = [np.ones(12_500, dtype=np.float64) for _ in range(2400)]
    kept = arrays[::40]
    del arrays
    before = resident_mb()
    release_free_memory()
    after = resident_mb()
    assert before - after > 150, (before, after)
    assert sum(float(a[0]) for a in kept) == len(kept)


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


@pytest.mark.slow
def test_bench_soak_analyzer_only_prints_memory_per_batch(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    from classpulse.cli import main as cli_main

    assert cli_main(["bench", "soak", "--analyzer-only", "1", "--source",
                     "synthetic:classroom-cctv", "--device", "cpu"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith("batch")]
    assert rows and float(rows[0][3]) > 100
