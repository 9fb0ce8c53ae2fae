"""Label encoding, mini-batches and feature scaling."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.preprocessing import StandardScaler

from layerwise._checks import (
    LayerwiseError,
    as_matrix,
    inferred_classes,
    numeric_array,
    positive_int,
)
from layerwise.data._args import check_seed, errors_from

__all__ = ["batches", "one_hot", "standardize"]


def one_hot(y, num_classes: int | None = None, *, dtype=np.float32) -> np.ndarray:
    """Encode integer class labels as one-hot rows.

    ``out[i, y[i]] = 1`` and every other entry of row ``i`` is 0.

    Parameters
    ----------
    y : array-like of shape (n,)
        Integer labels in ``0 .. num_classes-1`` (floats are accepted if they hold
        whole numbers).
    num_classes : int or None, default None
        Number of columns; ``None`` uses ``y.max() + 1``, at most 2**20.
    dtype : dtype, default np.float32
        dtype of the result.

    Returns
    -------
    ndarray of shape (n, num_classes)

    Raises
    ------
    LayerwiseError
        If ``y`` is not 1-D, holds non-integers or labels outside ``0 .. num_classes-1``.

    Examples
    --------
    >>> one_hot([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    with errors_from("one_hot"):
        labels = numeric_array(y, "y")
    if labels.ndim != 1:
        hint = " Use y.ravel() for a column of labels." if labels.ndim == 2 else ""
        raise LayerwiseError(f"one_hot: y must be 1-D labels; got shape {labels.shape}.{hint}")
    if labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            index = int(np.flatnonzero(~whole)[0])
            value = labels[index].item()
            raise LayerwiseError(
                f"one_hot: labels must be whole numbers; got {value} at index {index}."
            )
    # Checked before the cast to int64, which would wrap a float label of 1e20 around.
    if labels.size and labels.min() < 0:
        index = int(np.argmax(labels < 0))
        raise LayerwiseError(
            f"one_hot: labels must be class indices >= 0; got {labels[index]} at index {index}."
        )
    if num_classes is None:
        if labels.size == 0:
            raise LayerwiseError(
                "one_hot: cannot infer num_classes from empty labels; pass num_classes=."
            )
        num_classes = inferred_classes(int(labels.max()), "one_hot")
    num_classes = positive_int(num_classes, "one_hot: num_classes")
    if labels.size and labels.max() >= num_classes:
        index = int(np.argmax(labels >= num_classes))
        raise LayerwiseError(
            f"one_hot: labels must be in 0..{num_classes - 1} for num_classes={num_classes}; "
            f"got {int(labels[index])} at index {index}."
        )
    labels = labels.astype(np.int64)
    try:
        out = np.zeros((labels.size, num_classes), dtype=dtype)
    except (MemoryError, ValueError):  # ValueError: more than NumPy can index
        raise LayerwiseError(
            f"one_hot: {labels.size:,} rows of {num_classes:,} classes cannot be allocated "
            f"({labels.size * num_classes * np.dtype(dtype).itemsize / 2**30:,.1f} GiB)."
        ) from None
    out[np.arange(labels.size), labels] = 1
    return out


def batches(
    X,
    y,
    batch_size: int | None,
    *,
    shuffle: bool = True,
    rng: np.random.Generator | int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Mini-batches ``(xb, yb)`` that cover ``X`` and ``y`` once (one epoch), lazily.

    Parameters
    ----------
    X : ndarray of shape (n, ...)
    y : ndarray of shape (n, ...)
        Targets, aligned with ``X`` along the first axis.
    batch_size : int or None
        Rows per batch; the last batch holds the remainder and may be smaller.
        ``None`` gives one batch with all rows.
    shuffle : bool, default True
        Visit the rows in a random order. Without shuffling the batches are views of
        ``X`` and ``y``; with it they are copies.
    rng : numpy.random.Generator, int or None, default None
        Source of the order (a seed is passed to ``np.random.default_rng``).

    Returns
    -------
    iterator of (xb, yb)
        ``xb`` of shape ``(b, ...)`` and ``yb`` of shape ``(b, ...)``, ``b <= batch_size``.

    Raises
    ------
    LayerwiseError
        If ``X`` and ``y`` differ in length or ``batch_size`` is not a positive integer.

    Examples
    --------
    >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [yb.tolist() for _, yb in batches(X, y, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise LayerwiseError(
            f"batches: X and y must have the same number of rows; "
            f"got X of shape {X.shape} and y of shape {y.shape}."
        )
    if batch_size is None:
        size = max(len(X), 1)  # an empty X gives no batch rather than a zero step
    else:
        size = positive_int(batch_size, "batches: batch_size")
    rng = np.random.default_rng(check_seed(rng, "batches: rng"))
    order = rng.permutation(len(X)) if shuffle else None
    # Checked above, iterated lazily below: a bad argument fails at the call, not later.
    return _batches(X, y, size, order)


def _batches(X: np.ndarray, y: np.ndarray, size: int, order: np.ndarray | None):
    for start in range(0, len(X), size):
        if order is None:
            yield X[start : start + size], y[start : start + size]
        else:
            # take() is ~3x faster than fancy indexing X[idx] for a batch of rows.
            idx = order[start : start + size]
            yield X.take(idx, axis=0), y.take(idx, axis=0)


def standardize(X_train, *others):
    """Scale features to zero mean and unit variance, fitted on ``X_train`` only.

    ``x' = (x - mean) / std`` per feature, with ``mean`` and ``std`` taken from
    ``X_train`` (scikit-learn's ``StandardScaler``; constant features keep std 1).

    Parameters
    ----------
    X_train : array-like of shape (n_train, features)
        Data the statistics are computed on.
    *others : array-like of shape (n_i, features)
        Further arrays (validation, test) transformed with the same statistics.

    Returns
    -------
    tuple
        ``(X_train', *others', scaler)``: float32 arrays of the same shapes, then the
        fitted ``StandardScaler`` (to transform new data or undo the scaling).

    Raises
    ------
    LayerwiseError
        If an array is not 2-D, empty, non-numeric, not finite, or has a different
        number of features than ``X_train``.

    Examples
    --------
    >>> X_train, X_test, scaler = standardize([[0.0], [2.0]], [[4.0]])
    >>> X_train.ravel().tolist(), X_test.ravel().tolist()
    ([-1.0, 1.0], [3.0])
    """
    with errors_from("standardize"):
        train = as_matrix(X_train, "X_train", np.float32)
    scaler = StandardScaler().fit(train)
    scaled = [scaler.transform(train).astype(np.float32, copy=False)]
    for i, X in enumerate(others):
        name = f"others[{i}]"
        with errors_from("standardize"):
            X = as_matrix(X, name, np.float32)
        if X.shape[1] != train.shape[1]:
            raise LayerwiseError(
                f"standardize: {name} has {X.shape[1]} features but X_train has {train.shape[1]} "
                f"(shapes {X.shape} and {train.shape})."
            )
        scaled.append(scaler.transform(X).astype(np.float32, copy=False))
    return (*scaled, scaler)
