"""Shares of faces per emotion in a minute, corrected for the classifier's known confusions.

The dashboard shows, per minute, the share of faces per emotion. Counting top emotions (argmax)
inherits the classifier's confusions: a class of neutral faces read at 65% accuracy shows a few
points of sad and angry that are not there. The corrected estimate is the mix of true emotions
that best explains the counted one given the confusion matrix ``C[true, predicted]`` measured on
labelled faces: the maximum-likelihood mix, found by EM (Saerens, Latinne & Decaestecker 2002, in
its confusion-matrix form), which stays a proper mix (no negative shares) where solving
``C^T p = q`` directly would not. NumPy only; ``model.class_level`` measures it against argmax
counting (``classpulse model evaluate --class-level``). The dashboard counts top emotions: the
correction helps minutes of 60 faces and more but makes 20-face minutes worse (README, "How far
the dashboard's shares are from the truth").
"""

from __future__ import annotations

import numpy as np

from classpulse.emotions import EMOTIONS


def confusion_rates(true: np.ndarray, predicted: np.ndarray, classes: int = len(EMOTIONS),
                    prior: float = 1.0) -> np.ndarray:
    """``C[t, p]``: the rate at which faces of class t are read as p; each row sums to 1.

    ``prior`` adds that many faces spread as the overall predictions, so a class seldom seen
    (disgust: 56 faces in val) gets a usable row rather than a noisy one.
    """
    counts = np.zeros((classes, classes))
    np.add.at(counts, (np.asarray(true), np.asarray(predicted)), 1.0)
    overall = counts.sum(axis=0) / max(counts.sum(), 1)
    counts += prior * overall
    return counts / counts.sum(axis=1, keepdims=True)


def corrected_shares(counted: np.ndarray, confusion: np.ndarray, iterations: int = 300,
                     tolerance: float = 1e-7) -> np.ndarray:
    """The true-emotion mix p most likely to give the ``counted`` shares q: EM on
    ``q_j = sum_t p_t C[t, j]``, started from q itself. ``counted`` is one mix (K,) or many
    minutes' mixes (M, K), corrected together."""
    q = np.atleast_2d(np.asarray(counted, dtype=np.float64))
    p = np.clip(q, 1e-6, None)
    p /= p.sum(axis=1, keepdims=True)
    for _ in range(iterations):
        expected = p @ confusion  # the counted mix p would give
        ratio = np.divide(q, expected, out=np.zeros_like(q), where=expected > 0)
        nxt = p * (ratio @ confusion.T)
        nxt /= np.maximum(nxt.sum(axis=1, keepdims=True), 1e-12)
        done = np.abs(nxt - p).max() < tolerance
        p = nxt
        if done:
            break
    return p.reshape(np.shape(counted))
