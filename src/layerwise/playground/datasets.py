"""The playground's data: TensorFlow Playground's sets, made with ``lw.data``, and CSV text.

NumPy only (no web framework), so that the Python code the page exports can call
:func:`make` to get exactly the page's points::

    from layerwise.playground.datasets import make
    data = make("circle", points=500, noise=10, train_ratio=50, seed=1)
    data.X_train.shape, data.task, data.classes       # ((250, 2), 'classification', 2)

Classification sets have integer labels ``0 .. classes-1``; regression sets a float
value per point. ``noise`` is a percentage (0-50) of what makes each set hard.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from layerwise import data as _data
from layerwise._checks import LayerwiseError

CLASSIFICATION = ("circle", "xor", "gauss", "spiral", "moons")
REGRESSION = ("plane", "multigauss", "function2d")
# The noise standard deviation at 100 %: the slider's 50 % is hard but still learnable.
NOISE_AT_100 = {
    "circle": 0.4,
    "xor": 0.8,
    "gauss": 1.2,
    "spiral": 0.8,  # radians of the arm's angle
    "moons": 0.6,
    "plane": 0.5,
    "multigauss": 0.5,
    "function2d": 0.4,
}
MAX_CSV_CHARS = 1_000_000
MAX_CSV_ROWS = 10_000
MIN_CSV_ROWS = 10
MAX_CLASSES = 8  # the page has a colour for each


@dataclass
class Data:
    """A train/test split of points in the plane, and what to learn from them.

    Attributes
    ----------
    X_train, X_test : ndarray (n, 2), float32
    y_train, y_test : ndarray (n,), int64 labels or float32 values
    task : {"classification", "regression"}
    classes : int
        Number of classes (0 for regression).
    domain : (float, float)
        The square ``[low, high]^2`` that holds every point with a margin: the heatmap's.
    """

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    task: str
    classes: int
    domain: tuple[float, float]


def generate(name: str, *, points: int, noise: float, classes: int = 2, seed: int = 0):
    """The points ``X`` (n, 2) and targets ``y`` of a named set (see the module doc)."""
    sd = noise / 100 * NOISE_AT_100.get(name, 0.0)
    if name == "circle":
        return _data.circles(points, noise=sd, factor=0.5, seed=seed)
    if name == "xor":
        return _data.xor(points, noise=sd, seed=seed)
    if name == "moons":
        return _data.moons(points, noise=sd, seed=seed)
    if name == "spiral":
        return _data.spiral(points, classes=classes, noise=sd, seed=seed)
    if name == "gauss":
        return gauss(points, classes=classes, sd=0.3 + sd, seed=seed)
    if name == "plane":
        rng = np.random.default_rng(seed)
        X = rng.uniform(-1, 1, size=(points, 2))
        y = (X[:, 0] + X[:, 1]) / 2 + sd * rng.standard_normal(points)
        return X.astype(np.float32), y.astype(np.float32)
    if name == "multigauss":
        return multigauss(points, sd=sd, seed=seed)
    if name == "function2d":
        X, y = _data.function2d(n=points, seed=seed)
        rng = np.random.default_rng([seed, 1])  # the noise: another stream than the points
        return X, (y[:, 0] + sd * rng.standard_normal(points)).astype(np.float32)
    known = ", ".join(CLASSIFICATION + REGRESSION)
    raise LayerwiseError(f"Unknown playground data set {name!r}; known: {known}.")


def gauss(points: int, *, classes: int = 2, sd: float = 0.3, seed: int = 0):
    """``classes`` round Gaussian clouds with centres on a circle of radius 1.5."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(points) % classes)
    angle = 2 * np.pi * np.arange(classes) / classes + np.pi / 4
    centres = 1.5 * np.column_stack([np.cos(angle), np.sin(angle)])
    X = centres[y] + sd * rng.standard_normal((points, 2))
    return X.astype(np.float32), y.astype(np.int64)


# (x1, x2, height, width) of the bumps of the "multigauss" set, as in TF Playground.
BUMPS = ((-0.5, -0.5, 1.0, 0.3), (0.5, 0.5, 1.0, 0.3), (-0.5, 0.5, -1.0, 0.3),
         (0.5, -0.5, -1.0, 0.3), (0.0, 0.0, 0.5, 0.2))  # fmt: skip


def multigauss(points: int, *, sd: float = 0.0, seed: int = 0):
    """A sum of Gaussian bumps of both signs (:data:`BUMPS`) on [-1, 1]^2, plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(points, 2))
    y = np.zeros(points)
    for cx, cy, height, width in BUMPS:
        y += height * np.exp(-((X[:, 0] - cx) ** 2 + (X[:, 1] - cy) ** 2) / (2 * width**2))
    y += sd * rng.standard_normal(points)
    return X.astype(np.float32), y.astype(np.float32)


def parse_csv(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Points from CSV text: ``x1, x2, label-or-value`` per line, an optional header.

    Separators: comma, semicolon or tab. Labels that are all whole numbers from 0 to
    ``MAX_CLASSES - 1`` (or -1 and 1, read as 0 and 1) make a classification set;
    anything else is a regression target. Nothing in the text is evaluated.

    Raises
    ------
    LayerwiseError
        Naming the line and what is wrong: too large, too few or too many rows, a row
        without three numbers, a number that is not finite.
    """
    if not isinstance(text, str):
        raise LayerwiseError("The CSV must be text.")
    if len(text) > MAX_CSV_CHARS:
        raise LayerwiseError(
            f"The CSV has {len(text):,} characters; the playground takes at most "
            f"{MAX_CSV_CHARS:,} (about 1 MB)."
        )
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in re.split(r"[,;\t]", line)]
        if len(fields) != 3:
            raise LayerwiseError(
                f"CSV line {number}: expected 3 values (x1, x2, label or value); got "
                f"{len(fields)}: {line[:60]!r}."
            )
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if not rows and number == _first_line(text):  # a header row
                continue
            raise LayerwiseError(
                f"CSV line {number}: {line[:60]!r} is not three numbers."
            ) from None
        if not all(math.isfinite(v) for v in values):
            raise LayerwiseError(f"CSV line {number}: {line[:60]!r} holds NaN or infinity.")
        rows.append(values)
        if len(rows) > MAX_CSV_ROWS:
            raise LayerwiseError(f"The CSV has more than {MAX_CSV_ROWS:,} rows; use fewer.")
    if len(rows) < MIN_CSV_ROWS:
        raise LayerwiseError(
            f"The CSV has {len(rows)} rows of data; the playground needs at least {MIN_CSV_ROWS}."
        )
    table = np.array(rows)
    X, target = table[:, :2].astype(np.float32), table[:, 2]
    if np.abs(X).max() > 1e6:
        raise LayerwiseError("The CSV's x1, x2 go beyond 1e6; rescale them.")
    labels = set(np.unique(target).tolist())
    if labels == {-1.0, 1.0}:
        return X, (target > 0).astype(np.int64)
    whole = all(v.is_integer() and 0 <= v < MAX_CLASSES for v in labels)
    if whole and len(labels) >= 2:
        return X, target.astype(np.int64)
    return X, target.astype(np.float32)


def _first_line(text: str) -> int:
    """The number of the first non-blank line."""
    return next(i for i, line in enumerate(text.splitlines(), start=1) if line.strip())


def split(X, y, *, train_ratio: int, seed: int) -> Data:
    """Shuffle ``(X, y)`` with ``seed`` and cut it at ``train_ratio`` percent."""
    n = len(X)
    order = np.random.default_rng([seed, 2]).permutation(n)
    n_train = min(max(round(n * train_ratio / 100), 1), n - 1)
    train, test = order[:n_train], order[n_train:]
    classification = y.dtype.kind == "i"
    classes = int(y.max()) + 1 if classification else 0
    low, high = float(X.min()), float(X.max())
    margin = 0.1 * (high - low) or 1.0
    domain = (round(low - margin, 2), round(high + margin, 2))
    task = "classification" if classification else "regression"
    return Data(X[train], X[test], y[train], y[test], task, classes, domain)


def make(
    name: str,
    *,
    points: int = 500,
    noise: float = 0,
    train_ratio: int = 50,
    classes: int = 2,
    seed: int = 0,
) -> Data:
    """A named set (:func:`generate`), split at ``train_ratio`` percent (:func:`split`)."""
    X, y = generate(name, points=points, noise=noise, classes=classes, seed=seed)
    return split(X, y, train_ratio=train_ratio, seed=seed)
