"""`classpulse bench pipeline` runs the real producer, broker, consumer and database end to end.

Not a timed test: it checks that the benchmark measures what it claims (every preloaded frame
analysed, faces found in them, the backlog's wait for the committed rows, labelled as such), not
how fast it was.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from pipeline_bench.pipeline import Commits
from tests.pipeline.conftest import cli, finish


@pytest.mark.slow
def test_flat_out_bench_counts_every_preloaded_frame(kafka_bootstrap: str, shared_data: Path,
                                                      tmp_path: Path) -> None:
    video = shared_data / "faces" / "crowd-1080p-25fps.mp4"
    out = finish(cli("bench", "pipeline", "--source", str(video), "--cameras", "2",
                     "--no-realtime", "--frames", "8", "--device", "cpu",
                     "--bootstrap-servers", kafka_bootstrap, cwd=tmp_path))
    counted = re.search(r"frames=(\d+) faces=(\d+) in ([\d.]+) s -> [\d.]+ frames/s, [\d.]+ "
                        r"faces/s \(the consumer's capacity; elapsed: partitions assigned -> "
                        r"last commit that counted a frame\)", out)
    assert counted, out
    assert float(counted[3]) > 0, out  # the assignment came before the commit that counted
    frames, faces = int(counted[1]), int(counted[2])
    published = re.search(r"published=(\d+) ", out)
    assert published, out
    assert frames == int(published[1]) >= 8  # 4 per camera at least, every one analysed
    assert faces >= 3 * frames  # the crowd video shows about six faces a frame
    # preloaded frames: how long the backlog waited, labelled so, not a latency
    latency = re.search(r"^backlog wait captured_at -> committed row .*: p50 ([\d.]+) s, p95 "
                        r"([\d.]+) s$", out, re.M)
    assert latency and 0 < float(latency[1]) <= float(latency[2]), out
    assert not list(tmp_path.iterdir()), "the bench must leave nothing behind"


def test_commits_keep_each_frame_s_wait_and_the_last_commit_that_counted() -> None:
    """The consumer's on_commit feeds one object the run owns (a closure mutated a list and a
    one-item list used as a cell); an empty commit changes no count."""
    commits = Commits()
    assert commits.latencies() == [] and commits.last_count() is None
    commits.record([], 100.0)
    assert commits.last_count() is None
    before = time.monotonic()
    commits.record([98_000, 99_500], 100.0)
    counted = commits.last_count()
    assert counted is not None and before <= counted <= time.monotonic()
    commits.record([], 101.0)
    assert commits.last_count() == counted
    assert commits.latencies() == [2.0, 0.5]
    threads = [threading.Thread(target=commits.record, args=([1000] * 100, 2.0))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(commits.latencies()) == 2 + 800
    commits.latencies().clear()  # a copy: the record is the run's alone
    assert len(commits.latencies()) == 802


@pytest.mark.timeout(30)  # the code before this fix ran a bench here
@pytest.mark.parametrize("command", ["pipeline", "soak"])
def test_cameras_beyond_a_topic_s_partitions_are_refused_by_the_flag(
        command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--cameras becomes the bench topic's partition count: 3000000000 was a struct.error
    traceback from the broker client; it is one line, before anything starts."""
    from classpulse.cli import main as cli_main

    with pytest.raises(SystemExit) as exc:
        cli_main(["bench", command, "--source", "synthetic:classroom", "--cameras", "3000000000"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--cameras" in err[0] and "3000000000" in err[0], err
