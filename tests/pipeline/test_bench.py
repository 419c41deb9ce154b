"""`classpulse bench pipeline` runs the real producer, broker, consumer and database end to end.

Not a timed test: it checks that the benchmark measures what it claims (every preloaded frame
analysed, faces found in them, a latency for the committed rows), not how fast it was.
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
    counted = re.search(r"frames=(\d+) faces=(\d+) in [\d.]+ s -> [\d.]+ frames/s", out)
    assert counted, out
    frames, faces = map(int, counted.groups())
    published = re.search(r"published=(\d+) ", out)
    assert published, out
    assert frames == int(published[1]) >= 8  # 4 per camera at least, every one analysed
    assert faces >= 3 * frames  # the crowd video shows about six faces a frame
    latency = re.search(r"p50 ([\d.]+) s, p95 ([\d.]+) s", out)
    assert latency and 0 < float(latency[1]) <= float(latency[2]), out
    assert not list(tmp_path.iterdir()), "the bench must leave nothing behind"
