"""Keeping a long-running consumer's resident memory flat.

Measured with ``classpulse bench soak`` (docs/benchmarks.md): see there for the numbers behind
each measure here.
"""

from __future__ import annotations

import os


def resident_mb() -> float:
    """This process's resident set size in MB (Linux /proc; 0.0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
