"""The consumer's memory measures: freed heap goes back to the OS; oneDNN's cache is bounded."""

from __future__ import annotations

import os

import numpy as np
import pytest

from consumers.memory import (
    ONEDNN_CACHE_CAPACITY,
    ONEDNN_CACHE_VARIABLE,
    cap_onednn_cache,
    release_free_memory,
    resident_mb,
)


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


def test_onednn_cache_is_capped_unless_the_operator_chose(monkeypatch) -> None:
    monkeypatch.delenv(ONEDNN_CACHE_VARIABLE, raising=False)
    cap_onednn_cache()
    assert os.environ[ONEDNN_CACHE_VARIABLE] == str(ONEDNN_CACHE_CAPACITY)
    monkeypatch.setenv(ONEDNN_CACHE_VARIABLE, "200")
    cap_onednn_cache()
    assert os.environ[ONEDNN_CACHE_VARIABLE] == "200"
