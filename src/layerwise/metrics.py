"""Metrics on predictions: accuracy, confusion matrix, R^2. NumPy only."""

from __future__ import annotations

import numpy as np

from layerwise._checks import LayerwiseError, numeric_array


def _labels(y: np.ndarray, threshold: float) -> np.ndarray:
    """Class labels from labels, one-hot rows, scores (argmax) or one-column probabilities."""
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(-1)
    return (y > threshold).astype(np.int64) if y.dtype.kind == "f" else y


def accuracy(y_true, y_pred, *, threshold: float = 0.5) -> float:
    """Fraction of samples whose predicted class equals the true class.

    Both arguments may be labels ``(n,)``, one-hot or score rows ``(n, classes)``
    (compared by argmax), or one-column probabilities (compared to ``threshold``).
    """
    y_true, y_pred = numeric_array(y_true, "y_true"), numeric_array(y_pred, "y_pred")
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise LayerwiseError(
            f"accuracy needs equally many true and predicted values; got {len(y_true)} "
            f"and {len(y_pred)}."
        )
    return float(np.mean(_labels(y_true, threshold) == _labels(y_pred, threshold)))


def confusion_matrix(y_true, y_pred, *, num_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as class ``j``."""
    t = _labels(numeric_array(y_true, "y_true"), 0.5)
    p = _labels(numeric_array(y_pred, "y_pred"), 0.5)
    if len(t) != len(p):
        raise LayerwiseError(f"confusion_matrix got {len(t)} true and {len(p)} predicted labels.")
    if t.dtype.kind not in "iu" or p.dtype.kind not in "iu" or min(t.min(), p.min()) < 0:
        raise LayerwiseError("confusion_matrix needs non-negative integer class labels.")
    k = num_classes or int(max(t.max(), p.max())) + 1
    matrix = np.zeros((k, k), np.int64)
    np.add.at(matrix, (t, p), 1)
    return matrix


def r2(y_true, y_pred) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (averaged over outputs)."""
    t = numeric_array(y_true, "y_true").astype(np.float64)
    p = numeric_array(y_pred, "y_pred").astype(np.float64)
    if p.size != t.size or len(t) == 0:
        raise LayerwiseError(
            f"r2 needs as many predictions as targets; got {p.shape} and {t.shape}."
        )
    p = p.reshape(t.shape)
    ss_res = ((t - p) ** 2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1 - ss_res / np.where(ss_tot == 0, 1, ss_tot)))
