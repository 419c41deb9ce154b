"""Class-level error: how far the dashboard's per-minute emotion shares are from the truth.

``classpulse model evaluate --class-level`` draws simulated minutes of N faces from a labelled
split (a random mix of emotions, then faces of each emotion at random) and compares the true
shares of all the faces drawn with (a) argmax counting, what the consumers store, and (b) the
confusion-corrected estimate of ``model.shares``. As in the consumers, only faces whose top
probability reaches the readability gate's minimum confidence are counted: the shares are those
of the faces read, the truth that of every face in the minute, so the faces the gate drops cost
what they cost on the dashboard. The confusion matrix is measured on the faces of one half of the
split that pass the same gate, and the minutes are drawn from the other half (then the halves
swap), so the correction is judged on faces it was not fitted to.

Why several splits: one random split of val into halves moves the corrected error by more than
half a point at 200 faces (2.5 to 3.1 over ten splits), the size of the differences the table is
read for; so the halves are drawn ``SPLITS`` times and each row gives the mean and the range.
The classifier's probabilities are computed once: resampling splits and minutes costs no network
time. Why a signed error per emotion: the mean over seven emotions hides where the error sits
(argmax counting undercounts neutral by about ten points in a mostly neutral class while the
average says four), and its sign says which way a teacher's chart is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from model.shares import confusion_rates, corrected_shares

# A quiet lesson's expected mix (an assumption, not a measurement): mostly neutral, some happy,
# a little of the rest. Minutes draw their mix around it (Dirichlet, concentration 20).
CLASSROOM_MIX = {"angry": 0.05, "disgust": 0.02, "fear": 0.05, "happy": 0.2, "sad": 0.1,
                 "surprise": 0.08, "neutral": 0.5}
CONCENTRATION = 20.0
SIZES = (20, 60, 200)
MIXES = ("classroom", "uniform")
SPLITS = 10  # random splits into halves, each a full simulation (`evaluate --splits`)
SEED = 0  # `evaluate --seed`: split k draws from SeedSequence(seed, spawn_key=(k,))
DRAWS = 1000  # minutes per row and split, half from each half
# Fewer faces of an emotion than this in a half and the rows are mostly that half's luck: warned
# (FER2013 val's rarest, disgust, has 28 a half)
MIN_FACES_PER_HALF = 20


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


def small_halves_warning(labels: np.ndarray, source: str) -> str | None:
    """A one-line warning when a half holds fewer than ``MIN_FACES_PER_HALF`` faces of an
    emotion (naming each such emotion and its count per half), else None. The smaller half of an
    emotion's faces has half of them, rounded down."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(EMOTIONS))
    few = [f"{counts[c] // 2} {e}" for c, e in enumerate(EMOTIONS)
           if counts[c] // 2 < MIN_FACES_PER_HALF]
    if not few:
        return None
    return (f"warning: a half of {source} holds only {', '.join(few)} faces (under "
            f"{MIN_FACES_PER_HALF} of an emotion): the class-level rows below are mostly the luck "
            "of the draw; give a fuller split, such as FER2013 val, to measure them")


def halves(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """0/1 per face, each class split in two equal halves at random."""
    side = np.zeros(len(labels), dtype=np.int64)
    for c in range(len(EMOTIONS)):
        idx = rng.permutation(np.flatnonzero(labels == c))
        side[idx[len(idx) // 2:]] = 1
    return side


def split_rng(seed: int, split: int) -> np.random.Generator:
    """Split ``split``'s generator: the same whatever the number of splits, so ``--splits 1``
    reproduces the first split of the default run."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(split,)))


def _minutes(labels: np.ndarray, predicted: np.ndarray, read: np.ndarray, pool_side: np.ndarray,
             alpha: np.ndarray, n: int, draws: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray, int]:
    """``draws`` minutes of ``n`` faces drawn (with replacement) from the faces where
    ``pool_side``: (true shares (M, 7), counted shares of the faces read (M, 7), faces read)."""
    k = len(EMOTIONS)
    minutes = rng.multinomial(n, rng.dirichlet(alpha, size=draws))
    counts = np.zeros(draws * k, dtype=np.int64)
    for c in range(k):
        pool = np.flatnonzero(pool_side & (labels == c))
        faces = pool[rng.integers(0, len(pool), minutes[:, c].sum())]
        owner = np.repeat(np.arange(draws), minutes[:, c])
        kept = read[faces]
        counts += np.bincount(owner[kept] * k + predicted[faces[kept]], minlength=draws * k)
    counts = counts.reshape(draws, k)
    total = counts.sum(axis=1, keepdims=True)
    return minutes / n, counts / np.maximum(total, 1), int(total.sum())


def _one_split(labels: np.ndarray, readings: dict[str, tuple[np.ndarray, np.ndarray]],
               side: np.ndarray, kind: str, n: int, draws: int, rng: np.random.Generator
               ) -> tuple[dict[str, np.ndarray], int]:
    """Errors (estimate - truth, shares) of every minute with a face read, per method (M, 7), of
    one split: half the minutes from each half, the confusion fitted on the other.

    ``readings`` maps ``minutes`` to the (predicted, read) of the faces the minutes show and
    ``fit`` to those the confusion is fitted on; with ``full_size`` too (the same faces at full
    size), ``corrected_full_size`` uses a confusion fitted on those instead, as a confusion
    measured on FER2013 once and shipped with the weights would be."""
    predicted, read = readings["minutes"]
    errors: dict[str, list[np.ndarray]] = {}
    faces_read = 0
    for fit in (0, 1):
        confusions = {}
        for method, key in (("corrected", "fit"), ("corrected_full_size", "full_size")):
            if key in readings:
                fit_predicted, fit_read = readings[key]
                fitted = (side == fit) & fit_read
                confusions[method] = confusion_rates(labels[fitted], fit_predicted[fitted])
        truth, counted, n_read = _minutes(labels, predicted, read, side != fit, mix_alpha(kind),
                                          n, draws // 2, rng)
        faces_read += n_read
        shown = counted.sum(axis=1) > 0  # a minute without a face read shows no shares
        truth, counted = truth[shown], counted[shown]
        errors.setdefault("argmax", []).append(counted - truth)
        for method, confusion in confusions.items():
            errors.setdefault(method, []).append(corrected_shares(counted, confusion) - truth)
    return {m: np.concatenate(e) for m, e in errors.items()}, faces_read


def _reading(probs: np.ndarray, min_confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """(top emotion, read by the gate) per face; NaN is never read, as in the gate."""
    probs = np.asarray(probs)
    return probs.argmax(axis=1), probs.max(axis=1) >= min_confidence


def class_level_errors(labels: np.ndarray, probs: np.ndarray, min_confidence: float,
                       sizes: tuple[int, ...] = SIZES, draws: int = DRAWS, splits: int = SPLITS,
                       seed: int = SEED, full_size_probs: np.ndarray | None = None
                       ) -> list[dict[str, Any]]:
    """Per mix kind and minute size, the error of the shares in percentage points, argmax
    counting against the corrected estimate, on held-out halves, over ``splits`` random splits.

    ``probs`` (N, 7) are the classifier's probabilities; a face counts only where its top
    probability is at least ``min_confidence`` (the gate's ``GATE_MIN_CONFIDENCE``, which the
    caller passes: ``model`` does not import the consumers). Per row: ``argmax_mae_pp`` and
    ``corrected_mae_pp``, the mean absolute error over the seven emotions, averaged over the
    splits, with ``*_range_pp`` [lowest, highest split] and ``corrected_better`` (splits where
    the correction's is lower); ``argmax_bias_pp`` and ``corrected_bias_pp``, each emotion's mean
    signed error (estimate - truth) over every minute of every split, and ``*_emotion_mae_pp``
    its mean absolute error; ``draws``, the minutes with a face read, all splits together;
    ``read_share``, the share of drawn faces read.

    ``full_size_probs``: the same faces' probabilities at full size, where ``probs`` are of
    faces made small or turned. The ``corrected_full_size_*`` entries then correct the minutes
    with a confusion fitted on those, as the dashboard would with a confusion measured on FER2013
    and shipped with the weights, while ``corrected`` fits it on faces seen as the minutes' are.
    """
    check_halves(labels, "the split")
    if splits < 1:
        raise UsageError(f"--splits takes a count of 1 or more, got {splits}")
    labels = np.asarray(labels, dtype=np.int64)
    readings = {"minutes": _reading(probs, min_confidence)}
    readings["fit"] = readings["minutes"]
    if full_size_probs is not None:
        readings["full_size"] = _reading(full_size_probs, min_confidence)
    drawn = []  # (halves, the generator that drew them, which then draws the minutes)
    for s in range(splits):
        rng = split_rng(seed, s)
        side = halves(labels, rng)
        if not all(read[side == fit].any() for _, read in readings.values() for fit in (0, 1)):
            raise UsageError(f"no face of one half reaches the gate's minimum confidence "
                             f"{min_confidence} (GATE_MIN_CONFIDENCE): nothing would be counted; "
                             "lower it or check the weights")
        drawn.append((side, rng))
    rows = []
    for kind in MIXES:
        for n in sizes:
            per_split = [_one_split(labels, readings, side, kind, n, draws, rng)
                         for side, rng in drawn]
            rows.append({**_row(kind, n, draws, splits, per_split), "seed": seed})
    return rows


def _row(kind: str, n: int, draws: int, splits: int,
         per_split: list[tuple[dict[str, np.ndarray], int]]) -> dict[str, Any]:
    row: dict[str, Any] = {"mix": kind, "faces": n, "splits": splits,
                           "draws": sum(len(errs["argmax"]) for errs, _ in per_split),
                           "read_share": sum(r for _, r in per_split) / (
                               n * 2 * (draws // 2) * splits)}
    for method in per_split[0][0]:
        maes = [100 * float(np.abs(errs[method]).mean()) for errs, _ in per_split]
        pooled = 100 * np.concatenate([errs[method] for errs, _ in per_split])
        row[f"{method}_mae_pp"] = float(np.mean(maes))
        row[f"{method}_range_pp"] = [min(maes), max(maes)]
        row[f"{method}_bias_pp"] = dict(zip(EMOTIONS, pooled.mean(axis=0).tolist(), strict=True))
        row[f"{method}_emotion_mae_pp"] = dict(zip(EMOTIONS, np.abs(pooled).mean(axis=0).tolist(),
                                                   strict=True))
    row["corrected_better"] = sum(float(np.abs(errs["corrected"]).mean())
                                  < float(np.abs(errs["argmax"]).mean()) for errs, _ in per_split)
    return row


def worst_emotion(row: dict[str, Any], method: str) -> tuple[str, float, float]:
    """(emotion, mean absolute error, signed bias) of the emotion ``method`` gets most wrong."""
    per = row[f"{method}_emotion_mae_pp"]
    emotion = max(per, key=per.get)
    return emotion, per[emotion], row[f"{method}_bias_pp"][emotion]


METHOD_LABELS = {"argmax": "argmax", "corrected": "corrected",
                 "corrected_full_size": "corr. full-size fit"}


def format_class_level(rows: list[dict[str, Any]], min_confidence: float, reading: str,
                       warning: str | None = None) -> str:
    """The two tables ``evaluate --class-level`` prints: the mean error with its range over the
    splits and each method's worst emotion, then every emotion's signed bias.

    ``reading`` says how the faces were read (flip TTA as the consumers, without, ten-crop).
    """
    splits = rows[0]["splits"] if rows else 0
    seed = rows[0].get("seed", SEED) if rows else SEED
    methods = [m for m in METHOD_LABELS if rows and f"{m}_mae_pp" in rows[0]]
    lines = [warning] if warning else []
    lines.append(
        "class-level error: mean absolute error of the emotion shares, percentage points per "
        f"emotion, mean [lowest, highest] over {splits} random split{'s' * (splits != 1)} of the "
        f"faces into halves (seed {seed}; minutes drawn from one half, confusion fitted on the "
        f"other); faces counted when their top probability is >= {min_confidence:g}, as the "
        f"gate does; {reading}")
    if "corrected_full_size" in methods:
        lines.append("corr. full-size fit: corrected with the confusion fitted on the other "
                     "half's faces at full size, unturned, as one measured on FER2013 and "
                     "shipped with the weights would be; corrected: fitted on faces seen as the "
                     "minutes' are")
    lines.append(f"{'mix':<10} {'faces':>5} {'read':>5}  "
                 + "".join(f"{METHOD_LABELS[m]:<21}" for m in methods)
                 + f"{'corr. better':>12}  worst emotion (|error|, bias): "
                 + " / ".join(METHOD_LABELS[m] for m in methods))
    for r in rows:
        spans = "".join(f"{r[f'{m}_mae_pp']:5.2f} [{r[f'{m}_range_pp'][0]:.2f}, "
                        f"{r[f'{m}_range_pp'][1]:.2f}]".ljust(21) for m in methods)
        worst = " / ".join("{} {:.1f}, {:+.1f}".format(*worst_emotion(r, m)) for m in methods)
        lines.append(f"{r['mix']:<10} {r['faces']:>5} {r['read_share']:>5.3f}  {spans}"
                     f"{r['corrected_better']:>4} of {r['splits']:<4}   {worst}")
    lines.append("signed error per emotion (mean of estimate - truth over every minute, "
                 "percentage points; + overcounted, - undercounted)")
    width = max(len(METHOD_LABELS[m]) for m in methods) if methods else 9
    lines.append(f"{'mix':<10} {'faces':>5} {'method':<{width}} "
                 + " ".join(f"{e:>8}" for e in EMOTIONS))
    for r in rows:
        for m in methods:
            lines.append(f"{r['mix']:<10} {r['faces']:>5} {METHOD_LABELS[m]:<{width}} "
                         + " ".join(f"{r[f'{m}_bias_pp'][e]:>+8.1f}" for e in EMOTIONS))
    return "\n".join(lines)
