"""``classpulse bench gate``, run small on the crowd video: every face found is read or refused
for a reason, both emotion mixes are shares, and the gate's time is set against the analysis."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from classpulse.cli import main


def test_bench_gate_accounts_for_every_face(shared_data: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    video = shared_data / "faces" / "crowd-1080p-25fps.mp4"
    code = main(["bench", "gate", "--video", str(video), "--frames", "2", "--max-side", "640",
                 "--detect-sides", "320", "--batch-frames", "2", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"^2 frames of .*, 640x360 after the wire \(--max-side 640\), analysed 2 at "
                     r"a time; gate ", out, re.M), out
    sides = re.findall(r"detection side (\d+) \((.*)\): (\d+) faces, (\d+) read \(\d+%\); refused: "
                       r"small (\d+), turned (\d+), uncertain (\d+)", out)
    # the consumer's side: 640-px frames are never shrunk; the other is the --detect-sides one
    assert [(side, name) for side, name, *_ in sides] == [("640", "consumer's"), ("320", "320")]
    for _, _, faces, read, *refused in sides:
        assert int(faces) == int(read) + sum(map(int, refused))
    assert int(sides[0][2]) >= 6  # the crowd shows about six faces a frame, two frames here
    for label in ("mix all faces :", "mix read faces:"):
        for mix in re.findall(rf"{label} (.*)", out):
            shares = [int(share) for share in re.findall(r"(\d+)%", mix)]
            assert len(shares) == 7 and 95 <= sum(shares) <= 105, mix
    costs = re.findall(r"analysis (\d+) ms/frame, gate ([\d.e+-]+) ms/frame \(([\d.e+-]+)% of "
                       r"the analysis\)", out)
    assert len(costs) == 2, out
    for analysis, gate, share in costs:
        assert 0 < float(gate) < float(analysis)
        assert float(share) == pytest.approx(float(gate) / float(analysis) * 100, rel=0.15)
