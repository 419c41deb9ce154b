"""scripts/gpu_train.sh on a warm machine: a call reads nothing an earlier call left (its own run
folder is new), and a call whose training fails exports nothing, saying so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_failed_training_exports_nothing_and_reads_no_earlier_run(
        shipped_checkpoint: Path, tmp_path: Path) -> None:
    earlier = tmp_path / "gpu_train_run"  # the fixed run folder an earlier call left behind
    earlier.mkdir()
    shutil.copyfile(shipped_checkpoint, earlier / "best.pt")
    out = tmp_path / "out"
    out.mkdir()
    (out / "last.safetensors.part00").write_bytes(b"an earlier rehearsal's part")
    bad = tmp_path / "fer2013.npz"
    bad.write_text("not a pack")  # training stops at once on it
    env = {**os.environ, "OUT": str(out), "RUN": str(earlier), "RUN_PARENT": str(tmp_path),
           "DATA": str(bad), "DEVICE": "cpu", "PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT / "scripts" / "gpu_image")}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_train.sh")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert [p.name for p in out.iterdir()] == ["report.tgz"]
    with tarfile.open(out / "report.tgz") as tar:
        status = tar.extractfile("./status.txt").read().decode()
        train_log = tar.extractfile("./train.log").read().decode()
    lines = status.splitlines()
    assert lines[:2] == [
        "train exit 2",
        "training failed (exit 2, train.log says why): nothing exported or evaluated"]
    assert len(lines) == 3 and lines[2].startswith("job exit 1 (")
    assert f"{bad} is not a readable .npz" in train_log
    assert sorted(p.name for p in earlier.iterdir()) == ["best.pt"]
