"""Metrics against their definitions (and scikit-learn's)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

import layerwise as lw


def test_accuracy_from_labels_scores_and_probabilities():
    y = np.array([0, 2, 1, 2])
    scores = np.eye(3)[[0, 2, 2, 2]]
    assert lw.metrics.accuracy(y, scores) == 0.75
    assert lw.metrics.accuracy(np.eye(3)[y], scores) == 0.75
    assert lw.metrics.accuracy(
        np.array([1, 0, 1]), np.array([[0.9], [0.2], [0.4]])
    ) == pytest.approx(2 / 3)


def test_confusion_matrix_matches_scikit_learn(rng):
    t, p = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    np.testing.assert_array_equal(lw.metrics.confusion_matrix(t, p), skm.confusion_matrix(t, p))


def test_r2_matches_scikit_learn(rng):
    t = rng.normal(size=(40, 2))
    p = t + 0.3 * rng.normal(size=(40, 2))
    assert lw.metrics.r2(t, p) == pytest.approx(skm.r2_score(t, p))


def test_bad_metric_inputs():
    with pytest.raises(
        lw.LayerwiseError, match="equally many true and predicted values; got 3 and 2"
    ):
        lw.metrics.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(lw.LayerwiseError, match="r2 needs as many predictions as targets"):
        lw.metrics.r2(np.zeros(3), np.zeros(4))
    with pytest.raises(lw.LayerwiseError, match="non-negative integer class labels"):
        lw.metrics.confusion_matrix([0, -1], [0, 1])
