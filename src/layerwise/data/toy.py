"""Small synthetic data sets and scikit-learn's digits, ready for a network.

Every generator returns float32 features ``X`` of shape ``(n, features)`` and targets
``y`` (int64 class labels, or float32 values for regression), and is reproducible
through ``seed``: the same seed gives the same arrays, ``seed=None`` fresh ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

from layerwise._checks import LayerwiseError, interval, positive_int, real_number
from layerwise.data._args import check_seed, check_split, random_state

__all__ = [
    "blobs",
    "circles",
    "curve1d",
    "default_function2d",
    "digits",
    "facts",
    "function2d",
    "grid2d",
    "moons",
    "spiral",
    "xor",
]


def _as_classification(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return X.astype(np.float32), y.astype(np.int64)


def _cycled_shuffle(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices ``0..k-1`` repeated to length ``n`` and shuffled, so groups stay balanced."""
    return rng.permutation(np.arange(n) % k)


# --- classification -----------------------------------------------------------------


def moons(n: int = 1000, *, noise: float = 0.2, seed: int | None = None):
    """Two interleaving half circles (scikit-learn's ``make_moons``).

    Parameters
    ----------
    n : int, default 1000
        Number of points, split as evenly as possible between the two moons.
    noise : float, default 0.2
        Standard deviation of the Gaussian noise added to every coordinate.
    seed : int, numpy Generator or None, default None
        Seed for reproducible data, or a generator to draw from.

    Returns
    -------
    X : ndarray of shape (n, 2), float32
    y : ndarray of shape (n,), int64
        Labels 0 and 1.

    Examples
    --------
    >>> X, y = moons(200, noise=0.1, seed=0)
    >>> X.shape, X.dtype, sorted(set(y.tolist()))
    ((200, 2), dtype('float32'), [0, 1])
    """
    n = positive_int(n, "moons: n")
    noise = real_number(noise, "moons: noise", minimum=0.0)
    X, y = datasets.make_moons(n_samples=n, noise=noise, random_state=random_state(seed))
    return _as_classification(X, y)


def circles(n: int = 1000, *, noise: float = 0.1, factor: float = 0.5, seed: int | None = None):
    """A small circle inside a large one (scikit-learn's ``make_circles``).

    Parameters
    ----------
    n : int, default 1000
        Number of points, split as evenly as possible between the two circles.
    noise : float, default 0.1
        Standard deviation of the Gaussian noise added to every coordinate.
    factor : float, default 0.5
        Radius of the inner circle relative to the outer one (radius 1), in (0, 1).
    seed : int, numpy Generator or None, default None
        Seed for reproducible data, or a generator to draw from.

    Returns
    -------
    X : ndarray of shape (n, 2), float32
    y : ndarray of shape (n,), int64
        0 for the outer circle, 1 for the inner one.
    """
    n = positive_int(n, "circles: n")
    noise = real_number(noise, "circles: noise", minimum=0.0)
    factor = real_number(factor, "circles: factor", minimum=0.0, strict=True)
    if factor >= 1.0:
        raise LayerwiseError(f"circles: factor must be in (0, 1); got {factor!r}.")
    X, y = datasets.make_circles(
        n_samples=n, noise=noise, factor=factor, random_state=random_state(seed)
    )
    return _as_classification(X, y)


def blobs(n: int = 300, *, centers: int = 3, std: float = 1.0, seed: int | None = None):
    """Isotropic Gaussian clusters in the plane (scikit-learn's ``make_blobs``).

    Parameters
    ----------
    n : int, default 300
        Number of points, split as evenly as possible between the clusters.
    centers : int, default 3
        Number of clusters; their centres are drawn uniformly from [-10, 10]^2.
    std : float, default 1.0
        Standard deviation of every cluster.
    seed : int, numpy Generator or None, default None
        Seed for reproducible data, or a generator to draw from.

    Returns
    -------
    X : ndarray of shape (n, 2), float32
    y : ndarray of shape (n,), int64
        Cluster labels ``0 .. centers-1``.
    """
    n = positive_int(n, "blobs: n")
    centers = positive_int(centers, "blobs: centers")
    std = real_number(std, "blobs: std", minimum=0.0)
    X, y = datasets.make_blobs(
        n_samples=n, n_features=2, centers=centers, cluster_std=std, random_state=random_state(seed)
    )
    return _as_classification(X, y)


def xor(n: int = 200, *, noise: float = 0.1, seed: int | None = None):
    """Points around the four corners (±1, ±1), labelled 1 where the signs differ.

    The corners are used in turn (then shuffled), so each gets ``n // 4`` or
    ``n // 4 + 1`` points; the label belongs to the corner, not to the noisy point.

    Parameters
    ----------
    n : int, default 200
        Number of points.
    noise : float, default 0.1
        Standard deviation of the Gaussian noise added to every coordinate.
    seed : int, numpy Generator or None, default None
        Seed for reproducible data, or a generator to draw from.

    Returns
    -------
    X : ndarray of shape (n, 2), float32
    y : ndarray of shape (n,), int64
        ``1`` for the corners (1, -1) and (-1, 1), ``0`` for (1, 1) and (-1, -1).
    """
    n = positive_int(n, "xor: n")
    noise = real_number(noise, "xor: noise", minimum=0.0)
    rng = np.random.default_rng(check_seed(seed))
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    corner = _cycled_shuffle(n, 4, rng)
    X = corners[corner] + noise * rng.standard_normal((n, 2))
    y = (corners[corner, 0] != corners[corner, 1]).astype(np.int64)
    return X.astype(np.float32), y


def spiral(n: int = 300, *, classes: int = 3, noise: float = 0.2, seed: int | None = None):
    """Interleaved spiral arms, one per class (the CS231n spiral).

    Arm ``k`` runs from the origin (radius 0) to radius 1 while its angle turns by
    4 radians, starting at ``2*pi*k / classes``; the noise jitters the angle.

    Parameters
    ----------
    n : int, default 300
        Total number of points; each arm gets ``n // classes`` or one more.
    classes : int, default 3
        Number of arms (classes).
    noise : float, default 0.2
        Standard deviation, in radians, of the Gaussian noise added to each angle.
    seed : int, numpy Generator or None, default None
        Seed for reproducible data, or a generator to draw from.

    Returns
    -------
    X : ndarray of shape (n, 2), float32
        Points inside the unit disc, in shuffled order.
    y : ndarray of shape (n,), int64
        Labels ``0 .. classes-1``.
    """
    n = positive_int(n, "spiral: n")
    classes = positive_int(classes, "spiral: classes")
    if classes > n:  # an arm without points, and a loop over classes that would not end
        raise LayerwiseError(
            f"spiral: classes={classes} is more than the n={n} points; each arm needs one."
        )
    noise = real_number(noise, "spiral: noise", minimum=0.0)
    rng = np.random.default_rng(check_seed(seed))
    sizes = [n // classes + (k < n % classes) for k in range(classes)]
    y = np.repeat(np.arange(classes, dtype=np.int64), sizes)
    # Radius from 0 to 1 along each arm, the same positions for every arm.
    radius = np.concatenate([np.linspace(0.0, 1.0, size) for size in sizes])
    angle = 2 * np.pi * y / classes + 4.0 * radius + noise * rng.standard_normal(n)
    X = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    order = rng.permutation(n)
    return X[order].astype(np.float32), y[order]


# --- regression ------------------------------------------------------------------------


def default_function2d(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """The default target of :func:`function2d`: a bump crossed by slanted ripples.

    ``f(x0, x1) = exp(-4 (x0^2 + x1^2)) * cos(8 x0 + 4 x1)``, with values in about
    [-0.64, 1] on [-0.5, 0.5]^2: smooth, yet with enough structure that a 2-100-1
    ReLU network needs a few thousand steps to reproduce it.

    Parameters
    ----------
    x0, x1 : ndarray of the same shape
        Coordinates.

    Returns
    -------
    ndarray of the same shape as ``x0``.
    """
    return np.exp(-4.0 * (x0**2 + x1**2)) * np.cos(8.0 * x0 + 4.0 * x1)


def function2d(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    *,
    n: int = 1000,
    low: float = -0.5,
    high: float = 0.5,
    seed: int | None = None,
):
    """A 2-D function sampled at random points, for a network to reproduce (notebook 000).

    Parameters
    ----------
    f : callable ``f(x0, x1) -> values`` or None, default None
        Vectorised function of the two coordinates (each of shape ``(n,)``), returning
        ``n`` values. ``None`` uses :func:`default_function2d`.
    n : int, default 1000
        Number of points.
    low, high : float, default -0.5, 0.5
        The points are uniform in the square ``[low, high]^2``.
    seed : int, numpy Generator or None, default None
        Seed for reproducible data, or a generator to draw from.

    Returns
    -------
    X : ndarray of shape (n, 2), float32
    y : ndarray of shape (n, 1), float32
        ``f(X[:, 0], X[:, 1])``.

    Raises
    ------
    LayerwiseError
        If ``f`` does not return ``n`` finite numbers.

    Examples
    --------
    >>> X, y = function2d(n=5, seed=0)
    >>> X.shape, y.shape
    ((5, 2), (5, 1))
    """
    f = default_function2d if f is None else f
    if not callable(f):
        raise LayerwiseError(f"function2d: f must be callable f(x0, x1) or None; got {f!r}.")
    n = positive_int(n, "function2d: n")
    low, high = interval(low, high, "function2d")
    rng = np.random.default_rng(check_seed(seed))
    X = rng.uniform(low, high, size=(n, 2)).astype(np.float32)
    values = np.asarray(f(X[:, 0], X[:, 1]))
    if values.shape not in ((n,), (n, 1)) or values.dtype.kind not in "biuf":
        raise LayerwiseError(
            f"function2d: f(x0, x1) must return {n} numbers for {n} points (shape ({n},)); "
            f"got shape {values.shape} of dtype {values.dtype.name!r}. "
            "Write f with NumPy operations so that it works on whole arrays."
        )
    y = values.reshape(n, 1).astype(np.float32)
    if not np.isfinite(y).all():
        bad = int(np.flatnonzero(~np.isfinite(y))[0])
        x0, x1 = X[bad].tolist()
        raise LayerwiseError(
            f"function2d: f returned {y[bad, 0].item()} at the point ({x0:.4g}, {x1:.4g}); "
            "the target must be finite everywhere in the square."
        )
    return X, y


def grid2d(low: float = -0.5, high: float = 0.5, *, resolution: int = 100):
    """Grid points of a square, to draw a 2-D function or network as an image.

    Parameters
    ----------
    low, high : float, default -0.5, 0.5
        The square ``[low, high]^2``, edges included.
    resolution : int, default 100
        Points per side ``r``.

    Returns
    -------
    points : ndarray of shape (r * r, 2), float32
        ``column_stack([xx.ravel(), yy.ravel()])``: ``x0`` runs fastest, so values
        computed on the points reshape with ``.reshape(r, r)`` into an image whose
        row ``i`` is ``x1 = yy[i, 0]`` and column ``j`` is ``x0 = xx[0, j]``.
    xx, yy : ndarray of shape (r, r), float32
        ``np.meshgrid`` of the ``x0`` and ``x1`` coordinates (``indexing="xy"``).
        Draw with ``imshow(z, origin="lower", extent=(low, high, low, high))`` or
        ``contourf(xx, yy, z)``.

    Examples
    --------
    >>> points, xx, yy = grid2d(resolution=3)
    >>> z = default_function2d(points[:, 0], points[:, 1]).reshape(xx.shape)
    >>> z.shape
    (3, 3)
    """
    low, high = interval(low, high, "grid2d")
    resolution = positive_int(resolution, "grid2d: resolution")
    axis = np.linspace(low, high, resolution, dtype=np.float32)
    xx, yy = np.meshgrid(axis, axis)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    return points, xx, yy


def curve1d(n: int = 200, *, noise: float = 0.05, seed: int | None = None):
    """A 1-D input mapped to a smooth closed curve in the plane (notebook 004).

    The curve is a figure eight, ``(0.5 + 0.35 sin(2 pi x), 0.5 + 0.35 sin(4 pi x))``,
    which stays inside [0.15, 0.85]^2 so that a network with a sigmoid output can
    reach it; Gaussian noise of standard deviation ``noise`` is added to ``y``.

    Parameters
    ----------
    n : int, default 200
        Number of points.
    noise : float, default 0.05
        Standard deviation of the noise on each output coordinate.
    seed : int, numpy Generator or None, default None
        Seed for reproducible data, or a generator to draw from.

    Returns
    -------
    x : ndarray of shape (n, 1), float32
        Uniform in [0, 1], sorted ascending (so that ``plot(y[:, 0], y[:, 1])`` draws
        the curve in order).
    y : ndarray of shape (n, 2), float32
    """
    n = positive_int(n, "curve1d: n")
    noise = real_number(noise, "curve1d: noise", minimum=0.0)
    rng = np.random.default_rng(check_seed(seed))
    x = np.sort(rng.uniform(0.0, 1.0, size=n))
    curve = np.column_stack(
        [0.5 + 0.35 * np.sin(2 * np.pi * x), 0.5 + 0.35 * np.sin(4 * np.pi * x)]
    )
    y = curve + noise * rng.standard_normal((n, 2))
    return x.reshape(n, 1).astype(np.float32), y.astype(np.float32)


# The constant of facts("constant"): notebook 003 learns [1, 1] through a ReLU, so it
# must be positive.
FACTS_CONSTANT = (1.0, 1.0)
FACT_KINDS = ("identity", "swap", "constant", "xor")


def facts(kind: str, n: int = 100, *, seed: int | None = None):
    """The toy "facts" of notebook 003: small mappings from 2 inputs to outputs.

    Parameters
    ----------
    kind : {"identity", "swap", "constant", "xor"}
        - ``"identity"``: ``y = x`` with ``x`` standard normal.
        - ``"swap"``: ``y = x[:, ::-1]`` with ``x`` standard normal.
        - ``"constant"``: ``y = [1, 1]`` for every standard normal ``x``
          (``FACTS_CONSTANT``; positive so that it can be learnt through a ReLU).
        - ``"xor"``: the four points of {0, 1}^2 with ``y = x0 xor x1``, repeated in
          turn to ``n`` rows and shuffled (``n=4`` gives each point once).
    n : int, default 100
        Number of facts (rows).
    seed : int, numpy Generator or None, default None
        Seed for reproducible data, or a generator to draw from.

    Returns
    -------
    X : ndarray of shape (n, 2), float32
    y : ndarray of shape (n, 2), float32, or (n, 1) for ``"xor"``

    Raises
    ------
    LayerwiseError
        For an unknown ``kind``; the message lists the known ones.
    """
    if kind not in FACT_KINDS:
        raise LayerwiseError(
            f"facts: unknown kind {kind!r}; known kinds are {', '.join(map(repr, FACT_KINDS))}."
        )
    n = positive_int(n, "facts: n")
    rng = np.random.default_rng(check_seed(seed))
    if kind == "xor":
        points = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=np.float32)
        X = points[_cycled_shuffle(n, 4, rng)]
        y = (X[:, :1] != X[:, 1:]).astype(np.float32)
        return X, y
    X = rng.standard_normal((n, 2)).astype(np.float32)
    if kind == "identity":
        y = X.copy()
    elif kind == "swap":
        y = X[:, ::-1].copy()
    else:
        y = np.tile(np.asarray(FACTS_CONSTANT, dtype=np.float32), (n, 1))
    return X, y


# --- a real (small) data set ---------------------------------------------------------------


def digits(*, test_size: float = 0.2, seed: int | None = 0):
    """scikit-learn's 8x8 handwritten digits, scaled to [0, 1] and split (no download).

    Parameters
    ----------
    test_size : float, default 0.2
        Fraction of the 1797 images held out for testing, in (0, 1).
    seed : int or None, default 0
        ``random_state`` of the stratified split.

    Returns
    -------
    X_train, X_test : ndarray of shape (n_train, 64) and (n_test, 64), float32
        Pixel intensities divided by 16, so in [0, 1].
    y_train, y_test : ndarray of shape (n_train,) and (n_test,), int64
        Labels 0-9, in the same proportions in both parts.

    Examples
    --------
    >>> X_train, X_test, y_train, y_test = digits(test_size=0.2, seed=0)
    >>> X_train.shape, X_test.shape
    ((1437, 64), (360, 64))
    """
    test_size = real_number(test_size, "digits: test_size", minimum=0.0, strict=True)
    if test_size >= 1.0:
        raise LayerwiseError(f"digits: test_size must be a fraction in (0, 1); got {test_size!r}.")
    X, y = datasets.load_digits(return_X_y=True)
    check_split(len(X), test_size, 10, "digits")
    X = (X / 16.0).astype(np.float32)
    return train_test_split(
        X, y.astype(np.int64), test_size=test_size, stratify=y, random_state=random_state(seed)
    )
