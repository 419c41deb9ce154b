"""The counts a consumer run keeps: what it committed, and what its open buffer holds.

Plain data apart from the loop that fills them: the report is what a run hands back to its
callers (``classpulse consume``'s exit summary, the pipeline benchmark, tests), who read it
without the loop's machinery.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Frames and faces counted, and messages rejected by reason."""

    frames: int = 0
    faces: int = 0
    faces_read: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.frames += other.frames
        self.faces += other.faces
        self.faces_read += other.faces_read
        self.rejected.update(other.rejected)


@dataclass
class ConsumerReport(Tally):
    """What one run committed, for the exit summary and tests. ``uncommitted``: the records read
    but left uncommitted at exit (read again by the partitions' next owner): the database refused
    the last flush (``failure``: its reason), or it conflicted (``conflict``): another consumer's
    commit came first and the partitions were rewound behind where this run had read."""

    flushes: int = 0
    conflicts: int = 0
    failed_flushes: int = 0
    uncommitted: int = 0
    failure: str | None = None
    conflict: bool = False


@dataclass
class Buffered(Tally):
    """Counts of the open buffer; they reach the report and the metrics only when it commits (a
    buffer dropped is read, and counted, again)."""

    records: int = 0  # records whose offsets the buffer moves (what it holds uncommitted)
    camera_frames: Counter[str] = field(default_factory=Counter)
    captures: list[int] = field(default_factory=list)
