"""Class-level error: how far the dashboard's per-minute emotion shares are from the truth.

``classpulse model evaluate --class-level`` draws simulated minutes of N faces from a labelled
split (a random mix of emotions, then faces of each emotion at random) and compares the true
shares with (a) argmax counting, what the consumers store, and (b) the confusion-corrected
estimate of ``classpulse.shares``. The confusion matrix is measured on one half of the split and
the minutes are drawn from the other half (then the halves swap), so the correction is judged
on faces it was not fitted to.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from classpulse.emotions import EMOTIONS
from classpulse.shares import confusion_rates, corrected_shares, counted_shares

# A quiet lesson's expected mix (an assumption, not a measurement): mostly neutral, some happy,
# a little of the rest. Minutes draw their mix around it (Dirichlet, concentration 20).
CLASSROOM_MIX = {"angry": 0.05, "disgust": 0.02, "fear": 0.05, "happy": 0.2, "sad": 0.1,
                 "surprise": 0.08, "neutral": 0.5}
CONCENTRATION = 20.0
SIZES = (20, 60, 200)


def mix_alpha(kind: str) -> np.ndarray:
    """Dirichlet parameters of a minute's emotion mix: ``classroom`` or ``uniform``."""
    if kind == "uniform":
        return np.ones(len(EMOTIONS))
    return CONCENTRATION * np.array([CLASSROOM_MIX[e] for e in EMOTIONS])


def halves(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """0/1 per face, each class split in two equal halves at random."""
    side = np.zeros(len(labels), dtype=np.int64)
    for c in range(len(EMOTIONS)):
        idx = rng.permutation(np.flatnonzero(labels == c))
        side[idx[len(idx) // 2:]] = 1
    return side


def class_level_errors(labels: np.ndarray, predicted: np.ndarray, sizes: tuple[int, ...] = SIZES,
                       draws: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Mean absolute error of the shares, in percentage points per emotion, for each mix kind
    and minute size: argmax counting against the corrected estimate, on held-out halves."""
    rng = np.random.default_rng(seed)
    side = halves(labels, rng)
    rows = []
    for kind in ("classroom", "uniform"):
        for n in sizes:
            counted_err, corrected_err = [], []
            for fit in (0, 1):
                confusion = confusion_rates(labels[side == fit], predicted[side == fit])
                pools = [np.flatnonzero((side != fit) & (labels == c))
                         for c in range(len(EMOTIONS))]
                minutes = rng.multinomial(n, rng.dirichlet(mix_alpha(kind), size=draws // 2))
                counted = np.empty(minutes.shape)
                for i, counts in enumerate(minutes):
                    faces = np.concatenate([rng.choice(pools[c], k, replace=True)
                                            for c, k in enumerate(counts)])
                    counted[i] = counted_shares(predicted[faces])
                truth = minutes / n
                counted_err.append(np.abs(counted - truth).mean(axis=1))
                corrected = corrected_shares(counted, confusion)
                corrected_err.append(np.abs(corrected - truth).mean(axis=1))
            counted_err, corrected_err = np.concatenate(counted_err), np.concatenate(corrected_err)
            rows.append({"mix": kind, "faces": n, "draws": len(counted_err),
                         "argmax_mae_pp": 100 * float(np.mean(counted_err)),
                         "corrected_mae_pp": 100 * float(np.mean(corrected_err))})
    return rows


def format_class_level(rows: list[dict[str, Any]]) -> str:
    lines = ["class-level error: mean absolute error of the emotion shares, percentage points "
             "per emotion (minutes drawn from one half, confusion fitted on the other)",
             f"{'mix':<10} {'faces':>5} {'argmax':>7} {'corrected':>9}"]
    lines += [f"{r['mix']:<10} {r['faces']:>5} {r['argmax_mae_pp']:>7.2f} "
              f"{r['corrected_mae_pp']:>9.2f}" for r in rows]
    return "\n".join(lines)
