"""Weights that hold NaN or an infinity are neither written nor loaded: they would answer every
face with NaN."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import save_file

from classpulse.cli import main as cli_main
from classpulse.errors import UsageError
from model.preprocess import Preprocessing
from model.weights_io import load_weights, save_weights

NAME = "head.7.weight"


def test_weights_with_nan_or_inf_are_neither_written_nor_loaded(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, meta = load_weights()
    out = tmp_path / "w.safetensors"
    for value in (float("nan"), 1e6):  # 1e6 is finite in fp32 but beyond fp16's 65504
        bad = {**state, NAME: state[NAME].clone()}
        bad[NAME][0, 0] = value
        with pytest.raises(UsageError, match=f"^not writing {out}: tensor {NAME} holds NaN or "
                                             "infinite values in fp16"):
            save_weights(bad, out, Preprocessing(), {}, {})
        assert list(tmp_path.iterdir()) == []

    # a file some other tool wrote, with an infinity in it
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    half[NAME][0, 0] = float("inf")
    save_file(half, str(out), metadata=meta)
    with pytest.raises(UsageError, match=f"^{out}: tensor {NAME} holds NaN or infinite values"):
        load_weights(out)
    assert cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                     "--weights", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{out}: tensor {NAME} holds NaN or infinite values" in err and "\n" not in err
