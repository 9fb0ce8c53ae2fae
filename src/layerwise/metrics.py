"""Metrics on predictions, computed as scikit-learn computes them. NumPy only.

Classification: :func:`accuracy`, :func:`balanced_accuracy`, :func:`top_k_accuracy`
and :func:`confusion_matrix`. Regression: :func:`mse`, :func:`rmse`, :func:`mae` and
:func:`r2`. Each metric is ``metric(y_true, y_pred, *, sample_weight=None) -> float``
with scikit-learn's weighting (a weighted mean over the samples); a multi-output
regression metric is the plain mean over the outputs (scikit-learn's
``"uniform_average"``).

The classification metrics read predictions as a model gives them: rows of class
scores ``(n, classes)`` (probabilities or logits, compared by argmax or ranked), or one
column of probabilities compared to ``threshold``, or integer labels. The regression
metrics compare the values themselves. :func:`get` resolves a metric's name, as
``fit(..., metrics=["mae", "r2"])`` gives it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from layerwise._checks import (
    LayerwiseError,
    check_sample_weight,
    first_nonfinite,
    inferred_classes,
    numeric_array,
    positive_int,
)

# -- input checks shared by the metrics -----------------------------------------------


def _array(y, name: str, where: str) -> np.ndarray:
    arr = numeric_array(y, f"{where}: {name}")
    if arr.ndim not in (1, 2):
        raise LayerwiseError(
            f"{where}: {name} must be (n,) or (n, columns); got shape {arr.shape}."
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise LayerwiseError(
            f"{where}: {name} contains {first_nonfinite(arr)}; metrics need finite values."
        )
    return arr


def _same_length(y_true: np.ndarray, y_pred: np.ndarray, where: str) -> None:
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise LayerwiseError(
            f"{where} needs equally many true and predicted values, at least one; got "
            f"{len(y_true)} and {len(y_pred)}."
        )


def _weights(sample_weight, n: int, where: str) -> np.ndarray | None:
    """None, or ``sample_weight`` as ``(n,)`` finite non-negative weights with a positive sum."""
    if sample_weight is None:
        return None
    w = check_sample_weight(sample_weight, n, where)
    if not w.sum() > 0:
        raise LayerwiseError(f"{where}: the sample weights sum to zero; nothing to average.")
    return w


def _labels(y: np.ndarray, threshold: float) -> np.ndarray:
    """Integer class labels from labels, one-hot or score rows (argmax) or one column.

    A column of floats holds labels when every value is a whole number (``0.0``, ``2.0``),
    else probabilities (or logits), compared to ``threshold``.
    """
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(-1)
    if y.dtype.kind != "f":
        return y.astype(np.int64)
    if np.array_equal(y, np.round(y)):
        return y.astype(np.int64)
    return (y > threshold).astype(np.int64)


def _true_rows(y_true: np.ndarray, where: str) -> None:
    """Refuse multi-label targets, which argmax would silently read as one class."""
    if y_true.ndim == 2 and y_true.shape[1] > 1:
        sums = y_true.sum(axis=1, dtype=np.float64)
        if not np.allclose(sums, 1.0, atol=1e-3):
            row = int(np.argmax(np.abs(sums - 1.0)))
            raise LayerwiseError(
                f"{where}: y_true rows must be one-hot (or probabilities summing to 1); row "
                f"{row} sums to {sums[row]:g}. Multi-label targets are not supported: pass "
                "the labels (n,) of one class per sample."
            )


def _regression_pair(y_true, y_pred, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64 ``(n, outputs)``; ``(n,)`` and ``(n, 1)`` count as the same shape."""
    t = _array(y_true, "y_true", where).astype(np.float64)
    p = _array(y_pred, "y_pred", where).astype(np.float64)
    _same_length(t, p, where)
    t, p = t.reshape(len(t), -1), p.reshape(len(p), -1)
    if t.shape != p.shape:
        raise LayerwiseError(
            f"{where} needs one prediction per target; got y_true of shape {t.shape} and "
            f"y_pred of shape {p.shape}."
        )
    return t, p


# -- classification ---------------------------------------------------------------------


def accuracy(y_true, y_pred, *, threshold: float = 0.5, sample_weight=None) -> float:
    """Fraction of samples whose predicted class is the true class.

    As ``sklearn.metrics.accuracy_score``: with weights, the weighted fraction
    ``sum(w * correct) / sum(w)``.

    Parameters
    ----------
    y_true : array (n,) or (n, classes)
        Class labels, or one-hot rows (read by argmax).
    y_pred : array (n,) or (n, classes)
        Labels, score rows (probabilities or logits, read by argmax) or one column of
        probabilities (class 1 where above ``threshold``).
    threshold : float, default 0.5
        For one column of scores: 0.5 for probabilities, 0.0 for logits.
    sample_weight : array (n,), optional
        A non-negative weight per sample.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    LayerwiseError
        For empty or unequally long inputs, non-finite values, multi-label ``y_true``
        or bad weights.

    Examples
    --------
    >>> accuracy([0, 2, 1], [[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    0.6666666666666666
    """
    where = "accuracy"
    t, p = _array(y_true, "y_true", where), _array(y_pred, "y_pred", where)
    _same_length(t, p, where)
    _true_rows(t, where)
    w = _weights(sample_weight, len(t), where)
    correct = _labels(t, threshold) == _labels(p, threshold)
    return float(np.average(correct, weights=w))


def confusion_matrix(
    y_true, y_pred, *, num_classes: int | None = None, sample_weight=None
) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as class ``j``.

    As ``sklearn.metrics.confusion_matrix(y_true, y_pred, labels=range(num_classes))``.

    Parameters
    ----------
    y_true, y_pred : array (n,) or (n, classes)
        Labels, one-hot or score rows (argmax), or one column of probabilities (> 0.5).
    num_classes : int, optional
        The matrix's size; default one more than the largest label seen.
    sample_weight : array (n,), optional
        Each sample adds its weight instead of 1.

    Returns
    -------
    array (num_classes, num_classes)
        int64 counts, or float64 sums of weights when ``sample_weight`` is given.

    Raises
    ------
    LayerwiseError
        For labels that are not non-negative integers below ``num_classes``, unequally
        long inputs or bad weights.
    """
    where = "confusion_matrix"
    t, p = _array(y_true, "y_true", where), _array(y_pred, "y_pred", where)
    _same_length(t, p, where)
    _true_rows(t, where)
    t, p = _labels(t, 0.5), _labels(p, 0.5)
    if min(t.min(), p.min()) < 0:
        raise LayerwiseError(
            f"{where} needs non-negative integer class labels; got {min(t.min(), p.min())}."
        )
    largest = int(max(t.max(), p.max()))
    if num_classes is None:
        k = inferred_classes(largest, where)
    else:
        k = positive_int(num_classes, f"{where}: num_classes")
        if largest >= k:
            raise LayerwiseError(
                f"{where}: num_classes={k}, but the labels go up to {largest}; pass "
                f"num_classes={largest + 1} or more."
            )
    w = _weights(sample_weight, len(t), where)
    try:
        matrix = np.zeros((k, k), np.int64 if w is None else np.float64)
    except (MemoryError, ValueError):  # ValueError: more than NumPy can index
        raise LayerwiseError(
            f"{where}: a matrix of {k:,} x {k:,} classes cannot be allocated "
            f"({k * k * 8 / 2**30:,.1f} GiB)."
        ) from None
    np.add.at(matrix, (t, p), 1 if w is None else w)
    return matrix


def balanced_accuracy(y_true, y_pred, *, threshold: float = 0.5, sample_weight=None) -> float:
    """The mean over classes of the fraction of each class predicted right (its recall).

    As ``sklearn.metrics.balanced_accuracy_score``: the diagonal of the (weighted)
    confusion matrix over its row sums, averaged over the classes present in
    ``y_true``. Unlike accuracy it is not fooled by a rare class: always predicting
    the majority of two classes scores 0.5, whatever their proportions.

    Parameters
    ----------
    y_true, y_pred, threshold, sample_weight
        As for :func:`accuracy`.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    LayerwiseError
        As for :func:`accuracy`, and for negative labels.

    Examples
    --------
    >>> balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0])
    0.5
    """
    where = "balanced_accuracy"
    t, p = _array(y_true, "y_true", where), _array(y_pred, "y_pred", where)
    _same_length(t, p, where)
    _true_rows(t, where)
    w = _weights(sample_weight, len(t), where)
    t, p = _labels(t, threshold), _labels(p, threshold)
    if min(t.min(), p.min()) < 0:
        raise LayerwiseError(f"{where} needs non-negative integer class labels.")
    # Only the classes that occur count: number them 0, 1, ... (labels may be large).
    _, codes = np.unique(np.concatenate([t, p]), return_inverse=True)
    t, p = codes[: len(t)], codes[len(t) :]
    matrix = confusion_matrix(t, p, sample_weight=w).astype(np.float64)
    per_class = matrix.sum(axis=1)
    present = per_class > 0  # classes only predicted, or of weight 0, have no recall
    return float(np.mean(np.diag(matrix)[present] / per_class[present]))


def top_k_accuracy(y_true, y_score, *, k: int = 5, sample_weight=None) -> float:
    """Fraction of samples whose true class is among the ``k`` highest-scored classes.

    As ``sklearn.metrics.top_k_accuracy_score(y_true, y_score, k=k,
    labels=range(classes))``, ties included: among equal scores a higher class index
    ranks first (scikit-learn reverses a stable argsort). Keras calls it
    ``top_k_categorical_accuracy``; ``k=1`` is the accuracy of the argmax.

    Parameters
    ----------
    y_true : array (n,) or (n, classes)
        Class labels ``0 .. classes - 1``, or one-hot rows.
    y_score : array (n, classes)
        A score per class (probabilities or logits; only their order matters).
    k : int, default 5
        How many of the best classes count, ``1 <= k <= classes`` (scikit-learn's
        default is 2, Keras' 5). ``k = classes`` always scores 1.
    sample_weight : array (n,), optional
        A non-negative weight per sample.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    LayerwiseError
        For ``y_score`` with fewer than 2 columns, ``k`` out of range, labels that are
        not classes of ``y_score``, unequally long or empty inputs, bad weights.

    Examples
    --------
    >>> top_k_accuracy([2, 0], [[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]], k=2)
    0.0
    """
    where = "top_k_accuracy"
    t, s = _array(y_true, "y_true", where), _array(y_score, "y_score", where)
    _same_length(t, s, where)
    if s.ndim != 2 or s.shape[1] < 2:
        raise LayerwiseError(
            f"{where} needs y_score of shape (n, classes) with a score per class; got shape "
            f"{s.shape}. For one column of probabilities use accuracy."
        )
    classes = s.shape[1]
    k = positive_int(k, f"{where}: k")
    if k > classes:
        raise LayerwiseError(
            f"{where}: k={k} but y_score ranks only {classes} classes; pass k from 1 to {classes}."
        )
    _true_rows(t, where)
    if t.ndim == 2 and t.shape[1] > 1:
        labels = t.argmax(axis=1)
    else:
        labels = t.reshape(-1)
        if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
            raise LayerwiseError(f"{where}: y_true must hold class labels (whole numbers).")
        labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= classes:
        raise LayerwiseError(
            f"{where}: y_true holds labels from {labels.min()} to {labels.max()}, but y_score "
            f"has {classes} classes (labels 0 to {classes - 1})."
        )
    w = _weights(sample_weight, len(t), where)
    true_score = s[np.arange(len(s)), labels][:, None]
    # The true class's rank: the classes scored higher, and the tied ones of higher index.
    later = np.arange(classes) > labels[:, None]
    rank = np.count_nonzero((s > true_score) | ((s == true_score) & later), axis=1)
    return float(np.average(rank < k, weights=w))


# -- regression -------------------------------------------------------------------------


def mse(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean squared error, as ``sklearn.metrics.mean_squared_error``.

    ``mean_j sum_i w_i (t_ij - p_ij)^2 / sum_i w_i`` over outputs ``j`` and samples ``i``
    (``w_i = 1`` without weights).

    Parameters
    ----------
    y_true, y_pred : array (n,) or (n, outputs)
        Targets and predictions; ``(n,)`` and ``(n, 1)`` are interchangeable.
    sample_weight : array (n,), optional
        A non-negative weight per sample.

    Returns
    -------
    float

    Raises
    ------
    LayerwiseError
        For empty inputs, shapes that differ, non-finite values or bad weights.

    Examples
    --------
    >>> mse([1.0, 2.0], [1.5, 2.0])
    0.125
    """
    t, p = _regression_pair(y_true, y_pred, "mse")
    w = _weights(sample_weight, len(t), "mse")
    return float(np.mean(np.average((t - p) ** 2, axis=0, weights=w)))


def rmse(y_true, y_pred, *, sample_weight=None) -> float:
    """Root mean squared error, in the targets' units, as
    ``sklearn.metrics.root_mean_squared_error``.

    The square root of each output's :func:`mse`, averaged over the outputs (so for
    several outputs it is not ``sqrt(mse)``). Parameters and errors as :func:`mse`.

    Examples
    --------
    >>> rmse([1.0, 2.0], [1.5, 2.5])
    0.5
    """
    t, p = _regression_pair(y_true, y_pred, "rmse")
    w = _weights(sample_weight, len(t), "rmse")
    return float(np.mean(np.sqrt(np.average((t - p) ** 2, axis=0, weights=w))))


def mae(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean absolute error, as ``sklearn.metrics.mean_absolute_error``.

    ``mean_j sum_i w_i |t_ij - p_ij| / sum_i w_i``. Parameters and errors as :func:`mse`.

    Examples
    --------
    >>> mae([1.0, 2.0], [1.5, 1.0])
    0.75
    """
    t, p = _regression_pair(y_true, y_pred, "mae")
    w = _weights(sample_weight, len(t), "mae")
    return float(np.mean(np.average(np.abs(t - p), axis=0, weights=w)))


def r2(y_true, y_pred, *, sample_weight=None) -> float:
    """Coefficient of determination, as ``sklearn.metrics.r2_score``.

    Per output ``1 - SS_res / SS_tot`` with ``SS_res = sum_i w_i (t_i - p_i)^2`` and
    ``SS_tot = sum_i w_i (t_i - tbar)^2`` around the weighted mean ``tbar``, then the
    mean over the outputs. An output whose targets are constant (``SS_tot = 0``) scores
    1.0 when predicted exactly and 0.0 otherwise (scikit-learn's ``force_finite``).
    "Constant" is tested exactly, so constant targets such as 0.1 score 0.0 where
    scikit-learn's rounded mean leaves a tiny ``SS_tot`` and a score near ``-1e27``.

    Parameters and errors as :func:`mse`.

    Returns
    -------
    float
        At most 1; NaN for fewer than two samples (undefined, as scikit-learn).

    Examples
    --------
    >>> r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    >>> r2([3.0, 3.0], [3.0, 2.0])
    0.0
    """
    t, p = _regression_pair(y_true, y_pred, "r2")
    w = _weights(sample_weight, len(t), "r2")
    if len(t) < 2:
        return float("nan")
    weight = 1.0 if w is None else w[:, None]
    ss_res = (weight * (t - p) ** 2).sum(axis=0)
    ss_tot = (weight * (t - np.average(t, axis=0, weights=w)) ** 2).sum(axis=0)
    counted = t if w is None else t[w > 0]
    ss_tot[(counted == counted[0]).all(axis=0)] = 0.0
    scores = np.ones(t.shape[1])  # SS_res = 0: a perfect prediction
    scores[(ss_res != 0) & (ss_tot == 0)] = 0.0
    fitted = (ss_res != 0) & (ss_tot != 0)
    scores[fitted] = 1 - ss_res[fitted] / ss_tot[fitted]
    return float(np.mean(scores))


# -- names ------------------------------------------------------------------------------

METRICS: dict[str, Callable[..., float]] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "top_k_accuracy": top_k_accuracy,
    "top_k_categorical_accuracy": top_k_accuracy,
    "mse": mse,
    "mean_squared_error": mse,
    "rmse": rmse,
    "root_mean_squared_error": rmse,
    "mae": mae,
    "mean_absolute_error": mae,
    "r2": r2,
    "r2_score": r2,
}
"""Metric names (with scikit-learn's and Keras' spellings as aliases) and functions."""


def get(metric) -> tuple[str, Callable[..., float]]:
    """The name to record a metric under, and its function.

    Parameters
    ----------
    metric : str, callable, or (str, callable)
        A name from :data:`METRICS` (recorded under the function's own name, so
        ``"mean_squared_error"`` is recorded as ``"mse"``); a function
        ``f(y_true, y_pred, *, sample_weight=None) -> float``, recorded under its
        ``__name__``; or a ``(name, function)`` pair, e.g. ``("top3",
        functools.partial(top_k_accuracy, k=3))``.

    Returns
    -------
    (str, callable)

    Raises
    ------
    LayerwiseError
        For an unknown name (the message lists the known ones), or a function without a
        usable name (a lambda, a ``functools.partial``).

    Examples
    --------
    >>> get("mean_absolute_error")[0]
    'mae'
    """
    if isinstance(metric, str):
        try:
            function = METRICS[metric]
        except KeyError:
            raise LayerwiseError(
                f"Unknown metric {metric!r}; known: {', '.join(METRICS)}. Or pass a function "
                "f(y_true, y_pred)."
            ) from None
        return function.__name__, function
    if isinstance(metric, tuple) and len(metric) == 2:
        name, function = metric
        if not isinstance(name, str) or not name or not callable(function):
            raise LayerwiseError(
                f"A metric given as a pair must be (name, function); got {metric!r}."
            )
        return name, function
    if not callable(metric):
        raise LayerwiseError(
            f"A metric must be a name ({', '.join(METRICS)}), a function or a "
            f"(name, function) pair; got {metric!r}."
        )
    name = getattr(metric, "__name__", None)
    if not isinstance(name, str) or not name or name.startswith("<"):
        raise LayerwiseError(
            f"The metric {metric!r} has no name to record it under; define it with def, or "
            "pass a (name, function) pair."
        )
    return name, metric
