"""cameras.yaml validation: every mistake names the file, the camera and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from classpulse.errors import UsageError
from producers.config import load_cameras


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cameras.yaml"
    path.write_text(text)
    return path


def test_defaults_at_top_level_apply_to_every_camera(tmp_path: Path) -> None:
    path = _write(tmp_path, """
fps: 1
cameras:
  - {id: front, classroom: 7B, source: rtsp://10.0.0.5/stream}
  - {id: back, classroom: 7B, source: "0", fps: 4, loop: true}
""")
    front, back = load_cameras(path)
    assert (front.id, front.fps, front.max_side, front.loop) == ("front", 1.0, 1920, False)
    assert (back.source, back.fps, back.loop) == ("0", 4.0, True)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("cameras: []", "non-empty list under 'cameras:'"),
        ("cameras: [{id: a, classroom: r}]", "camera #1 has no 'source'"),
        ("cameras: [{id: a, classroom: r, source: x, fsp: 2}]", "unknown key(s) fsp"),
        ("cameras: [{id: a, classroom: r, source: x, fps: fast}]", "'fps' must be a float"),
        ("cameras: [{id: a, classroom: r, source: x, fps: 0}]", "fps=0.0 must lie in"),
        ("cameras: [{id: 'a b', classroom: r, source: x}]", "camera id 'a b' is invalid"),
        ("cameras: [{id: a, classroom: r, source: x, loop: 'yes'}]", "true or false"),
        ("cameras: [{id: a, classroom: r, source: x}, {id: a, classroom: r, source: y}]",
         "repeated: a"),
        ("cameras: [1]", "camera #1 must be a mapping"),
        ("cameras: [", "not valid YAML"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        load_cameras(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read camera file"):
        load_cameras(tmp_path / "absent.yaml")
