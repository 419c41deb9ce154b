"""Metrics checked by hand, and ``classpulse model evaluate`` on a tiny real set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from classpulse.cli import main as cli_main
from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from model.class_level import (
    MIN_FACES_PER_HALF,
    class_level_errors,
    format_class_level,
    small_halves_warning,
    worst_emotion,
)
from model.classifier import DEFAULT_TTA, EmotionClassifier
from model.data import load_split, split_label
from model.evaluate import evaluate_weights, ten_crop_views
from model.metrics import classification_report, confusion_matrix
from model.pose import view_homography, view_warp
from model.preprocess import classroom_view, prepare_faces, shrink_faces


def test_metrics_by_hand() -> None:
    # 3 classes. true:  0 0 0 1 1 2
    #            pred:  0 0 1 1 2 2
    labels = np.array([0, 0, 0, 1, 1, 2])
    preds = np.array([0, 0, 1, 1, 2, 2])
    r = classification_report(labels, preds, classes=("a", "b", "c"))
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert r["n"] == 6
    assert r["accuracy"] == pytest.approx(4 / 6)
    # a: P 2/2, R 2/3, F1 0.8;  b: P 1/2, R 1/2, F1 0.5;  c: P 1/2, R 1/1, F1 2/3
    assert r["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert r["per_class"]["b"]["f1"] == pytest.approx(0.5)
    assert r["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["weighted_f1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)


def test_absent_and_never_predicted_classes_score_zero() -> None:
    r = classification_report(np.array([0, 0]), np.array([0, 1]), classes=("a", "b", "c"))
    assert r["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["per_class"]["c"]["f1"] == 0.0
    # macro F1 over the classes in the labels or the predictions, as scikit-learn's f1_score(
    # average="macro"): a (2/3) and b (0); c, in neither, is not averaged in
    assert r["macro_f1"] == pytest.approx(1 / 3)


def test_macro_f1_of_a_perfect_reader_of_a_few_classes_is_one() -> None:
    r = classification_report(np.array([0, 0, 1]), np.array([0, 0, 1]))  # 7 classes, 2 seen
    assert r["macro_f1"] == 1.0 and r["weighted_f1"] == 1.0
    assert classification_report(np.array([], int), np.array([], int))["macro_f1"] == 0.0
    assert confusion_matrix(np.array([2]), np.array([0]), 3).tolist() == [[0, 0, 0], [0, 0, 0],
                                                                          [1, 0, 0]]


def test_evaluate_command_writes_json_and_plot(tiny_fer: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_png = tmp_path / "m.json", tmp_path / "cm.png"
    rc = cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                   "--json", str(out_json), "--plot", str(out_png)])
    assert rc == 0
    report = json.loads(out_json.read_text())
    for key in ("accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "n"):
        assert key in report
    cm = np.array(report["confusion_matrix"])
    assert report["n"] == 42 and cm.sum() == 42 and cm.sum(axis=1).tolist() == [6] * 7
    assert report["accuracy"] == pytest.approx(np.trace(cm) / 42)
    assert sum(v["support"] for v in report["per_class"].values()) == 42
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert f"accuracy    {report['accuracy']:.4f}" in printed and "disgust" in printed


def test_evaluate_at_a_face_size_scores_the_turned_shrunk_faces(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "small.json"
    rc = cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                   "--face-size", "16", "--pitch", "40", "--json", str(out_json)])
    assert rc == 0
    report = json.loads(out_json.read_text())
    assert report["face_size"] == 16 and report["n"] == 42
    assert report["view"] == {"pitch": 40.0, "yaw": 0.0, "roll": 0.0}
    everything, *_ = report["confidence"]
    assert everything == {"threshold": 0.0, "kept": 1.0, "accuracy": report["accuracy"],
                          "mix_shift": 0.0}
    # the same faces turned and shrunk by hand and classified directly: the same predictions
    split = load_split(tiny_fer, "val")
    turned = view_warp(list(split.images), pitch=40)
    probs = EmotionClassifier(device="cpu").predict(shrink_faces(turned, 16), tta=False)
    expected = classification_report(split.labels, probs.argmax(axis=1))
    assert report["confusion_matrix"] == expected["confusion_matrix"]
    full = classification_report(split.labels, EmotionClassifier(device="cpu").predict(
        list(split.images), tta=False).argmax(axis=1))
    assert report["confusion_matrix"] != full["confusion_matrix"]  # 16 px is not 48 px
    printed = capsys.readouterr().out
    assert "every face shrunk to 16x16 px first" in printed and "pitch 40" in printed


def test_a_pitched_view_narrows_the_top_and_shortens_the_face() -> None:
    """Seen from above (pitch 60): the top edge, nearer the camera, is wider than the bottom,
    and the face is shorter than it is wide; no turn, no change."""
    corners = np.array([[[0, 0], [47, 0], [47, 47], [0, 47]]], np.float32)
    (tl, tr, br, bl), = cv2.perspectiveTransform(corners, view_homography(48, pitch=60))
    assert tr[0] - tl[0] > br[0] - bl[0]
    assert bl[1] - tl[1] < 0.6 * 47
    face = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    assert view_warp([face])[0] is face


def test_evaluate_rejects_a_face_size_below_4(tiny_fer: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli_main(["model", "evaluate", "--data", str(tiny_fer), "--face-size", "3"])
    assert stop.value.code == 2
    assert "--face-size takes a whole number of pixels >= 4, got '3'" in capsys.readouterr().err


def test_evaluate_missing_weights_is_one_line_error(tiny_fer: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(["model", "evaluate", "--data", str(tiny_fer), "--weights",
                   str(tmp_path / "nope.safetensors")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "nope.safetensors not found" in err and "\n" not in err


def test_train_imagenet_offline_names_the_file(tiny_fer: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(["model", "train", "--data", str(tiny_fer), "--out", str(tmp_path / "run"),
                   "--init", "imagenet", "--init-file", str(tmp_path / "vgg16_bn-6c64b313.pth")])
    assert rc == 2
    assert "vgg16_bn-6c64b313.pth" in capsys.readouterr().err


def _sure(predicted: np.ndarray, top: float | np.ndarray = 0.9) -> np.ndarray:
    """Probabilities whose argmax is ``predicted`` at probability ``top``, the rest even."""
    top = np.broadcast_to(np.asarray(top, dtype=np.float64), predicted.shape)
    probs = np.repeat(((1 - top) / 6)[:, None], 7, axis=1)
    probs[np.arange(len(predicted)), predicted] = top
    return probs


def test_class_level_errors_vanish_for_a_perfect_reader_and_the_correction_helps() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(7), 60)
    perfect = class_level_errors(labels, _sure(labels), 0.3, sizes=(20,), draws=40)
    assert [r["argmax_mae_pp"] for r in perfect] == [0.0, 0.0]
    assert [r["read_share"] for r in perfect] == [1.0, 1.0]
    # (the confusion's smoothing prior, one face spread over the readings, costs a little)
    assert max(r["corrected_mae_pp"] for r in perfect) < 0.5
    # a reader that calls 40% of neutral faces sad and 30% of fear angry
    predicted = labels.copy()
    predicted[(labels == 6) & (rng.random(len(labels)) < 0.4)] = 4
    predicted[(labels == 2) & (rng.random(len(labels)) < 0.3)] = 0
    rows = class_level_errors(labels, _sure(predicted), 0.3, sizes=(200,), draws=100)
    # 10 splits of 100 minutes each (every minute of 200 faces has one read)
    assert [(r["mix"], r["faces"], r["splits"], r["draws"]) for r in rows] == [
        ("classroom", 200, 10, 1000), ("uniform", 200, 10, 1000)]
    classroom = rows[0]
    assert classroom["argmax_mae_pp"] > 3.0
    assert classroom["corrected_mae_pp"] < classroom["argmax_mae_pp"] / 2
    # where the error sits, with its sign: half of a classroom is neutral, 40% of it read as sad,
    # so argmax counting shows 20 points too little neutral and 20 too much sad; a twentieth is
    # fear, 30% of it read as angry (1.5 points); the correction undoes both
    bias = classroom["argmax_bias_pp"]
    assert bias["neutral"] == pytest.approx(-20, abs=1.5)
    assert bias["sad"] == pytest.approx(20, abs=1.5)
    assert bias["fear"] == pytest.approx(-1.5, abs=0.5)
    assert bias["angry"] == pytest.approx(1.5, abs=0.5)
    assert abs(bias["happy"]) < 0.2
    assert max(abs(v) for v in classroom["corrected_bias_pp"].values()) < 1.5
    emotion, mae, signed = worst_emotion(classroom, "argmax")
    assert emotion in ("neutral", "sad") and mae >= abs(signed) > 18
    assert classroom["corrected_better"] == 10
    printed = format_class_level(rows, 0.3, "read with flip TTA")
    neutral_column = printed.splitlines()[-4].split()  # classroom 200 argmax
    assert neutral_column[:3] == ["classroom", "200", "argmax"]
    assert float(neutral_column[-1]) == pytest.approx(bias["neutral"], abs=0.05)
    assert f"{emotion} {mae:.1f}, {signed:+.1f} /" in printed


def test_class_level_counts_only_the_faces_the_gate_reads() -> None:
    """The dashboard never counts a face under the gate's minimum confidence: a reader right on
    every face but unsure of every neutral one shows no neutral at all. Per minute the error is
    then 2s/7 (s: the minute's neutral share, missing from neutral and spread over the others),
    on average 2/7 x 0.5 (classroom mix) and 2/7 x 1/7 (uniform)."""
    labels = np.repeat(np.arange(7), 60)
    unsure_neutral = _sure(labels, np.where(labels == 6, 0.25, 0.9))
    classroom, uniform = class_level_errors(labels, unsure_neutral, 0.3, sizes=(200,))
    assert classroom["argmax_mae_pp"] == pytest.approx(100 * 2 / 7 * 0.5, abs=0.5)
    assert uniform["argmax_mae_pp"] == pytest.approx(100 * 2 / 7 / 7, abs=0.5)
    assert classroom["read_share"] == pytest.approx(0.5, abs=0.02)
    assert uniform["read_share"] == pytest.approx(6 / 7, abs=0.02)
    # counting every face, as the simulation used to, hides it
    ungated = class_level_errors(labels, unsure_neutral, 0.0, sizes=(200,))
    assert [r["argmax_mae_pp"] for r in ungated] == [0.0, 0.0]

    # 30% of every class read as the next one, all unsure: the gate drops exactly the mistakes.
    # The confusion is fitted on the faces read too, so it holds no shift to undo; one fitted on
    # every face would "undo" a 30% shift nobody counted (about 4.5 points, measured)
    unsure = np.arange(len(labels)) % 60 < 18
    probs = _sure(np.where(unsure, (labels + 1) % 7, labels), np.where(unsure, 0.25, 0.9))
    for row in class_level_errors(labels, probs, 0.3, sizes=(200,)):
        assert row["read_share"] == pytest.approx(0.7, abs=0.01)
        assert row["argmax_mae_pp"] < 1.6 and row["corrected_mae_pp"] < 2.0
    assert min(r["argmax_mae_pp"] for r in class_level_errors(labels, probs, 0.0,
                                                               sizes=(200,))) > 4.0


def test_class_level_needs_two_faces_of_every_emotion(tiny_fer: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    labels = np.array([0, 0, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6])  # one disgust face
    with pytest.raises(UsageError, match=r"per half\); the split has 1 disgust: give a"):
        class_level_errors(labels, _sure(labels), 0.3)
    split = tmp_path / "val"
    for emotion in EMOTIONS:
        if emotion != "fear":  # no fear at all
            shutil.copytree(tiny_fer / "val" / emotion, split / emotion)
    rc = cli_main(["model", "evaluate", "--data", str(split), "--device", "cpu",
                   "--class-level"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert f"val of {split} has 0 fear: give a fuller split or drop --class-level" in err


@pytest.mark.slow
def test_evaluate_ten_crop_and_class_level_from_the_command_line(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "ten.json"
    rc = cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                   "--ten-crop", "--class-level", "--json", str(out_json)])
    assert rc == 0
    report = json.loads(out_json.read_text())
    assert report["tta"] == "ten-crop" and report["n"] == 42
    assert [(r["mix"], r["faces"]) for r in report["class_level"]] == [
        (m, n) for m in ("classroom", "uniform") for n in (20, 60, 200)]
    # ten-crop scores what averaging the ten views by hand gives
    split = load_split(tiny_fer, "val")
    clf = EmotionClassifier(device="cpu")
    x = prepare_faces(list(split.images), clf.preprocessing)
    views = ten_crop_views(x)
    assert len(views) == 10 and all(v.shape == x.shape for v in views)
    probs = np.mean([clf.predict_tensor(v) for v in views], axis=0)
    expected = classification_report(split.labels, probs.argmax(axis=1))
    assert report["confusion_matrix"] == expected["confusion_matrix"]
    printed = capsys.readouterr().out
    assert "class-level error" in printed
    # its class-level numbers say they are ten-crop's, not the consumers' flip TTA
    assert report["class_level_reading"] == ("read with ten-crop (--ten-crop), NOT the "
                                             "consumers' flip TTA")
    assert ("as the gate does; read with ten-crop (--ten-crop), NOT the consumers' flip TTA"
            in printed)


@pytest.mark.slow
def test_class_level_runs_as_the_consumers_do(tiny_fer: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """--class-level reads faces as the consumers do: with their flip TTA unless --no-tta, and
    counting only faces at or above GATE_MIN_CONFIDENCE, taken from the settings."""
    monkeypatch.setenv("GATE_MIN_CONFIDENCE", "0.5")
    split = load_split(tiny_fer, "val")
    clf = EmotionClassifier(device="cpu")
    x = prepare_faces(list(split.images), clf.preprocessing)
    for flags, tta in (([], DEFAULT_TTA), (["--no-tta"], False), (["--tta"], True)):
        out_json = tmp_path / "class.json"
        assert cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                         "--class-level", "--splits", "2", "--json", str(out_json),
                         *flags]) == 0
        report = json.loads(out_json.read_text())
        assert report["tta"] is tta and report["class_level_min_confidence"] == 0.5
        probs = clf.predict_tensor(x, tta=tta)
        assert report["confusion_matrix"] == classification_report(
            split.labels, probs.argmax(axis=1))["confusion_matrix"]
        expected = class_level_errors(split.labels, probs, 0.5, splits=2)
        assert [r["read_share"] for r in report["class_level"]] == pytest.approx(
            [r["read_share"] for r in expected])
        assert report["class_level"][0]["read_share"] < 1.0  # the gate did drop faces
    plain = tmp_path / "plain.json"
    assert cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                     "--json", str(plain)]) == 0
    assert json.loads(plain.read_text())["tta"] is False  # without --class-level: single view


def test_ten_crop_crops_in_proportion_to_the_side() -> None:
    """42 px of 48, 35 of 40, 56 of 64: the same 1.14x zoom at any --size. On a ramp that
    counts columns, each corner view spans the columns of its crop."""
    for side, crop in ((48, 42), (40, 35), (64, 56)):
        x = torch.arange(side, dtype=torch.float32).repeat(side, 1)[None, None]
        views = ten_crop_views(x)
        m = side - crop
        for view, left in zip(views[:5], (0, m, 0, m, m // 2), strict=True):
            assert view.shape == x.shape
            assert view.min().item() == pytest.approx(left, abs=0.5)
            assert view.max().item() == pytest.approx(left + crop - 1, abs=0.5)
        assert torch.equal(views[5], torch.flip(views[0], dims=[3]))
    # at 48 px exactly the published crops, as before
    x = torch.rand(2, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    top_left = F.interpolate(x[..., :42, :42], size=(48, 48), mode="bilinear",
                             align_corners=False)
    assert torch.equal(ten_crop_views(x)[0], top_left)


def test_evaluate_tilted_scores_the_classroom_view(tiny_fer: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "tilt.json"
    assert cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                     "--tilt", "0.3", "--json", str(out_json)]) == 0
    report = json.loads(out_json.read_text())
    assert report["tilt"] == 0.3
    split = load_split(tiny_fer, "val")
    clf = EmotionClassifier(device="cpu")
    x = classroom_view(prepare_faces(list(split.images), clf.preprocessing), 0.3)
    expected = classification_report(split.labels, clf.predict_tensor(x).argmax(axis=1))
    assert report["confusion_matrix"] == expected["confusion_matrix"]


def test_evaluate_names_the_split_it_read(tiny_fer: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """One split folder holds the same faces whatever --split says: its name decides, a --split
    that contradicts it is refused, and an unnamed one is recorded by its path."""
    out_json = tmp_path / "train.json"
    assert cli_main(["model", "evaluate", "--data", str(tiny_fer / "train"), "--device", "cpu",
                     "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["split"] == "train"
    assert split_label(tiny_fer, None) == ("val", "val")
    assert split_label(tiny_fer, "train") == ("train", "train")
    assert cli_main(["model", "evaluate", "--data", str(tiny_fer / "train"), "--split", "val",
                     "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"--split val contradicts --data {tiny_fer / 'train'}, which holds one "
                        "split, train by its name; drop --split, or give the FER2013 root")
    assert "\n" not in err
    faces = tmp_path / "faces"
    shutil.copytree(tiny_fer / "val", faces)
    assert evaluate_weights(faces, device="cpu")["split"] == str(faces)


def _reader(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """60 faces an emotion, a third of each read as the next emotion: labels, probabilities."""
    labels = np.repeat(np.arange(7), 60)
    wrong = np.random.default_rng(seed).random(len(labels)) < 1 / 3
    return labels, _sure(np.where(wrong, (labels + 1) % 7, labels))


def test_class_level_repeats_the_split_and_gives_mean_and_range() -> None:
    """One random split into halves is one sample of the error: the rows are the mean and the
    range over several, each from its own seeded generator, so a seed gives the same table and
    split k is the same whatever the number of splits."""
    labels, probs = _reader()
    four = class_level_errors(labels, probs, 0.3, sizes=(60,), draws=100, splits=4, seed=3)
    assert four == class_level_errors(labels, probs, 0.3, sizes=(60,), draws=100, splits=4,
                                      seed=3)
    assert four != class_level_errors(labels, probs, 0.3, sizes=(60,), draws=100, splits=4,
                                      seed=4)
    first, = [r for r in class_level_errors(labels, probs, 0.3, sizes=(60,), draws=100, splits=1,
                                            seed=3) if r["mix"] == "classroom"]
    row = four[0]
    assert (row["mix"], row["splits"], row["seed"]) == ("classroom", 4, 3)
    for method in ("argmax", "corrected"):
        low, high = row[f"{method}_range_pp"]
        assert low < high  # the splits differ
        assert low <= row[f"{method}_mae_pp"] <= high
        assert low <= first[f"{method}_mae_pp"] <= high
        assert first[f"{method}_range_pp"] == [first[f"{method}_mae_pp"]] * 2
    assert 0 <= row["corrected_better"] <= 4
    printed = format_class_level(four, 0.3, "read with flip TTA, as the consumers read faces")
    assert ("mean [lowest, highest] over 4 random splits of the faces into halves (seed 3;"
            in printed)
    low, high = row["argmax_range_pp"]
    assert (f"classroom     60 {row['read_share']:.3f}  {row['argmax_mae_pp']:5.2f} "
            f"[{low:.2f}, {high:.2f}]") in printed
    assert f"{row['corrected_better']:>4} of 4" in printed
    with pytest.raises(UsageError, match="--splits takes a count of 1 or more, got 0"):
        class_level_errors(labels, probs, 0.3, splits=0)


def test_class_level_warns_of_halves_too_small_to_measure() -> None:
    counts = [60, 39, 60, 60, 60, 60, 41]  # disgust: 19 in the smaller half, neutral 20
    labels = np.repeat(np.arange(7), counts)
    warning = small_halves_warning(labels, "val of DIR")
    assert warning is not None and "\n" not in warning
    assert warning.startswith(f"warning: a half of val of DIR holds only 19 disgust faces (under "
                              f"{MIN_FACES_PER_HALF} of an emotion)")
    assert "neutral" not in warning and "give a fuller split" in warning
    assert small_halves_warning(np.repeat(np.arange(7), 40), "val") is None


def test_class_level_from_the_command_line_with_splits_seed_and_a_small_split(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--splits and --seed reach the simulation; a split of 6 faces an emotion is warned about,
    naming the emotions and their count per half; --seed without --class-level is refused."""
    out_json = tmp_path / "cl.json"
    assert cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                     "--class-level", "--splits", "2", "--seed", "5", "--face-size", "16",
                     "--json", str(out_json)]) == 0
    report = json.loads(out_json.read_text())
    assert {(r["splits"], r["seed"]) for r in report["class_level"]} == {(2, 5)}
    # faces made small: also corrected with a confusion fitted on the same faces at full size
    split = load_split(tiny_fer, "val")
    clf = EmotionClassifier(device="cpu")
    small, full = (clf.predict_tensor(prepare_faces(images, clf.preprocessing), tta=True)
                   for images in (shrink_faces(list(split.images), 16), list(split.images)))
    expected = class_level_errors(split.labels, small, 0.3, splits=2, seed=5,
                                  full_size_probs=full)
    assert [r["corrected_full_size_mae_pp"] for r in report["class_level"]] == pytest.approx(
        [r["corrected_full_size_mae_pp"] for r in expected])
    assert report["class_level_reading"] == "read with flip TTA, as the consumers read faces"
    printed = capsys.readouterr().out
    assert "over 2 random splits of the faces into halves (seed 5;" in printed
    assert "signed error per emotion" in printed
    warning = (f"warning: a half of val of {tiny_fer / 'val'} holds only 3 angry, 3 disgust, "
               "3 fear, 3 happy, 3 sad, 3 surprise, 3 neutral faces (under 20 of an emotion)")
    assert warning in printed and report["class_level_warning"].startswith(warning)
    assert printed.index(warning) < printed.index("class-level error")
    assert cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                     "--seed", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--seed set the --class-level simulation; add --class-level or drop "
                        "--seed") and "\n" not in err


def test_ten_crop_refuses_a_flip_setting_beside_it(tiny_fer: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Ten-crop holds the mirror images: --tta or --no-tta beside it would be ignored, and the
    class-level numbers would silently not be the consumers' flip TTA."""
    for flag in ("--tta", "--no-tta"):
        assert cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                         "--ten-crop", "--class-level", flag]) == 2
        err = capsys.readouterr().err.strip()
        assert err.endswith(f"--ten-crop averages ten views, the mirror images among them, in "
                            f"place of flip TTA, so {flag} contradicts it; give one of "
                            "--ten-crop and --tta/--no-tta") and "\n" not in err


def test_class_level_of_small_faces_also_corrects_with_the_full_size_confusion() -> None:
    """What a dashboard would do with a confusion measured once on FER2013: correct small faces'
    minutes with the full-size confusion. A reader perfect at full size that calls 40% of small
    neutral faces sad: the full-size confusion knows nothing of it and corrects nothing, a
    confusion of small faces undoes it."""
    labels = np.repeat(np.arange(7), 60)
    small = labels.copy()
    small[(labels == 6) & (np.arange(len(labels)) % 5 < 2)] = 4
    plain = class_level_errors(labels, _sure(small), 0.3, sizes=(200,), draws=100, splits=2)
    assert "corrected_full_size_mae_pp" not in plain[0]
    rows = class_level_errors(labels, _sure(small), 0.3, sizes=(200,), draws=100, splits=2,
                              full_size_probs=_sure(labels))
    classroom = rows[0]
    assert classroom["corrected_mae_pp"] == plain[0]["corrected_mae_pp"]
    assert classroom["argmax_bias_pp"]["neutral"] == pytest.approx(-20, abs=1.5)
    assert classroom["corrected_full_size_bias_pp"]["neutral"] == pytest.approx(-20, abs=2)
    assert abs(classroom["corrected_bias_pp"]["neutral"]) < 1.5
    printed = format_class_level(rows, 0.3, "read with flip TTA")
    assert "corr. full-size fit: corrected with the confusion fitted on the other half's faces " \
           "at full size" in printed
    assert "classroom    200 corr. full-size fit" in printed


def test_a_plot_matplotlib_cannot_write_stops_before_the_evaluation(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """matplotlib picks the format by the suffix only when it saves: a .txt used to end a whole
    evaluation in a traceback, and a name without a suffix is saved as NAME.png, not at the
    path given. Both stop first, and no folder is made."""
    for name in ("cm.txt", "cm"):
        plot = tmp_path / "figures" / name
        rc = cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                       "--plot", str(plot)])
        assert rc == 2
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert err.startswith(f"classpulse model: --plot {plot}: matplotlib cannot write ")
        assert err.endswith(".png, .ps, .raw, .rgba, .svg, .svgz, .tif, .tiff, .webp, such as "
                            f"{plot.with_suffix('.png')}")
        assert "\n" not in err and "accuracy" not in captured.out
    assert list(tmp_path.iterdir()) == []


def test_a_negative_seed_is_refused_as_it_is_parsed(tiny_fer: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli_main(["model", "evaluate", "--data", str(tiny_fer / "val"), "--device", "cpu",
                  "--class-level", "--seed", "-1"])
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert "argument --seed: --seed takes a whole number >= 0, got '-1'" in captured.err
    assert captured.out == ""
