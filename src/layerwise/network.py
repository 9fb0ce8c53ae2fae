"""``Sequential``: layers in a chain, with summaries, state dicts and ``fit``.

The network owns the bookkeeping that layers should not carry: one dtype for every
array, the names of the parameters (``"0.W"``, ``"0.b"``, ``"2.W"``, ... as torch's
``"0.weight"``), input checks at the boundary, and descriptions that a file can hold.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Callable, Iterable

import numpy as np

from layerwise import _display, training
from layerwise import activations as _activations
from layerwise._checks import (
    LayerwiseError,
    as_matrix,
    cast,
    check_seed,
    float_dtype,
    numeric_array,
    positive_int,
)
from layerwise.activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from layerwise.layers import Dropout, Features, Layer, Linear, RandomShift

# Layer types a file can describe, by name (Elementwise holds code, so it is not here).
LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (Linear, Dropout, RandomShift, Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax)
}
LAYER_TYPES["Features"] = Features  # the playground's input features (no parameters)
# The constructor arguments each describable layer keeps as attributes of the same name.
_LAYER_ARGS: dict[type[Layer], tuple[str, ...]] = {
    Linear: ("in_features", "out_features", "init", "bias_init"),
    Dropout: ("p",),
    RandomShift: ("image_shape", "max_shift"),
    Features: ("features",),
    LeakyReLU: ("alpha",),
}
# A description (from a file) builds at most this many layers: each is an object of ~1 KB,
# and a 16 MiB description could otherwise ask for a million of them.
MAX_DESCRIBED_LAYERS = 10_000


class Sequential:
    """A chain of layers: ``forward`` runs them in order, ``backward`` in reverse.

    Parameters
    ----------
    layers : iterable of Layer
        The layers, each used once. Consecutive sizes must chain (a ``Linear(64, 10)``
        must follow a layer with 64 outputs).
    seed : int or None
        Seed of the one ``np.random.default_rng(seed)`` from which every layer's
        parameters are (re)drawn, in layer order; the same seed builds the same network.
    dtype : float32 (default) or float64
        Dtype of every parameter, gradient and activation; inputs are cast to it.

    Attributes
    ----------
    layers : list of Layer
    in_features, out_features : int or None
        Widths of the input and output (None when no layer fixes them).
    trained : dict or None
        How the network was last trained (task, loss, optimizer, epochs, steps, samples),
        set by ``fit`` and every ``Session``; :func:`layerwise.save` writes it into the
        file, so that a model file says what it is however it was saved.

    Examples
    --------
    >>> model = Sequential([Linear(2, 16), ReLU(), Linear(16, 1), Sigmoid()], seed=0)
    >>> model.predict(np.zeros((3, 2))).shape
    (3, 1)
    """

    def __init__(self, layers: Iterable[Layer], *, seed: int | None = None, dtype=np.float32):
        self.layers = _check_layers(layers)
        self.in_features, self.out_features = _widths(self.layers)
        self.dtype = float_dtype(dtype)
        self.seed = check_seed(seed, "Sequential seed")
        self.trained: dict | None = None
        self._draw_parameters(self.seed)
        self._place_parameters()

    def reset_parameters(self, seed: int | None = None) -> None:
        """Redraw every parameter in place, as the constructor does.

        ``seed=None`` repeats the network's own seed (the same initial weights when it
        was built with one); a seed given becomes the network's seed.
        """
        if seed is not None:
            self.seed = check_seed(seed, "reset_parameters seed")
        self._draw_parameters(self.seed)  # layers draw into their arrays in place

    def _draw_parameters(self, seed: int | None) -> None:
        rng = np.random.default_rng(seed)
        for layer in self.layers:
            reset = getattr(layer, "reset_parameters", None)  # optional for duck-typed layers
            if reset is not None:
                reset(rng)

    @classmethod
    def _wrap(cls, layers: Iterable[Layer], dtype) -> Sequential:
        """A network around existing layers that keeps their parameter values."""
        model = cls.__new__(cls)
        model.layers = _check_layers(layers)
        model.in_features, model.out_features = _widths(model.layers)
        model.dtype = float_dtype(dtype)
        model.seed = None
        model.trained = None
        model._place_parameters()
        return model

    def _place_parameters(self) -> None:
        """Move every parameter and gradient into one flat buffer each, cast to the dtype.

        Each ``layer.params[k]`` becomes a view into the buffer, so an optimizer can
        update all parameters in one pass (1.3x faster Adam on small nets, PERF-NOTES).
        """
        arrays = [(layer, k, v) for layer in self.layers for k, v in layer.params.items()]
        total = sum(v.size for _, _, v in arrays)
        flat_params = np.empty(total, self.dtype)
        flat_grads = np.zeros(total, self.dtype)
        start = 0
        for layer, k, value in arrays:
            stop = start + value.size
            layer.params[k] = flat_params[start:stop].reshape(value.shape)
            layer.params[k][...] = value
            layer.grads[k] = flat_grads[start:stop].reshape(value.shape)
            start = stop
        # The first layer with parameters: backward starts the input-gradient skip there.
        self._first_learned = next((i for i, layer in enumerate(self.layers) if layer.params), 0)

    # -- construction from descriptions -------------------------------------------

    @classmethod
    def from_spec(cls, spec: list[dict], *, seed: int | None = None, dtype=np.float32):
        """Build a network from the notebooks' list of layer dicts.

        Parameters
        ----------
        spec : list of dict
            One dict per Linear layer: ``{"input_dim": int, "output_dim": int,
            "activation": name}`` with an optional ``"init"`` (default "he_uniform").
            Activation names: see ``lw.activations.ACTIVATIONS``; ``"identity"`` (alias
            ``"linear"``) adds no layer.
        seed, dtype
            As for ``Sequential``.

        Examples
        --------
        >>> Sequential.from_spec([{"input_dim": 2, "output_dim": 16, "activation": "relu"},
        ...                       {"input_dim": 16, "output_dim": 1, "activation": "sigmoid"}])
        Sequential([Linear(2 -> 16), ReLU(), Linear(16 -> 1), Sigmoid()], dtype=float32)
        """
        if not isinstance(spec, (list, tuple)) or not spec:
            raise LayerwiseError(
                f"from_spec expects a non-empty list of layer dicts; got {type(spec).__name__}."
            )
        layers: list[Layer] = []
        for i, entry in enumerate(spec):
            if not isinstance(entry, dict) or not {"input_dim", "output_dim"} <= entry.keys():
                raise LayerwiseError(
                    f"from_spec entry {i} must be a dict with 'input_dim', 'output_dim' and "
                    f"'activation'; got {entry!r}."
                )
            if i and entry["input_dim"] != spec[i - 1]["output_dim"]:
                raise LayerwiseError(
                    f"from_spec entry {i} has input_dim {entry['input_dim']!r} but entry "
                    f"{i - 1} has output_dim {spec[i - 1]['output_dim']!r}; they must match."
                )
            unknown = entry.keys() - {"input_dim", "output_dim", "activation", "init"}
            if unknown:
                raise LayerwiseError(f"from_spec entry {i} has unknown keys {sorted(unknown)}.")
            init = entry.get("init", "he_uniform")
            layers.append(Linear(entry["input_dim"], entry["output_dim"], init=init))
            activation = _activations.get(entry.get("activation", "identity"))
            if activation is not Identity:
                layers.append(activation())
        return cls(layers, seed=seed, dtype=dtype)

    def config(self) -> dict:
        """A JSON-ready description of the architecture (what ``lw.save`` stores).

        Raises
        ------
        LayerwiseError
            For layers that hold code (``Elementwise``, user classes), which no file
            can describe safely; save their weights with ``state_dict`` instead.
        """
        described = []
        for i, layer in enumerate(self.layers):
            cls = type(layer)
            if LAYER_TYPES.get(cls.__name__) is not cls:
                raise LayerwiseError(
                    f"{layer!r} at layer {i} cannot be described in a file (it is not one of "
                    f"{', '.join(LAYER_TYPES)}). Rebuild the network in code and use "
                    "model.state_dict() / load_state_dict() for its weights."
                )
            entry = {"type": cls.__name__}
            for arg in _LAYER_ARGS.get(cls, ()):
                value = getattr(layer, arg)
                if isinstance(value, (int, float, str)):  # a callable init is not kept
                    entry[arg] = value
                elif isinstance(value, tuple):  # RandomShift's image_shape, as a JSON list
                    entry[arg] = list(value)
            described.append(entry)
        return {"dtype": self.dtype.name, "layers": described}

    @classmethod
    def from_config(cls, config: dict, *, seed: int | None = None, shapes=None) -> Sequential:
        """Rebuild a network (with fresh weights) from :meth:`config`'s description.

        ``shapes`` (parameter name -> shape, e.g. those of the tensors in a file) are
        the shapes the parameters must have: they are compared with the description
        before any layer is built, so that a description of ``Linear(10**12, 10)`` beside
        small tensors is refused at no cost.
        """
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise LayerwiseError("A network description needs a 'layers' list.")
        dtype = float_dtype(config.get("dtype", "float32"))
        if len(config["layers"]) > MAX_DESCRIBED_LAYERS:
            raise LayerwiseError(
                f"The network description has {len(config['layers']):,} layers; a description "
                f"builds at most {MAX_DESCRIBED_LAYERS:,}. Build such a network in code."
            )
        described = []
        for i, entry in enumerate(config["layers"]):
            name = entry.get("type") if isinstance(entry, dict) else None
            if not isinstance(name, str) or name not in LAYER_TYPES:
                raise LayerwiseError(
                    f"Layer {i} of the description has unknown type {name!r}; known: "
                    f"{', '.join(LAYER_TYPES)}."
                )
            layer_cls = LAYER_TYPES[name]
            kwargs = {k: v for k, v in entry.items() if k != "type"}
            known = _LAYER_ARGS.get(layer_cls, ())
            unknown = kwargs.keys() - set(known)
            if unknown:
                holds = f"only {', '.join(known)}" if known else "no arguments"
                raise LayerwiseError(
                    f"Layer {i} ({name}) of the description has unknown keys {sorted(unknown)}; "
                    f"a {name} takes {holds}."
                )
            described.append((layer_cls, kwargs))
        if shapes is not None:
            _check_shapes(_declared_shapes(described), shapes)
        layers = []
        for i, (layer_cls, kwargs) in enumerate(described):
            try:
                layers.append(layer_cls(**kwargs))
            except TypeError as e:
                raise LayerwiseError(
                    f"Layer {i} ({layer_cls.__name__}) has bad arguments {kwargs}: {e}"
                ) from e
        return cls(layers, seed=seed, dtype=dtype)

    # -- the passes ------------------------------------------------------------------

    def forward(self, x, training: bool = False, *, check: bool = True) -> np.ndarray:
        """Run the layers in order on a batch ``x`` of shape ``(n, in_features)``.

        ``x`` is checked (2-D, numeric, finite, the right width) and cast to the
        network's dtype; ``check=False`` skips that for a loop over batches of data that
        was checked once (as ``fit`` does). ``training=True`` turns on dropout.
        """
        if check:
            x = self._check_input(x)
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    __call__ = forward

    def backward(
        self, grad_out: np.ndarray, *, input_grad: bool = True, skip_last: bool = False
    ) -> np.ndarray | None:
        """Run the layers' backward passes in reverse, filling every parameter gradient.

        Returns the gradient with respect to the network's input, or None when
        ``input_grad=False`` (what training uses: the first layer then skips one GEMM).
        ``skip_last=True`` says ``grad_out`` is already the gradient at the last layer's
        input, from a loss with a fused formula (:meth:`Loss.backward_through`).
        """
        # Without the input's gradient, the layers up to the first one with parameters need
        # none either: after a leading Dropout or RandomShift, the first Linear skips its
        # g W^T (a 784 x 1024 GEMM a batch on MNIST) and the leading layers are not run.
        first = self._first_learned  # found once, when the parameters were placed
        self.layers[first].input_grad = input_grad
        layers = self.layers[:-1] if skip_last else self.layers
        for i in reversed(range(len(layers))):
            if i < first and not input_grad:
                break
            grad_out = layers[i].backward(grad_out)
        return grad_out

    def predict(self, X, *, batch_size: int | None = None) -> np.ndarray:
        """The network's output in inference mode (no dropout), ``(n, out_features)``.

        ``batch_size`` splits a large ``X`` into chunks to bound memory.
        """
        X = self._check_input(X)
        if batch_size is None:
            out = self.forward(X, check=False)
        else:
            size = positive_int(batch_size, "predict batch_size")
            chunks = [self.forward(X[i : i + size], check=False) for i in range(0, len(X), size)]
            out = np.concatenate(chunks)
        # C order for the caller: Linear layers compute feature-major (see Linear.forward).
        return np.ascontiguousarray(out)

    def _check_input(self, x) -> np.ndarray:
        x = as_matrix(x, "Input", self.dtype)
        expected = self.in_features
        if expected is not None and x.shape[1] != expected:
            index, layer = next(
                (i, layer) for i, layer in enumerate(self.layers) if hasattr(layer, "in_features")
            )
            raise LayerwiseError(
                f"{layer!r} at layer {index} expects input with {expected} features; got "
                f"shape {x.shape}. Check the data or the first layer's size."
            )
        return x

    # -- training ------------------------------------------------------------------

    def fit(self, X, y, **kwargs) -> training.History:
        """Train the network; see :func:`layerwise.training.fit` for every option."""
        return training.fit(self, X, y, **kwargs)

    def evaluate(self, X, y, *, loss, **kwargs) -> dict[str, float]:
        """Mean loss (and accuracy for classification losses) on ``(X, y)``; see
        :func:`layerwise.training.evaluate` for the options (weights, metrics)."""
        return training.evaluate(self, X, y, loss=loss, **kwargs)

    # -- parameters ----------------------------------------------------------------

    def parameters(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Named ``(param, grad)`` pairs in layer order, e.g. ``{"0.W": (W, dW), ...}``."""
        return {
            f"{i}.{k}": (param, layer.grads[k])
            for i, layer in enumerate(self.layers)
            for k, param in layer.params.items()
        }

    @property
    def num_parameters(self) -> int:
        return sum(p.size for p, _ in self.parameters().values())

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter by name: an in-memory checkpoint."""
        return {name: param.copy() for name, (param, _) in self.parameters().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy parameters into the network (in place, same names and shapes required)."""
        params = self.parameters()
        missing, unexpected = params.keys() - state.keys(), state.keys() - params.keys()
        if missing or unexpected:
            raise LayerwiseError(
                f"State does not fit this network: missing {sorted(missing)}, "
                f"unexpected {sorted(unexpected)}."
            )
        checked = {}
        for name, (param, _) in params.items():
            value = numeric_array(state[name], f"State entry {name!r}")
            if value.shape != param.shape:
                raise LayerwiseError(
                    f"State entry {name!r} has shape {value.shape}; the network's parameter "
                    f"has shape {param.shape}."
                )
            if not np.isfinite(value).all():
                raise LayerwiseError(f"State entry {name!r} holds NaN or infinite values.")
            checked[name] = cast(value, param.dtype, f"State entry {name!r}")  # 1e300: inf
        for name, (param, _) in params.items():  # copy only once everything is checked
            np.copyto(param, checked[name], casting="unsafe")

    def copy(self, *, dtype=None) -> Sequential:
        """An independent deep copy (optionally cast to another dtype)."""
        layers = _copy.deepcopy(self.layers)
        clone = Sequential._wrap(layers, self.dtype if dtype is None else dtype)
        clone.seed = self.seed
        return clone

    # -- description -----------------------------------------------------------------

    def summary(self, *, print_fn: Callable[[str], object] | None = None) -> None:
        """Show a table of the layers: index, layer, output shape and parameter count.

        In Jupyter the table displays as HTML (with the text table as its plain-text
        form); elsewhere it is printed. Like Keras' ``model.summary()`` it returns None.

        Parameters
        ----------
        print_fn : callable, optional
            Called once with the text table instead of showing it, e.g.
            ``print_fn=logger.info``, or ``print_fn=lines.append`` to keep the text.

        Examples
        --------
        >>> Sequential([Linear(2, 4), ReLU(), Linear(4, 1)]).summary()
        #  Layer           Output shape  Params
        ---------------------------------------
        0  Linear(2 -> 4)  (None, 4)         12
        1  ReLU()          (None, 4)          0
        2  Linear(4 -> 1)  (None, 1)          5
        ---------------------------------------
        Total parameters: 17 (float32, 0.1 KiB)
        """
        header = ("#", "Layer", "Output shape", "Params")
        rows = []
        width = self.in_features
        for i, layer in enumerate(self.layers):
            width = getattr(layer, "out_features", width)
            count = sum(p.size for p in layer.params.values())
            rows.append((str(i), repr(layer), f"(None, {width})", f"{count:,}"))
        cols = [max(len(r[c]) for r in (header, *rows)) for c in range(4)]
        lines = [
            f"{r[0]:>{cols[0]}}  {r[1]:<{cols[1]}}  {r[2]:<{cols[2]}}  {r[3]:>{cols[3]}}"
            for r in (header, *rows)
        ]
        rule = "-" * len(lines[0])
        size = self.num_parameters * self.dtype.itemsize
        total = (
            f"Total parameters: {self.num_parameters:,} ({self.dtype.name}, {size / 1024:.1f} KiB)"
        )
        text = "\n".join([lines[0], rule, *lines[1:], rule, total])
        if print_fn is not None:
            print_fn(text)
            return
        table = _display.html_table(
            header, rows, align=("right", "left", "left", "right"), footer=total
        )
        _display.display_or_print(_display.RichText(text, table))

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}], dtype={self.dtype.name})"


def _check_layers(layers: Iterable[Layer]) -> list[Layer]:
    """The layers as a list, each used once, whose sizes chain."""
    if isinstance(layers, Layer):
        raise LayerwiseError("Sequential takes a list of layers: Sequential([layer, ...]).")
    layers = list(layers)
    if not layers:
        raise LayerwiseError("Sequential needs at least one layer.")
    seen: set[int] = set()
    width = None
    for i, layer in enumerate(layers):
        if not all(hasattr(layer, a) for a in ("forward", "backward", "params", "grads")):
            raise LayerwiseError(
                f"Item {i} ({layer!r}) is not a layer: it needs params, grads, forward and "
                "backward (subclass lw.layers.Layer)."
            )
        if id(layer) in seen:
            raise LayerwiseError(f"{layer!r} appears twice (at layer {i}); use separate layers.")
        seen.add(id(layer))
        n_in = getattr(layer, "in_features", None)
        if n_in is not None and width is not None and n_in != width:
            raise LayerwiseError(
                f"{layer!r} at layer {i} expects {n_in} input features, but the layers "
                f"before it output {width}. Make the sizes chain."
            )
        width = getattr(layer, "out_features", width)
    return layers


def _declared_shapes(described: list[tuple[type[Layer], dict]]) -> dict[str, tuple[int, ...]]:
    """The parameter shapes that the layers of a description would have, from the
    description alone (Python integers: nothing is allocated)."""
    shapes = {}
    for i, (layer_cls, kwargs) in enumerate(described):
        if layer_cls is Linear:
            n_in = positive_int(kwargs.get("in_features"), f"Layer {i} (Linear) in_features")
            n_out = positive_int(kwargs.get("out_features"), f"Layer {i} (Linear) out_features")
            shapes[f"{i}.W"], shapes[f"{i}.b"] = (n_in, n_out), (n_out,)
    return shapes


def _check_shapes(declared: dict[str, tuple[int, ...]], shapes) -> None:
    missing, unexpected = declared.keys() - shapes.keys(), shapes.keys() - declared.keys()
    if missing or unexpected:
        raise LayerwiseError(
            f"State does not fit this network: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}."
        )
    for name, shape in declared.items():
        if tuple(shapes[name]) != shape:
            raise LayerwiseError(
                f"State entry {name!r} has shape {tuple(shapes[name])}, but the description "
                f"declares {shape} for it."
            )


def _widths(layers: list[Layer]) -> tuple[int | None, int | None]:
    """Input and output width: the first sized layer's ``in_features``, the last one's
    ``out_features`` (None for a chain of shape-preserving layers)."""
    sized = [layer for layer in layers if hasattr(layer, "in_features")]
    return (sized[0].in_features, sized[-1].out_features) if sized else (None, None)
