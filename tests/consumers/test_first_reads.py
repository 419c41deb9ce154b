"""FirstReads: a record's first judgement time survives reads again and goes with its commit."""

from consumers.first_reads import FirstReads


def test_a_record_read_again_keeps_the_time_of_its_first_read() -> None:
    reads = FirstReads()
    assert reads.judged_at(0, 5, 1_000) == 1_000
    assert reads.judged_at(0, 5, 301_000) == 1_000
    assert reads.judged_at(1, 5, 301_000) == 301_000  # another partition's offset 5


def test_committed_offsets_and_forgotten_partitions_are_dropped() -> None:
    reads = FirstReads()
    for offset in range(4):
        reads.judged_at(0, offset, 1_000 + offset)
        reads.judged_at(1, offset, 2_000 + offset)
    reads.committed({0: 2, 1: None})
    assert [reads.judged_at(0, o, 9_000) for o in range(4)] == [9_000, 9_000, 1_002, 1_003]
    assert reads.judged_at(1, 0, 9_000) == 2_000  # no committed position: nothing dropped
    reads.forget(1)  # its log was reset: offsets start again
    assert reads.judged_at(1, 0, 9_000) == 9_000
