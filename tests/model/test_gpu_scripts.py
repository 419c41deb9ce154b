"""The GPU jobs' helpers on a CPU: the measure job's CPU-vs-GPU check judges every per-minute
count at 2% and says which failed (scripts/gpu_measure.py), the pre-flight check refuses a
tree too big to travel or wheels that would not install (scripts/gpu_carry_check.py), and both
jobs rank a failed step above a timed-out one above a skipped one in their exit status."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gm():
    return _script("gpu_measure")


@pytest.fixture(scope="module")
def carry():
    return _script("gpu_carry_check")


def _minute(gm, faces: int = 200, read: int = 150, **moved: int) -> dict[str, int]:
    counts = dict.fromkeys(gm.EMOTION_COUNTS, 0)
    counts["n_happy"], counts["n_neutral"] = read // 2, read - read // 2
    for k, v in moved.items():
        counts[k] += v
    return {"frames": 35, "frames_with_faces": 35, "faces": faces, "faces_read": read, **counts}


def test_the_check_passes_counts_within_2_percent_and_names_those_over(gm) -> None:
    cpu = {"m1": _minute(gm, n_sad=20, n_neutral=-20), "m2": _minute(gm)}  # sad 20, neutral 55
    # 1 face of 55 from neutral to happy (75): within the floor of 2 faces; 3 faces from neutral
    # to sad (20): 2.0% of the 150 read, the limit, but 15% of sad's own 20, over the floor
    near = {"m1": _minute(gm, n_sad=20, n_neutral=-22, n_happy=2), "m2": _minute(gm, faces=197)}
    ok = gm.compare(cpu, near)
    assert ok["ok"] and ok["failing"] == []
    assert ok["emotion_count"] == pytest.approx(2 / 150)
    assert ok["emotion_relative"] == 0.0  # nothing over the floor
    assert ok["faces"] == pytest.approx(0.015)
    assert ok["emotion_moved"] == pytest.approx(2 / 200)
    over = gm.compare(cpu, {"m1": _minute(gm, n_sad=23, n_neutral=-23),
                            "m2": _minute(gm, read=146)})
    assert not over["ok"]
    assert over["emotion_count"] == pytest.approx(0.02)  # within points of faces read
    assert over["failing"] == [
        "m1 n_sad differs by 3 of its own 20 (15.0%, over 2 faces)",
        "m1 n_neutral differs by 3 of its own 55 (5.5%, over 2 faces)",
        "m2 faces_read differs by 4 of 150 (2.7%)"]
    # large counts (happy 150, neutral 150 of 300 read): 3 faces moved are 2% of each's own
    # count and pass; 4 are 1.3% of the faces read but 2.7% of each's own, and fail
    big = {"m": _minute(gm, faces=400, read=300)}
    assert gm.compare(big, {"m": _minute(gm, faces=400, read=300, n_happy=3, n_neutral=-3)})["ok"]
    four = gm.compare(big, {"m": _minute(gm, faces=400, read=300, n_happy=4, n_neutral=-4)})
    assert not four["ok"] and four["emotion_count"] == pytest.approx(4 / 300)
    assert not gm.compare(cpu, {"m1": _minute(gm)})["ok"]  # a minute missing
    assert not gm.compare(cpu, cpu, tolerance=-1)["ok"]  # the rehearsal's forced failure


def test_the_check_is_judged_on_whole_minutes_only(gm) -> None:
    assert gm.whole_minutes_error(105, 35) is None
    assert gm.whole_minutes_error(8, 4) is None
    assert "multiple of --per-minute 30" in gm.whole_minutes_error(105, 30)
    assert gm.whole_minutes_error(20, 35) is not None


def test_wheels_that_would_not_install_together_are_named(carry) -> None:
    good = [Path("facenet_pytorch-2.5.3-py3-none-any.whl"),
            Path("sqlalchemy-2.1.9-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
            Path("crc32c-2.9.post0-cp312-cp312-manylinux1_x86_64.whl"),
            Path("x-1.0-cp38-abi3-manylinux_2_28_x86_64.whl")]
    assert carry.wheel_problems(good) == []
    bad = carry.wheel_problems([
        *good, Path("SQLAlchemy-2.1.8-cp312-cp312-manylinux2014_x86_64.whl"),
        Path("old-1.0-cp311-cp311-manylinux2014_x86_64.whl"),
        Path("mac-1.0-cp312-cp312-macosx_11_0_arm64.whl")])
    assert any(p.startswith("sqlalchemy: 2 versions") for p in bad)
    assert any(p.startswith("old-1.0") and "CPython 3.12" in p for p in bad)
    assert any(p.startswith("mac-1.0") and "x86-64 Linux" in p for p in bad)


def test_the_carry_check_sums_what_travels_and_refuses_above_the_limit(tmp_path: Path) -> None:
    def git(*args: str, cwd: Path = tmp_path) -> None:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "scripts").mkdir()  # the checkout is the script's, whatever the working dir
    shutil.copy(ROOT / "scripts" / "gpu_carry_check.py", tmp_path / "scripts")
    (tmp_path / "scripts" / ".gitignore").write_text("*\n")
    nested = tmp_path / "vendor"  # a clone inside the checkout: its files stay behind
    nested.mkdir()
    git("init", "-q", cwd=nested)
    (nested / "big.bin").write_bytes(b"x" * (8 << 20))
    (tmp_path / ".gitignore").write_text("/.gpu-data/\n")
    (tmp_path / "tracked.bin").write_bytes(b"x" * (2 << 20))
    git("add", ".gitignore", "tracked.bin")
    (tmp_path / "stray.bin").write_bytes(b"x" * (1 << 20))  # untracked, not ignored: travels
    (tmp_path / ".gpu-data").mkdir()
    (tmp_path / ".gpu-data" / "pack.npz").write_bytes(b"x" * (1 << 20))
    (tmp_path / ".gpu-data" / "other.mp4").write_bytes(b"x" * (5 << 20))  # not carried

    def check(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(tmp_path / "scripts" / "gpu_carry_check.py"),
                               *args], cwd=ROOT, capture_output=True, text=True)

    fits = check("--limit-mib", "4.5", ".gpu-data/pack.npz")
    assert fits.returncode == 0, fits.stdout + fits.stderr
    assert fits.stdout.startswith("carry check: OK, 4.0 MiB would travel (tracked 2.0, "
                                  "untracked 1.0, carried 1.0 MiB)")
    over = check("--limit-mib", "3.5", ".gpu-data/pack.npz")
    assert over.returncode == 1
    assert over.stdout.startswith("carry check: REFUSED: 4.0 MiB would travel")
    dotted = check("--limit-mib", "4.5", "scripts/../.gpu-data/pack.npz")
    assert dotted.returncode == 0 and "carried 1.0 MiB" in dotted.stdout, dotted.stdout
    assert check(".gpu-data/missing.npz").returncode == 2
    assert check("scripts/../..").returncode == 2  # outside the checkout


def test_the_jobs_rank_failures_above_time_outs_above_skips() -> None:
    for script in ("gpu_train.sh", "gpu_measure.sh"):
        text = (ROOT / "scripts" / script).read_text()
        assert "timeout -k 10 " in text and "\n. scripts/gpu_status.sh" in text, script

    def exit_of(*statuses: int) -> int:
        calls = "".join(f"worse {s}; " for s in statuses)
        done = subprocess.run(["bash", "-c", f". scripts/gpu_status.sh; {calls}exit $(verdict)"],
                              cwd=ROOT, capture_output=True, text=True)
        assert not done.stderr, done.stderr
        return done.returncode

    assert exit_of() == 0 and exit_of(0, 0) == 0
    assert exit_of(3) == 3
    assert exit_of(3, 124) == 124 and exit_of(137, 3) == 124
    assert exit_of(3, 1) == 1 and exit_of(124, 2, 3) == 2 and exit_of(1, 2) == 1


def test_the_training_job_writes_last_pt_only_at_the_stop() -> None:
    text = (ROOT / "scripts" / "gpu_train.sh").read_text()
    assert "TRAIN_ARGS=(--save-every 1000)" in text
