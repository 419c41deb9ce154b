"""`classpulse bench pipeline` runs the real producer, broker, consumer and database end to end.

Not a timed test: it checks that the benchmark measures what it claims (every preloaded frame
analysed, faces found in them, the backlog's wait for the committed rows, labelled as such), not
how fast it was.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.pipeline.conftest import cli, finish


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
