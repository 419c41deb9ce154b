"""``classpulse bench model``'s detector comparison, run small: ours and stock MTCNN on the same
frames find the same faces, and the lines say so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from classpulse.cli import main


def test_bench_model_detector_lines(faces_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "model", "--skip-classifier", "--device", "cpu", "--frames", "2",
                 "--rounds", "1", "--detector-sides", "320", "--faces-dir", str(faces_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    crowd = re.findall(r"crowd 320x180 (mtcnn|classpulse) .*\| x[\d.]+(.*), matched (\d+)/(\d+)",
                       out)
    assert [name for name, *_ in crowd] == ["mtcnn", "classpulse"]
    for _, _, matched, stock_faces in crowd:
        assert matched == stock_faces and int(stock_faces) > 0
    alone = crowd[0][1]
    assert (alone.startswith(" (one frame at a time: x")) == (torch.get_num_threads() > 1)
    assert re.search(r"group photo 1200x630 mtcnn: stock .* 6 faces \| ours .* 6 faces", out)
