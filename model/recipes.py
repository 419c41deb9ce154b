"""Training recipes: ``TrainConfig`` and the named presets of ``classpulse model train --recipe``.

Torch-free, so the command line can show every default without loading torch; each default is
declared here once and the command line reads it from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from classpulse.errors import UsageError


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation strengths (moderate: FER2013 faces are already aligned crops)."""

    rotation_deg: float = 12.0
    scale: tuple[float, float] = (0.85, 1.15)
    translate: float = 0.08
    flip: float = 0.5
    brightness: float = 0.25  # in normalised units (about +-6% of the pixel range)
    contrast: float = 0.2
    erase: float = 0.25  # probability of blanking one random rectangle (occlusion: hands, hair)
    # probability of seeing a face at a random smaller side, then enlarged back (classroom CCTV
    # faces are 15-40 px); 0 reproduces legs 1-4, which predate it, random stream included
    low_res: float = 0.5
    low_res_sides: tuple[int, int] = (12, 44)
    # probability of the classroom view (``tilt_grid``): a camera high on the wall, a head bowed
    # over a desk; 0 draws no random numbers for it (earlier recipes' streams unchanged)
    classroom: float = 0.0
    classroom_tilt: float = 0.4  # the strongest tilt drawn, uniform from 0


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe; saved in every checkpoint and in the shipped weights' metadata.

    The defaults are the ``adamw`` recipe; ``RECIPES`` holds what the others change. Each default
    is declared here only: the command line reads them from this class.
    """

    data: str
    out: str
    recipe: str = "adamw"
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adamw"  # adamw | sgd (Nesterov)
    lr: float = 1e-3  # peak learning rate, at batch_size (or at lr_batch when that is set)
    lr_batch: int = 0  # > 0: lr is meant for this batch; scaled linearly to batch_size
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.05
    schedule: str = "cosine"  # cosine (to 1% at the last epoch) | plateau (x plateau_factor)
    plateau_factor: float = 0.75
    plateau_patience: int = 5  # epochs without a better val accuracy before the lr is cut
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5  # loss weight of a class = (1 / its frequency) ** power
    dropout: float = 0.5
    patience: int = 6  # epochs without a better val accuracy before stopping
    time_budget_s: float = 0.0  # > 0: start no epoch that would end after this many seconds
    save_every: int = 1  # epochs between last.pt/curves writes (a GPU epoch takes ~1 s; a
    #                      last.pt write ~0.2 s); best.pt and the last epoch are always written
    seed: int = 0
    size: int = 48
    init: str = "none"  # none | imagenet | FILE (our own weights or checkpoint)
    init_file: str | None = None  # the ImageNet checkpoint, when not in the torch cache
    device: str = "auto"
    amp: bool = True  # autocast: bf16 on CUDA (fp16 + grad scaling without bf16), bf16 on a CPU
    #                   with native bf16 (model.device.autocast_dtype)
    threads: int = 2
    limit_train: int | None = None  # first N shuffled training faces (quick runs, tests)
    limit_val: int | None = None
    ema_epochs: float = 1.0  # half-life of the weight average in epochs; 0 = no average
    augmentation: Augmentation = field(default_factory=Augmentation)

    def __post_init__(self) -> None:
        """Refuse at once, naming the option, a value no run can use: a zero batch size would
        otherwise end in a ZeroDivisionError, a zero learning rate in a run that learns nothing,
        and any float that is not finite somewhere in an epoch: an infinite learning rate or
        weight decay in NaN weights, an infinite warm-up in an OverflowError, an infinite
        half-life in a weight average that never moves."""
        for label, value in _float_fields(self):
            if not math.isfinite(value):
                raise UsageError(f"{label} must be a finite number, got {value}")
        for name, low in _AT_LEAST.items():
            value = getattr(self, name)
            if value is not None and not value >= low:
                raise UsageError(f"{train_option(name)} must be at least {low}, got {value}")
        if not self.lr > 0:
            raise UsageError(f"{train_option('lr')} must be above 0, got {self.lr}")
        for name in ("dropout", "label_smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UsageError(f"{train_option(name)} is a fraction from 0 to below 1, got "
                                 f"{getattr(self, name)}")


def _float_fields(cfg: TrainConfig) -> list[tuple[str, float]]:
    """Every float of ``cfg`` and its augmentation (tuples unpacked), each with the option that
    sets it, or for an augmentation strength no option sets, its field's name."""
    found = []
    for holder in (cfg, cfg.augmentation):
        for f in fields(holder):
            value = getattr(holder, f.name)
            label = (train_option(f.name) if holder is cfg or f.name in ("low_res", "classroom")
                     else f"augmentation {f.name}")
            found += [(label, v) for v in (value if isinstance(value, tuple) else (value,))
                      if isinstance(v, float)]
    return found


# the least value each numeric field takes (32 px: the smallest input the five pools of VGG16 leave
# a pixel of); NaN fails every comparison, so it is refused too
_AT_LEAST: dict[str, float] = {
    "epochs": 1, "batch_size": 1, "lr_batch": 0, "weight_decay": 0.0, "plateau_patience": 0,
    "warmup_epochs": 0.0, "patience": 1, "time_budget_s": 0.0, "save_every": 1, "size": 32,
    "threads": 1, "limit_train": 1, "limit_val": 1, "ema_epochs": 0.0, "seed": 0,
}


def train_option(name: str) -> str:
    """The ``classpulse model train`` option that sets field ``name``."""
    special = {"time_budget_s": "--time-budget", "amp": "--no-amp"}
    return special.get(name, "--" + name.replace("_", "-"))


# Khaireddin & Chen 2021 (arXiv 2105.03588, 73.28% on PublicTest): SGD Nesterov lr 0.01 at batch
# 64, momentum 0.9, weight decay 1e-4, reduce-on-plateau x0.75 patience 5, 300 epochs; shifts and
# zooms of 20%, rotation 10 degrees, flip, random erasing 0.5. Here at batch 256 with the lr
# scaled linearly and a 5-epoch warm-up (Goyal et al. 2017), plus our small-face blur and the
# classroom view (issue 17).
RECIPES: dict[str, dict[str, Any]] = {
    "adamw": {},
    "sgd300": {
        "epochs": 300, "batch_size": 256, "optimizer": "sgd", "lr": 0.01, "lr_batch": 64,
        "momentum": 0.9, "weight_decay": 1e-4, "schedule": "plateau", "plateau_factor": 0.75,
        "plateau_patience": 5, "warmup_epochs": 5.0, "patience": 40, "ema_epochs": 2.0,
        "augmentation": Augmentation(rotation_deg=10.0, scale=(0.8, 1.2), translate=0.2,
                                     erase=0.5, low_res=0.5, classroom=0.25),
    },
}


def recipe_config(recipe: str, data: str, out: str, **changes: Any) -> TrainConfig:
    """``recipe``'s configuration with ``changes`` (None values ignored) on top."""
    if recipe not in RECIPES:
        raise UsageError(f"recipe {recipe!r} is not one of {', '.join(RECIPES)}")
    given = {k: v for k, v in changes.items() if v is not None}
    names = {f.name for f in fields(TrainConfig)}
    unknown = set(given) - names
    if unknown:
        raise TypeError(f"not TrainConfig fields: {sorted(unknown)}")
    return replace(TrainConfig(data=data, out=out), recipe=recipe, **{**RECIPES[recipe], **given})


def recipe_default(recipe: str, name: str) -> Any:
    """The value ``recipe`` gives field ``name`` (for the command line's help)."""
    return getattr(recipe_config(recipe, "", ""), name)


def peak_lr(cfg: TrainConfig) -> float:
    """The learning rate after warm-up: ``lr``, scaled linearly from ``lr_batch`` if set."""
    return cfg.lr * cfg.batch_size / cfg.lr_batch if cfg.lr_batch > 0 else cfg.lr


# What a resumed run may take from the command line instead of the checkpoint: none of them changes
# what the epochs it continues compute, only when, where and in what precision. ``epochs``,
# ``patience`` and ``time_budget_s`` say when to stop (with the cosine schedule a new ``epochs``
# also stretches the decay still ahead: a longer run, as asked); ``save_every`` when to write;
# ``threads`` and ``device`` where to compute: the same ones as before repeat a CPU run bit for
# bit, other threads change sums' order, so rounding, and another device may also change the
# autocast precision (fp32, bf16, or fp16 with grad scaling: model.device.autocast_dtype), which
# the resumed run logs, starting a fresh grad scaler where the checkpoint had none; ``data`` is a
# path, which moves with the machine (the GPU job's pack, a copied folder), and the checkpoint
# cannot tell whether the faces behind it are the same; ``out`` is where the checkpoint was found.
RESUMABLE = ("epochs", "patience", "time_budget_s", "save_every", "threads", "device", "data",
             "out")


def resume_config(saved: dict[str, Any], given: dict[str, Any], source: str) -> TrainConfig:
    """The configuration a checkpoint (``saved``, its ``config``) was trained with, with the
    ``RESUMABLE`` fields of ``given`` on top: ``given`` holds only what the user typed (a recipe's
    default is no contradiction), and any other field in it that differs from ``saved`` is
    refused, naming the option and both values; ``source`` names the checkpoint."""
    names = {f.name for f in fields(TrainConfig)}
    aug_names = {f.name for f in fields(Augmentation)}
    differ = (names ^ set(saved)) | (aug_names ^ set(saved.get("augmentation", {})))
    if differ:
        raise UsageError(f"{source} was written by another version of classpulse (fields "
                         f"{sorted(differ)} differ); start a new --out, with --init {source} to "
                         "keep its weights")
    aug = Augmentation(**{k: tuple(v) if isinstance(v, list) else v
                          for k, v in saved["augmentation"].items()})
    cfg = TrainConfig(**{**saved, "augmentation": aug})
    for name, value in given.items():
        if name in RESUMABLE:
            continue
        was = getattr(aug if name in aug_names else cfg, name)
        if value != was:
            raise UsageError(f"--resume: {train_option(name)} gives {name}={value!r}, but {source} "
                             f"was trained with {name}={was!r}; drop the option to go on as the "
                             "run began, or train into a new --out")
    return replace(cfg, **{k: v for k, v in given.items() if k in RESUMABLE})
