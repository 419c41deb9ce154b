"""``classpulse bench model``, run small: ours and stock MTCNN on the same frames find the same
faces, and the lines say so; the classifier's lines time plain and +flip side by side."""

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
    assert re.search(r"group photo 1200x630 mtcnn: stock .* 6 faces \| ours .* 6 faces \| "
                     r"x[\d.]+, matched 6/6$", out, re.M), out


@pytest.mark.slow
def test_bench_model_classifier_times_plain_and_flip_side_by_side(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Every precision gets one line with both paths, timed in turn; the consumers' path (the
    device's default precision, flip TTA) is the one marked."""
    code = main(["bench", "model", "--skip-detector", "--device", "cpu", "--batch-sizes", "8",
                 "--seconds", "0.1", "--rounds", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"median of 2 rounds timing plain and \+flip in turn .* \* = what the "
                     r"consumers run \(int8, \+flip\)", out), out
    lines = re.findall(r"classifier  cpu  (\w+) batch    8  plain( |\*) +([\d.]+) faces/s \| "
                       r"\+flip( |\*) +([\d.]+) faces/s \| \+flip/plain x([\d.]+)", out)
    assert [line[0] for line in lines] == ["fp32", "bf16", "int8"], out
    for precision, plain_mark, plain, flip_mark, flip, ratio in lines:
        assert plain_mark == " " and flip_mark == ("*" if precision == "int8" else " ")
        assert float(plain) > 0 and float(flip) > 0
        # the ratio is of the unrounded rates: allow what rounding each to 0.1 can move it
        low = (float(flip) - 0.05) / (float(plain) + 0.05) - 0.005
        high = (float(flip) + 0.05) / max(float(plain) - 0.05, 1e-9) + 0.005
        assert low <= float(ratio) <= high, out


def _faces_dir(tmp_path: Path, faces_dir: Path, *, video: bytes | None = None,
               photo: bytes | None = None) -> Path:
    """A --faces-dir holding the real media, or the given bytes in place of one of them."""
    folder = tmp_path / "faces"
    folder.mkdir()
    for name, given in (("crowd-1080p-25fps.mp4", video), ("group-6-faces.jpg", photo)):
        (folder / name).write_bytes((faces_dir / name).read_bytes() if given is None else given)
    return folder


@pytest.mark.timeout(30)  # the code before this fix ran a bench here
@pytest.mark.parametrize("broken", ["video", "photo"])
def test_bench_model_unreadable_media_is_one_line_naming_the_file(
        faces_dir: Path, tmp_path: Path, broken: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty video (no frame: an IndexError) or a photo that is no image (a ValueError) was a
    traceback; it is one line naming the file, before any timing."""
    folder = _faces_dir(tmp_path, faces_dir, **{broken: b""})
    code = main(["bench", "model", "--device", "cpu", "--frames", "1", "--rounds", "1",
                 "--faces-dir", str(folder)])
    captured = capsys.readouterr()
    assert code == 2
    name = "crowd-1080p-25fps.mp4" if broken == "video" else "group-6-faces.jpg"
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and str(folder / name) in lines[0] and "--faces-dir" in lines[0]
    assert "classifier" not in captured.out  # refused before the classifier's timing


@pytest.mark.timeout(30)  # the code before this fix ran a bench here
def test_bench_model_detector_sides_below_64_are_refused_by_the_flag(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "model", "--detector-sides", "640,32"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--detector-sides" in err[0] and "32" in err[0] and "64" in err[0]
