"""Training the emotion network: ``classpulse model train --data DIR --out DIR``.

One function per phase, after torchvision's reference script: ``load_data``, ``build_model``,
``train_one_epoch``, ``evaluate``, ``main``. The whole dataset (28,709 48x48 faces, 66 MB as
uint8) lives on the training device and is augmented batch-wise there, so a 2-core machine
spends its cores on the network and a GPU never waits for data-loader processes.

Every epoch (every ``save_every`` epochs, and always the last one trained) writes ``last.pt``
(model, optimizer, scheduler, scaler, autocast precision, epoch, config, RNG state and history),
``metrics.csv`` and ``curves.png``; ``best.pt`` holds the epoch of the best val accuracy, kept
in memory when val improves and written by an improvement at most every
``BEST_WRITE_INTERVAL_S`` seconds, besides before each ``last.pt`` (every ``save_every`` epochs,
so a small ``save_every`` writes it more often) and whenever the run ends, SIGTERM included: for
the run's duration SIGTERM (``timeout``'s, the device tool's) raises ``SystemExit(143)`` so that
the kept best is written (``BestCheckpoint``; both in ``model.checkpoints``).
Each checkpoint says how its epoch was chosen (``selected_on``: ``val`` for ``best.pt``,
``none (last epoch)`` for ``last.pt``), which export records: a val score of an epoch val picked
is optimistic. ``--resume`` continues from ``last.pt`` with the configuration saved in it
(``model.recipes.resume_config``, through ``model.checkpoints.load_resume``), where it stopped:
bit for bit on a CPU with one thread; on a GPU to rounding, since cuDNN's autotuning may pick
other convolution algorithms in the new process. A fresh run refuses an ``--out`` that already
holds a run's checkpoints unless forced.

With ``--ema-epochs H`` an exponential moving average of the weights (half-life H epochs, BN
statistics included, as torchvision's reference ``--model-ema``; ``model.weight_average``) is
kept beside the trained weights; it is what val judges, ``best.pt`` keeps and export ships,
while the trained weights, still in the checkpoint, are what ``--resume`` continues. The loss is
``model.loss``'s class-weighted, label-smoothed cross-entropy.

Recipes (``--recipe``) are named sets of defaults, declared once in ``RECIPES``: ``adamw`` (the
CPU recipe the shipped weights came from) and ``sgd300`` (Khaireddin & Chen 2021's 300-epoch SGD
with Nesterov momentum and reduce-on-plateau, the published single-VGG recipe, for a GPU).
``time_budget_s`` ends a run cleanly, before an epoch that would not fit, so a GPU lease is never
cut mid-epoch.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from model.checkpoints import (
    BEST_WRITE_INTERVAL_S,
    RUN_FILES,
    SELECTED,
    BestCheckpoint,
    load_resume,
    restore_scaler,
    resumed_best,
)
from model.data import FerSplit, load_split
from model.device import autocast, autocast_dtype, pick_device
from model.loss import SmoothedWeightedCrossEntropy, class_weights
from model.metrics import classification_report
from model.network import EmotionVGG, build_network, load_imagenet_features
from model.paths import check_output_dir
from model.preprocess import (
    SMALL_FACE,
    Preprocessing,
    augment_batch,
    normalise,
    prepare_faces,
    shrink_faces,
    to_gray_square,
)
from model.recipes import RECIPES, TrainConfig, peak_lr, recipe_config
from model.weight_average import EMA_EVERY, build_ema, update_average
from model.weights_io import load_state_any, network_mismatch, save_checkpoint

__all__ = ["RECIPES", "TrainConfig", "main", "recipe_config", "resume"]

log = logging.getLogger(__name__)


@dataclass
class Data:
    x_train: torch.Tensor  # uint8 (N, S, S): 4x less memory than float, normalised per batch
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    counts: np.ndarray
    x_val_small: torch.Tensor  # val's faces shrunk to SMALL_FACE px first (classroom-sized)
    prep: Preprocessing = field(default_factory=Preprocessing)

    def train_batch(self, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Training faces ``idx`` as the network's float input, exactly as ``prepare_faces``
        makes them (the same ``normalise``), on ``device``."""
        gray = self.x_train[idx.to(self.x_train.device)].to(device, non_blocking=True)
        return normalise(gray, self.prep.mean, self.prep.std)


def _limited(split: FerSplit, limit: int | None, seed: int) -> FerSplit:
    if limit is None or limit >= len(split):
        return split
    order = np.random.default_rng(seed).permutation(len(split))[:limit]
    return split.subset(np.sort(order))


def load_data(cfg: TrainConfig, prep: Preprocessing) -> Data:
    """Read train and val and keep them in memory: train as uint8 pixels, val prepared by the
    one inference preprocessing."""
    train = _limited(load_split(Path(cfg.data), "train", cfg.size, named=True), cfg.limit_train,
                     cfg.seed)
    val = _limited(load_split(Path(cfg.data), "val", cfg.size, named=True), cfg.limit_val,
                   cfg.seed)
    log.info("data train=%d val=%d train_counts=%s", len(train), len(val),
             dict(zip(EMOTIONS, train.class_counts().tolist(), strict=True)))
    gray = np.stack([to_gray_square(f, prep.size) for f in train.images])
    return Data(torch.from_numpy(gray), torch.from_numpy(train.labels),
                prepare_faces(list(val.images), prep), torch.from_numpy(val.labels),
                train.class_counts(),
                prepare_faces(shrink_faces(list(val.images), SMALL_FACE), prep), prep)


def build_model(cfg: TrainConfig) -> tuple[EmotionVGG, dict[str, Any] | None]:
    """The network as ``--init`` says, and the recipe of the weights it starts from (``--init
    FILE`` of our own weights), which the checkpoints carry on so the export keeps the lineage."""
    net = build_network(dropout=cfg.dropout)
    parent = None
    if cfg.init == "imagenet":
        load_imagenet_features(net, Path(cfg.init_file) if cfg.init_file else None)
    elif cfg.init != "none":
        if not Path(cfg.init).is_file():
            raise UsageError(f"--init {cfg.init}: no such file; give none, imagenet, or a "
                             ".safetensors or checkpoint .pt file of this network's weights")
        state, parent = load_state_any(Path(cfg.init))
        mismatch = network_mismatch(state)
        if mismatch:
            raise UsageError(f"--init {cfg.init}: its tensors do not fit the network ({mismatch}); "
                             "give a .safetensors file from `classpulse model export` or a "
                             "checkpoint .pt of `classpulse model train`")
        net.load_state_dict(state)
        log.info("initialised from file=%s", cfg.init)
    return net, parent


def lr_factor(step: int, steps_per_epoch: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 1% of the peak at the last step."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    warm = max(int(cfg.warmup_epochs * steps_per_epoch), 1)
    if step < warm:
        return 0.04 + 0.96 * step / warm
    progress = min((step - warm) / max(total - warm, 1), 1.0)
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))


class LrSchedule:
    """The learning rate of every step: ``cosine`` (``lr_factor``) or ``plateau``: the same
    linear warm-up, then the peak cut by ``plateau_factor`` whenever val accuracy has not
    improved for ``plateau_patience`` epochs (torch's ReduceLROnPlateau in mode max, which
    could not share the per-step warm-up). Its state goes into every checkpoint."""

    def __init__(self, opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
                 ) -> None:
        if cfg.schedule not in ("cosine", "plateau"):
            raise UsageError(f"schedule {cfg.schedule!r} is not one of cosine, plateau")
        self.opt, self.cfg, self.steps_per_epoch = opt, cfg, steps_per_epoch
        self.peak = peak_lr(cfg)
        self.steps, self.cut, self.best, self.bad = 0, 1.0, -1.0, 0
        self._apply()

    def lr(self) -> float:
        if self.cfg.schedule == "cosine":
            return self.peak * lr_factor(self.steps, self.steps_per_epoch, self.cfg)
        warm = max(int(self.cfg.warmup_epochs * self.steps_per_epoch), 1)
        ramp = 0.04 + 0.96 * self.steps / warm if self.steps < warm else 1.0
        return self.peak * ramp * self.cut

    def step(self) -> None:
        self.steps += 1
        self._apply()

    def end_epoch(self, val_acc: float) -> None:
        if self.cfg.schedule != "plateau":
            return
        if val_acc > self.best:
            self.best, self.bad = val_acc, 0
            return
        self.bad += 1
        if self.bad > self.cfg.plateau_patience:
            self.cut *= self.cfg.plateau_factor
            self.bad = 0
            log.info("val accuracy flat for %d epochs: lr cut to %.2e",
                     self.cfg.plateau_patience + 1, self.lr())
            self._apply()

    def _apply(self) -> None:
        for group in self.opt.param_groups:
            group["lr"] = self.lr()

    def state_dict(self) -> dict[str, float]:
        return {"steps": self.steps, "cut": self.cut, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.steps, self.cut = int(state["steps"]), float(state["cut"])
        self.best, self.bad = float(state["best"]), int(state["bad"])
        self._apply()


def build_optimizer(net: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, or SGD with Nesterov momentum; weight decay on every parameter, as published."""
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(net.parameters(), lr=peak_lr(cfg), weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(net.parameters(), lr=peak_lr(cfg), momentum=cfg.momentum,
                               nesterov=True, weight_decay=cfg.weight_decay)
    raise UsageError(f"optimizer {cfg.optimizer!r} is not one of adamw, sgd")


class ThreadTuner:
    """Picks, every few dozen CPU steps, whichever of 1 or ``max_threads`` torch threads is faster.

    Why: on a shared 2-core machine, two OpenMP threads that must meet at every layer crawl as soon
    as another process takes a core (measured: 15 img/s with 2 threads against 56 with 1, while
    other jobs ran; 126 against ~70 when alone). Timing both now and then follows the load.
    """

    def __init__(self, max_threads: int, explore: int = 3, exploit: int = 60) -> None:
        self.candidates = [1, max_threads] if max_threads > 1 else [max_threads]
        self.explore, self.exploit = explore, exploit
        self.times: dict[int, list[float]] = {c: [] for c in self.candidates}
        self.best = max_threads
        self.step = 0

    def threads_for_next_step(self) -> int:
        cycle = self.step % (self.explore * len(self.candidates) + self.exploit)
        if len(self.candidates) > 1 and cycle < self.explore * len(self.candidates):
            return self.candidates[cycle // self.explore]
        return self.best

    def record(self, threads: int, seconds: float) -> None:
        cycle = self.step % (self.explore * len(self.candidates) + self.exploit)
        self.step += 1
        if cycle >= self.explore * len(self.candidates):
            return
        if cycle % self.explore:  # the first step after a switch warms caches: not timed
            self.times[threads].append(seconds)
        if cycle == self.explore * len(self.candidates) - 1:
            means = {c: sum(t) / len(t) for c, t in self.times.items() if t}
            if means:
                self.best = min(means, key=means.__getitem__)
            self.times = {c: [] for c in self.candidates}


def train_one_epoch(net: nn.Module, data: Data, opt: torch.optim.Optimizer,
                    sched: LrSchedule, scaler: torch.amp.GradScaler,
                    criterion: nn.Module, gen: torch.Generator, cfg: TrainConfig,
                    device: torch.device, epoch: int,
                    ema: AveragedModel | None = None) -> tuple[float, float]:
    """One pass over the shuffled training set; returns (mean loss, accuracy on augmented).

    Nothing in a step makes the host wait for a GPU (``train_step``), so it queues steps ahead:
    the batch order goes to the device once per epoch, the loss and accuracy are summed there
    and read once, at the end. On a CPU the steps are timed (``ThreadTuner``) and the progress
    bar shows the running loss.
    """
    net.train()
    n = len(data.y_train)
    # drawn on the CPU (the same stream on any device), then on the faces' device in one copy
    order = torch.randperm(n, generator=gen).to(data.y_train.device)
    steps = n // cfg.batch_size  # the ragged last batch is dropped (BN dislikes tiny batches)
    fmt = torch.channels_last
    loss_sum: torch.Tensor | float = 0.0
    correct: torch.Tensor | int = 0
    seen = 0
    bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
               dynamic_ncols=True, mininterval=2.0)
    tuner = ThreadTuner(cfg.threads) if device.type == "cpu" else None
    for i in bar:
        if tuner is not None:
            threads = tuner.threads_for_next_step()
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
        idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
        x = data.train_batch(idx, device)
        y = data.y_train[idx].to(device, non_blocking=True)
        x = augment_batch(x, gen, cfg.augmentation).contiguous(memory_format=fmt)
        loss, logits = train_step(net, x, y, opt, sched, scaler, criterion, cfg, device, ema)
        # sums stay on the device: a .item() per step would stall a GPU's queue
        loss_sum = loss_sum + loss * len(y)
        correct = correct + (logits.argmax(1) == y).sum()
        seen += len(y)
        if tuner is not None:
            float(loss_sum)  # the step must finish before it is timed
            tuner.record(threads, time.perf_counter() - t0)
            bar.set_postfix(loss=f"{float(loss_sum) / seen:.3f}",
                            acc=f"{int(correct) / seen:.3f}", lr=f"{sched.lr():.2e}",
                            threads=torch.get_num_threads())
    bar.close()
    torch.set_num_threads(cfg.threads)
    return float(loss_sum) / max(seen, 1), int(correct) / max(seen, 1)


def train_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer,
               sched: LrSchedule, scaler: torch.amp.GradScaler, criterion: nn.Module,
               cfg: TrainConfig, device: torch.device, ema: AveragedModel | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on the augmented batch ``x``, ``y``; returns its loss (detached) and
    logits, both left on the device.

    No host sync on a GPU: no ``.item()``, no Python branch on a tensor, and the weight
    average's update without torch's blocking copy (``update_average``). Only fp16 (a GPU
    without bf16) has one, in ``GradScaler.step``'s check for infinite gradients.
    """
    with autocast(device, cfg.amp):
        logits = net(x)
        loss = criterion(logits.float(), y)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    nn.utils.clip_grad_norm_(net.parameters(), 5.0)
    scaler.step(opt)
    scaler.update()
    sched.step()
    if ema is not None and sched.steps % EMA_EVERY == 0:
        update_average(ema, net)
    return loss.detach(), logits


def evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
             amp: bool, batch_size: int = 256) -> tuple[float, dict[str, Any]]:
    """Val loss (plain cross-entropy) and the classification report, in inference mode, under
    the run's autocast (bf16 where it trains in bf16): what checkpoints and exports record.
    The logits stay on the device until the last batch: one copy back, not one per batch."""
    net.eval()
    logits = []
    with torch.inference_mode(), autocast(device, amp):
        for i in range(0, len(y), batch_size):
            xb = x[i:i + batch_size].to(device).contiguous(memory_format=torch.channels_last)
            logits.append(net(xb).float())
    out = torch.cat(logits).cpu() if logits else torch.empty(0, len(EMOTIONS))
    loss = float(F.cross_entropy(out, y)) if len(y) else 0.0
    return loss, classification_report(y.numpy(), out.argmax(1).numpy())


HISTORY_FIELDS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                  "val_macro_f1", "val_weighted_f1", "seconds", "val_acc_trained", "val_acc_small")


def _write_history(out: Path, history: list[dict[str, float]]) -> None:
    with (out / "metrics.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS, restval="")
        writer.writeheader()
        writer.writerows(history)
    from model.plots import plot_training_curves

    with contextlib.suppress(ImportError):  # no matplotlib (a GPU machine): metrics.csv
        plot_training_curves(history, out / "curves.png")


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["augmentation"] = {k: list(v) if isinstance(v, tuple) else v
                         for k, v in d["augmentation"].items()}
    return d


def main(cfg: TrainConfig, force: bool = False) -> dict[str, Any]:
    """Train from the start, checkpointing every epoch; returns the best epoch's history row.

    An ``out`` that already holds ``last.pt`` or ``best.pt`` is refused unless ``force``: the new
    run's first epoch would replace the old ``best.pt``, however much better it was, and the old
    run's files would mix with the new one's. ``force`` removes the old run's files once the new
    run's data and network are ready.
    """
    out = check_output_dir(cfg.out, "--out")
    old = [name for name in ("last.pt", "best.pt") if (out / name).is_file()]
    if old and not force:
        raise UsageError(f"--out {out} already holds {' and '.join(old)} of an earlier run; add "
                         "--resume to continue it, --force to train afresh over it (its files are "
                         "deleted), or give another --out")
    return _train(cfg, None, clear=bool(old))


def resume(out: str | Path, given: dict[str, Any]) -> dict[str, Any]:
    """Continue ``out/last.pt`` with the configuration saved in it; returns the best epoch's row.

    ``given`` holds only the options the user typed; ``model.checkpoints.load_resume`` says what
    it may change and refuses a checkpoint that cannot go on.
    """
    return _train(*load_resume(out, given))


def _precision(dtype: torch.dtype | None) -> str:
    return str(dtype).removeprefix("torch.") if dtype is not None else "float32"


def _train(cfg: TrainConfig, ckpt: dict[str, Any] | None, clear: bool = False
           ) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    out = Path(cfg.out)
    prep = Preprocessing(size=cfg.size)
    net, init_recipe = build_model(cfg if ckpt is None else _no_init(cfg))  # fails fast offline
    net = net.to(device)
    data = load_data(cfg, prep)
    if device.type == "cuda":  # 66 MB of uint8: the whole set on the GPU, no per-batch copies
        data.x_train, data.y_train = data.x_train.to(device), data.y_train.to(device)
        # val (2 x 33 MB of float) too: evaluate's batches need no copy, which would wait
        data.x_val, data.x_val_small = data.x_val.to(device), data.x_val_small.to(device)
        torch.backends.cudnn.benchmark = True
    net = net.to(memory_format=torch.channels_last)
    opt = build_optimizer(net, cfg)
    steps_per_epoch = len(data.y_train) // cfg.batch_size
    if steps_per_epoch == 0:
        raise UsageError(f"{len(data.y_train)} training faces is less than one batch of "
                         f"{cfg.batch_size}; lower --batch-size")
    sched = LrSchedule(opt, cfg, steps_per_epoch)
    precision = autocast_dtype(device, cfg.amp)
    # grad scaling only for fp16; bf16 has fp32's range
    scaler = torch.amp.GradScaler(device.type, enabled=precision is torch.float16)
    ema = build_ema(net, cfg, steps_per_epoch)
    weights = class_weights(data.counts, cfg.class_weight_power).to(device)
    criterion = SmoothedWeightedCrossEntropy(weights, cfg.label_smoothing)
    gen = torch.Generator().manual_seed(cfg.seed)
    start, history, best, bad = 0, [], -1.0, 0
    if ckpt is not None:
        _restore(ckpt, net, opt, sched, scaler, gen, ema, device, precision)
        start, history = ckpt["epoch"] + 1, ckpt["history"]
        init_recipe = ckpt.get("init_recipe")
        best, bad = resumed_best(out, ckpt["best_val_acc"]), ckpt["bad_epochs"]
        log.info("resumed from=%s epoch=%d best_val_acc=%.4f", out / "last.pt", start, best)
    # only now: a refusal above (--init imagenet without the file, data that does not read)
    # leaves no empty run folder behind
    out.mkdir(parents=True, exist_ok=True)
    if clear:  # --force, once data and network are ready: the old run's files go
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        log.info("--force: deleted the earlier run's files in %s", out)
    began = time.monotonic()
    stop = _stop_reason(cfg, bad, 0.0, history)  # resumed under a budget shorter than an epoch
    best_file = BestCheckpoint(out / "best.pt", BEST_WRITE_INTERVAL_S)
    restore_sigterm = sigterm_raises()  # so that the finally below runs on SIGTERM too
    try:
        for epoch in range(start, cfg.epochs):
            if stop:
                break
            t0 = time.monotonic()
            train_loss, train_acc = train_one_epoch(net, data, opt, sched, scaler, criterion, gen,
                                                    cfg, device, epoch, ema)
            if not math.isfinite(train_loss):  # checked per epoch: per step would stall a GPU
                kept = ("the checkpoints of earlier epochs stay in " + str(out)
                        if (out / "last.pt").is_file() else "no checkpoint was written")
                raise UsageError(f"epoch {epoch + 1}: the training loss is {train_loss} "
                                 f"(diverged); {kept}; train again with a lower --lr (now "
                                 f"{cfg.lr:g}) or --no-amp")
            val_loss, report, trained_acc, small = _validate(net, ema, data, device, cfg.amp)
            row = {"epoch": epoch + 1, "lr": sched.lr(), "train_loss": train_loss,
                   "train_acc": train_acc, "val_loss": val_loss, "val_acc": report["accuracy"],
                   "val_macro_f1": report["macro_f1"], "val_weighted_f1": report["weighted_f1"],
                   "seconds": time.monotonic() - t0, "val_acc_trained": trained_acc,
                   "val_acc_small": small["accuracy"]}
            history.append(row)
            improved = report["accuracy"] > best
            best, bad = (report["accuracy"], 0) if improved else (best, bad + 1)
            sched.end_epoch(report["accuracy"])
            state = {**_training_state(net, opt, sched, scaler, gen, ema, device, precision),
                     "epoch": epoch, "config": _config_dict(cfg),
                     "history": history, "best_val_acc": best, "bad_epochs": bad,
                     "val_report": report, "init_recipe": init_recipe}
            if improved:
                best_file.improved({**state, "selected_on": SELECTED["best.pt"]})
            # decided once, after best.pt's write if due (so its time counts), before last.pt's:
            # the epoch that ends the run is always the one last.pt and metrics.csv hold
            stop = _stop_reason(cfg, bad, time.monotonic() - began, history)
            if stop or epoch + 1 == cfg.epochs or (epoch + 1) % cfg.save_every == 0:
                best_file.flush()
                save_checkpoint({**state, "selected_on": SELECTED["last.pt"]}, out / "last.pt")
                _write_history(out, history)
            log.info("epoch=%d train_loss=%.4f train_acc=%.4f val_loss=%.4f val_acc=%.4f "
                     "val_macro_f1=%.4f val_acc_trained=%.4f val_acc_%dpx=%.4f seconds=%.0f%s",
                     epoch + 1, train_loss, train_acc, val_loss, report["accuracy"],
                     report["macro_f1"], trained_acc, SMALL_FACE, small["accuracy"], row["seconds"],
                     " (best)" if improved else "")
    finally:  # the last epoch, a stop, Ctrl-C, SIGTERM or an error: the best epoch is on disk
        try:
            best_file.flush()
        finally:
            restore_sigterm()
    if stop:
        log.info("%s: stopped after epoch %d", stop, len(history))
    return max(history, key=lambda r: r["val_acc"]) if history else {}


def _restore(ckpt: dict[str, Any], net: nn.Module, opt: torch.optim.Optimizer,
             sched: LrSchedule, scaler: torch.amp.GradScaler, gen: torch.Generator,
             ema: AveragedModel | None, device: torch.device,
             precision: torch.dtype | None) -> None:
    """Put a checkpoint's weights, optimizer, schedule, scaler, random states and weight average
    back (``_training_state`` took them), so that a resume continues as the module docstring
    says: bit for bit on one CPU thread, to rounding on a GPU."""
    net.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    restore_scaler(scaler, ckpt["scaler"])
    was = ckpt.get("precision")  # absent from checkpoints older than the record
    if was is not None and was != _precision(precision):
        log.info("precision changes on resume: trained in %s, continues in %s on %s", was,
                 _precision(precision), device.type)
    gen.set_state(ckpt["generator"])
    torch.set_rng_state(ckpt["torch_rng"])  # dropout's masks: a resume continues exactly
    if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(ckpt["cuda_rng"])
    if ema is not None and ckpt.get("ema_model") is not None:
        ema.module.load_state_dict(ckpt["ema_model"])
        ema.n_averaged.fill_(int(ckpt.get("ema_updates", 1)))  # 0: the next update copies


def _training_state(net: nn.Module, opt: torch.optim.Optimizer, sched: LrSchedule,
                    scaler: torch.amp.GradScaler, gen: torch.Generator,
                    ema: AveragedModel | None, device: torch.device,
                    precision: torch.dtype | None) -> dict[str, Any]:
    """What a checkpoint holds of the training's moving parts, for ``_restore``."""
    return {"model": net.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
            "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
            "precision": _precision(precision),
            "ema_model": ema.module.state_dict() if ema is not None else None,
            "ema_updates": int(ema.n_averaged) if ema is not None else 0}


def _validate(net: nn.Module, ema: AveragedModel | None, data: Data,
              device: torch.device, amp: bool
              ) -> tuple[float, dict[str, Any], float, dict[str, Any]]:
    """Val loss and report of the weights val judges (the average when there is one, which
    best.pt keeps), the trained weights' own val accuracy, and the judged weights' report on
    val's faces shrunk to ``SMALL_FACE`` px."""
    val_loss, report = evaluate(net, data.x_val, data.y_val, device, amp)
    trained_acc = report["accuracy"]
    judged = ema.module if ema is not None else net
    if ema is not None:
        val_loss, report = evaluate(judged, data.x_val, data.y_val, device, amp)
    _, small = evaluate(judged, data.x_val_small, data.y_val, device, amp)
    return val_loss, report, trained_acc, small


def sigterm_raises() -> Callable[[], None]:
    """Until the returned function is called, SIGTERM raises ``SystemExit(143)`` (128 + 15, a
    shell's status for it) in the main thread, instead of Python's default, which ends the
    process without running ``finally`` blocks; the returned function puts the previous handler
    back. Outside the main thread (where handlers cannot be set) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def raise_exit(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, raise_exit)

    def restore() -> None:  # None: the previous handler was not set from Python
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)

    return restore


def _stop_reason(cfg: TrainConfig, bad: int, spent: float, history: list[dict[str, float]]
                 ) -> str | None:
    """Why no further epoch should start (early stop or the time budget), or None."""
    if bad >= cfg.patience:
        return f"early stop: no better val accuracy for {bad} epochs"
    if out_of_time(cfg, spent, [r["seconds"] for r in history]):
        return f"time budget: {spent:.0f} s of {cfg.time_budget_s:.0f} s spent"
    return None


def out_of_time(cfg: TrainConfig, spent: float, epoch_seconds: list[float]) -> bool:
    """Whether another epoch, as long as the longest so far plus 10%, would overrun the budget."""
    if cfg.time_budget_s <= 0 or not epoch_seconds:
        return False
    return spent + 1.1 * max(epoch_seconds[-3:]) > cfg.time_budget_s


def _no_init(cfg: TrainConfig) -> TrainConfig:
    """On resume the checkpoint supplies the weights: skip the (possibly online) --init."""
    return replace(cfg, init="none")
