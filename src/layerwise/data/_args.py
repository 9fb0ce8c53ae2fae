"""Argument checks shared by the ``layerwise.data`` modules (private)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from layerwise._checks import LayerwiseError


def check_seed(seed, name: str = "seed") -> int | np.random.Generator | None:
    """Return ``seed`` if it is ``None``, a non-negative integer or a NumPy ``Generator``
    (to draw from, as ``np.random.default_rng`` takes it: a Session's data callable
    passes its own generator), else raise."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LayerwiseError(
            f"{name} must be None, a non-negative integer or a numpy Generator; got {seed!r}. "
            f"Pass e.g. {name}=0 for reproducible data."
        )
    return int(seed)


def random_state(seed, name: str = "seed") -> int | None:
    """``seed`` for scikit-learn's ``random_state``, which takes no ``Generator``: from a
    generator, a seed drawn from it (so that the generator advances, as it would)."""
    seed = check_seed(seed, name)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**32))
    return seed


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
