"""Weight initializers, each drawn from a ``numpy.random.Generator``.

An initializer is a function ``init(rng, shape, **options) -> ndarray`` for a weight of
shape ``(fan_in, fan_out)`` (a 1-D bias shape ``(n,)`` counts as ``fan_in = fan_out = n``).
They return float64; the layer casts to its own dtype. ``Linear(..., init="he_uniform")``
looks names up in :data:`INITIALIZERS`; a callable is used as it is, e.g.
``functools.partial(lw.init.uniform, low=-0.1, high=0.1)``.

References: Glorot & Bengio, "Understanding the difficulty of training deep feedforward
neural networks" (2010); He et al., "Delving deep into rectifiers" (2015).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from layerwise._checks import LayerwiseError

Initializer = Callable[..., np.ndarray]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    return (shape[0], shape[-1]) if len(shape) == 2 else (shape[0], shape[0])


def zeros(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """All zeros (the default for biases)."""
    return np.zeros(shape)


def uniform(
    rng: np.random.Generator, shape: tuple[int, ...], *, low: float = -0.05, high: float = 0.05
) -> np.ndarray:
    """Uniform on ``[low, high)``."""
    return rng.uniform(low, high, size=shape)


def normal(
    rng: np.random.Generator, shape: tuple[int, ...], *, mean: float = 0.0, std: float = 0.05
) -> np.ndarray:
    """Gaussian with the given mean and standard deviation."""
    return rng.normal(mean, std, size=shape)


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Glorot/Xavier uniform: ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def glorot_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Glorot/Xavier normal: ``N(0, 2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def he_uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """He/Kaiming uniform for ReLU nets: ``U(-a, a)`` with ``a = sqrt(6 / fan_in)``."""
    fan_in, _ = _fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def he_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """He/Kaiming normal for ReLU nets: ``N(0, 2 / fan_in)``."""
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros,
    "uniform": uniform,
    "normal": normal,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "kaiming_normal": he_normal,
}


def get(init: str | Initializer) -> Initializer:
    """Resolve an initializer name (see :data:`INITIALIZERS`) or pass a callable through."""
    if callable(init):
        return init
    try:
        return INITIALIZERS[init]
    except (KeyError, TypeError):
        raise LayerwiseError(
            f"Unknown initializer {init!r}; known: {', '.join(sorted(INITIALIZERS))}, "
            "or a callable init(rng, shape) -> ndarray."
        ) from None
