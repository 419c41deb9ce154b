"""Weights that hold NaN or an infinity are neither written nor loaded: they would answer every
face with NaN. Damaged, hand-made or foreign files end in one line naming the file and what to
do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from classpulse.cli import main as cli_main
from classpulse.errors import UsageError
from model.classifier import EmotionClassifier
from model.preprocess import Preprocessing
from model.quantize import RANGES_KEY
from model.weights_io import DEFAULT_WEIGHTS, load_weights, save_weights, weights_remedy

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


def _one_line_usage_error(tiny_fer: Path, weights: Path, capsys: pytest.CaptureFixture[str],
                          *flags: str) -> str:
    """The one line ``model evaluate --weights`` ends in (exit status 2, no traceback)."""
    capsys.readouterr()
    assert cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                     "--weights", str(weights), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


REEXPORT = ("re-export it with `classpulse model export --checkpoint best.pt` from its training "
            "run, or pass other weights with --weights FILE (CLASSPULSE_WEIGHTS)")


def test_a_damaged_file_with_our_tag_is_one_line_naming_it_and_the_remedy(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hand-made or damaged files that carry our architecture tag: metadata without the
    normalisation, tensors that are not the network's, int8 ranges of another network. Each
    used to end in a traceback (KeyError, RuntimeError listing 90 tensors, ValueError)."""
    state, meta = load_weights()
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}

    no_norm = tmp_path / "no_norm.safetensors"
    save_file(half, str(no_norm), metadata={k: v for k, v in meta.items()
                                            if k != "normalisation"})
    expected = (f"{no_norm} carries the vgg16_bn-gray1-gap-fc1024x2 tag but its metadata is "
                f"damaged (no 'normalisation'); {REEXPORT}")
    with pytest.raises(UsageError) as err:
        load_weights(no_norm)
    assert str(err.value) == expected
    assert _one_line_usage_error(tiny_fer, no_norm, capsys).endswith(expected)

    other = tmp_path / "other_tensors.safetensors"
    save_file({"x": torch.zeros(3)}, str(other), metadata=meta)
    assert _one_line_usage_error(tiny_fer, other, capsys).endswith(
        f"{other} carries the vgg16_bn-gray1-gap-fc1024x2 tag but its tensors do not fit the "
        f"network (97 of the network's 97 tensors missing, features.0.bias first, 1 unknown, x "
        f"first); {REEXPORT}")
    six = tmp_path / "six_classes.safetensors"
    save_file({**half, NAME: half[NAME][:6].contiguous()}, str(six), metadata=meta)
    with pytest.raises(UsageError, match=r"tensors do not fit the network \(1 of another shape, "
                       rf"{NAME} \(6, 1024\) instead of \(7, 1024\)\); re-export it"):
        load_weights(six)

    ranges = json.loads(meta[RANGES_KEY])
    for name, stored in (("a_range", {"a": [0, 1]}),
                         ("nan_range", {**ranges, next(iter(ranges)): [float("nan"), 1.0]})):
        bad = tmp_path / f"{name}.safetensors"
        save_file(half, str(bad), metadata={**meta, RANGES_KEY: json.dumps(stored)})
        with pytest.raises(UsageError) as err:
            EmotionClassifier(bad, device="cpu")
        message = str(err.value)
        assert message.startswith(f"{bad}: its int8 activation ranges ({RANGES_KEY}) do not fit "
                                  "the network (")
        assert message.endswith("); re-export it with `classpulse model export --checkpoint "
                                "best.pt --calibrate DATA` from its training run, or pass other "
                                "weights with --weights FILE (CLASSPULSE_WEIGHTS), or run it with "
                                "--precision fp32")
        assert f"{bad}: its int8 activation ranges" in _one_line_usage_error(tiny_fer, bad,
                                                                             capsys)
        EmotionClassifier(bad, device="cpu", precision="fp32")  # the way round it works
    assert "not two finite numbers" in message


def test_unreadable_or_foreign_weights_say_what_to_do(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(DEFAULT_WEIGHTS.read_bytes()[:1_000_000])
    err = _one_line_usage_error(tiny_fer, truncated, capsys)
    assert f"{truncated} is not a readable safetensors file (Error while deserializing" in err
    assert err.endswith(f"); {REEXPORT}")

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(3)}, str(foreign))
    assert _one_line_usage_error(tiny_fer, foreign, capsys).endswith(
        f"{foreign} holds architecture None, expected 'vgg16_bn-gray1-gap-fc1024x2': these are "
        "not ClassPulse emotion weights; give a file written by `classpulse model export`, or "
        "leave --weights (CLASSPULSE_WEIGHTS) unset for the shipped ones")
    # the shipped file, damaged, is restored rather than re-exported
    assert weights_remedy(DEFAULT_WEIGHTS).startswith(
        "restore the shipped file from the repository (git checkout -- "
        "model/weights/emotion_vgg16.safetensors)")
