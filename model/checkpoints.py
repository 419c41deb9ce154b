"""What a training run writes to ``--out`` and what ``--resume`` reads back: the run's file
names, how each checkpoint's epoch was chosen, ``best.pt`` written by an improvement at most
every ``BEST_WRITE_INTERVAL_S`` seconds and besides before each ``last.pt`` (every ``save_every``
epochs) and at the run's end (``BestCheckpoint``), and the checks and restores of a resume
(``load_resume``, ``restore_scaler``, ``resumed_best``). The training loop itself is
``model.train``."""

from __future__ import annotations

import copy
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from classpulse.errors import UsageError
from model.paths import check_output_dir
from model.recipes import TrainConfig, resume_config
from model.weights_io import load_checkpoint, save_checkpoint

__all__ = ["BEST_WRITE_INTERVAL_S", "RESUME_KEYS", "RUN_FILES", "SELECTED", "BestCheckpoint",
           "load_resume", "restore_scaler", "resumed_best"]

log = logging.getLogger(__name__)

RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "curves.png")  # what a run writes to --out
# how each checkpoint's epoch was chosen; export records it beside the val metrics
SELECTED = {"best.pt": "val", "last.pt": "none (last epoch)"}

BEST_WRITE_INTERVAL_S = 60.0
"""Seconds that must pass after a write of ``best.pt`` before an improvement writes it again;
one that comes sooner is kept in memory until the next ``last.pt`` (every ``save_every``
epochs), the end of the run or the next improvement after the interval. Why: a GPU epoch of
``sgd300`` takes about a second and val improves on a large share of the epochs, so a write per
improvement (~200 MB: model, momentum, weight average; 60-100 of them, about 0.2 s each, an
estimate) would spend 10-20 s of the GPU job's training budget on files that the next
improvement replaces at once. A CPU epoch takes minutes, so there every improvement is still
written when it happens. What a run that ends writes is the same either way."""


class BestCheckpoint:
    """``best.pt``: the state of the best val epoch, written at once unless the last write was
    less than ``interval_s`` seconds ago, else kept until ``flush``.

    The kept state is a copy (tensors cloned on their device, which a GPU does without the host
    waiting): the live weights, optimizer and history move on. ``flush`` writes what is kept; the
    training loop calls it before each ``last.pt`` (so a resume never finds a ``best.pt`` older
    than the best that ``last.pt`` records) and whenever the run ends, however it ends.
    """

    def __init__(self, path: Path, interval_s: float) -> None:
        self.path, self.interval_s = path, interval_s
        self.kept: dict[str, Any] | None = None
        self.written_at = -math.inf

    def improved(self, state: dict[str, Any]) -> None:
        """Val improved: ``state`` is the new best."""
        if time.monotonic() - self.written_at >= self.interval_s:
            self.kept = None
            self._write(state)
        else:
            self.kept = copy.deepcopy(state)

    def flush(self) -> None:
        """Write the kept best, if any."""
        if self.kept is not None:
            kept, self.kept = self.kept, None
            self._write(kept)

    def _write(self, state: dict[str, Any]) -> None:
        save_checkpoint(state, self.path)
        self.written_at = time.monotonic()


# what a checkpoint must hold for --resume to continue it
RESUME_KEYS = ("model", "optimizer", "scheduler", "scaler", "generator", "torch_rng", "epoch",
               "config", "history", "best_val_acc", "bad_epochs")


def load_resume(out: str | Path, given: dict[str, Any]) -> tuple[TrainConfig, dict[str, Any]]:
    """The configuration and checkpoint ``out/last.pt`` continues with, refused where it cannot.

    ``given`` holds only the options the user typed: ``resume_config`` takes the harmless ones
    (``RESUMABLE``) and refuses any other that contradicts the checkpoint, since a resume rebuilt
    from the command line's defaults would load, say, SGD's state into AdamW. A run already at
    its last epoch, or stopped early, says so instead of training nothing.
    """
    path = check_output_dir(out, "--out") / "last.pt"
    if not path.is_file():
        raise UsageError(f"--resume: no checkpoint {path}; drop --resume to start")
    ckpt = load_checkpoint(path)
    missing = [k for k in RESUME_KEYS if k not in ckpt]
    if missing:
        raise UsageError(f"--resume: {path} lacks {', '.join(missing)}: not a last.pt of "
                         "`classpulse model train`; drop --resume to start")
    cfg = resume_config(ckpt["config"], {**given, "out": str(out)}, str(path))
    done = int(ckpt["epoch"]) + 1
    if done >= cfg.epochs:
        raise UsageError(f"--resume: {path} has trained {done} epochs, and --epochs is "
                         f"{cfg.epochs}; give a larger --epochs to go on")
    if ckpt["bad_epochs"] >= cfg.patience:
        raise UsageError(f"--resume: {path} stopped early ({ckpt['bad_epochs']} epochs without a "
                         f"better val accuracy, --patience {cfg.patience}); give a larger "
                         "--patience to go on")
    return cfg, ckpt


def restore_scaler(scaler: torch.amp.GradScaler, saved: dict[str, Any]) -> None:
    """Load a checkpoint's grad-scaler state into ``scaler``, or leave it fresh where the run
    that saved it had none (fp32 or bf16: an empty state), as when a CPU or bf16 run resumes on a
    GPU without bf16; ``GradScaler.load_state_dict`` would raise on the empty state. A disabled
    ``scaler`` (an fp16 run resumed in bf16 or fp32) ignores what it is given."""
    if saved or not scaler.is_enabled():
        scaler.load_state_dict(saved)
    else:
        log.info("grad scaler starts fresh: the checkpoint's run used none")


def resumed_best(out: Path, saved: float) -> float:
    """The best val accuracy a resumed run must beat: ``last.pt``'s, or ``best.pt``'s where that
    is higher. With ``--save-every`` above 1 a run can stop after writing a better ``best.pt``
    but before its next ``last.pt``, and the resumed run would otherwise overwrite it with a
    worse epoch."""
    best_file = out / "best.pt"
    if not best_file.is_file():
        return saved
    recorded = load_checkpoint(best_file).get("best_val_acc")
    return max(saved, float(recorded)) if recorded is not None else saved
