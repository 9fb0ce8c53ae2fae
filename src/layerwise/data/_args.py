"""Argument checks shared by the ``layerwise.data`` modules (private)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from layerwise._checks import LayerwiseError


def check_seed(seed, name: str = "seed") -> int | None:
    """Return ``seed`` if it is ``None`` or a non-negative integer, else raise."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LayerwiseError(
            f"{name} must be None or a non-negative integer; got {seed!r}. "
            f"Pass e.g. {name}=0 for reproducible data."
        )
    return int(seed)


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
