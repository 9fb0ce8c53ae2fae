"""Data for layerwise: toy generators, digits, MNIST / Fashion-MNIST, batching helpers.

Generators return ``X, y``; loaders with a train/test split return
``X_train, X_test, y_train, y_test`` (the order of scikit-learn's
``train_test_split``). Features are float32 of shape ``(n, features)``, class labels
int64 of shape ``(n,)``.

>>> import layerwise as lw
>>> X, y = lw.data.moons(200, noise=0.1, seed=0)
>>> X_train, X_test, y_train, y_test = lw.data.digits(test_size=0.2, seed=0)
"""

from layerwise.data.batching import batches, one_hot, standardize
from layerwise.data.loaders import FASHION_CLASSES, fashion_mnist, mnist
from layerwise.data.readers import load_csv, load_idx
from layerwise.data.toy import (
    blobs,
    circles,
    curve1d,
    default_function2d,
    digits,
    facts,
    function2d,
    grid2d,
    moons,
    spiral,
    xor,
)

__all__ = [
    "FASHION_CLASSES",
    "batches",
    "blobs",
    "circles",
    "curve1d",
    "default_function2d",
    "digits",
    "facts",
    "fashion_mnist",
    "function2d",
    "grid2d",
    "load_csv",
    "load_idx",
    "mnist",
    "moons",
    "one_hot",
    "spiral",
    "standardize",
    "xor",
]
