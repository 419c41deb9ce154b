"""A short training run on a small real subset: the loss falls, checkpoints resume, files appear."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from classpulse.cli import main as cli_main
from classpulse.errors import UsageError
from model import card
from model import checkpoints as checkpoints_module
from model import train as train_module
from model.checkpoints import RESUME_KEYS
from model.data import load_split
from model.export import export_checkpoint
from model.loss import SmoothedWeightedCrossEntropy, class_weights
from model.network import build_network
from model.preprocess import (
    SMALL_FACE,
    Augmentation,
    Preprocessing,
    prepare_faces,
    shrink_faces,
)
from model.quantize import RANGES_KEY
from model.train import (
    LrSchedule,
    TrainConfig,
    _config_dict,
    _limited,
    build_optimizer,
    evaluate,
    load_data,
    lr_factor,
    main,
    out_of_time,
    recipe_config,
    resume,
    train_step,
)
from model.weight_average import EMA_EVERY, build_ema, update_average
from model.weights_io import load_checkpoint, load_weights, save_checkpoint

SIZE = 32  # input side of the training tests: 0.44x the work of 48 px, the same code paths
LIMIT = 96  # training faces of the training tests (of tiny_fer's 168): 6 steps of 16 an epoch


@pytest.mark.slow
def test_short_training_lowers_the_loss_and_resumes(tiny_fer: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = TrainConfig(data=str(tiny_fer), out=str(out), epochs=3, batch_size=16, lr=5e-4,
                      limit_train=LIMIT,
                      warmup_epochs=0.5, size=SIZE, dropout=0.0, label_smoothing=0.0,
                      device="cpu",
                      ema_epochs=0.0,  # no weight average: the trained weights are exported
                      augmentation=Augmentation(low_res=0.5))
    main(replace(cfg, epochs=2))
    first = load_checkpoint(out / "last.pt")
    assert first["epoch"] == 1 and len(first["history"]) == 2
    best = resume(out, {"epochs": 3})
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 2
    history = ckpt["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert best["val_acc"] == max(row["val_acc"] for row in history)
    with (out / "metrics.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 3
    assert (out / "best.pt").is_file() and (out / "curves.png").stat().st_size > 10_000

    # export, continue from the exported file (--init FILE), export again: the lineage is kept
    first_file = export_checkpoint(out / "best.pt", tmp_path / "first.safetensors")
    state, meta = load_weights(first_file)
    best_ckpt = load_checkpoint(out / "best.pt")
    assert torch.equal(state["head.7.weight"], best_ckpt["model"]["head.7.weight"].half().float())
    recipe = json.loads(meta["recipe"])
    assert recipe["epochs_trained"] == best_ckpt["epoch"] + 1 and "init_recipe" not in recipe
    assert recipe["augmentation"]["low_res"] == 0.5
    recorded = json.loads(meta["val_metrics"])
    assert recorded["split"] == f"val split of {tiny_fer} (42 faces)"
    assert recorded[f"accuracy_at_{SMALL_FACE}px"] == pytest.approx(
        best_ckpt["history"][-1]["val_acc_small"], abs=1e-4)
    assert recipe["augmentation"]["low_res_sides"] == [12, 44]
    assert card.val_accuracy(first_file) == pytest.approx(best_ckpt["val_report"]["accuracy"])
    main(replace(cfg, out=str(tmp_path / "cont"), epochs=1, init=str(first_file)))
    second = export_checkpoint(tmp_path / "cont" / "last.pt", tmp_path / "second.safetensors")
    lineage = json.loads(card.read_metadata(second)["recipe"])
    assert lineage["init"] == str(first_file) and lineage["init_recipe"] == recipe
    # exported over the file it continued from, twice (a re-export): still the true parent
    for _ in range(2):
        export_checkpoint(tmp_path / "cont" / "last.pt", first_file)
        assert json.loads(card.read_metadata(first_file)["recipe"])["init_recipe"] == recipe


def test_resume_without_checkpoint_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no checkpoint .*last\.pt; drop --resume"):
        resume(tmp_path, {})


def _finished_run(out: Path, **changes: Any) -> Path:
    """A last.pt of an sgd300 run (batch 16, 3 epochs) that has trained its 3 epochs; only the
    keys --resume reads before training hold real values."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = recipe_config("sgd300", "d", str(out), epochs=3, batch_size=16)
    state: dict[str, Any] = dict.fromkeys(RESUME_KEYS)
    state.update({"epoch": 2, "config": _config_dict(cfg), "bad_epochs": 0, **changes})
    save_checkpoint(state, out / "last.pt")
    return out / "last.pt"


@pytest.mark.parametrize(("flags", "message"), [
    (["--batch-size", "32"], "--batch-size gives batch_size=32, but {ckpt} was trained with "
                             "batch_size=16; drop the option to go on as the run began, or train "
                             "into a new --out"),
    (["--recipe", "adamw"], "--recipe gives recipe='adamw', but {ckpt} was trained with "
                            "recipe='sgd300'"),
    (["--no-amp"], "--no-amp gives amp=False, but {ckpt} was trained with amp=True"),
    (["--low-res", "0.2"], "--low-res gives low_res=0.2, but {ckpt} was trained with "
                           "low_res=0.5"),
    # options that agree with the checkpoint, and a recipe's defaults, are no contradiction
    (["--batch-size", "16", "--recipe", "sgd300", "--threads", "1", "--time-budget", "60"],
     "{ckpt} has trained 3 epochs, and --epochs is 3; give a larger --epochs to go on"),
])
def test_resume_refuses_what_contradicts_the_checkpoint(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
        message: str) -> None:
    ckpt = _finished_run(tmp_path / "run")
    assert cli_main(["model", "train", "--data", str(tiny_fer), "--out", str(tmp_path / "run"),
                     "--resume", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"classpulse model: --resume: {message.format(ckpt=ckpt)}")
    assert "\n" not in err


def test_resume_of_an_early_stopped_run_says_so(tmp_path: Path) -> None:
    ckpt = _finished_run(tmp_path / "run", bad_epochs=40)  # sgd300's patience
    with pytest.raises(UsageError, match=r"stopped early \(40 epochs without a better val "
                                         r"accuracy, --patience 40\); give a larger --patience"):
        resume(tmp_path / "run", {"epochs": 10})
    assert load_checkpoint(ckpt)["epoch"] == 2


def test_patience_below_one_is_refused() -> None:
    with pytest.raises(UsageError, match="--patience must be at least 1, got 0"):
        TrainConfig(data="d", out="o", patience=0)


def test_time_budget_stop_saves_the_epoch_it_ends_on(tiny_fer: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """On a clock where an epoch takes 40 s and a checkpoint write 30 s, a 100 s budget ends
    the run after epoch 1: 40 s, then best.pt's write, leave 30 s, too few for 1.1 x 40 s. The
    stop is decided once, after that write, and the epoch it ends on is in last.pt and
    metrics.csv, even with --save-every far off."""
    clock = [0.0]
    fake_time = SimpleNamespace(monotonic=lambda: clock[0], perf_counter=time.perf_counter)
    monkeypatch.setattr(train_module, "time", fake_time)
    monkeypatch.setattr(checkpoints_module, "time", fake_time)  # BestCheckpoint's clock
    real_epoch, real_save = train_module.train_one_epoch, train_module.save_checkpoint

    def epoch_of_40_s(*args: Any, **kwargs: Any) -> tuple[float, float]:
        clock[0] += 40.0
        return real_epoch(*args, **kwargs)

    def write_of_30_s(state: dict[str, Any], path: Path) -> None:
        clock[0] += 30.0
        real_save(state, path)

    monkeypatch.setattr(train_module, "train_one_epoch", epoch_of_40_s)
    monkeypatch.setattr(train_module, "save_checkpoint", write_of_30_s)  # last.pt
    monkeypatch.setattr(checkpoints_module, "save_checkpoint", write_of_30_s)  # best.pt
    out = tmp_path / "run"
    cfg = TrainConfig(data=str(tiny_fer), out=str(out), epochs=5, batch_size=16, limit_train=32,
                      size=SIZE, device="cpu", ema_epochs=0.0, threads=1, save_every=100,
                      time_budget_s=100.0)
    best = main(cfg)
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 0 and [r["seconds"] for r in ckpt["history"]] == [40.0]
    with (out / "metrics.csv").open() as fh:
        assert [row["epoch"] for row in csv.DictReader(fh)] == ["1"]
    assert best["epoch"] == 1 and clock[0] == 100.0  # two writes: best.pt, then last.pt


def test_files_that_are_not_checkpoints_are_named_in_one_line(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "x.csv"
    text.write_text("emotion,pixels\n0,1 2 3 4\n")
    mangled = tmp_path / "last.pt"
    torch.save({"model": {"w": torch.zeros(4096)}, "epoch": 3}, mangled)
    raw = bytearray(mangled.read_bytes())
    raw[200:260] = b"\xff" * 60
    mangled.write_bytes(bytes(raw))
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path in (text, mangled, empty):
        with pytest.raises(UsageError) as err:
            load_checkpoint(path)
        message = str(err.value)
        assert message.startswith(f"{path} is not a readable training checkpoint (")
        assert message.endswith("give best.pt or last.pt of a `classpulse model train` run")
        assert "\n" not in message
    shipped = str(card.DEFAULT_WEIGHTS)
    for argv in (["export", "--checkpoint", shipped, "--out", str(tmp_path / "w.safetensors")],
                 ["train", "--data", str(tiny_fer), "--out", str(tmp_path / "run"),
                  "--init", str(text)]):
        assert cli_main(["model", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "give best.pt or last.pt" in err
    assert cli_main(["model", "export", "--checkpoint", shipped]) == 2
    assert f"{shipped} is exported weights, not a training checkpoint" in capsys.readouterr().err


def test_export_names_the_val_faces_its_metrics_are_of(shipped_checkpoint: Path,
                                                       tmp_path: Path) -> None:
    path = export_checkpoint(shipped_checkpoint, tmp_path / "w.safetensors")
    recorded = json.loads(card.read_metadata(path)["val_metrics"])
    assert recorded["split"] == "val split of fer2013 (42 faces; --limit-val 42)"


def test_export_keeps_a_checkpoint_and_int8_ranges_from_being_overwritten(
        shipped_checkpoint: Path, tiny_fer: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``--out`` is a .safetensors name and never the checkpoint (an export over best.pt once
    replaced a 261 MB training checkpoint); a file with int8 ranges is replaced without them only
    with --force (the CPU consumers would run fp32, 3x slower); a replaced file is named."""
    ckpt = tmp_path / "best.pt"
    shutil.copyfile(shipped_checkpoint, ckpt)
    size = ckpt.stat().st_size
    link = tmp_path / "link.safetensors"
    link.symlink_to(ckpt)
    export = ["model", "export", "--checkpoint", str(ckpt), "--out"]
    for out, message in (
            (ckpt, f"--out {ckpt} does not end in .safetensors; give a weights file name such "
                   f"as {tmp_path / 'best.safetensors'}"),
            (link, f"--out {link} is the --checkpoint itself; give another --out")):
        assert cli_main([*export, str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"classpulse model: {message}") and "\n" not in err
    assert ckpt.stat().st_size == size and load_checkpoint(ckpt)["epoch"] == 0

    ranged = tmp_path / "w.safetensors"
    shutil.copyfile(card.DEFAULT_WEIGHTS, ranged)
    export_checkpoint(ckpt, ranged, tiny_fer, calibration_faces=20)  # new ranges: no question
    assert RANGES_KEY in card.read_metadata(ranged)
    before = ranged.read_bytes()
    assert cli_main([*export, str(ranged)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"classpulse model: --out {ranged} holds int8 activation ranges that this "
                   "export without --calibrate would drop (consumers on a CPU would run it in "
                   "fp32, about 3x slower); add --calibrate DATA to measure new ones, give "
                   "another --out, or add --force to replace it without them")
    assert ranged.read_bytes() == before
    assert cli_main([*export, str(ranged), "--force"]) == 0
    assert capsys.readouterr().out == f"wrote {ranged}, replacing the file that was there\n"
    assert RANGES_KEY not in card.read_metadata(ranged)
    fresh = tmp_path / "new.safetensors"
    assert cli_main([*export, str(fresh)]) == 0
    assert capsys.readouterr().out == f"wrote {fresh}\n"


def test_a_negative_seed_stops_training_before_any_work(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """NumPy takes no negative seed: it used to stop the run only once the data were read."""
    with pytest.raises(SystemExit) as stop:
        cli_main(["model", "train", "--data", str(tmp_path / "absent"), "--out",
                  str(tmp_path / "run"), "--seed", "-1"])
    assert stop.value.code == 2
    assert "argument --seed: --seed takes a whole number >= 0, got '-1'" in capsys.readouterr().err
    with pytest.raises(UsageError, match="--seed must be at least 0, got -1"):
        TrainConfig(data="d", out="o", seed=-1)
    assert list(tmp_path.iterdir()) == []


def test_class_weights_favour_rare_classes() -> None:
    counts = np.array([3995, 436, 4097, 7215, 4830, 3171, 4965])
    w = class_weights(counts, 0.5)
    assert w.mean().item() == pytest.approx(1.0)
    assert w[1] / w[3] == pytest.approx((7215 / 436) ** 0.5, rel=1e-5)
    assert torch.argmax(w).item() == 1


def test_schedule_warms_up_then_decays() -> None:
    cfg = TrainConfig(data="", out="", epochs=10, warmup_epochs=1)
    assert lr_factor(0, 100, cfg) == pytest.approx(0.04)
    assert lr_factor(100, 100, cfg) == pytest.approx(1.0)
    assert lr_factor(999, 100, cfg) == pytest.approx(0.01, abs=1e-4)
    values = [lr_factor(s, 100, cfg) for s in range(100, 1000, 50)]
    assert values == sorted(values, reverse=True)


def test_weight_average_has_the_asked_half_life() -> None:
    net = torch.nn.Linear(3, 2)
    cfg = TrainConfig(data="", out="", ema_epochs=2.0)
    ema = build_ema(net, cfg, steps_per_epoch=40)  # 2 epochs = 80 steps = 10 updates
    ema.update_parameters(net)  # the first update copies
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    for _ in range(80 // EMA_EVERY):
        ema.update_parameters(net)
    # after one half-life the average has come half way to the (constant) new weights
    assert torch.allclose(ema.module.weight - start, torch.full_like(start, 0.5), atol=1e-5)
    assert build_ema(net, replace(cfg, ema_epochs=0.0), 40) is None


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("bf16", [False, True])
def test_the_training_loss_is_torchs_cross_entropy_bit_for_bit(smoothing: float,
                                                               bf16: bool) -> None:
    """The loss that spares a GPU a sync per step gives torch's weighted, label-smoothed
    cross-entropy and the same gradients, to the last bit, in fp32 and under bf16 autocast."""
    weights = class_weights(np.array([3995, 436, 4097, 7215, 4830, 3171, 4965]), 0.5)
    ours = SmoothedWeightedCrossEntropy(weights, smoothing)
    torchs = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=smoothing)
    for seed, n in enumerate((1, 7, 64, 256)):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 20, generator=gen)
        y = torch.randint(0, 7, (n,), generator=gen)
        grads, losses = [], []
        for criterion in (ours, torchs):
            torch.manual_seed(seed)
            head = torch.nn.Linear(20, 7)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = criterion(head(x).float(), y)
            loss.backward()
            losses.append(loss)
            grads.append(head.weight.grad)
        assert torch.equal(losses[0], losses[1]) and torch.equal(grads[0], grads[1])


def test_the_weight_average_is_updated_as_torch_updates_it() -> None:
    """``update_average`` (which keeps the host from waiting for a GPU) gives the very average
    of ``AveragedModel.update_parameters``: the first update copies, later ones average the
    weights and BN's buffers (its integer batch counter included), and the counts agree."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
    cfg = TrainConfig(data="", out="", ema_epochs=0.5)
    ours, torchs = build_ema(net, cfg, 40), build_ema(net, cfg, 40)
    for _ in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net(torch.randn(5, 1, 8, 8))  # training mode: BN's running statistics move
        update_average(ours, net)
        torchs.update_parameters(net)
        mine, theirs = ours.state_dict(), torchs.state_dict()
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(v, theirs[k]) for k, v in mine.items())
    assert int(ours.n_averaged) == 4 and ours.n_averaged.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_a_training_step_never_waits_for_it() -> None:
    """No host sync in an sgd300 step, its class-weighted, label-smoothed loss and the weight
    average's update included, once cuDNN has tuned itself and the first update has copied the
    weights (both in the warm-up steps)."""
    device = torch.device("cuda")
    cfg = recipe_config("sgd300", "", "", batch_size=32)
    net = build_network().to(device).to(memory_format=torch.channels_last)
    opt = build_optimizer(net, cfg)
    sched = LrSchedule(opt, cfg, steps_per_epoch=100)
    scaler = torch.amp.GradScaler("cuda", enabled=False)  # bf16: an H100 or H200
    weights = class_weights(np.array([3995, 436, 4097, 7215, 4830, 3171, 4965]), 0.5)
    criterion = SmoothedWeightedCrossEntropy(weights.to(device), cfg.label_smoothing)
    ema = build_ema(net, cfg, 100)
    x = torch.randn(32, 1, 48, 48, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (32,), device=device)
    for _ in range(EMA_EVERY):
        train_step(net, x, y, opt, sched, scaler, criterion, cfg, device, ema)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(EMA_EVERY):  # the last one updates the average
            loss, _ = train_step(net, x, y, opt, sched, scaler, criterion, cfg, device, ema)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert int(ema.n_averaged) == 2 and torch.isfinite(loss).item()


@pytest.mark.slow
def test_sgd300_resumes_exactly_and_val_judges_the_weight_average(tiny_fer: Path,
                                                                   tmp_path: Path) -> None:
    """The GPU recipe, stopped and resumed through the command line, gives the very losses and
    weights of an uninterrupted run; val judges (and export ships) the weight average."""
    cfg = recipe_config("sgd300", str(tiny_fer), str(tmp_path / "straight"), epochs=3,
                        batch_size=16, limit_train=LIMIT, warmup_epochs=0.5, size=SIZE,
                        device="cpu", ema_epochs=0.5,
                        amp=False,  # fp32: val losses exact enough to tell the weights apart
                        threads=1)  # one thread: sums in one order, runs bit-identical
    main(cfg)
    out = tmp_path / "resumed"
    main(replace(cfg, out=str(out), epochs=2))
    # the configuration comes from the checkpoint: no recipe, batch size or EMA to repeat
    assert cli_main(["model", "train", "--data", str(tiny_fer), "--out", str(out), "--resume",
                     "--epochs", "3", "--device", "cpu"]) == 0
    straight, ckpt = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(
        out / "last.pt")
    assert ckpt["config"]["optimizer"] == "sgd" and ckpt["config"]["schedule"] == "plateau"
    for key in ("train_loss", "val_loss", "lr"):
        assert [r[key] for r in ckpt["history"]] == [r[key] for r in straight["history"]]
    assert all(torch.equal(v, straight["model"][k]) for k, v in ckpt["model"].items())

    average, trained = ckpt["ema_model"], ckpt["model"]
    assert not torch.equal(average["head.7.weight"], trained["head.7.weight"])
    assert all("val_acc_trained" in row for row in ckpt["history"])
    assert ckpt["ema_updates"] == 2  # steps 8 and 16: before and after the resume, carried over

    data = load_data(cfg, Preprocessing(size=SIZE))

    def val_of(state: dict[str, torch.Tensor], x: torch.Tensor | None = None
               ) -> tuple[float, dict]:
        net = build_network()
        net.load_state_dict(state)
        x = data.x_val if x is None else x
        return evaluate(net, x, data.y_val, torch.device("cpu"), cfg.amp)

    loss, report = val_of(average)
    assert report["accuracy"] == pytest.approx(ckpt["val_report"]["accuracy"])
    assert report["accuracy"] == pytest.approx(ckpt["history"][-1]["val_acc"])
    # accuracy on 42 faces may tie; the val loss tells which weights val judged
    assert loss == pytest.approx(ckpt["history"][-1]["val_loss"], rel=1e-6)
    assert val_of(trained)[0] != pytest.approx(loss, rel=1e-5)
    # the classroom-sized score: the average on val's faces shrunk to SMALL_FACE px
    val_faces = load_split(tiny_fer, "val", SIZE).images
    assert torch.equal(data.x_val_small,
                       prepare_faces(shrink_faces(list(val_faces), SMALL_FACE),
                                     Preprocessing(size=SIZE)))
    small = val_of(average, data.x_val_small)[1]["accuracy"]
    assert small == pytest.approx(ckpt["history"][-1]["val_acc_small"])
    # the training faces live as uint8 and become exactly what inference would feed the network
    idx = torch.tensor([5, 0, 77])
    assert data.x_train.dtype == torch.uint8 and len(data.x_train) == LIMIT
    chosen = _limited(load_split(tiny_fer, "train", SIZE), LIMIT, cfg.seed).images[idx]
    assert torch.equal(data.train_batch(idx, torch.device("cpu")),
                       prepare_faces(list(chosen), Preprocessing(size=SIZE)))

    state, _ = load_weights(export_checkpoint(out / "last.pt", tmp_path / "ema.safetensors"))
    assert torch.equal(state["head.7.weight"], average["head.7.weight"].half().float())


def test_plateau_schedule_warms_up_then_cuts_when_val_stalls() -> None:
    cfg = recipe_config("sgd300", "", "", batch_size=256, warmup_epochs=2, plateau_patience=1)
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    sched = LrSchedule(opt, cfg, steps_per_epoch=10)
    assert sched.lr() == pytest.approx(0.04 * 0.04)  # 0.01 at batch 64 -> 0.04 at 256, x0.04
    for _ in range(20):
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.04)
    for acc in (0.5, 0.6, 0.6, 0.59):  # better, better, flat, flat: cut once
        sched.end_epoch(acc)
    assert sched.lr() == pytest.approx(0.04 * 0.75)
    again = LrSchedule(opt, cfg, steps_per_epoch=10)
    again.load_state_dict(sched.state_dict())
    assert again.lr() == sched.lr() and again.state_dict() == sched.state_dict()


def test_time_budget_starts_no_epoch_that_would_overrun() -> None:
    cfg = TrainConfig(data="", out="", time_budget_s=100.0)
    assert not out_of_time(cfg, 50.0, [])
    assert not out_of_time(cfg, 50.0, [40.0])  # 50 + 44 fits
    assert out_of_time(cfg, 60.0, [40.0])  # 60 + 44 does not
    assert not out_of_time(replace(cfg, time_budget_s=0.0), 1e9, [40.0])


def test_recipes_are_declared_once_and_the_command_line_reads_them() -> None:
    from model.cli import _TRAIN_OPTIONS

    assert recipe_config("adamw", "d", "o") == TrainConfig(data="d", out="o")
    sgd = recipe_config("sgd300", "d", "o", lr=None, epochs=7)
    assert (sgd.optimizer, sgd.epochs, sgd.lr, sgd.batch_size) == ("sgd", 7, 0.01, 256)
    assert sgd.augmentation.classroom > 0 and sgd.augmentation.erase == 0.5
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert {name for name, _, _ in _TRAIN_OPTIONS.values()} <= fields
    with pytest.raises(UsageError, match="recipe 'sgd9'"):
        recipe_config("sgd9", "d", "o")


_SIGTERM_RUN = """
import json, os, signal, sys, time
from model import train as t
from model.checkpoints import BestCheckpoint

class KeptBest(BestCheckpoint):  # every improvement kept in memory, as on a GPU's 1 s epochs
    def __init__(self, path, interval_s):
        super().__init__(path, 1e9)
        self.written_at = time.monotonic()

t.BestCheckpoint = KeptBest
real_epoch, calls = t.train_one_epoch, [0]

def epoch_then_sigterm(*args, **kwargs):
    calls[0] += 1
    if calls[0] == 2:  # mid-run: during the second epoch, as timeout or the device tool would
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here
    return real_epoch(*args, **kwargs)

t.train_one_epoch = epoch_then_sigterm
t.main(t.TrainConfig(**json.loads(sys.argv[1])))
"""


@pytest.mark.slow
def test_sigterm_mid_run_still_writes_the_kept_best(tiny_fer: Path, tmp_path: Path) -> None:
    """SIGTERM (timeout's, the device tool's) would end Python without running ``finally``;
    during training it raises SystemExit(143), so the best epoch kept in memory is written."""
    out = tmp_path / "run"
    cfg = {"data": str(tiny_fer), "out": str(out), "epochs": 5, "batch_size": 16,
           "limit_train": 32, "size": SIZE, "device": "cpu", "ema_epochs": 0.0, "threads": 1,
           "save_every": 100}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _SIGTERM_RUN, json.dumps(cfg)], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 143, done.stderr[-2000:]
    assert not (out / "last.pt").exists()  # save_every 100: the run was cut before any
    best = load_checkpoint(out / "best.pt")  # epoch 1, always an improvement, kept, flushed
    assert best["epoch"] == 0 and best["selected_on"] == "val"


def test_sigterm_raises_only_while_installed() -> None:
    before = signal.getsignal(signal.SIGTERM)
    restore = train_module.sigterm_raises()
    try:
        with pytest.raises(SystemExit) as stopped:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        assert stopped.value.code == 143
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == before


def test_init_from_a_checkpoint_of_another_network_is_one_line(tmp_path: Path) -> None:
    """A .pt whose tensors are not this network's was a RuntimeError listing ninety names."""
    bad = tmp_path / "other.pt"
    torch.save({"model": {"x": torch.zeros(3)}}, bad)
    cfg = TrainConfig(data=str(tmp_path), out=str(tmp_path / "out"), init=str(bad))
    with pytest.raises(UsageError, match=r"^--init .*other\.pt: its tensors do not fit the "
                                         r"network \(97 of the network's 97 tensors missing"):
        train_module.build_model(cfg)


@pytest.mark.parametrize("entry", [{"model": "weights"}, {"model": [torch.zeros(3)]},
                                   {"model": {"x": "not a tensor"}}, {"model": {1: torch.zeros(3)}},
                                   {"model": {}, "ema_model": ["x"]}])
def test_init_from_a_pt_whose_model_entry_is_no_tensors_by_name_is_one_line(
    tmp_path: Path, entry: dict
) -> None:
    """A 'model' entry that is a text or a list raised AttributeError (.keys()) from
    network_mismatch: a traceback instead of the one line the other wrong files get."""
    bad = tmp_path / "odd.pt"
    torch.save(entry, bad)
    cfg = TrainConfig(data=str(tmp_path), out=str(tmp_path / "out"), init=str(bad))
    with pytest.raises(UsageError, match=r"odd\.pt is not a classpulse training checkpoint \(its "
                                         r"'(ema_)?model' entry is a \w+, not the network's "
                                         r"tensors by name\); give best\.pt"):
        train_module.build_model(cfg)
