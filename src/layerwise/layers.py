"""The layer protocol, and the layers that hold parameters or randomness.

A layer has four things (the design of Torch7's ``nn``)::

    params:  dict[str, ndarray]   e.g. {"W": (in, out), "b": (out,)}; empty for activations
    grads:   dict[str, ndarray]   same keys and shapes, overwritten by backward
    forward(x, training=False)    caches what backward needs and returns the output
    backward(grad_out)            fills grads and returns the gradient for the layer below

Inputs are batch-major, ``x`` of shape ``(n, features)``. ``backward`` overwrites the
gradients (no accumulation, so no ``zero_grad``); the loss already carries the ``1/n``.
"""

from __future__ import annotations

import numpy as np

from layerwise import init as _init
from layerwise._checks import LayerwiseError, check_seed, float_dtype, positive_int


class Layer:
    """Base class: a layer without parameters that passes its input through.

    Subclasses override ``forward`` and ``backward``; those with parameters fill
    ``params`` and ``grads`` and implement ``reset_parameters(rng)``.

    Attributes
    ----------
    params, grads : dict[str, ndarray]
        Parameters and their gradients, same keys and shapes.
    input_grad : bool
        When False, ``backward`` may skip the gradient for its input and return None.
        ``Sequential.backward(..., input_grad=False)`` sets it on the first layer, since
        nothing needs the gradient with respect to the data.
    """

    input_grad = True

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """(Re)draw the parameters from ``rng``; layers without any do nothing."""

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self.forward(x, training)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _not_run(self) -> LayerwiseError:
        return LayerwiseError(f"{self!r}.backward was called before forward.")


class Linear(Layer):
    r"""Fully connected layer: ``y = x @ W + b``.

    Forward: :math:`y = xW + b`. Backward, for the upstream gradient :math:`g = dL/dy`:
    :math:`dL/dW = x^T g`, :math:`dL/db = \sum_n g_n`, :math:`dL/dx = g W^T`.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and output; ``W`` has shape ``(in_features, out_features)``
        and ``b`` has shape ``(out_features,)``.
    init : str or callable, default "he_uniform"
        Initializer for ``W``: a name from ``lw.init.INITIALIZERS`` or
        ``init(rng, shape) -> ndarray``.
    bias_init : str or callable, default "zeros"
        Initializer for ``b``.
    rng : int, Generator or None
        Randomness for the initial weights when the layer is used on its own
        (``Sequential`` redraws them from its own seed).
    dtype : float32 or float64, default float32

    Examples
    --------
    >>> layer = Linear(3, 2, rng=0)
    >>> layer.forward(np.ones((4, 3), np.float32)).shape
    (4, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        init="he_uniform",
        *,
        bias_init="zeros",
        rng=None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.in_features = positive_int(in_features, "Linear in_features")
        self.out_features = positive_int(out_features, "Linear out_features")
        self.init, self.bias_init = init, bias_init
        self._init_W, self._init_b = _init.get(init), _init.get(bias_init)
        dtype = float_dtype(dtype)
        rng = check_seed(rng, "Linear rng")
        try:
            self.params = {
                "W": np.empty((self.in_features, self.out_features), dtype),
                "b": np.empty(self.out_features, dtype),
            }
            self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        except (MemoryError, ValueError):  # ValueError: beyond what NumPy can index
            count = (self.in_features + 1) * self.out_features
            raise LayerwiseError(
                f"{self!r} needs {count:,} parameters ({2 * count * dtype.itemsize / 2**30:,.1f} "
                f"GiB with their gradients as {dtype.name}), more than can be allocated. "
                "Check the layer sizes."
            ) from None
        self._x = None
        self._ones = np.ones(0, dtype)
        self.reset_parameters(np.random.default_rng(rng))

    def reset_parameters(self, rng: np.random.Generator) -> None:
        for name, initializer in (("W", self._init_W), ("b", self._init_b)):
            param = self.params[name]
            value = np.asarray(initializer(rng, param.shape))
            if value.shape != param.shape:
                raise LayerwiseError(
                    f"{self!r}: initializer for {name} returned shape {value.shape}; "
                    f"expected {param.shape}."
                )
            np.copyto(param, value, casting="same_kind")

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._x = x
        # x W computed as (W^T x^T)^T: the same product, which OpenBLAS computes 5-15 %
        # faster here, stored feature-major (an F-ordered (n, out) array; NumPy and BLAS
        # take either order). np.dot, not @: matmul leaves BLAS when a dimension is 1.
        out = np.dot(self.params["W"].T, x.T).T
        out += self.params["b"]
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        x = self._x
        if x is None:
            raise self._not_run()
        if self._ones.shape[0] != x.shape[0] or self._ones.dtype != x.dtype:
            self._ones = np.ones(x.shape[0], x.dtype)
        if x.shape[1] < 4:
            # A few inputs (the notebooks' 1-D and 2-D data): dW row by row, as GEMVs.
            # OpenBLAS's SGEMM is 2.5x slower for 2 or 3 rows (21 -> 8 us at 1000x100).
            for i, row in enumerate(self.grads["W"]):
                np.dot(x[:, i], grad_out, out=row)
        else:
            np.dot(x.T, grad_out, out=self.grads["W"])
        # The bias gradient as a GEMV with ones: ~10x faster than grad_out.sum(axis=0).
        np.dot(self._ones, grad_out, out=self.grads["b"])
        if not self.input_grad:
            return None
        return np.dot(self.params["W"], grad_out.T).T  # g W^T, feature-major as in forward

    def __repr__(self) -> str:
        return f"Linear({self.in_features} -> {self.out_features})"


class Dropout(Layer):
    r"""Inverted dropout: zero each input with probability ``p`` while training.

    Forward (training): :math:`y = x \odot m / (1 - p)` with :math:`m_{ij} \sim
    \mathrm{Bernoulli}(1 - p)`; at inference :math:`y = x`. Backward:
    :math:`dL/dx = g \odot m / (1 - p)` (the same scaled mask).

    Parameters
    ----------
    p : float in [0, 1)
        Probability of dropping a unit.
    rng : int, Generator or None
        Randomness for the masks when used on its own; ``Sequential`` gives the layer
        a generator derived from its seed.

    References
    ----------
    Srivastava et al., "Dropout: a simple way to prevent neural networks from
    overfitting", JMLR 15 (2014).
    """

    def __init__(self, p: float = 0.5, *, rng=None) -> None:
        super().__init__()
        if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise LayerwiseError(f"Dropout p must be a probability in [0, 1); got {p!r}.")
        self.p = float(p)
        self.rng = np.random.default_rng(check_seed(rng, "Dropout rng"))
        self._mask = None
        self._ran = False

    def reset_parameters(self, rng: np.random.Generator) -> None:
        self.rng = rng.spawn(1)[0]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._ran = True
        if not training or self.p == 0.0:
            self._mask = None
            return x
        # Drawn in x's memory order (Linear outputs are F-ordered): a product of arrays
        # laid out in different orders is 10-20x slower.
        uniform = self.rng.random(out=np.empty_like(x), dtype=x.dtype)
        self._mask = (uniform >= self.p).astype(x.dtype)
        self._mask *= 1.0 / (1.0 - self.p)
        return x * self._mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if not self._ran:
            raise self._not_run()
        return grad_out if self._mask is None else grad_out * self._mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class RandomShift(Layer):
    r"""Data augmentation: shift each image of a training batch by a random offset.

    Forward (training): for each row, an offset :math:`(d_y, d_x)` is drawn uniformly from
    :math:`\{-k, \dots, k\}^2` and :math:`y[i, j] = x[i - d_y, j - d_x]`, 0 where that
    falls outside the image (the pixels shifted out are lost). At inference :math:`y = x`,
    as ``Dropout``. Backward: each input pixel gets the gradient of the output pixel it
    moved to (0 for the pixels shifted out), the same gather read backwards.

    Rows are flattened images, ``(n, height * width)`` in row-major order as
    ``lw.data.mnist`` gives them; put the layer first in the network.

    Parameters
    ----------
    image_shape : (int, int)
        ``(height, width)`` of the images.
    max_shift : int, default 2
        The largest shift ``k`` in pixels, in each direction.
    rng : int, Generator or None
        Randomness for the offsets when used on its own; ``Sequential`` gives the layer
        a generator derived from its seed (and checkpoints keep its state), as for
        ``Dropout``.

    Attributes
    ----------
    shifts : ndarray (n, 2) or None
        The ``(d_y, d_x)`` of each row of the last training batch.

    Examples
    --------
    >>> shift = RandomShift((28, 28), max_shift=2, rng=0)
    >>> shift.forward(np.ones((4, 784), np.float32), training=True).shape
    (4, 784)
    """

    def __init__(self, image_shape=(28, 28), max_shift: int = 2, *, rng=None) -> None:
        super().__init__()
        if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 2:
            raise LayerwiseError(
                f"RandomShift image_shape must be (height, width); got {image_shape!r}."
            )
        height = positive_int(image_shape[0], "RandomShift image height")
        width = positive_int(image_shape[1], "RandomShift image width")
        self.image_shape = (height, width)
        shift_ok = isinstance(max_shift, (int, np.integer)) and not isinstance(max_shift, bool)
        if not shift_ok or not 0 <= max_shift < min(height, width):
            raise LayerwiseError(
                f"RandomShift max_shift must be an integer in [0, {min(height, width)}) for "
                f"{height}x{width} images; got {max_shift!r}."
            )
        self.max_shift = int(max_shift)
        self.in_features = self.out_features = height * width
        self.rng = np.random.default_rng(check_seed(rng, "RandomShift rng"))
        self.shifts = None
        k = self.max_shift
        self._padded_width = width + 2 * k
        # Where pixel (i, j) of an unshifted image sits in the zero-padded image, flattened.
        rows, cols = np.indices(self.image_shape)
        self._grid = ((rows + k) * self._padded_width + cols + k).ravel()
        self._padded = np.zeros((0, height + 2 * k, self._padded_width), np.float32)
        self._index = None
        self._ran = False

    def reset_parameters(self, rng: np.random.Generator) -> None:
        self.rng = rng.spawn(1)[0]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._ran = True
        if not training or self.max_shift == 0:
            self._index = None
            return x
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise LayerwiseError(
                f"{self!r} expects rows of {self.in_features} pixels (flattened images); got "
                f"shape {x.shape}."
            )
        n, k = x.shape[0], self.max_shift
        (height, width), padded = self.image_shape, self._padded
        if padded.shape[0] != n or padded.dtype != x.dtype:  # kept: its zero border stays
            padded = self._padded = np.zeros((n, height + 2 * k, self._padded_width), x.dtype)
        padded[:, k : k + height, k : k + width] = x.reshape(n, height, width)
        self.shifts = self.rng.integers(-k, k + 1, size=(n, 2))
        dy, dx = self.shifts[:, 0], self.shifts[:, 1]
        # One gather for the whole batch: output pixel (i, j) of row s reads the padded
        # image of row s at (i - dy + k, j - dx + k), i.e. grid + row start - dy W' - dx.
        start = np.arange(n) * padded[0].size - dy * self._padded_width - dx
        self._index = self._grid + start[:, None]
        return padded.reshape(-1)[self._index]

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        if not self._ran:
            raise self._not_run()
        if self._index is None:
            return grad_out
        if not self.input_grad:
            return None
        n, k = grad_out.shape[0], self.max_shift
        height, width = self.image_shape
        grad_padded = np.zeros(n * self._padded[0].size, grad_out.dtype)
        grad_padded[self._index] = grad_out  # each output pixel read one distinct input
        grad_padded = grad_padded.reshape(n, height + 2 * k, self._padded_width)
        return grad_padded[:, k : k + height, k : k + width].reshape(n, height * width)

    def __repr__(self) -> str:
        return f"RandomShift(image_shape={self.image_shape}, max_shift={self.max_shift})"


# The input features of TensorFlow Playground: name -> (f, df/dx1, df/dx2) of (x1, x2).
FEATURES = {
    "x1": (lambda a, b: a, lambda a, b: np.ones_like(a), lambda a, b: np.zeros_like(a)),
    "x2": (lambda a, b: b, lambda a, b: np.zeros_like(a), lambda a, b: np.ones_like(a)),
    "x1^2": (lambda a, b: a * a, lambda a, b: 2 * a, lambda a, b: np.zeros_like(a)),
    "x2^2": (lambda a, b: b * b, lambda a, b: np.zeros_like(a), lambda a, b: 2 * b),
    "x1x2": (lambda a, b: a * b, lambda a, b: b, lambda a, b: a),
    "sin x1": (lambda a, b: np.sin(a), lambda a, b: np.cos(a), lambda a, b: np.zeros_like(a)),
    "sin x2": (lambda a, b: np.sin(b), lambda a, b: np.zeros_like(a), lambda a, b: np.cos(b)),
}


class Features(Layer):
    r"""Input features of two coordinates: ``(x1, x2) -> (f_1(x1, x2), ..., f_k(x1, x2))``.

    TensorFlow Playground's feature column as a layer without parameters, so that a
    saved network takes the raw points. Forward: column ``j`` of the output is
    :math:`f_j(x_1, x_2)`. Backward: :math:`dL/dx_i = \sum_j g_j\, \partial f_j / \partial x_i`.

    Parameters
    ----------
    features : sequence of str
        Names from :data:`FEATURES`: ``"x1"``, ``"x2"``, ``"x1^2"``, ``"x2^2"``,
        ``"x1x2"``, ``"sin x1"``, ``"sin x2"``; each at most once.

    Examples
    --------
    >>> layer = Features(["x1", "x2", "x1x2"])
    >>> layer.forward(np.array([[2.0, 3.0]])).tolist()
    [[2.0, 3.0, 6.0]]
    """

    def __init__(self, features=("x1", "x2")) -> None:
        super().__init__()
        if isinstance(features, str) or not isinstance(features, (tuple, list)) or not features:
            raise LayerwiseError(
                f"Features takes a non-empty list of names from {list(FEATURES)}; got {features!r}."
            )
        unknown = [name for name in features if name not in FEATURES]
        if unknown or len(set(features)) != len(features):
            raise LayerwiseError(
                f"Features: unknown or repeated names {unknown or list(features)}; use each of "
                f"{list(FEATURES)} at most once."
            )
        self.features = tuple(features)
        self.in_features, self.out_features = 2, len(self.features)
        self._x = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != 2:  # a third column would be dropped silently
            raise LayerwiseError(f"{self!r} expects rows of 2 coordinates; got shape {x.shape}.")
        self._x = x
        a, b = x[:, 0], x[:, 1]
        return np.column_stack([FEATURES[name][0](a, b) for name in self.features])

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        x = self._x
        if x is None:
            raise self._not_run()
        if not self.input_grad:
            return None
        a, b = x[:, 0], x[:, 1]
        grad_in = np.zeros_like(x)
        for j, name in enumerate(self.features):
            _, d1, d2 = FEATURES[name]
            grad_in[:, 0] += grad_out[:, j] * d1(a, b)
            grad_in[:, 1] += grad_out[:, j] * d2(a, b)
        return grad_in

    def __repr__(self) -> str:
        return f"Features({list(self.features)})"
