"""What a run's checkpoints record and how a new or resumed run treats the ones already there:
the epoch's selection, an earlier run in --out, the grad scaler across precisions, the best of a
run with --save-every, best.pt kept in memory between writes, a diverged loss and values no run
can use."""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from classpulse.cli import main as cli_main
from classpulse.errors import UsageError
from model import card
from model import checkpoints as checkpoints_module
from model import train as train_module
from model.checkpoints import BestCheckpoint, restore_scaler
from model.export import export_checkpoint
from model.recipes import TrainConfig
from model.train import main, resume
from model.weights_io import load_checkpoint, save_checkpoint

# the tiny_run fixture's configuration, as typed on the command line
TINY = ["--epochs", "1", "--batch-size", "16", "--limit-train", "32", "--size", "32",
        "--device", "cpu", "--ema-epochs", "0", "--threads", "1", "--no-amp"]


def test_export_records_how_the_epoch_was_chosen(tiny_run: Path, shipped_checkpoint: Path,
                                                 tmp_path: Path) -> None:
    """best.pt's epoch was picked by val, so its val metrics are optimistic; last.pt's by
    nothing. The exported file says which, and a checkpoint too old to know says so."""
    for name, how in (("best.pt", "val"), ("last.pt", "none (last epoch)")):
        path = export_checkpoint(tiny_run / name, tmp_path / f"{name}.safetensors")
        assert json.loads(card.read_metadata(path)["val_metrics"])["selected_on"] == how
    old = export_checkpoint(shipped_checkpoint, tmp_path / "old.safetensors")
    assert json.loads(card.read_metadata(old)["val_metrics"])["selected_on"].startswith(
        "not recorded")


def test_a_fresh_run_refuses_an_out_holding_a_run_unless_forced(
        tiny_fer: Path, tiny_run: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    shutil.copytree(tiny_run, out)
    old = load_checkpoint(out / "best.pt")
    save_checkpoint({**old, "earlier_run": True}, out / "best.pt")
    argv = ["model", "train", "--data", str(tiny_fer), "--out", str(out), *TINY]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"--out {out} already holds last.pt and best.pt of an earlier run; add "
                        "--resume to continue it, --force to train afresh over it (its files are "
                        "deleted), or give another --out")
    assert "\n" not in err and load_checkpoint(out / "best.pt")["earlier_run"]
    assert cli_main([*argv, "--resume", "--force"]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert cli_main([*argv, "--force"]) == 0
    assert "earlier_run" not in load_checkpoint(out / "best.pt")


def test_a_resume_into_grad_scaling_starts_a_fresh_scaler(tiny_run: Path) -> None:
    """A CPU or bf16 run saves the disabled scaler's empty state; resumed on a GPU without bf16
    (fp16, scaling on), loading that state raised. A real scaler, enabled on the CPU, stands
    for the fp16 GPU's."""
    assert load_checkpoint(tiny_run / "last.pt")["precision"] == "float32"
    fp16 = torch.amp.GradScaler("cpu", enabled=True)
    restore_scaler(fp16, {})
    assert fp16.get_scale() == 65536.0  # fresh: torch's initial scale
    saved = torch.amp.GradScaler("cpu", enabled=True, init_scale=8.0).state_dict()
    restore_scaler(fp16, saved)
    assert fp16.get_scale() == 8.0  # an fp16 run's own state is carried on
    bf16 = torch.amp.GradScaler("cpu", enabled=False)
    restore_scaler(bf16, saved)  # an fp16 run resumed in bf16 or fp32: no scaling
    assert not bf16.is_enabled()


def test_a_resume_keeps_the_best_that_best_pt_holds(tiny_run: Path, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """With --save-every N, best.pt can be newer than last.pt: here it records a val accuracy of
    1.0 from epochs after last.pt that a stop lost. The resumed epoch, worse, must not replace
    it. The checkpoint also came from an fp16 run: the resume says the precision changes."""
    out = tmp_path / "run"
    shutil.copytree(tiny_run, out)
    best = load_checkpoint(out / "best.pt")
    save_checkpoint({**best, "best_val_acc": 1.0}, out / "best.pt")
    last = load_checkpoint(out / "last.pt")
    fp16_scaler = torch.amp.GradScaler("cpu", enabled=True).state_dict()
    save_checkpoint({**last, "precision": "float16", "scaler": fp16_scaler}, out / "last.pt")
    with caplog.at_level(logging.INFO, logger="model.train"):
        resume(out, {"epochs": 2})
    resumed = load_checkpoint(out / "last.pt")
    assert resumed["epoch"] == 1 and resumed["best_val_acc"] == 1.0
    assert resumed["bad_epochs"] == 1 and resumed["precision"] == "float32"
    assert load_checkpoint(out / "best.pt")["epoch"] == 0
    assert "precision changes on resume: trained in float16, continues in float32 on cpu" in (
        caplog.text)


def test_a_diverged_epoch_stops_the_run_in_one_line(tiny_fer: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["model", "train", "--data", str(tiny_fer), "--out", str(out), *TINY, "--lr", "1e30"]
    assert cli_main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar's lines
    assert last.startswith("classpulse model: epoch 1: the training loss is ")
    assert last.endswith("(diverged); no checkpoint was written; train again with a lower --lr "
                         "(now 1e+30) or --no-amp")
    assert not (out / "last.pt").exists() and not (out / "best.pt").exists()


@pytest.mark.parametrize(("field", "option"), [
    ("lr", "--lr"), ("warmup_epochs", "--warmup-epochs"), ("ema_epochs", "--ema-epochs"),
    ("weight_decay", "--weight-decay"), ("time_budget_s", "--time-budget"),
    ("momentum", "--momentum"), ("class_weight_power", "--class-weight-power"),
])
def test_infinite_or_nan_settings_are_refused(field: str, option: str) -> None:
    for value in (math.inf, math.nan):
        with pytest.raises(UsageError, match=f"^{option} must be a finite number, got {value}$"):
            TrainConfig(data="d", out="o", **{field: value})


def test_an_infinite_option_is_refused_on_the_command_line(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["model", "train", "--data", str(tiny_fer), "--out", str(tmp_path / "r"),
                     "--warmup-epochs", "inf"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--warmup-epochs must be a finite number, got inf") and "\n" not in err
    assert not (tmp_path / "r").exists()


def _same_checkpoint(a: Any, b: Any, ignore: frozenset[str] = frozenset(), where: str = ""
                     ) -> None:
    """Equal checkpoints, tensors bit for bit; the epochs' wall-clock ``seconds``, the run's
    folder (``config``'s ``out``) and the keys in ``ignore`` aside."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict), where
        skip = {"seconds", "out", *ignore}
        assert a.keys() - skip == b.keys() - skip, where
        for k in a.keys() - skip:
            _same_checkpoint(a[k], b[k], ignore, f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_checkpoint(x, y, ignore, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.slow
def test_best_pt_kept_in_memory_is_the_one_written_at_once(
        tiny_fer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that writes best.pt only when it ends (an interval longer than the run) leaves the
    very best.pt of one that writes it at every improvement; it writes best.pt before each
    last.pt, so last.pt never records a better val than best.pt holds; and Ctrl-C writes the
    best kept so far."""
    cfg = TrainConfig(data=str(tiny_fer), out="", epochs=3, batch_size=16, limit_train=48,
                      size=32, device="cpu", threads=1, amp=False, ema_epochs=0.5,
                      save_every=2)
    real_epoch, real_save = train_module.train_one_epoch, train_module.save_checkpoint
    at_once = tmp_path / "at_once"

    def copy_best_before_epoch_3(*args: Any, **kwargs: Any) -> tuple[float, float]:
        if args[9] == 2 and Path(args[7].out) == at_once:
            shutil.copyfile(at_once / "best.pt", tmp_path / "best_after_2.pt")
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_one_epoch", copy_best_before_epoch_3)
    monkeypatch.setattr(train_module, "BEST_WRITE_INTERVAL_S", 0.0)
    main(replace(cfg, out=str(at_once)))

    writes: list[str] = []

    def checked_save(state: dict[str, Any], path: Path) -> None:
        writes.append(path.name)
        if path.name == "last.pt":
            on_disk = load_checkpoint(path.parent / "best.pt")["best_val_acc"]
            assert on_disk == state["best_val_acc"]
        real_save(state, path)

    monkeypatch.setattr(train_module, "save_checkpoint", checked_save)  # last.pt
    monkeypatch.setattr(checkpoints_module, "save_checkpoint", checked_save)  # best.pt
    monkeypatch.setattr(train_module, "BEST_WRITE_INTERVAL_S", math.inf)  # only the first
    kept = tmp_path / "kept"
    main(replace(cfg, out=str(kept)))
    _same_checkpoint(load_checkpoint(kept / "best.pt"), load_checkpoint(at_once / "best.pt"))
    _same_checkpoint(load_checkpoint(kept / "last.pt"), load_checkpoint(at_once / "last.pt"))
    assert writes.count("best.pt") <= 1 + writes.count("last.pt")
    assert writes.count("last.pt") == 2  # epochs 2 and 3

    def interrupted_in_epoch_3(*args: Any, **kwargs: Any) -> tuple[float, float]:
        if args[9] == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_one_epoch", interrupted_in_epoch_3)
    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        main(replace(cfg, out=str(interrupted), save_every=100))
    assert not (interrupted / "last.pt").exists()
    _same_checkpoint(load_checkpoint(interrupted / "best.pt"),
                     load_checkpoint(tmp_path / "best_after_2.pt"), frozenset({"save_every"}))


def test_best_checkpoint_writes_at_most_once_an_interval(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An improvement within the interval after a write is kept (a copy: the live weights move
    on) and replaced by the next; one after it is written at once; ``flush`` writes what is
    kept, once."""
    clock = [0.0]
    monkeypatch.setattr(checkpoints_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    path = tmp_path / "best.pt"
    best = BestCheckpoint(path, interval_s=60.0)
    weights = torch.zeros(3)

    def improved_at(t: float, epoch: int) -> None:
        clock[0] = t
        weights.fill_(epoch)
        best.improved({"epoch": epoch, "model": {"w": weights}, "history": [epoch]})

    def on_disk() -> tuple[int, float]:
        ckpt = load_checkpoint(path)
        return ckpt["epoch"], float(ckpt["model"]["w"][0])

    improved_at(0.0, 1)  # the first: written
    assert on_disk() == (1, 1.0)
    improved_at(10.0, 2)
    improved_at(20.0, 3)
    assert on_disk() == (1, 1.0)
    weights.fill_(99.0)  # the live weights move on; the kept copy does not
    improved_at(70.0, 4)  # 70 s after the first write: written, the kept epoch 3 dropped
    assert on_disk() == (4, 4.0)
    improved_at(75.0, 5)
    weights.fill_(99.0)
    best.flush()
    assert on_disk() == (5, 5.0)
    path.unlink()
    best.flush()  # nothing kept: nothing written
    assert not path.exists()
