"""What a run's checkpoints record and how a new or resumed run treats the ones already there:
the epoch's selection, an earlier run in --out, the grad scaler across precisions, the best of a
run with --save-every, a diverged loss and values no run can use."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import pytest
import torch

from classpulse.cli import main as cli_main
from classpulse.errors import UsageError
from model import card
from model.export import export_checkpoint
from model.recipes import TrainConfig
from model.train import restore_scaler, resume
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
