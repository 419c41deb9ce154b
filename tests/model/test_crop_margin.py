"""The consumer crops faces with the margin the weights were trained for (their ``crop_margin``),
not a fixed default: weights trained on wider crops are fed wider crops."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from consumers.analyze import FrameAnalyzer
from consumers.gate import GateConfig
from model import Detections, EmotionClassifier, crop_faces
from model.data import load_split
from model.preprocess import DEFAULT_MARGIN, Preprocessing
from model.weights_io import load_weights, save_weights


def test_the_consumer_crops_with_the_margin_the_weights_carry(tiny_fer: Path,
                                                             tmp_path: Path) -> None:
    state, meta = load_weights()
    wide = tmp_path / "wide.safetensors"
    save_weights(state, wide, Preprocessing(margin=0.35), json.loads(meta["recipe"]),
                 json.loads(meta["val_metrics"]))
    classifier = EmotionClassifier(wide, device="cpu", precision="fp32", tta=False)
    assert classifier.preprocessing.margin == 0.35

    face = cv2.resize(load_split(tiny_fer, "val").images[0], (96, 96))
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[60:156, 100:196] = face[:, :, None]
    boxes = np.array([[120.0, 76.0, 176.0, 140.0]], np.float32)
    landmarks = np.array([[[134, 96], [162, 96], [148, 110], [137, 124], [159, 124]]],
                         np.float32)
    found = Detections(boxes, np.ones(1, np.float32), landmarks)
    analyzer = FrameAnalyzer(None, classifier, GateConfig.open())  # read() detects nothing
    read = analyzer.read([frame], [found])[0].probs

    assert np.array_equal(read, classifier.predict(crop_faces(frame, boxes, 0.35)))
    assert not np.allclose(read, classifier.predict(crop_faces(frame, boxes, DEFAULT_MARGIN)))
