"""Argument checks shared by the ``layerwise.data`` modules (private)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from layerwise._checks import LayerwiseError, check_seed


def random_state(seed, name: str = "seed") -> int | None:
    """``seed`` for scikit-learn's ``random_state``, which takes no ``Generator``: from a
    generator, a seed drawn from it (so that the generator advances, as it would)."""
    seed = check_seed(seed, name)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**32))
    if seed is not None and seed >= 2**32:
        raise LayerwiseError(
            f"{name} must be below 2**32 = 4294967296 here (scikit-learn's random_state takes "
            f"no more); got {seed}."
        )
    return seed


def check_split(n: int, test_size: float, classes: int, where: str) -> None:
    """Refuse a ``test_size`` that leaves a split too small for ``train_test_split``.

    As scikit-learn counts: ``ceil(test_size * n)`` test samples, the rest for training;
    each part needs one sample, and one per class when the split is stratified
    (``classes > 0``). Its own error is a bare ``ValueError`` that names no option.
    """
    n_test = math.ceil(test_size * n)
    n_train = n - n_test
    least = max(1, classes)
    if n_test < least or n_train < least:
        each = f"at least {least} (one per class)" if classes else "at least one sample"
        low, high = least / n, (n - least) / n
        raise LayerwiseError(
            f"{where}: test_size={test_size:g} puts {n_test} of the {n} samples in the test "
            f"split and {n_train} in the training split; each needs {each}. Choose a "
            f"test_size between {low:.3g} and {high:.3g}."
        )


@contextmanager
def errors_from(where: str) -> Iterator[None]:
    """Prefix the message of a ``LayerwiseError`` raised inside the block with ``where``.

    The shared checks in ``layerwise._checks`` name the argument (``X_train``); this
    adds the function it was passed to (``standardize: X_train ...``).
    """
    try:
        yield
    except LayerwiseError as e:
        raise LayerwiseError(f"{where}: {e}") from None
