"""When each record was first read, kept until its offset is committed.

A failed write rewinds the partitions to their stored offsets, and the records are read again,
maybe minutes later. Judged by the clock of that second read, a frame read in time would be
refused as late (stale) and one from the future at its first read would be counted; judged by the
clock of the first read, each keeps the verdict it had, so what is counted does not depend on
whether the database was up. A restarted process remembers nothing: it judges by its own clock.
"""

from __future__ import annotations

from collections.abc import Mapping


class FirstReads:
    """Per partition, offset -> the clock (ms) of the record's first judgement."""

    def __init__(self) -> None:
        self._at: dict[int, dict[int, int]] = {}

    def judged_at(self, partition: int, offset: int, now_ms: int) -> int:
        """The time to judge this record by: its first read's, ``now_ms`` when this is it."""
        return self._at.setdefault(partition, {}).setdefault(offset, now_ms)

    def committed(self, positions: Mapping[int, int | None]) -> None:
        """Forget the records below each partition's committed position: never read again."""
        for partition, position in positions.items():
            times = self._at.get(partition)
            if times and position is not None:
                self._at[partition] = {o: t for o, t in times.items() if o >= position}

    def forget(self, partition: int) -> None:
        """The partition is another member's now, or its log was reset (offsets start again)."""
        self._at.pop(partition, None)
