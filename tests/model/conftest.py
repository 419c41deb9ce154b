"""Small real FER2013 subsets for the model tests, copied to a temporary folder."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from classpulse.emotions import EMOTIONS


def _copy_subset(src: Path, dst: Path, per_class: int) -> None:
    for emotion in EMOTIONS:
        files = sorted((src / emotion).glob("*.jpg"))[:per_class]
        (dst / emotion).mkdir(parents=True)
        for f in files:
            shutil.copyfile(f, dst / emotion / f.name)


@pytest.fixture(scope="session")
def fer_root(shared_data: Path) -> Path:
    root = shared_data / "fer2013"
    if not (root / "train").is_dir():
        pytest.skip(f"FER2013 not found at {root}")
    return root


@pytest.fixture(scope="session")
def tiny_fer(fer_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FER2013 root with 24 train and 6 val faces per class (real images)."""
    root = tmp_path_factory.mktemp("tiny_fer")
    _copy_subset(fer_root / "train", root / "train", 24)
    _copy_subset(fer_root / "val", root / "val", 6)
    return root


@pytest.fixture(scope="session")
def shipped_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training checkpoint holding the shipped weights, from a 42-face --limit-val run of the
    adamw recipe on data ``fer2013``: what ``model export`` reads, without training first."""
    import torch

    from model.metrics import classification_report
    from model.recipes import TrainConfig
    from model.weights_io import load_weights

    state, _ = load_weights()
    config = asdict(TrainConfig(data="fer2013", out="run", limit_val=42))
    labels = np.repeat(np.arange(len(EMOTIONS)), 6)
    path = tmp_path_factory.mktemp("shipped") / "best.pt"
    torch.save({"model": state, "config": config, "epoch": 0, "history": [],
                "val_report": classification_report(labels, labels)}, path)
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_fer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-epoch training run (32 faces at 32 px, fp32, one thread, no weight average):
    its folder, holding last.pt, best.pt and metrics.csv. Copy it before changing it."""
    from model.recipes import TrainConfig
    from model.train import main

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    main(TrainConfig(data=str(tiny_fer), out=str(out), epochs=1, batch_size=16, limit_train=32,
                     size=32, device="cpu", ema_epochs=0.0, threads=1, amp=False))
    return out
