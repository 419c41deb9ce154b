"""When each record was first polled, kept until it is committed.

A conflicting write rewinds the partitions, and an eager rebalance (kafka-python's default
assignors) takes them all away and gives them back to be read from the stored offsets, dropping
what was counted if the database is away then: the same records are read again, maybe minutes
later, after a database outage. Judged by the clock of that later read, a frame polled in time
would be refused as late (stale) and one from the future at its first poll would be counted;
judged by the clock of the first poll, each keeps its verdict, so an outage changes no verdict.
Records first polled after an outage (the partitions pause while the uncommitted buffer is full)
are judged then, like any backlog. Kept per process: a restarted consumer, or another member
that takes a partition over, judges by its own clock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


class FirstReads:
    """Per partition, offset -> the clock (ms) of the record's first poll."""

    def __init__(self) -> None:
        self._at: dict[int, dict[int, int]] = {}

    def judged_at(self, partition: int, offset: int, now_ms: int) -> int:
        """The time to judge this record by: its first poll's, ``now_ms`` when this is it."""
        return self._at.setdefault(partition, {}).setdefault(offset, now_ms)

    def committed(self, positions: Mapping[int, int | None], keep: Collection[int] = ()
                  ) -> None:
        """Forget the records below each partition's committed position (never read again), and
        the partitions neither in ``positions`` nor in ``keep`` (another member's now)."""
        for partition in list(self._at):
            if partition not in positions and partition not in keep:
                del self._at[partition]
        for partition, position in positions.items():
            times = self._at.get(partition)
            if times and position is not None:
                self._at[partition] = {o: t for o, t in times.items() if o >= position}

    def forget(self, partition: int) -> None:
        """The partition's log was reset: its offsets start again, on other records."""
        self._at.pop(partition, None)
