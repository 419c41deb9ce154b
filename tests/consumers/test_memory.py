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
