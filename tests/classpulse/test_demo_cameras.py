"""The demo's cameras.yaml is written by a YAML library: any source path reads back as given."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from classpulse.demo import DEMO_CLASSROOM, SYNTHETIC_CLASSROOM, cameras_yaml
from producers.config import load_cameras


@pytest.mark.parametrize("name", ["it's frames", 'say "cheese"', "a: b # c", "- [x] {y}"])
def test_a_source_with_quotes_and_yaml_syntax_reads_back_as_given(tmp_path: Path,
                                                                  name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    (camera,) = load_cameras(str(cameras_yaml(str(folder), 2.0, tmp_path)))
    assert (camera.id, camera.classroom, camera.source) == ("demo-cam", DEMO_CLASSROOM,
                                                            str(folder))
    assert camera.fps == 2.0 and camera.loop is True


def test_a_live_source_is_not_looped(tmp_path: Path) -> None:
    cameras = load_cameras(str(cameras_yaml("synthetic:classroom:5", 1.0, tmp_path)))
    assert [(c.id, c.source, c.loop) for c in cameras] == [
        ("demo-cam", "synthetic:classroom:5", False)]


def test_synthetic_cameras_are_in_a_classroom_named_synthetic(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard showed the synthetic demo as classroom 'demo-7B': the word SYNTHETIC was in
    the frames' pixels only, which no page shows."""
    from classpulse import demo

    monkeypatch.setattr(demo, "webcam_present", lambda: False)
    for source in (None, "synthetic:classroom-cctv:2"):
        cameras = load_cameras(str(cameras_yaml(source, 1.0, tmp_path)))
        assert {c.classroom for c in cameras} == {SYNTHETIC_CLASSROOM} == {"demo-SYNTHETIC"}
    assert {c.classroom for c in load_cameras(str(cameras_yaml("0", 1.0, tmp_path)))} == {
        DEMO_CLASSROOM}
