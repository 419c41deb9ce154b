"""Keeping a long-running consumer's resident memory flat.

Measured (docs/benchmarks.md, "Memory over time"): the analyser alone, fed batches of changing size
as a consumer gets them, grew by about 5 MB a batch on CPU; with glibc's ``malloc_trim`` after each
batch it stayed flat, and capping oneDNN's primitive cache (``ONEDNN_PRIMITIVE_CACHE_CAPACITY``)
changed nothing. The cause is the allocator: the large, short-lived arrays of a batch (decoded
frames, image pyramids, face crops, activations) leave freed memory in glibc's heaps that is not
returned to the system while smaller live blocks sit between the holes. ``release_free_memory``
hands it back after each flush.
"""

from __future__ import annotations

import ctypes
import os


def release_free_memory() -> None:
    """Return freed heap memory to the operating system (glibc only; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def resident_mb() -> float:
    """This process's resident set size in MB (Linux /proc; 0.0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
