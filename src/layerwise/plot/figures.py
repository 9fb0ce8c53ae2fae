"""The figures of ``lw.plot``: training curves, what a network computes, its weights,
data and results."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from numpy.typing import ArrayLike

from layerwise import metrics as _metrics
from layerwise._checks import (
    LayerwiseError,
    as_matrix,
    interval,
    numeric_array,
    positive_int,
    real_number,
)
from layerwise.plot._common import (
    _DIVERGING,
    _binary_scale,
    _check_model,
    _class_labels,
    _draw_boundary,
    _draw_fit_1d,
    _figure,
    _fit_1d_view,
    _gives_probabilities,
    _grid,
    _grid_around,
    _inputs,
    _IntegerTicks,
    _predict,
)
from layerwise.training import History

# -- training curves ----------------------------------------------------------------------


def _is_steps(run) -> bool:
    """Whether ``run`` is a flat sequence of numbers: the loss of every step
    (``session.losses``, ``session.step(n)``, ``bench.learn(n)``), not a per-epoch record."""
    if isinstance(run, np.ndarray):
        return run.ndim == 1 and run.size > 0
    return (
        isinstance(run, (list, tuple))
        and len(run) > 0
        and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in run)
    )


def _records(run, name: str) -> dict[str, np.ndarray]:
    if _is_steps(run):
        run = {"loss": run}
    records = run.history if isinstance(run, History) else run
    if not isinstance(records, Mapping) or not records:
        raise LayerwiseError(
            f"{name} must be a History or a non-empty dict of per-epoch lists; got {run!r}."
        )
    out = {}
    for key, values in records.items():
        values = numeric_array(values, f"history: {name}[{key!r}]").astype(np.float64)
        if values.ndim != 1:
            raise LayerwiseError(
                f"history: {name}[{key!r}] must be a list of numbers; got shape {values.shape}."
            )
        out[str(key)] = values
    return out


def _runs(hist, label) -> list[tuple[str | None, dict[str, np.ndarray], bool]]:
    """``[(label, records, per_step), ...]`` for one run or several (a list, or a dict by
    label); ``per_step`` tells per-step losses from per-epoch records."""
    is_run = (
        isinstance(hist, History)
        or _is_steps(hist)
        or (
            isinstance(hist, Mapping)
            and not all(isinstance(v, (History, Mapping)) for v in hist.values())
        )
    )
    if is_run:
        if label is not None and not isinstance(label, str):
            raise LayerwiseError(f"history: label must be a string for one run; got {label!r}.")
        return [(label, _records(hist, "hist"), _is_steps(hist))]
    if isinstance(hist, Mapping) and hist:
        if label is not None:
            raise LayerwiseError("history: the dict's keys already label the runs; drop label=.")
        return [(str(k), _records(run, f"hist[{k!r}]"), False) for k, run in hist.items()]
    if isinstance(hist, (list, tuple)) and hist:
        labels = [f"run {i + 1}" for i in range(len(hist))] if label is None else list(label)
        if len(labels) != len(hist) or isinstance(label, str):
            raise LayerwiseError(
                f"history: label must give one name per run ({len(hist)}); got {label!r}."
            )
        return [
            (str(n), _records(run, f"hist[{i}]"), _is_steps(run))
            for i, (n, run) in enumerate(zip(labels, hist))
        ]
    raise LayerwiseError(
        "history expects a History, a dict of per-epoch lists, per-step losses (a list or 1-D "
        "array of numbers), or a non-empty list or dict of them (one per run); got "
        f"{type(hist).__name__}."
    )


def history(
    hist,
    *,
    log: bool = False,
    keys: str | Sequence[str] | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    label: str | Sequence[str] | None = None,
    val_label: str = "validation",
    title: str | None = None,
) -> Figure | Axes | Sequence[Axes]:
    """Loss and accuracy per epoch (or the loss per step), training (solid) and
    validation (dashed).

    Each metric gets a panel (loss left, accuracy right) with one solid line for the
    training value and one dashed line for ``"val_" + metric`` when it was recorded.
    Several runs share the panels, one colour per run, with a legend: the
    learning-rate study of notebook 002. The x axis counts epochs from 1, or steps
    for per-step losses, with as many whole-number ticks as fit.

    Parameters
    ----------
    hist : History, dict of lists, array of losses, or a list or dict of those
        One run: ``model.fit``'s History or ``{"loss": [...], ...}`` (per epoch), or
        per-step losses as a list or 1-D array of numbers (``session.losses``,
        ``bench.learn(n)``). Several: a list of runs (labelled by ``label`` or "run 1",
        "run 2", ...), or a dict ``{label: run}`` of per-epoch runs (a dict of arrays
        is one run's record; label per-step runs with a list and ``label``).
    log : bool, default False
        Log-scaled y axes (notebook 003), except for accuracy and R^2 panels.
    keys : str or sequence of str, optional
        The metrics to draw, one panel each; their ``"val_"`` twins come along.
        Default: those of ``"loss"`` and ``"accuracy"`` that were recorded.
        ``"lr"`` and ``"time"`` are recorded too.
    ax : Axes or sequence of Axes, optional
        One Axes per panel, drawn into instead of a new figure.
    label : str or sequence of str, optional
        Legend name of the run, or of each run of a list.
    val_label : str, default "validation"
        What the ``"val_"`` lines are called in the legend, e.g. ``"test"`` when the
        validation data was the test split.
    title : str, optional
        A title over the panels (e.g. the data set and the run).

    Returns
    -------
    Figure, Axes or sequence of Axes
        A new figure, which displays itself in Jupyter; or ``ax`` when it was given.

    Raises
    ------
    LayerwiseError
        For an empty or malformed history, a key that no run recorded, or per-step and
        per-epoch runs in one figure.

    Examples
    --------
    >>> fig = history({"lr=1": {"loss": [0.7, 0.4]}, "lr=0.1": {"loss": [0.7, 0.6]}}, log=True)
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['lr=1', 'lr=0.1']
    >>> history([0.7, 0.5, 0.4, 0.35]).axes[0].get_xlabel()
    'step'
    """
    runs = _runs(hist, label)
    per_step = {steps for _, _, steps in runs}
    if len(per_step) > 1:
        raise LayerwiseError(
            "history: some runs are per-step losses and others per-epoch records; their x axes "
            "differ, so draw them in separate figures."
        )
    unit = "step" if per_step.pop() else "epoch"
    recorded = sorted({k for _, r, _ in runs for k in r})
    if keys is None:
        keys = [
            k for k in ("loss", "accuracy") if any(k in r or f"val_{k}" in r for _, r, _ in runs)
        ]
        if not keys:
            raise LayerwiseError(f"history has no 'loss' or 'accuracy'; recorded: {recorded}.")
    keys = [keys] if isinstance(keys, str) else list(keys)
    for key in keys:
        if not any(key in r or f"val_{key}" in r for _, r, _ in runs):
            raise LayerwiseError(f"history has no {key!r} (nor 'val_{key}'); recorded: {recorded}.")
    fig, axes = _figure(ax, len(keys), "history")
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for panel, key in zip(axes, keys):
        for i, (name, records, _) in enumerate(runs):
            for prefix, style, kind in (("", "-", "train"), ("val_", "--", str(val_label))):
                values = records.get(prefix + key)
                if values is None:
                    continue
                if name is None:
                    text = kind
                else:
                    text = name if kind == "train" else f"{name} ({kind})"
                counts = np.arange(1, len(values) + 1)
                panel.plot(counts, values, style, color=colors[i % len(colors)], label=text)
        panel.set(title=key, xlabel=unit, ylabel=key)
        panel.xaxis.set_major_locator(_IntegerTicks())
        if log and "accuracy" not in key and key != "r2":  # those two are not log-scale
            panel.set_yscale("log")
        if len(panel.lines) > 1:
            panel.legend()
    if title is not None:
        fig.suptitle(str(title))
    return fig if ax is None else ax


# -- what a network computes over its input space -------------------------------------


def decision_boundary(
    model,
    X: ArrayLike,
    y: ArrayLike | None,
    *,
    resolution: int = 200,
    ax: Axes | None = None,
    margin: float = 0.5,
    title: str | None = None,
    names: Sequence[str] | None = None,
) -> Figure | Axes:
    """The network's output as a filled contour over the plane, with the data on top.

    The grid has ``resolution`` points per side and spans the data's bounding box
    widened by ``margin`` (the axes' limits are exactly the grid's ends). With one
    output, the filled contour is ``ax.contourf(xx, yy, Z)`` of the outputs ``Z`` on
    eleven levels from 0 to 1 for probabilities (the last layer is a Sigmoid or
    Softmax; for a model without ``layers``, the outputs lie in [0, 1]) or else from
    ``-m`` to ``m`` for logits (``m = max |Z|``), and a black line marks the decision
    threshold (0.5 or 0). With several outputs, the
    contour is of the argmax class, faded towards white where the softmax confidence
    is low. The regions are pale and the points full-coloured with black edges, so that
    each point shows its class on any region (notebook 002's red and blue points), with
    a legend of the classes. Notebook 002.

    Parameters
    ----------
    model
        A network with 2 inputs and ``predict``.
    X : array (n, 2)
        The points, drawn on top and used to place the grid.
    y : array (n,) or (n, classes), or None
        Class labels (or one-hot rows) colouring the points; None draws them white.
    resolution : int, default 200
    ax : Axes, optional
        Draw into this Axes (e.g. from ``plt.subplots()``) instead of a new figure.
    margin : float, default 0.5
        Space around the data, in input units.
    title : str, optional
        E.g. which points these are: ``"moons: test points"``.
    names : sequence of str, optional
        The classes' names for the legend (default "class 0", "class 1", ...).

    Returns
    -------
    Figure or Axes
        A new figure, which displays itself in Jupyter; or ``ax`` when it was given.
        Either has a colour bar of the output (or of the class).

    Raises
    ------
    LayerwiseError
        When ``X`` is not ``(n, 2)``, the model does not take 2 inputs, or ``y`` does
        not hold one label per point within the model's classes.

    Examples
    --------
    >>> import layerwise as lw
    >>> X, y = lw.data.moons(100, seed=0)
    >>> model = lw.Sequential([lw.Linear(2, 8), lw.ReLU(), lw.Linear(8, 1)], seed=0)
    >>> fig = decision_boundary(model, X, y, resolution=50)
    """
    what = "decision_boundary"
    X = _inputs(X, 2, "X", what)
    _check_model(model, 2, what)
    resolution = positive_int(resolution, f"{what}: resolution")
    margin = real_number(margin, f"{what}: margin", minimum=0.0)
    points, xx, yy = _grid_around(X, margin, resolution)
    outputs = _predict(model, points)
    k = outputs.shape[1]
    labels = None if y is None else _class_labels(y, len(X), k, what)
    probabilities = _gives_probabilities(model, outputs)
    if names is not None:
        names = [str(name) for name in names]
        if len(names) < max(k, 2):
            raise LayerwiseError(
                f"{what}: {len(names)} names for the {max(k, 2)} classes of the network."
            )
    fig, (panel,) = _figure(ax, 1, what, size=(5.2, 4.2))
    filled = _draw_boundary(
        panel,
        xx,
        yy,
        outputs.reshape(*xx.shape, k),
        probabilities,
        _binary_scale(probabilities, outputs),
        X,
        labels,
        names,
    )
    if k == 1:
        label = "network output: P(class 1)" if probabilities else "network output (logit)"
        fig.colorbar(filled, ax=panel, label=label)
    else:
        fig.colorbar(filled, ax=panel, label="class", ticks=_IntegerTicks())
    if title is not None:
        panel.set_title(str(title))
    return fig if ax is None else ax


def function_map(
    model,
    low: float = -0.5,
    high: float = 0.5,
    *,
    target: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    resolution: int = 100,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure | Axes | Sequence[Axes]:
    """The network's output over the square ``[low, high]^2`` as an image (notebook 000).

    The image is ``model.predict(points)`` on the grid of ``lw.data.grid2d(low, high,
    resolution=resolution)``, reshaped to ``(r, r)`` and drawn with
    ``imshow(origin="lower", extent=(low, high, low, high))``: row ``i`` is
    ``x1 = yy[i, 0]``, column ``j`` is ``x0 = xx[0, j]``.

    Parameters
    ----------
    model
        A network with 2 inputs and 1 output.
    low, high : float, default -0.5, 0.5
    target : callable ``f(x0, x1) -> values``, optional
        The function the network learns (e.g. ``lw.data.default_function2d``), drawn
        beside it on the same colour scale, called on the float64 ``(r, r)`` grid arrays.
    resolution : int, default 100
        Grid points per side ``r``.
    ax : Axes, or two Axes when ``target`` is given, optional
        Drawn into instead of a new figure.

    Returns
    -------
    Figure, Axes or sequence of Axes
        A new figure, which displays itself in Jupyter; or ``ax`` when it was given.

    Raises
    ------
    LayerwiseError
        For a model without 2 inputs and 1 output, ``low >= high``, or a target that
        does not return one finite number per grid point.

    Examples
    --------
    >>> import layerwise as lw
    >>> model = lw.Sequential([lw.Linear(2, 30), lw.ReLU(), lw.Linear(30, 1)], seed=0)
    >>> fig = function_map(model, target=lw.data.default_function2d)
    """
    what = "function_map"
    _check_model(model, 2, what)
    low, high = interval(low, high, what)
    resolution = positive_int(resolution, f"{what}: resolution")
    points, xx, yy = _grid((low, high), (low, high), resolution)
    outputs = _predict(model, points)
    if outputs.shape[1] != 1:
        raise LayerwiseError(
            f"{what} draws one output; the model has {outputs.shape[1]}. "
            "Use decision_boundary for several classes."
        )
    images = {"network": outputs.reshape(xx.shape)}
    if target is not None:
        if not callable(target):
            raise LayerwiseError(f"{what}: target must be callable f(x0, x1); got {target!r}.")
        values = numeric_array(target(xx, yy), f"{what}: target(x0, x1)").astype(np.float64)
        if values.shape != xx.shape or not np.isfinite(values).all():
            raise LayerwiseError(
                f"{what}: target(x0, x1) must return finite values of shape {xx.shape} for "
                f"grid arrays of that shape; got shape {values.shape}. Write it with NumPy "
                "operations so that it works on whole arrays."
            )
        images["target"] = values
    fig, axes = _figure(ax, len(images), what, size=(4.2, 3.6))
    norm = Normalize(min(v.min() for v in images.values()), max(v.max() for v in images.values()))
    for panel, (title, image) in zip(axes, images.items()):
        shown = panel.imshow(
            image, origin="lower", extent=(low, high, low, high), norm=norm, interpolation="nearest"
        )
        panel.set(title=title, xlabel="x0", ylabel="x1")
    fig.colorbar(shown, ax=axes)
    return fig if ax is None else ax


def fit_1d(
    model,
    x: ArrayLike,
    y: ArrayLike | None,
    *,
    view: str = "auto",
    resolution: int = 200,
    ax: Axes | None = None,
) -> Figure | Axes:
    """Data and network output for 1-D inputs (notebook 004).

    The network is drawn at ``resolution`` inputs ``np.linspace(x.min(), x.max(),
    resolution)`` (a line in input order) and the data as points.

    Parameters
    ----------
    model
        A network with 1 input.
    x : array (n, 1) or (n,)
    y : array (n, outputs) or (n,), or None
        Targets drawn as points (None: the network only).
    view : {"auto", "plane", "outputs"}, default "auto"
        "plane" draws output 0 against output 1 (2 outputs; the curve of notebook
        004), "outputs" each output against ``x``. "auto" picks "plane" for 2 outputs.
    resolution : int, default 200
    ax : Axes, optional
        Draw into this Axes (e.g. from ``plt.subplots()``) instead of a new figure.

    Returns
    -------
    Figure or Axes
        A new figure, which displays itself in Jupyter; or ``ax`` when it was given.

    Raises
    ------
    LayerwiseError
        For a model without 1 input, ``x`` not of shape (n, 1), ``y`` not matching
        the model's outputs, or ``view="plane"`` without 2 outputs.

    Examples
    --------
    >>> import layerwise as lw
    >>> x, y = lw.data.curve1d(100, seed=0)
    >>> model = lw.Sequential([lw.Linear(1, 6), lw.Sigmoid(), lw.Linear(6, 2)], seed=0)
    >>> fig = fit_1d(model, x, y)
    """
    what = "fit_1d"
    _check_model(model, 1, what)
    x = np.asarray(x)
    x = _inputs(x.reshape(-1, 1) if x.ndim == 1 else x, 1, "x", what)
    resolution = positive_int(resolution, f"{what}: resolution")
    t = np.linspace(x.min(), x.max(), resolution).reshape(-1, 1)
    pred = _predict(model, t)
    if y is not None:
        y = numeric_array(y, f"{what}: y").astype(np.float64)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        if y.shape != (len(x), pred.shape[1]):
            raise LayerwiseError(
                f"{what}: y has shape {y.shape}; expected ({len(x)}, {pred.shape[1]}), one row "
                "per point with one column per network output."
            )
    view = _fit_1d_view(view, pred.shape[1], what)
    fig, (panel,) = _figure(ax, 1, what)
    _draw_fit_1d(panel, t, pred, x, y, view)
    return fig if ax is None else ax


# -- the network's parameters, data and results -------------------------------------------


def weights(model, *, ax: Axes | Sequence[Axes] | None = None) -> Figure | Axes | Sequence[Axes]:
    """Each Linear layer's ``W`` with ``b`` as an extra last row, as an image.

    Panel ``i`` shows ``np.vstack([W, b])`` of shape ``(in + 1, out)`` (rows are
    inputs, then the bias; columns are outputs), as notebook 003's weight view. All
    panels share one diverging colour scale centred at 0 and one colour bar.

    Parameters
    ----------
    model
        A network with ``layers``; layers whose ``params`` hold a 2-D ``"W"`` are drawn.
    ax : Axes or sequence of Axes, optional
        One Axes per such layer, drawn into instead of a new figure.

    Returns
    -------
    Figure, Axes or sequence of Axes
        A new figure, which displays itself in Jupyter; or ``ax`` when it was given.

    Raises
    ------
    LayerwiseError
        When the model has no layer with a weight matrix.

    Examples
    --------
    >>> import layerwise as lw
    >>> model = lw.Sequential([lw.Linear(2, 4), lw.Tanh(), lw.Linear(4, 1)], seed=0)
    >>> len(weights(model).axes)  # two panels and the colour bar
    3
    """
    panels = []
    for i, layer in enumerate(getattr(model, "layers", ())):
        params = getattr(layer, "params", {})
        W = params.get("W")
        if W is not None and np.ndim(W) == 2:
            rows = [W, np.reshape(params["b"], (1, -1))] if "b" in params else [W]
            panels.append((f"{i}: {layer!r}", np.vstack(rows).astype(np.float64), "b" in params))
    if not panels:
        raise LayerwiseError(
            "weights draws layers with a weight matrix params['W'] (e.g. Linear); the model "
            "has none."
        )
    fig, axes = _figure(ax, len(panels), "weights", size=(3.2, 3.6))
    m = max(float(np.abs(image).max()) for _, image, _ in panels) or 1.0
    norm = Normalize(-m, m)
    for panel, (title, image, has_bias) in zip(axes, panels):
        shown = panel.imshow(image, cmap=_DIVERGING, norm=norm, aspect="auto")
        panel.xaxis.set_major_locator(_IntegerTicks())
        panel.yaxis.set_major_locator(_IntegerTicks())
        if has_bias:
            panel.axhline(image.shape[0] - 1.5, color="k", lw=0.8)
        panel.set(
            title=title, xlabel="output", ylabel="input (last row: b)" if has_bias else "input"
        )
    fig.colorbar(shown, ax=axes)
    return fig if ax is None else ax


def image_grid(
    X: ArrayLike,
    shape: tuple[int, int] | None = None,
    *,
    labels: ArrayLike | None = None,
    n: int = 64,
    ax: Axes | None = None,
) -> Figure | Axes:
    """The first ``n`` images of ``X`` tiled in a near-square grid (notebook 001).

    The tiles form one image, ``ceil(sqrt(n))`` tiles wide, with a transparent
    one-pixel gap: tile ``i`` of shape ``(h, w)`` sits at row ``(i // cols) * (h + 1)``
    and column ``(i % cols) * (w + 1)``. Pixels are drawn in grey on the range of the
    shown images.

    Parameters
    ----------
    X : array (N, h * w) or (N, h, w)
        Images as rows (digits: 64 features, MNIST: 784) or as 2-D arrays.
    shape : (h, w), optional
        Image shape; inferred from a square feature count (64 -> 8x8, 784 -> 28x28).
    labels : array (N,) or (N, classes), optional
        A label per image (one-hot rows give their argmax), written in its corner.
    n : int, default 64
        How many images to show (at most ``N``).
    ax : Axes, optional
        Draw into this Axes (e.g. from ``plt.subplots()``) instead of a new figure.

    Returns
    -------
    Figure or Axes
        A new figure, which displays itself in Jupyter; or ``ax`` when it was given.

    Raises
    ------
    LayerwiseError
        When ``shape`` is missing and the feature count is not a perfect square, or
        ``shape`` does not match it.

    Examples
    --------
    >>> import layerwise as lw
    >>> X_train, X_test, y_train, y_test = lw.data.digits(seed=0)
    >>> fig = image_grid(X_train, labels=y_train, n=16)
    """
    what = "image_grid"
    X = numeric_array(X, f"{what}: X")
    if X.ndim == 3:
        shape = shape or X.shape[1:]
        X = X.reshape(len(X), -1)
    X = as_matrix(X, f"{what}: X", np.float64)
    features = X.shape[1]
    if shape is None:
        side = math.isqrt(features)
        if side * side != features:
            raise LayerwiseError(
                f"{what}: the {features} features of each image are not a perfect square; "
                "pass shape=(height, width)."
            )
        shape = (side, side)
    h, w = (int(s) for s in shape)
    if h * w != features:
        raise LayerwiseError(
            f"{what}: shape {tuple(shape)} holds {h * w} pixels but each image has {features}."
        )
    count = min(positive_int(n, f"{what}: n"), len(X))
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    mosaic = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for i in range(count):
        r, c = (i // cols) * (h + 1), (i % cols) * (w + 1)
        mosaic[r : r + h, c : c + w] = X[i].reshape(h, w)
    fig, (panel,) = _figure(ax, 1, what, size=(6.0, 6.0))
    shown = X[:count]
    panel.imshow(mosaic, cmap="gray", vmin=shown.min(), vmax=shown.max(), interpolation="nearest")
    panel.set_axis_off()
    if labels is not None:
        names = numeric_array(labels, f"{what}: labels") if not _is_text(labels) else labels
        if getattr(names, "ndim", 1) == 2:
            names = names.argmax(axis=1)
        if len(names) < count:
            raise LayerwiseError(f"{what}: {len(names)} labels for {count} images.")
        for i in range(count):
            panel.text(
                (i % cols) * (w + 1) - 0.5,
                (i // cols) * (h + 1) - 0.5,
                str(names[i]),
                color="yellow",
                fontsize=8,
                ha="left",
                va="top",
            )
    return fig if ax is None else ax


def _is_text(values) -> bool:
    return any(isinstance(v, str) for v in values)


def confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: Sequence[str] | None = None,
    normalize: bool | str = False,
    ax: Axes | None = None,
) -> Figure | Axes:
    """An annotated confusion matrix: true class down the rows, predicted across.

    The image holds ``lw.metrics.confusion_matrix(y_true, y_pred)`` (counts) or its
    normalized form, with each cell's value written in it (up to 30 classes).

    Parameters
    ----------
    y_true, y_pred : array (n,) or (n, classes)
        Labels, or one-hot / score rows (compared by argmax).
    labels : sequence of str, optional
        Class names, one per class (at least as many as the labels seen).
    normalize : bool or {"true", "pred", "all"}, default False
        ``True`` or ``"true"`` divides each row by its count (per-class recall),
        ``"pred"`` each column, ``"all"`` the whole matrix.
    ax : Axes, optional
        Draw into this Axes (e.g. from ``plt.subplots()``) instead of a new figure.

    Returns
    -------
    Figure or Axes
        A new figure, which displays itself in Jupyter; or ``ax`` when it was given.

    Raises
    ------
    LayerwiseError
        For fewer ``labels`` than classes, or an unknown ``normalize``.

    Examples
    --------
    >>> fig = confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], labels=["a", "b", "c"])
    """
    what = "confusion_matrix"
    counts = _metrics.confusion_matrix(y_true, y_pred)
    if labels is not None:
        labels = [str(name) for name in labels]
        if len(labels) < len(counts):
            raise LayerwiseError(
                f"{what}: {len(labels)} labels for {len(counts)} classes (labels up to "
                f"{len(counts) - 1} occur); pass one name per class."
            )
        extra = len(labels) - len(counts)
        counts = np.pad(counts, ((0, extra), (0, extra)))
    k = len(counts)
    modes = {False: None, None: None, True: 1, "true": 1, "pred": 0, "all": (0, 1)}
    if not isinstance(normalize, (bool, str, type(None))) or normalize not in modes:
        raise LayerwiseError(
            f"{what}: normalize must be False, True, 'true', 'pred' or 'all'; got {normalize!r}."
        )
    axis = modes[normalize]
    if axis is None:
        values = counts
    else:
        totals = counts.sum(axis=axis, keepdims=True).astype(np.float64)
        values = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    fig, (panel,) = _figure(ax, 1, what, size=(5.0, 4.4))
    shown = panel.imshow(values, cmap="Blues", vmin=0)
    if k <= 30:
        dark = values.max() / 2 if values.max() > 0 else 1
        for i in range(k):
            for j in range(k):
                text = f"{values[i, j]:.2f}" if axis is not None else str(values[i, j])
                color = "w" if values[i, j] > dark else "k"
                panel.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    # Every class while their labels fit, else every 2nd, 5th, ... (30 classes crammed).
    panel.xaxis.set_major_locator(_IntegerTicks(rotated=labels is not None))
    panel.yaxis.set_major_locator(_IntegerTicks())
    if labels is not None:
        name = FuncFormatter(lambda v, _: labels[int(v)] if 0 <= v < k else "")
        panel.xaxis.set_major_formatter(name)
        panel.yaxis.set_major_formatter(name)
        panel.tick_params(axis="x", labelrotation=45)
    panel.set(xlabel="predicted", ylabel="true")
    fig.colorbar(shown, ax=panel)
    return fig if ax is None else ax
