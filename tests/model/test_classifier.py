"""EmotionClassifier: shipped weights, output contract, class order, fused == unfused."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from classpulse.emotions import EMOTIONS
from model import EmotionClassifier
from model.data import load_split
from model.network import build_network
from model.preprocess import prepare_faces
from model.quantize import RANGES_KEY
from model.weights_io import DEFAULT_WEIGHTS, load_weights


@pytest.fixture(scope="module")
def classifier() -> EmotionClassifier:
    if not DEFAULT_WEIGHTS.is_file():
        pytest.fail(f"shipped weights missing: {DEFAULT_WEIGHTS}")
    return EmotionClassifier(device="cpu", precision="fp32")


def test_loads_shipped_weights_with_metadata(classifier: EmotionClassifier) -> None:
    meta = classifier.metadata
    assert json.loads(meta["classes"]) == list(EMOTIONS)
    assert classifier.preprocessing.size == int(meta["input_size"]) == 48
    assert "epochs_trained" in json.loads(meta["recipe"])
    assert 0.0 < json.loads(meta["val_metrics"])["accuracy"] <= 1.0


def test_predict_contract(classifier: EmotionClassifier) -> None:
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(20, 17), (48, 48),
                                                                          (131, 120)]]
    probs = classifier.predict(faces)
    assert probs.shape == (3, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    empty = classifier.predict([])
    assert empty.shape == (0, 7) and empty.dtype == np.float32


def test_class_order_on_real_faces(classifier: EmotionClassifier, fer_root: Path) -> None:
    """Happy and surprise val faces come out as column 3 and 5: the order of DESIGN and FER2013."""
    val = load_split(fer_root / "val", "val")
    for emotion, least in (("happy", 0.75), ("surprise", 0.6)):
        label = EMOTIONS.index(emotion)
        faces = [cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) for img in val.images[val.labels == label]
                 ][:40]
        hits = (classifier.predict(faces).argmax(axis=1) == label).mean()
        assert hits >= least, f"{emotion}: only {hits:.0%} of 40 val faces predicted {emotion}"


def test_fused_inference_matches_training_network(classifier: EmotionClassifier,
                                                  fer_root: Path) -> None:
    val = load_split(fer_root / "val", "val")
    x = prepare_faces(list(val.images[::200]))
    state, _ = load_weights(DEFAULT_WEIGHTS)
    net = build_network().eval()
    net.load_state_dict(state)
    with torch.inference_mode():
        expected = torch.softmax(net(x), dim=1).numpy()
    np.testing.assert_allclose(classifier.predict_tensor(x), expected, atol=1e-4)


@pytest.mark.slow
def test_bf16_stays_close_to_fp32(classifier: EmotionClassifier, fer_root: Path) -> None:
    val = load_split(fer_root / "val", "val")
    faces = list(val.images[::300])
    fast = EmotionClassifier(device="cpu", precision="bf16")
    diff = np.abs(fast.predict(faces) - classifier.predict(faces))
    assert diff.max() < 0.08
    assert (fast.predict(faces).argmax(1) == classifier.predict(faces).argmax(1)).mean() >= 0.9


def test_int8_agrees_with_fp32(classifier: EmotionClassifier, fer_root: Path) -> None:
    """The CPU default (int8, ranges stored in the weights) picks the fp32 class almost always."""
    if RANGES_KEY not in classifier.metadata:
        pytest.skip("shipped weights carry no int8 ranges")
    val = load_split(fer_root / "val", "val")
    x = prepare_faces(list(val.images[::12]))  # 300 faces
    int8 = EmotionClassifier(device="cpu", precision="int8")
    fp32 = EmotionClassifier(device="cpu", precision="fp32")
    a, b = fp32.predict_tensor(x), int8.predict_tensor(x)
    assert np.abs(a - b).mean() < 0.02
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.93


def test_predict_averages_with_the_mirror_by_default(classifier: EmotionClassifier,
                                                    tiny_fer: Path) -> None:
    """What the consumers get (flip TTA on) against the plain evaluation path."""
    faces = list(load_split(tiny_fer, "val").images[::5])
    x = prepare_faces(faces)
    plain = classifier.predict_tensor(x)
    mirrored = classifier.predict_tensor(torch.flip(x, dims=[3]))
    np.testing.assert_allclose(classifier.predict(faces), (plain + mirrored) / 2, atol=1e-6)
    np.testing.assert_allclose(classifier.predict(faces, tta=False), plain, atol=1e-6)
    off = EmotionClassifier(device="cpu", precision="fp32", tta=False)
    np.testing.assert_allclose(off.predict(faces), plain, atol=1e-6)


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_the_network_sees_one_batch_size_and_a_face_reads_alike_in_any_company(
        fer_root: Path, precision: str) -> None:
    """Every call of the network has ``rows`` rows whatever the number of faces (per-shape
    kernel caches made the consumer's memory grow with each new face count), and a face's
    probabilities are the same bits alone or among 69 others."""
    classifier = EmotionClassifier(device="cpu", precision=precision)
    faces = list(load_split(fer_root, "val").images[:70])
    shapes: list[int] = []
    hook = classifier.net.register_forward_pre_hook(
        lambda _, args: shapes.append(args[0].shape[0]))
    try:
        together = classifier.predict(faces)
        alone = np.concatenate([classifier.predict([f]) for f in faces[:5]])
        odd = classifier.predict(faces[:33])
    finally:
        hook.remove()
    assert set(shapes) == {classifier.rows} and classifier.rows == 32
    np.testing.assert_array_equal(together[:5], alone)
    np.testing.assert_array_equal(together[:33], odd)
