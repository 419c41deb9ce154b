"""Training checkpoint -> shipped fp16 safetensors, with the recipe and val metrics as metadata."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from classpulse.errors import UsageError
from model.card import read_metadata
from model.data import sample_split
from model.network import fuse_for_inference, network_from_state
from model.options import CALIBRATION_FACES
from model.paths import check_output_file
from model.preprocess import SMALL_FACE, Preprocessing, prepare_faces
from model.quantize import RANGES_KEY, calibrate
from model.weights_io import (
    DEFAULT_WEIGHTS,
    check_checkpoint_name,
    checkpoint_weights,
    load_checkpoint,
    save_weights,
)

log = logging.getLogger(__name__)


def export_path(out: str | Path | None) -> Path:
    """The file an export with ``--out out`` writes: ``out``, or the shipped weights."""
    return Path(out) if out else DEFAULT_WEIGHTS


def check_export_out(checkpoint: str | Path, out: str | Path | None, calibrating: bool,
                     force: bool = False) -> Path:
    """The file the export may write, or a one-line UsageError before any work.

    Refused: a name without ``.safetensors`` (``train --init FILE`` tells weights from a
    checkpoint by it, and ``load_checkpoint`` refuses such a name); the checkpoint itself, through
    a link (a run's only copy of its optimizer state and history, which the weights would
    replace); and, unless ``force``, a file holding int8 activation ranges when this export
    measures none (``calibrating`` false): the consumers on a CPU would then run the new file in
    fp32, about 3x slower, with nothing saying why.
    """
    path = check_output_file(export_path(out), "--out", ".safetensors")
    if path.suffix != ".safetensors":
        raise UsageError(f"--out {path} does not end in .safetensors; give a weights file name "
                         f"such as {path.with_suffix('.safetensors')}")
    ckpt = check_checkpoint_name(checkpoint)
    if path.resolve() == ckpt.resolve() or (
            path.exists() and ckpt.exists() and os.path.samefile(path, ckpt)):
        raise UsageError(f"--out {path} is the --checkpoint itself; give another --out: the "
                         "checkpoint is the run's only copy of its training state")
    if not calibrating and not force and RANGES_KEY in read_metadata(path):
        raise UsageError(f"--out {path} holds int8 activation ranges that this export without "
                         "--calibrate would drop (consumers on a CPU would run it in fp32, about "
                         "3x slower); add --calibrate DATA to measure new ones, give another "
                         "--out, or add --force to replace it without them")
    return path


def export_checkpoint(checkpoint: str | Path, out: str | Path | None = None,
                      calibration_data: str | Path | None = None,
                      calibration_faces: int = CALIBRATION_FACES, force: bool = False
                      ) -> Path:
    """Write the checkpoint's network as fp16 safetensors; returns the path written.

    The metadata records the training recipe, the epochs trained and the val metrics measured at
    the end of that epoch by the training loop (under the run's autocast, bf16 unless the run
    trained in fp32, and before fp16 rounding), and how the epoch was chosen (``selected_on``:
    ``val`` for a ``best.pt``, whose val metrics are therefore optimistic, ``none (last epoch)``
    for a ``last.pt``); ``classpulse model evaluate`` measures the exported file itself, as
    shipping does (scripts/README.md). With ``calibration_data`` (a FER2013 root, CSV with Usage
    or pack), int8 activation ranges measured on training faces are stored too.
    ``check_export_out`` says which ``out`` is refused, and ``force`` what it allows.
    """
    path = check_export_out(checkpoint, out, calibration_data is not None, force)
    ckpt = load_checkpoint(Path(checkpoint))
    for key in ("model", "config", "epoch", "val_report"):
        if key not in ckpt:
            raise UsageError(f"{checkpoint} is not a classpulse training checkpoint (no {key!r})")
    cfg: dict[str, Any] = ckpt["config"]
    report = ckpt["val_report"]
    recipe = dict(cfg)
    recipe.pop("out", None)
    recipe["epochs_trained"] = int(ckpt["epoch"]) + 1
    recipe["history"] = [{k: round(float(v), 5) for k, v in row.items()}
                         for row in ckpt.get("history", [])]
    if ckpt.get("init_recipe") is not None:  # the lineage of an --init FILE run
        recipe["init_recipe"] = ckpt["init_recipe"]
    metrics = {k: report[k] for k in ("accuracy", "macro_f1", "weighted_f1", "n")}
    metrics["split"] = _val_label(cfg, int(report["n"]))
    metrics["selected_on"] = ckpt.get("selected_on", "not recorded (a checkpoint from before "
                                      "the record)")
    metrics["per_class_f1"] = {c: round(v["f1"], 4) for c, v in report["per_class"].items()}
    small = (ckpt.get("history") or [{}])[-1].get("val_acc_small")
    if small not in (None, ""):  # val's faces shrunk to classroom size (runs since --low-res)
        metrics[f"accuracy_at_{SMALL_FACE}px"] = round(float(small), 4)
    state = checkpoint_weights(ckpt)
    prep = Preprocessing(size=int(cfg.get("size", 48)))
    extra = {}
    if calibration_data is not None:
        extra[RANGES_KEY] = _int8_ranges(state, Path(calibration_data), prep,
                                         calibration_faces)
    save_weights(state, path, prep, recipe, metrics, extra)
    log.info("exported checkpoint=%s epoch=%d selected_on=%s val_acc=%.4f path=%s", checkpoint,
             recipe["epochs_trained"], metrics["selected_on"], metrics["accuracy"], path)
    return path


def _val_label(cfg: dict[str, Any], n: int) -> str:
    """Which faces the recorded metrics are of: the val split of the run's data, or as much of
    it as ``--limit-val`` drew at random."""
    limit = f"; --limit-val {cfg['limit_val']}" if cfg.get("limit_val") else ""
    return f"val split of {cfg['data']} ({n} faces{limit})"


def _int8_ranges(state: dict[str, torch.Tensor], data: Path, prep: Preprocessing, n: int) -> str:
    """Calibrate int8 activation ranges on ``n`` random training faces (never on val)."""
    train = sample_split(data, "train", n, prep.size, named=True, seed=0)
    x = prepare_faces(list(train.images), prep)
    # calibrate the weights as they will be loaded: rounded to fp16
    net = network_from_state({k: v.to(torch.float16).to(v.dtype) if v.is_floating_point()
                              else v for k, v in state.items()})
    return calibrate(fuse_for_inference(net), x)
