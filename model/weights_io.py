"""Reading and writing weights without ever unpickling untrusted data.

Shipped weights are fp16 safetensors (half the size; the consumers run them int8 on a CPU, fp16 on
CUDA)
with string metadata: classes, input size, normalisation, architecture, training recipe and val
metrics. Training checkpoints are plain dicts written with ``torch.save`` and read back with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any, NoReturn

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from model.card import DEFAULT_WEIGHTS
from model.preprocess import Preprocessing

log = logging.getLogger(__name__)

ARCHITECTURE = "vgg16_bn-gray1-gap-fc1024x2"


def save_weights(state: dict[str, torch.Tensor], path: Path, prep: Preprocessing,
                 recipe: dict[str, Any], metrics: dict[str, Any],
                 extra: dict[str, str] | None = None) -> None:
    """Write ``state`` as fp16 safetensors (BN running stats included) with the metadata.

    Refuses weights that are NaN or infinite after the fp16 rounding (a diverged run, or a value
    beyond fp16's 65504): such a file would load and then answer every face with NaN.
    """
    half = {k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous()
            for k, v in state.items()}
    bad = _non_finite(half)
    if bad:
        raise UsageError(f"not writing {path}: tensor {bad} holds NaN or infinite values in fp16 "
                         "(the run diverged, or a weight exceeds fp16's range); export an earlier "
                         "checkpoint, or retrain with a lower --lr")
    meta = {
        "format": "classpulse-emotion-v1",
        "architecture": ARCHITECTURE,
        "classes": json.dumps(list(EMOTIONS)),
        "input_size": str(prep.size),
        "input_channels": "1",
        "normalisation": json.dumps({"mean": prep.mean, "std": prep.std}),
        "crop_margin": str(prep.margin),
        "recipe": json.dumps(recipe, sort_keys=True),
        "val_metrics": json.dumps(metrics, sort_keys=True),
        **(extra or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(half, str(tmp), metadata=meta)
    tmp.chmod(0o644)  # safetensors writes owner-only; the shipped file is read by every user
    os.replace(tmp, path)
    log.info("saved weights path=%s tensors=%d", path, len(half))


def check_weights_path(path: Path | str | None = None) -> Path:
    """The weights file to read (the shipped one for None), refused in one line when there is no
    readable file there: a consumer checks it before it touches its database, and
    ``load_weights`` before it reads what is in it."""
    weights = Path(path) if path else DEFAULT_WEIGHTS
    fix = ("pass --weights FILE (or set CLASSPULSE_WEIGHTS), or "
           + ("leave both unset for the shipped weights" if path
              else "train with `classpulse model train`"))
    if not weights.exists():
        raise UsageError(f"emotion weights {weights} not found; {fix}")
    if not weights.is_file():
        raise UsageError(f"emotion weights {weights} is not a file; {fix}")
    if not os.access(weights, os.R_OK):
        raise UsageError(f"emotion weights {weights}: no permission to read it; {fix}")
    return weights


def load_weights(path: Path | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Return (fp32 state dict, metadata); a wrong file stops with its name and what to do.

    A file carrying our architecture tag is still checked whole: metadata the preprocessing needs
    and tensors of the network's names and shapes (a hand-made or damaged file would otherwise
    end in a KeyError, or a RuntimeError listing ninety tensors, when the network is built).
    """
    path = check_weights_path(path)
    try:
        state = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
    except (SafetensorError, OSError) as exc:
        reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise UsageError(f"{path} is not a readable safetensors file ({reason}); "
                         f"{weights_remedy(path)}") from None
    if meta.get("architecture") != ARCHITECTURE:
        raise UsageError(f"{path} holds architecture {meta.get('architecture')!r}, expected "
                         f"{ARCHITECTURE!r}: these are not ClassPulse emotion weights; give a file "
                         "written by `classpulse model export`, or leave --weights "
                         "(CLASSPULSE_WEIGHTS) unset for the shipped ones")
    try:
        classes = json.loads(meta.get("classes", "[]"))
        preprocessing_from(meta)
    except (KeyError, ValueError, TypeError) as exc:
        what = f"no {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0][:100]
        raise UsageError(f"{path} carries the {ARCHITECTURE} tag but its metadata is damaged "
                         f"({what}); {weights_remedy(path)}") from None
    if classes != list(EMOTIONS):
        raise UsageError(f"{path} classes {classes} differ from {list(EMOTIONS)}; "
                         f"{weights_remedy(path)}")
    mismatch = network_mismatch(state)
    if mismatch:
        raise UsageError(f"{path} carries the {ARCHITECTURE} tag but its tensors do not fit the "
                         f"network ({mismatch}); {weights_remedy(path)}")
    bad = _non_finite(state)
    if bad:
        raise UsageError(f"{path}: tensor {bad} holds NaN or infinite values; these weights "
                         "cannot classify, export them again from a sound checkpoint")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, meta


def weights_remedy(path: Path, calibrate: bool = False) -> str:
    """What to do about a weights file that cannot be used: the shipped one is restored from
    the repository, any other re-exported from its training run (``calibrate``: with int8
    ranges)."""
    if Path(path).resolve() == DEFAULT_WEIGHTS.resolve():
        return (f"restore the shipped file from the repository (git checkout -- model/weights/"
                f"{DEFAULT_WEIGHTS.name}), or pass other weights with --weights FILE")
    flags = " --calibrate DATA" if calibrate else ""
    return (f"re-export it with `classpulse model export --checkpoint best.pt{flags}` from its "
            "training run, or pass other weights with --weights FILE (CLASSPULSE_WEIGHTS)")


def network_mismatch(state: dict[str, torch.Tensor]) -> str | None:
    """How ``state`` differs from the network's tensors (names and shapes), in a few words, or
    None. The network is built on the meta device: shapes only, no memory."""
    from model.network import build_network

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_network().state_dict().items()}
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & state.keys()
                   if tuple(state[k].shape) != expected[k])
    parts = []
    if missing:
        parts.append(f"{len(missing)} of the network's {len(expected)} tensors missing, "
                     f"{missing[0]} first")
    if unexpected:
        parts.append(f"{len(unexpected)} unknown, {unexpected[0]} first")
    if wrong:
        parts.append(f"{len(wrong)} of another shape, {wrong[0]} {tuple(state[wrong[0]].shape)} "
                     f"instead of {expected[wrong[0]]}")
    return ", ".join(parts) or None


def _non_finite(state: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding NaN or an infinity, or None."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def preprocessing_from(meta: dict[str, str]) -> Preprocessing:
    """The preprocessing the weights were trained with, from their metadata."""
    norm = json.loads(meta["normalisation"])
    return Preprocessing(size=int(meta["input_size"]), mean=float(norm["mean"]),
                         std=float(norm["std"]), margin=float(meta.get("crop_margin", 0.15)))


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Atomically write a training checkpoint (a crash mid-write never leaves a broken file)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def check_checkpoint_name(path: str | Path) -> Path:
    """``path``, refused in one line when its name says exported weights (``.safetensors``): a
    command that writes its output next checks this before it reads (or overwrites) anything."""
    path = Path(path)
    if path.suffix == ".safetensors":
        raise UsageError(f"{path} is exported weights, not a training checkpoint; give best.pt "
                         "or last.pt of a `classpulse model train` run")
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU, refusing pickled code.

    What ``torch.load`` raises for a file that is no checkpoint depends on the file and the torch
    version (IndexError for a CSV, UnpicklingError for safetensors or a mangled pickle, EOFError
    for an empty file), so all of them end in the same one line.
    """
    path = check_checkpoint_name(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # its long message suggests weights_only=False: not here
        _not_a_checkpoint(path, "not a weights-only torch pickle")
    except (OSError, RuntimeError, EOFError, IndexError, ValueError, KeyError) as exc:
        _not_a_checkpoint(path, (str(exc).splitlines() or [""])[0][:100] or type(exc).__name__)
    if not isinstance(ckpt, dict):
        raise UsageError(f"{path} holds a {type(ckpt).__name__}, not a training checkpoint; give "
                         "best.pt or last.pt of a `classpulse model train` run")
    return ckpt


def _not_a_checkpoint(path: Path, reason: str) -> NoReturn:
    raise UsageError(f"{path} is not a readable training checkpoint ({reason}); give best.pt or "
                     "last.pt of a `classpulse model train` run") from None


def load_state_any(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Network weights from our safetensors file or a training checkpoint (``--init FILE``),
    with the recipe the weights were trained by (``None`` for a checkpoint or an unrecorded one).

    The recipe is read here, together with the weights, because the run that starts from them is
    usually exported over this same file later: read then, it would describe the run itself.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        state, meta = load_weights(path)
        if "recipe" not in meta:
            log.warning("init weights %s carry no recipe; lineage not recorded", path)
            return state, None
        return state, json.loads(meta["recipe"])
    ckpt = load_checkpoint(path)
    if "model" not in ckpt:
        raise UsageError(f"{path} is not a classpulse training checkpoint (no 'model' entry)")
    state = checkpoint_weights(ckpt)
    if not (isinstance(state, dict) and all(isinstance(name, str) and isinstance(t, torch.Tensor)
                                            for name, t in state.items())):
        entry = "ema_model" if ckpt.get("ema_model") is not None else "model"
        raise UsageError(f"{path} is not a classpulse training checkpoint (its {entry!r} entry is "
                         f"a {type(state).__name__}, not the network's tensors by name); give "
                         "best.pt or last.pt of a `classpulse model train` run")
    return state, None


def checkpoint_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a checkpoint stands for: the moving average when the run kept one (it is what
    val judged), else the trained weights."""
    ema = ckpt.get("ema_model")
    return ema if ema is not None else ckpt["model"]
