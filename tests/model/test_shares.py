"""Per-minute emotion shares: the confusion-corrected estimate."""

from __future__ import annotations

import numpy as np
import pytest

from model.shares import confusion_rates, corrected_shares


def test_correction_recovers_the_true_mix_from_what_the_confusion_would_count() -> None:
    rng = np.random.default_rng(1)
    confusion = 0.55 * np.eye(7) + rng.dirichlet(np.ones(7), size=7) * 0.45
    truth = np.array([0.05, 0.02, 0.05, 0.2, 0.1, 0.08, 0.5])
    counted = truth @ confusion  # what argmax counting reports on average
    assert np.abs(counted - truth).mean() > 0.02
    estimate = corrected_shares(counted, confusion, iterations=5000, tolerance=1e-12)
    assert estimate == pytest.approx(truth, abs=2e-3)
    assert estimate.min() >= 0 and estimate.sum() == pytest.approx(1.0)


def test_confusion_rates_rows_sum_to_one_and_follow_the_reading() -> None:
    true = np.array([0, 0, 0, 0, 1, 1])
    predicted = np.array([0, 0, 0, 1, 1, 1])
    rates = confusion_rates(true, predicted, classes=2, prior=0.0)
    assert rates.tolist() == [[0.75, 0.25], [0.0, 1.0]]
    smoothed = confusion_rates(true, predicted, classes=3, prior=1.0)
    assert smoothed.sum(axis=1) == pytest.approx(np.ones(3))
    assert smoothed[2].tolist() == pytest.approx([0.5, 0.5, 0.0])  # unseen class: the overall
