"""facenet-pytorch's own ``MTCNN.detect``, kept only to compare ours with (tests, ``bench model``).

``StockDetector`` takes a ``DetectorConfig`` and does what ``FaceDetector`` does around the
network (shrink to ``max_side``, boxes back in the frame's pixels, ``min_score``; not
``keep_face_px``, which the comparisons leave at 0), with stock
facenet-pytorch doing the detecting: frame by frame on a CPU (its fastest there), 32 equal-sized
frames per call on CUDA.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from model.detector import Detections, DetectorConfig, _shrink, to_frame_pixels
from model.device import pick_device


class StockDetector:
    """facenet-pytorch's MTCNN with ``config``'s settings."""

    def __init__(self, config: DetectorConfig | None = None, device: str = "auto") -> None:
        from facenet_pytorch import MTCNN

        self.config = config or DetectorConfig()
        self.device = pick_device(device)
        self._mtcnn = MTCNN(keep_all=True, min_face_size=self.config.min_face_size,
                            thresholds=list(self.config.thresholds), factor=self.config.factor,
                            post_process=False, select_largest=False, device=self.device)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        step = 32 if self.device.type == "cuda" else 1
        out: list[Detections] = []
        i = 0
        while i < len(frames):
            shape = frames[i].shape
            j = i + 1
            while j < len(frames) and j - i < step and frames[j].shape == shape:
                j += 1
            scale = min(1.0, self.config.max_side / max(shape[:2]))
            batch = np.stack([_shrink(f, scale) for f in frames[i:j]])
            with torch.inference_mode():
                boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
            for b, p, pts in zip(boxes, probs, points, strict=True):
                if b is None:
                    out.append(Detections.empty())
                else:
                    out.append(to_frame_pixels(b, p, pts, batch.shape[1:3], shape[:2],
                                               self.config.min_score))
            i = j
        return out


def match_faces(a: Detections, b: Detections, min_iou: float = 0.5) -> list[tuple[int, int, float]]:
    """Pairs (index in a, index in b, IoU), greedily by falling IoU, each face used once, pairs
    under ``min_iou`` left out."""
    if len(a) == 0 or len(b) == 0:
        return []
    from torchvision.ops import box_iou

    iou = box_iou(torch.from_numpy(a.boxes), torch.from_numpy(b.boxes)).numpy()
    pairs = []
    used_a, used_b = set(), set()
    for flat in np.argsort(-iou, axis=None):
        i, j = divmod(int(flat), iou.shape[1])
        if iou[i, j] < min_iou:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j, float(iou[i, j])))
    return pairs
