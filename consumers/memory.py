"""Keeping a long-running consumer's resident memory flat.

Two causes, both measured with ``classpulse bench soak`` and the analyser alone on batches of
changing size (docs/benchmarks.md has the numbers):

- oneDNN, PyTorch's CPU kernel library, caches a compiled primitive for every input shape it sees,
  up to 1024 of them. A consumer's shapes change with every batch (frames per batch, face
  candidates per frame for MTCNN's second and third stage, faces per batch for the classifier), so
  the cache fills with hundreds of MB of primitives used once. ``cap_onednn_cache`` bounds it.
- glibc keeps freed memory of the large, short-lived arrays of a batch (decoded frames, image
  pyramids, face crops) in fragmented arenas instead of returning it; ``release_free_memory``
  hands it back after each flush.
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

ONEDNN_CACHE_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ONEDNN_CACHE_CAPACITY = 16  # primitives; oneDNN's default is 1024


def cap_onednn_cache(capacity: int = ONEDNN_CACHE_CAPACITY) -> None:
    """Bound oneDNN's primitive cache, unless the operator set it. oneDNN reads the variable when
    it builds its first primitive, so this must run before the networks first run."""
    os.environ.setdefault(ONEDNN_CACHE_VARIABLE, str(capacity))


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
