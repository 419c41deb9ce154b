"""The training loss: class weights from FER2013's counts and the label-smoothed, class-weighted
cross-entropy that ``model.train`` minimises, computed without a host sync per step."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SmoothedWeightedCrossEntropy", "class_weights"]


def class_weights(counts: np.ndarray, power: float) -> torch.Tensor:
    """Inverse-frequency loss weights softened by ``power``, mean 1 over the classes present.

    Power 0.5 gives disgust (1.5% of the faces) about 4x the weight of happy: enough to be
    learned, not so much that the network cries disgust at every frown.
    """
    freq = np.maximum(counts, 1) / max(counts.sum(), 1)
    w = freq ** -power
    w = w / w[counts > 0].mean()
    return torch.tensor(w, dtype=torch.float32)


class SmoothedWeightedCrossEntropy(nn.Module):
    """``nn.CrossEntropyLoss(weight, label_smoothing=...)``, computed as torch computes it, op
    for op, minus its host sync.

    Why: with class weights and label smoothing, torch divides the smoothing term by the weights
    of the batch's targets, picked by ``masked_select`` (to leave out ignored targets), whose
    size the GPU must report to the host: one sync every step. Here they are picked by
    ``gather`` alone, as torch itself does for tensor subclasses; the faces' labels are never
    the ignored index, so the sum is of the very same values. A test holds the loss and its
    gradient equal to torch's, bit for bit.
    """

    IGNORE = -100  # nn.CrossEntropyLoss's ignore_index

    def __init__(self, weight: torch.Tensor, label_smoothing: float) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.label_smoothing <= 0:  # plain nll_loss: no sync there
            return F.cross_entropy(logits, target, weight=self.weight)
        # torch runs the loss in fp32 with autocast off; logits come in as fp32
        with torch.autocast(logits.device.type, enabled=False):
            log_p = F.log_softmax(logits, 1)
            nll = F.nll_loss(log_p, target, weight=self.weight)
            n_classes = log_p.shape[1]
            ignored = target == self.IGNORE
            smooth = (-(log_p * self.weight.view(1, -1)).sum(1)).masked_fill(ignored, 0.0)
            picked = self.weight.gather(0, target.masked_fill(ignored, 0))
            smooth_mean = smooth.sum() / picked.masked_fill(ignored, 0.0).sum()
            return ((1 - self.label_smoothing) * nll
                    + smooth_mean * (self.label_smoothing / n_classes))

