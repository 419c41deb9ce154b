"""``EmotionClassifier``: face crops in, seven probabilities per face out, in ``EMOTIONS`` order.

Built for throughput: batch norms folded into the convolutions, channels-last memory, inference
mode. Precision by device (``precision="auto"``): fp16 on CUDA; on a CPU int8 when the weights
carry int8 activation ranges (about 3x fp32 on a 2-core AVX512 machine), else fp32. ``bf16``
(bf16 weights, ~1.5x fp32 on AVX512-BF16 CPUs) and ``fp32`` can be asked for.

The network always sees batches of one size (``CPU_BATCH`` rows on a CPU, ``max_batch`` on CUDA;
the last one zero-padded): oneDNN and fbgemm keep compiled kernels and packed weights per input
shape, so the consumer's batches of 1 to several hundred faces each left a new set behind, and its
memory grew for as long as new face counts came (about 100 MB per 40 batches of random size, in
spite of ``malloc_trim``; flat at fixed size: ``classpulse bench soak``, docs/benchmarks.md). The
fixed size also makes a face's probabilities independent of the faces it is batched with.

``predict`` averages each face with its mirror image by default (``tta``): on val it lifts
accuracy from 0.654 to 0.671 and macro F1 from 0.630 to 0.649 (int8, leg 7's weights, measured
with ``classpulse model evaluate`` with and without ``--tta``), for twice the classifier's work,
which int8 affords (``classpulse bench model`` times both; docs/benchmarks.md).
``predict_tensor``, the evaluation path, takes ``tta`` explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from model.device import pick_device
from model.network import fuse_for_inference, network_from_state
from model.options import PRECISIONS
from model.preprocess import Preprocessing, prepare_faces
from model.quantize import RANGES_KEY, quantize
from model.weights_io import check_weights_path, load_weights, preprocessing_from, weights_remedy

log = logging.getLogger(__name__)

CPU_BATCH = 32  # rows per network call on a CPU (module docstring: why one fixed size)
# flip TTA unless told otherwise: what the consumers run, which build the classifier without a tta
DEFAULT_TTA = True


class EmotionClassifier:
    """The shipped (or given) emotion weights, ready to classify batches of face crops."""

    def __init__(self, weights: str | Path | None = None, device: str = "auto",
                 precision: str = "auto", max_batch: int = 512,
                 tta: bool = DEFAULT_TTA) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
        path = check_weights_path(weights)
        state, meta = load_weights(path)
        self.metadata = meta
        self.preprocessing: Preprocessing = preprocessing_from(meta)
        self.device = pick_device(device)
        has_int8 = RANGES_KEY in meta
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else ("int8" if has_int8 else "fp32")
        if precision == "int8" and (self.device.type != "cpu" or not has_int8):
            found = "present" if has_int8 else "absent"
            raise UsageError(f"int8 needs the CPU and weights exported with --calibrate; "
                             f"device {self.device}, int8 ranges {found}")
        self.precision = precision
        self.max_batch = max_batch
        self.rows = max_batch if self.device.type == "cuda" else min(CPU_BATCH, max_batch)
        self.tta = tta
        fused = fuse_for_inference(network_from_state(state))
        if precision == "int8":
            try:
                fused = quantize(fused, meta[RANGES_KEY], self.preprocessing.size)
            except (ValueError, TypeError, KeyError) as exc:  # a hand-made or damaged file
                raise UsageError(f"{path}: its int8 activation ranges ({RANGES_KEY}) do not fit "
                                 f"the network ({str(exc).splitlines()[0][:120]}); "
                                 f"{weights_remedy(path, calibrate=True)}, or run it with "
                                 "--precision fp32") from None
        elif precision in ("bf16", "fp16"):
            fused = fused.to(self._dtype)
        self.net = fused.to(self.device).to(memory_format=torch.channels_last)
        log.info("emotion classifier weights=%s device=%s precision=%s",
                 weights or "shipped", self.device, precision)

    def predict(self, faces: Sequence[np.ndarray], tta: bool | None = None) -> np.ndarray:
        """RGB (or gray) uint8 crops of any size -> float32 (N, 7) probabilities.

        ``tta`` (default: the classifier's, ``DEFAULT_TTA`` unless built otherwise) averages each
        face with its mirror image (twice the work).
        """
        if len(faces) == 0:
            return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        x = prepare_faces(faces, self.preprocessing)
        return self.predict_tensor(x, tta=self.tta if tta is None else tta)

    def predict_tensor(self, x: torch.Tensor, tta: bool = False) -> np.ndarray:
        """Already prepared input (N, 1, S, S) -> (N, 7) probabilities; used by evaluation."""
        out = []
        for i in range(0, x.shape[0], self.max_batch):
            out.append(self._probabilities(x[i:i + self.max_batch], tta))
        return torch.cat(out).numpy() if out else np.zeros((0, len(EMOTIONS)), np.float32)

    @property
    def _dtype(self) -> torch.dtype:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision, torch.float32)

    @torch.inference_mode()
    def _probabilities(self, x: torch.Tensor, tta: bool) -> torch.Tensor:
        x = x.to(self.device, self._dtype, non_blocking=True)
        n = x.shape[0]
        if tta:  # faces and mirrors in one batch: one pass, fuller batches
            x = torch.cat([x, torch.flip(x, dims=[3])])
        rows = x.shape[0]
        padded = -rows % self.rows
        if padded:
            x = torch.cat([x, x.new_zeros((padded, *x.shape[1:]))])
        x = x.contiguous(memory_format=torch.channels_last)
        logits = torch.cat([self.net(x[i:i + self.rows]).float()
                            for i in range(0, x.shape[0], self.rows)])[:rows]
        probs = torch.softmax(logits, dim=1)
        if tta:
            probs = (probs[:n] + probs[n:]) / 2
        return probs.cpu()
