"""Training checkpoint -> shipped fp16 safetensors, with the recipe and val metrics as metadata."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from classpulse.errors import UsageError
from model.data import sample_split
from model.network import fuse_for_inference, network_from_state
from model.options import CALIBRATION_FACES
from model.paths import check_output_file
from model.preprocess import SMALL_FACE, Preprocessing, prepare_faces
from model.quantize import RANGES_KEY, calibrate
from model.weights_io import DEFAULT_WEIGHTS, checkpoint_weights, load_checkpoint, save_weights

log = logging.getLogger(__name__)


def export_checkpoint(checkpoint: str | Path, out: str | Path | None = None,
                      calibration_data: str | Path | None = None,
                      calibration_faces: int = CALIBRATION_FACES
                      ) -> Path:
    """Write the checkpoint's network as fp16 safetensors; returns the path written.

    The metadata records the training recipe, the epochs trained and the val metrics measured at
    the end of that epoch by the training loop (under the run's autocast, bf16 unless the run
    trained in fp32, and before fp16 rounding), and how the epoch was chosen (``selected_on``:
    ``val`` for a ``best.pt``, whose val metrics are therefore optimistic, ``none (last epoch)``
    for a ``last.pt``); ``classpulse model evaluate`` measures the exported file itself, as
    shipping does (scripts/README.md). With ``calibration_data`` (a FER2013 root, CSV with Usage
    or pack), int8 activation ranges measured on training faces are stored too.
    """
    path = check_output_file(out if out else DEFAULT_WEIGHTS, "--out", ".safetensors")
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
