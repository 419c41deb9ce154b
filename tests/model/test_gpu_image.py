"""The GPU machine's image has torch, numpy, OpenCV, safetensors and tqdm, and none of the
broker, database, dashboard, detector-weight or plotting packages: training, export and
evaluation must start without them (scripts/gpu_train.sh)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
from classpulse.cli import build_parser
args = build_parser().parse_args(["model", "train", "--recipe", "sgd300", "--data", "d.npz",
                                  "--out", "o", "--time-budget", "420"])
import model.train, model.checkpoints, model.loss, model.weight_average
import model.export, model.evaluate, model.pack
try:
    import sqlalchemy
except ModuleNotFoundError:
    print(args.recipe, args.time_budget_s)
"""


def test_training_starts_without_the_packages_the_gpu_image_lacks() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "scripts" / "gpu_image"), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         timeout=120, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["sgd300", "420.0"]  # and sqlalchemy was really blocked
