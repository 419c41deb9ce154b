"""Class-level error: how far the dashboard's per-minute emotion shares are from the truth.

``classpulse model evaluate --class-level`` draws simulated minutes of N faces from a labelled
split (a random mix of emotions, then faces of each emotion at random) and compares the true
shares of all the faces drawn with (a) argmax counting, what the consumers store, and (b) the
confusion-corrected estimate of ``classpulse.shares``. As in the consumers, only faces whose top
probability reaches the readability gate's minimum confidence are counted: the shares are those
of the faces read, the truth that of every face in the minute, so the faces the gate drops cost
what they cost on the dashboard. The confusion matrix is measured on the faces of one half of the
split that pass the same gate, and the minutes are drawn from the other half (then the halves
swap), so the correction is judged on faces it was not fitted to.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
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


def check_halves(labels: np.ndarray, source: str) -> None:
    """Refuse a split with fewer than 2 faces of an emotion: each half needs one to draw from.

    Why not drop the emotion: the dashboard's shares are over all seven, and a simulation of six
    would report an error the dashboard does not have, under the same name.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(EMOTIONS))
    few = [f"{counts[c]} {e}" for c, e in enumerate(EMOTIONS) if counts[c] < 2]
    if few:
        raise UsageError(f"--class-level needs at least 2 faces of every emotion (one per half); "
                         f"{source} has {', '.join(few)}: give a fuller split or drop "
                         "--class-level")


def halves(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """0/1 per face, each class split in two equal halves at random."""
    side = np.zeros(len(labels), dtype=np.int64)
    for c in range(len(EMOTIONS)):
        idx = rng.permutation(np.flatnonzero(labels == c))
        side[idx[len(idx) // 2:]] = 1
    return side


def class_level_errors(labels: np.ndarray, probs: np.ndarray, min_confidence: float,
                       sizes: tuple[int, ...] = SIZES, draws: int = 1000, seed: int = 0
                       ) -> list[dict[str, Any]]:
    """Mean absolute error of the shares, in percentage points per emotion, for each mix kind
    and minute size: argmax counting against the corrected estimate, on held-out halves.

    ``probs`` (N, 7) are the classifier's probabilities; a face counts only where its top
    probability is at least ``min_confidence`` (the gate's ``GATE_MIN_CONFIDENCE``, which the
    caller passes: ``model`` does not import the consumers). ``draws`` counts the minutes with a
    face read (a minute without one shows no shares); ``read_share`` is the share of drawn faces
    read.
    """
    check_halves(labels, "the split")
    probs = np.asarray(probs)
    predicted = probs.argmax(axis=1)
    read = probs.max(axis=1) >= min_confidence  # NaN: never read, as in the gate
    rng = np.random.default_rng(seed)
    side = halves(labels, rng)
    if not all(read[side == fit].any() for fit in (0, 1)):
        raise UsageError(f"no face of one half reaches the gate's minimum confidence "
                         f"{min_confidence} (GATE_MIN_CONFIDENCE): nothing would be counted; "
                         "lower it or check the weights")
    rows = []
    for kind in ("classroom", "uniform"):
        for n in sizes:
            counted_err, corrected_err, faces_read = [], [], 0
            for fit in (0, 1):
                fitted = (side == fit) & read
                confusion = confusion_rates(labels[fitted], predicted[fitted])
                pools = [np.flatnonzero((side != fit) & (labels == c))
                         for c in range(len(EMOTIONS))]
                minutes = rng.multinomial(n, rng.dirichlet(mix_alpha(kind), size=draws // 2))
                counted = np.empty(minutes.shape)
                shown = np.empty(len(minutes), dtype=bool)
                for i, counts in enumerate(minutes):
                    faces = np.concatenate([rng.choice(pools[c], k, replace=True)
                                            for c, k in enumerate(counts)])
                    kept = faces[read[faces]]
                    faces_read += len(kept)
                    shown[i] = len(kept) > 0
                    counted[i] = counted_shares(predicted[kept])
                truth = (minutes / n)[shown]
                counted = counted[shown]
                counted_err.append(np.abs(counted - truth).mean(axis=1))
                corrected = corrected_shares(counted, confusion)
                corrected_err.append(np.abs(corrected - truth).mean(axis=1))
            counted_err, corrected_err = np.concatenate(counted_err), np.concatenate(corrected_err)
            rows.append({"mix": kind, "faces": n, "draws": len(counted_err),
                         "read_share": faces_read / (n * 2 * (draws // 2)),
                         "argmax_mae_pp": 100 * float(np.mean(counted_err)),
                         "corrected_mae_pp": 100 * float(np.mean(corrected_err))})
    return rows


def format_class_level(rows: list[dict[str, Any]], min_confidence: float) -> str:
    lines = ["class-level error: mean absolute error of the emotion shares, percentage points "
             "per emotion (minutes drawn from one half, confusion fitted on the other; faces "
             f"counted when their top probability is >= {min_confidence:g}, as the gate does)",
             f"{'mix':<10} {'faces':>5} {'read':>5} {'argmax':>7} {'corrected':>9}"]
    lines += [f"{r['mix']:<10} {r['faces']:>5} {r['read_share']:>5.3f} {r['argmax_mae_pp']:>7.2f} "
              f"{r['corrected_mae_pp']:>9.2f}" for r in rows]
    return "\n".join(lines)
