"""A wrong output path stops a command in one line before any work, instead of a traceback at
the final write: each case here names data or a checkpoint that does not exist, so the path's
message, not the input's, shows that the path was checked first."""

from __future__ import annotations

from pathlib import Path

import pytest

from classpulse.cli import main as cli_main


def test_wrong_output_paths_stop_before_any_work(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    a_dir = tmp_path / "dir"
    a_dir.mkdir()
    missing = str(tmp_path / "no-such-input")
    cases = [
        (["train", "--data", missing, "--out", str(a_file)],
         f"--out {a_file} is a file, not a folder; give a folder (it is created if missing)"),
        (["train", "--data", missing, "--out", str(a_file), "--resume"],
         f"--out {a_file} is a file, not a folder"),
        (["train", "--data", missing, "--out", str(a_file / "run")],
         f"--out {a_file / 'run'}: {a_file} is a file, not a folder; give a path inside a folder"),
        (["evaluate", "--data", missing, "--json", str(a_file / "m.json")],
         f"--json {a_file / 'm.json'}: {a_file} is a file, not a folder"),
        (["evaluate", "--data", missing, "--json", str(a_dir)],
         f"--json {a_dir} is a folder; give a file name, such as {a_dir / 'out.json'}"),
        (["evaluate", "--data", missing, "--plot", str(a_dir)],
         f"--plot {a_dir} is a folder; give a file name, such as {a_dir / 'out.png'}"),
        (["export", "--checkpoint", missing, "--out", str(a_dir)],
         f"--out {a_dir} is a folder; give a file name, such as {a_dir / 'out.safetensors'}"),
        (["pack", "--data", missing, "--out", str(a_dir)],
         f"--out {a_dir} is a folder; give a file name, such as {a_dir / 'out.npz'}"),
    ]
    for argv, message in cases:
        assert cli_main(["model", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"classpulse model: {message}"), (argv, err)
        assert "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file.txt"]
    assert list(a_dir.iterdir()) == []
