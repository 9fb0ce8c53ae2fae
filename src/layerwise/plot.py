"""Figures of training runs, data and networks, and GIF animations of training.

Every function draws with matplotlib's object-oriented API on a new
:class:`~matplotlib.figure.Figure` and returns it. pyplot is never imported, so no
window opens, no GUI backend is touched and no global registry keeps the figure
alive: in Jupyter the returned figure shows itself, elsewhere save it with
``fig.savefig("out.png")``. Pass ``ax=`` (an Axes, or a sequence of Axes when the
figure has several panels) to draw into a figure of your own, e.g. one made by
``plt.subplots``; the function then returns ``ax.figure``.

>>> import layerwise as lw
>>> X, y = lw.data.moons(200, seed=0)
>>> model = lw.Sequential([lw.Linear(2, 16), lw.ReLU(), lw.Linear(16, 1), lw.Sigmoid()], seed=0)
>>> recorder = lw.plot.Recorder(X, y=y)
>>> hist = model.fit(X, y[:, None], loss="bce", optimizer=lw.SGD(lr=1.0), epochs=200,
...                  batch_size=None, callbacks=[recorder], progress=False)
>>> fig = lw.plot.decision_boundary(model, X, y)
>>> path = lw.plot.animate(recorder, "moons.gif")  # doctest: +SKIP

This is the only core module that imports matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib
import numpy as np
from matplotlib.animation import PillowWriter
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from numpy.typing import ArrayLike

from layerwise import losses as _losses
from layerwise import metrics as _metrics
from layerwise._checks import LayerwiseError, as_matrix, numeric_array, positive_int, real_number
from layerwise.activations import Sigmoid, Softmax, softmax
from layerwise.training import Callback, FitRun, History

__all__ = [
    "Frame",
    "Recorder",
    "animate",
    "confusion_matrix",
    "decision_boundary",
    "fit_1d",
    "function_map",
    "history",
    "image_grid",
    "weights",
]

_DIVERGING = "RdBu_r"  # blue below the centre, red above: class 0 / class 1, W < 0 / W > 0
_PANEL_SIZE = (4.5, 3.6)
_CHUNK = 1024  # points per model.predict call (see _predict)

# -- shared helpers -------------------------------------------------------------------


def _figure(ax, panels: int, what: str, size=_PANEL_SIZE) -> tuple[Figure, list[Axes]]:
    """A new figure with ``panels`` axes side by side, or the caller's axes, checked."""
    if ax is None:
        fig = Figure(figsize=(size[0] * panels, size[1]), layout="constrained")
        return fig, list(fig.subplots(1, panels, squeeze=False)[0])
    axes = [ax] if isinstance(ax, Axes) else list(np.asarray(ax, dtype=object).ravel())
    if len(axes) != panels or not all(isinstance(a, Axes) for a in axes):
        wanted = "one Axes" if panels == 1 else f"a sequence of {panels} Axes"
        raise LayerwiseError(f"{what} draws {panels} panel(s); pass ax= as {wanted}; got {ax!r}.")
    return axes[0].figure, axes


def _inputs(X, width: int, name: str, what: str) -> np.ndarray:
    X = as_matrix(X, f"{what}: {name}", np.float64)
    if X.shape[1] != width:
        raise LayerwiseError(
            f"{what} draws {width}-D inputs; {name} has shape {X.shape}, expected (n, {width})."
        )
    return X


def _check_model(model, width: int, what: str) -> None:
    n_in = getattr(model, "in_features", None)
    if n_in is not None and n_in != width:
        raise LayerwiseError(f"{what} needs a model with {width} input(s); this one takes {n_in}.")


def _predict(model, points: np.ndarray) -> np.ndarray:
    """``model.predict(points)`` as ``(n, outputs)``, run in chunks of ``_CHUNK`` points.

    Chunks bound the memory of large grids and keep a recording cheap: a 3600-point
    grid on a 2-100-1 net took 640 µs in one call during training (its megabyte-sized
    activations are fresh pages each time) and 240 µs in chunks.
    """
    chunks = [
        np.asarray(model.predict(points[i : i + _CHUNK])) for i in range(0, len(points), _CHUNK)
    ]
    # concatenate copies, so a model that reuses its output buffer cannot change a frame.
    return np.concatenate([c.reshape(len(c), -1) for c in chunks])


def _grid(x_range, y_range, resolution: int):
    """Points ``(r*r, 2)`` with x0 running fastest, and their ``meshgrid`` (``lw.data.grid2d``)."""
    xx, yy = np.meshgrid(np.linspace(*x_range, resolution), np.linspace(*y_range, resolution))
    return np.column_stack([xx.ravel(), yy.ravel()]), xx, yy


def _grid_around(X: np.ndarray, margin: float, resolution: int):
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    return _grid((low[0], high[0]), (low[1], high[1]), resolution)


def _class_labels(y, n: int, outputs: int, what: str) -> np.ndarray:
    """Integer labels from labels ``(n,)``, one column ``(n, 1)`` or one-hot rows ``(n, k)``.

    They must name classes of a network with ``outputs`` outputs (one output: 0 and 1).
    """
    y = numeric_array(y, f"{what}: y")
    if y.ndim == 2:
        y = y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0]
    if y.shape != (n,):
        raise LayerwiseError(
            f"{what}: y has shape {y.shape}; expected ({n},) labels or ({n}, classes) one-hot "
            "rows, one per point."
        )
    if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
        raise LayerwiseError(f"{what}: y must hold class labels (whole numbers) to colour points.")
    classes = max(outputs, 2)
    if n and (y.min() < 0 or y.max() >= classes):
        raise LayerwiseError(
            f"{what}: y holds labels from {y.min():g} to {y.max():g}, but the model's {outputs} "
            f"output(s) describe classes 0 to {classes - 1}."
        )
    return y.astype(np.int64)


def _class_colors(k: int) -> np.ndarray:
    if k <= 2:
        cmap = matplotlib.colormaps[_DIVERGING]
        return cmap(np.array([0.12, 0.88]))
    if k <= 20:
        return matplotlib.colormaps["tab10" if k <= 10 else "tab20"](np.arange(k))
    return matplotlib.colormaps["turbo"](np.linspace(0, 1, k))


def _gives_probabilities(model, outputs: np.ndarray) -> bool:
    """Whether outputs are probabilities: from the last layer when there is one, else the range."""
    layers = getattr(model, "layers", None)
    if layers:
        return isinstance(layers[-1], (Sigmoid, Softmax))
    return bool(np.nanmin(outputs) >= 0.0 and np.nanmax(outputs) <= 1.0)


# -- training curves ----------------------------------------------------------------------


def _records(run, name: str) -> dict[str, np.ndarray]:
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


def _runs(hist, label) -> list[tuple[str | None, dict[str, np.ndarray]]]:
    """``[(label, records), ...]`` for one run or several (a list, or a dict by label)."""
    is_run = isinstance(hist, History) or (
        isinstance(hist, Mapping)
        and not all(isinstance(v, (History, Mapping)) for v in hist.values())
    )
    if is_run:
        if label is not None and not isinstance(label, str):
            raise LayerwiseError(f"history: label must be a string for one run; got {label!r}.")
        return [(label, _records(hist, "hist"))]
    if isinstance(hist, Mapping) and hist:
        if label is not None:
            raise LayerwiseError("history: the dict's keys already label the runs; drop label=.")
        return [(str(k), _records(run, f"hist[{k!r}]")) for k, run in hist.items()]
    if isinstance(hist, (list, tuple)) and hist:
        labels = [f"run {i + 1}" for i in range(len(hist))] if label is None else list(label)
        if len(labels) != len(hist) or isinstance(label, str):
            raise LayerwiseError(
                f"history: label must give one name per run ({len(hist)}); got {label!r}."
            )
        return [
            (str(n), _records(run, f"hist[{i}]")) for i, (n, run) in enumerate(zip(labels, hist))
        ]
    raise LayerwiseError(
        "history expects a History, a dict of per-epoch lists, or a non-empty list or dict of "
        f"them (one per run); got {type(hist).__name__}."
    )


def history(
    hist,
    *,
    log: bool = False,
    keys: str | Sequence[str] | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    label: str | Sequence[str] | None = None,
) -> Figure:
    """Loss and accuracy per epoch, training (solid) and validation (dashed).

    Each metric gets a panel (loss left, accuracy right) with one solid line for the
    training value and one dashed line for ``"val_" + metric`` when it was recorded.
    Several runs share the panels, one colour per run, with a legend: the
    learning-rate study of notebook 002.

    Parameters
    ----------
    hist : History, dict of lists, or a list or dict of those
        One run (``model.fit``'s History, or ``{"loss": [...], ...}``), a list of runs
        (labelled by ``label`` or "run 1", "run 2", ...) or a dict ``{label: run}``.
    log : bool, default False
        Log-scaled y axes (notebook 003), except for accuracy panels.
    keys : str or sequence of str, optional
        The metrics to draw, one panel each; their ``"val_"`` twins come along.
        Default: those of ``"loss"`` and ``"accuracy"`` that were recorded.
        ``"lr"`` and ``"time"`` are recorded too.
    ax : Axes or sequence of Axes, optional
        One Axes per panel.
    label : str or sequence of str, optional
        Legend name of the run, or of each run of a list.

    Returns
    -------
    Figure

    Raises
    ------
    LayerwiseError
        For an empty or malformed history, or a key that no run recorded.

    Examples
    --------
    >>> fig = history({"lr=1": {"loss": [0.7, 0.4]}, "lr=0.1": {"loss": [0.7, 0.6]}}, log=True)
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['lr=1', 'lr=0.1']
    """
    runs = _runs(hist, label)
    recorded = sorted({k for _, r in runs for k in r})
    if keys is None:
        keys = [k for k in ("loss", "accuracy") if any(k in r or f"val_{k}" in r for _, r in runs)]
        if not keys:
            raise LayerwiseError(f"history has no 'loss' or 'accuracy'; recorded: {recorded}.")
    keys = [keys] if isinstance(keys, str) else list(keys)
    for key in keys:
        if not any(key in r or f"val_{key}" in r for _, r in runs):
            raise LayerwiseError(f"history has no {key!r} (nor 'val_{key}'); recorded: {recorded}.")
    fig, axes = _figure(ax, len(keys), "history")
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for panel, key in zip(axes, keys):
        for i, (name, records) in enumerate(runs):
            for prefix, style, kind in (("", "-", "train"), ("val_", "--", "validation")):
                values = records.get(prefix + key)
                if values is None:
                    continue
                if name is None:
                    text = kind
                else:
                    text = name if kind == "train" else f"{name} ({kind})"
                epochs = np.arange(1, len(values) + 1)
                panel.plot(epochs, values, style, color=colors[i % len(colors)], label=text)
        panel.set(title=key, xlabel="epoch", ylabel=key)
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        if log and "accuracy" not in key:
            panel.set_yscale("log")
        if len(panel.lines) > 1:
            panel.legend()
    return fig


# -- what a network computes over its input space -------------------------------------


def _draw_boundary(ax, xx, yy, outputs, probabilities: bool, scale, X=None, labels=None):
    """Draw the outputs ``(r, r, k)`` over the grid and the points; return the contour set."""
    k = outputs.shape[-1]
    if k == 1:
        Z = outputs[..., 0]
        low, high = scale
        filled = ax.contourf(
            xx, yy, Z, levels=np.linspace(low, high, 11), cmap=_DIVERGING, extend="both"
        )
        threshold = (low + high) / 2
        if np.nanmin(Z) < threshold < np.nanmax(Z):
            ax.contour(xx, yy, Z, levels=[threshold], colors="k", linewidths=1.0)
    else:
        classes = outputs.argmax(axis=-1)
        filled = ax.contourf(
            xx, yy, classes, levels=np.arange(k + 1) - 0.5, colors=_class_colors(k)
        )
        # Fade the colours where the network is unsure: white with alpha growing from
        # 0 (certain) to 0.75 (all classes equally likely).
        probs = outputs if probabilities else softmax(outputs.reshape(-1, k)).reshape(outputs.shape)
        doubt = np.clip((1.0 - probs.max(axis=-1)) / (1.0 - 1.0 / k), 0.0, 1.0)
        shade = np.ones((*doubt.shape, 4))
        shade[..., 3] = 0.75 * doubt
        extent = (xx[0, 0], xx[0, -1], yy[0, 0], yy[-1, 0])
        # Images sit below collections by default; the shade must cover the contour.
        ax.imshow(
            shade,
            origin="lower",
            extent=extent,
            aspect="auto",
            interpolation="bilinear",
            zorder=1.5,
        )
    if X is not None:
        colors = "w" if labels is None else _class_colors(max(k, 2))[labels]
        if labels is not None:
            # Darker than the regions, so that a point shows on its own class's colour.
            colors[:, :3] *= 0.7
        ax.scatter(X[:, 0], X[:, 1], c=colors, s=14, edgecolors="k", linewidths=0.5, zorder=2)
    ax.set(xlim=(xx[0, 0], xx[0, -1]), ylim=(yy[0, 0], yy[-1, 0]), xlabel="x0", ylabel="x1")
    return filled


def _binary_scale(probabilities: bool, Z: np.ndarray) -> tuple[float, float]:
    """[0, 1] for probabilities; symmetric around 0 for logits, so the middle is the boundary."""
    if probabilities:
        return 0.0, 1.0
    m = float(np.nanmax(np.abs(Z))) if Z.size else 0.0
    return (-m, m) if m > 0 else (-1.0, 1.0)


def decision_boundary(
    model,
    X: ArrayLike,
    y: ArrayLike | None,
    *,
    resolution: int = 200,
    ax: Axes | None = None,
    margin: float = 0.5,
) -> Figure:
    """The network's output as a filled contour over the plane, with the data on top.

    The grid has ``resolution`` points per side and spans the data's bounding box
    widened by ``margin`` (the axes' limits are exactly the grid's ends). With one
    output, the filled contour is ``ax.contourf(xx, yy, Z)`` of the outputs ``Z`` on
    eleven levels from 0 to 1 for probabilities (the last layer is a Sigmoid or
    Softmax; for a model without ``layers``, the outputs lie in [0, 1]) or else from
    ``-m`` to ``m`` for logits (``m = max |Z|``), and a black line marks the decision
    threshold (0.5 or 0). With several outputs, the
    contour is of the argmax class, faded towards white where the softmax confidence
    is low. Notebook 002.

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
    margin : float, default 0.5
        Space around the data, in input units.

    Returns
    -------
    Figure
        With a colour bar of the output (or of the class).

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
    fig, (ax,) = _figure(ax, 1, what, size=(5.2, 4.2))
    filled = _draw_boundary(
        ax,
        xx,
        yy,
        outputs.reshape(*xx.shape, k),
        probabilities,
        _binary_scale(probabilities, outputs),
        X,
        labels,
    )
    if k == 1:
        fig.colorbar(filled, ax=ax, label="network output")
    else:
        fig.colorbar(filled, ax=ax, label="class", ticks=range(k))
    return fig


def _interval(low, high, what: str) -> tuple[float, float]:
    low, high = real_number(low, f"{what}: low"), real_number(high, f"{what}: high")
    if not low < high:
        raise LayerwiseError(f"{what}: low must be below high; got low={low}, high={high}.")
    return low, high


def function_map(
    model,
    low: float = -0.5,
    high: float = 0.5,
    *,
    target: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    resolution: int = 100,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
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
    ax : Axes, or two Axes when ``target`` is given

    Returns
    -------
    Figure

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
    low, high = _interval(low, high, what)
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
    return fig


def _draw_fit_1d(ax, t, pred, x=None, y=None, view: str = "auto") -> None:
    """Network outputs ``pred`` at the inputs ``t`` (1-D), and the data ``(x, y)``."""
    if view == "plane":
        if y is not None:
            ax.scatter(y[:, 0], y[:, 1], s=10, color="C2", alpha=0.6, label="data")
        ax.plot(pred[:, 0], pred[:, 1], color="C1", lw=2, label="network")
        ax.set(xlabel="y0", ylabel="y1")
    else:
        single = pred.shape[1] == 1
        for j in range(pred.shape[1]):
            color = f"C{j % 10}"
            if y is not None:
                ax.scatter(x[:, 0], y[:, j], s=10, color=color, alpha=0.4)
            text = "network" if single else f"output {j}"
            ax.plot(t[:, 0], pred[:, j], color=color, lw=2, label=text)
        ax.set(xlabel="x", ylabel="y" if single else "outputs")
    ax.legend(loc="best")


def _fit_1d_view(view: str, outputs: int, what: str) -> str:
    if view not in ("auto", "plane", "outputs"):
        raise LayerwiseError(f"{what}: view must be 'auto', 'plane' or 'outputs'; got {view!r}.")
    if view == "auto":
        return "plane" if outputs == 2 else "outputs"
    if view == "plane" and outputs != 2:
        raise LayerwiseError(
            f"{what}: view='plane' draws output 0 against output 1 and needs 2 outputs; the "
            f"model has {outputs}. Use view='outputs'."
        )
    return view


def fit_1d(
    model,
    x: ArrayLike,
    y: ArrayLike | None,
    *,
    view: str = "auto",
    resolution: int = 200,
    ax: Axes | None = None,
) -> Figure:
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

    Returns
    -------
    Figure

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
    fig, (ax,) = _figure(ax, 1, what)
    _draw_fit_1d(ax, t, pred, x, y, view)
    return fig


# -- the network's parameters, data and results -------------------------------------------


def weights(model, *, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Each Linear layer's ``W`` with ``b`` as an extra last row, as an image.

    Panel ``i`` shows ``np.vstack([W, b])`` of shape ``(in + 1, out)`` (rows are
    inputs, then the bias; columns are outputs), as notebook 003's weight view. All
    panels share one diverging colour scale centred at 0 and one colour bar.

    Parameters
    ----------
    model
        A network with ``layers``; layers whose ``params`` hold a 2-D ``"W"`` are drawn.
    ax : Axes or sequence of Axes, optional
        One Axes per such layer.

    Returns
    -------
    Figure

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
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.yaxis.set_major_locator(MaxNLocator(integer=True))
        if has_bias:
            panel.axhline(image.shape[0] - 1.5, color="k", lw=0.8)
        panel.set(
            title=title, xlabel="output", ylabel="input (last row: b)" if has_bias else "input"
        )
    fig.colorbar(shown, ax=axes)
    return fig


def image_grid(
    X: ArrayLike,
    shape: tuple[int, int] | None = None,
    *,
    labels: ArrayLike | None = None,
    n: int = 64,
    ax: Axes | None = None,
) -> Figure:
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

    Returns
    -------
    Figure

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
    fig, (ax,) = _figure(ax, 1, what, size=(6.0, 6.0))
    shown = X[:count]
    ax.imshow(mosaic, cmap="gray", vmin=shown.min(), vmax=shown.max(), interpolation="nearest")
    ax.set_axis_off()
    if labels is not None:
        names = numeric_array(labels, f"{what}: labels") if not _is_text(labels) else labels
        if getattr(names, "ndim", 1) == 2:
            names = names.argmax(axis=1)
        if len(names) < count:
            raise LayerwiseError(f"{what}: {len(names)} labels for {count} images.")
        for i in range(count):
            ax.text(
                (i % cols) * (w + 1) - 0.5,
                (i // cols) * (h + 1) - 0.5,
                str(names[i]),
                color="yellow",
                fontsize=8,
                ha="left",
                va="top",
            )
    return fig


def _is_text(values) -> bool:
    return any(isinstance(v, str) for v in values)


def confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: Sequence[str] | None = None,
    normalize: bool | str = False,
    ax: Axes | None = None,
) -> Figure:
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

    Returns
    -------
    Figure

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
    fig, (ax,) = _figure(ax, 1, what, size=(5.0, 4.4))
    shown = ax.imshow(values, cmap="Blues", vmin=0)
    if k <= 30:
        dark = values.max() / 2 if values.max() > 0 else 1
        for i in range(k):
            for j in range(k):
                text = f"{values[i, j]:.2f}" if axis is not None else str(values[i, j])
                color = "w" if values[i, j] > dark else "k"
                ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    names = labels if labels is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45 if labels is not None else 0)
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted", ylabel="true")
    fig.colorbar(shown, ax=ax)
    return fig


# -- animations of training -----------------------------------------------------------------

_VIEWS = ("auto", "decision_boundary", "function_map", "fit_1d", "loss")
_CURVE_POINTS = 200  # inputs along which 1-D fits are recorded and drawn


class Frame(NamedTuple):
    """One recorded moment of training.

    Attributes
    ----------
    step : int
        Optimizer steps done when it was recorded (0: before training).
    output : ndarray (m, outputs) or None
        ``model.predict(recorder.points)`` at that step; None for the "loss" view.
    """

    step: int
    output: np.ndarray | None


class Recorder(Callback):
    """Record the loss and the network's predictions during ``fit``, for :func:`animate`.

    A callback: every step it keeps the batch loss; every ``every`` steps (and before
    the first and after the last) it keeps ``model.predict`` on a fixed set of inputs
    :attr:`points`, as a :class:`Frame`. Only these small arrays are stored; figures
    are drawn later by :func:`animate`.

    The prediction view, chosen at the start of ``fit`` when ``view="auto"``:
    ``"decision_boundary"`` for 2 inputs and a classification loss
    (``CrossEntropy``, ``BinaryCrossEntropy``), ``"function_map"`` for 2 inputs and 1
    output otherwise, ``"fit_1d"`` for 1 input, and ``"loss"`` (the loss curve alone)
    for anything else, e.g. digits.

    Cost: a ``predict`` on the grid per frame and two list appends per step. Time per
    step without and with a default recorder (median of 7 runs): moons (1000 points,
    2-16-1) full batch 75 -> 78 µs (+4%), batches of 32 47 -> 50 µs (+6%); the 2-100-1
    net of notebook 000 on ``function2d`` (1000 points) full batch +3%, batches of 32
    +19% (the worst case: a 50 x 50 grid through 100 units costs ten such steps);
    digits with the "loss" view +0%. Lower ``every`` or raise ``resolution`` with
    that in mind.

    Parameters
    ----------
    X : array (n, features), optional
        Training inputs, which place the grid: around the points widened by ``margin``
        for a decision boundary (which needs ``X`` and draws the points), the square
        from ``X.min()`` to ``X.max()`` for a function map ([-0.5, 0.5]^2 without
        ``X``), the interval of ``X`` for a 1-D fit ([0, 1] without ``X``).
    y : array (n,) or (n, outputs), optional
        Class labels colouring the points of a decision boundary, or the targets
        drawn with a 1-D fit.
    every : int, default 50
        Steps between frames.
    view : {"auto", "decision_boundary", "function_map", "fit_1d", "loss"}
    resolution : int, default 50
        Grid points per side for 2-D views (1-D fits use 200 inputs).
    margin : float, default 0.5

    Attributes
    ----------
    frames : list of Frame
    steps, losses : list of int, list of float
        Every optimizer step seen and its batch loss.
    points : ndarray (m, inputs) or None
        The inputs of every frame's prediction, set at the start of the first ``fit``.
    view : str
        The view in use (resolved from "auto" at the start of the first ``fit``).

    Examples
    --------
    >>> import layerwise as lw
    >>> X, y = lw.data.moons(200, seed=0)
    >>> model = lw.Sequential([lw.Linear(2, 16), lw.ReLU(), lw.Linear(16, 2)], seed=0)
    >>> recorder = Recorder(X, y=y, every=10)
    >>> _ = model.fit(X, y, loss="cross_entropy", optimizer="adam", epochs=5,
    ...               callbacks=[recorder], progress=False)
    >>> recorder.view, [f.step for f in recorder.frames][:3]
    ('decision_boundary', [0, 10, 20])
    """

    def __init__(
        self,
        X: ArrayLike | None = None,
        y: ArrayLike | None = None,
        *,
        every: int = 50,
        view: str = "auto",
        resolution: int = 50,
        margin: float = 0.5,
    ):
        if view not in _VIEWS:
            raise LayerwiseError(
                f"Recorder view must be one of {', '.join(map(repr, _VIEWS))}; got {view!r}."
            )
        self.every = positive_int(every, "Recorder every")
        self.resolution = positive_int(resolution, "Recorder resolution")
        self.margin = real_number(margin, "Recorder margin", minimum=0.0)
        self.view = view
        self.X = None if X is None else as_matrix(X, "Recorder X", np.float64)
        self.y = None if y is None else numeric_array(y, "Recorder y")
        if self.y is not None and self.X is not None and len(self.y) != len(self.X):
            raise LayerwiseError(
                f"Recorder got {len(self.X)} points in X but {len(self.y)} targets in y."
            )
        self.frames: list[Frame] = []
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.points: np.ndarray | None = None
        self._grid_shape: tuple[int, ...] = ()
        self._probabilities: bool | None = None
        self._offset = 0

    def _setup(self, model, loss) -> None:
        """Choose the view and the grid, from the model, the loss and ``X``."""
        n_in = getattr(model, "in_features", None)
        if n_in is None and self.X is not None:
            n_in = self.X.shape[1]
        classify = isinstance(loss, (_losses.CrossEntropy, _losses.BinaryCrossEntropy))
        n_out = getattr(model, "out_features", None)
        view = self.view
        if view == "auto":
            if n_in == 1:
                view = "fit_1d"
            elif n_in == 2:
                view = "decision_boundary" if classify else "function_map"
                if not classify and n_out != 1:
                    view = "loss"
            else:
                view = "loss"
        needs = {"decision_boundary": 2, "function_map": 2, "fit_1d": 1}.get(view)
        if needs is not None and n_in != needs:
            raise LayerwiseError(
                f"Recorder view {view!r} needs a model with {needs} input(s); this one takes "
                f"{n_in}."
            )
        if self.X is not None and needs is not None and self.X.shape[1] != needs:
            raise LayerwiseError(f"Recorder X has shape {self.X.shape}; expected (n, {needs}).")
        if view == "decision_boundary":
            if self.X is None:
                raise LayerwiseError(
                    "Recorder needs X to place the decision-boundary grid: Recorder(X, y=y)."
                )
            points, xx, _ = _grid_around(self.X, self.margin, self.resolution)
        elif view == "function_map":
            low, high = (-0.5, 0.5) if self.X is None else (self.X.min(), self.X.max())
            points, xx, _ = _grid((low, high), (low, high), self.resolution)
        elif view == "fit_1d":
            low, high = (0.0, 1.0) if self.X is None else (self.X.min(), self.X.max())
            points = np.linspace(low, high, _CURVE_POINTS).reshape(-1, 1)
            xx = points[:, 0]
        else:
            points, xx = np.empty((0, n_in or 0)), np.empty(0)
        # In the model's dtype, so that predict does not cast the grid at every frame.
        points = points.astype(getattr(model, "dtype", np.float64), copy=False)
        self.view, self.points, self._grid_shape = view, points, xx.shape
        layers = getattr(model, "layers", None)
        self._probabilities = isinstance(layers[-1], (Sigmoid, Softmax)) if layers else None
        if self.y is not None and self.X is not None and view in ("decision_boundary", "fit_1d"):
            self._check_targets(_predict(model, points[:1]).shape[1])

    def _check_targets(self, outputs: int) -> None:
        """Refuse targets that cannot be drawn now, rather than when animating."""
        if self.view == "decision_boundary":
            _class_labels(self.y, len(self.X), outputs, "Recorder")
        elif self.y.reshape(len(self.y), -1).shape[1] != outputs:
            raise LayerwiseError(
                f"Recorder y has shape {self.y.shape}; expected ({len(self.y)}, {outputs}), one "
                "column per network output."
            )

    def _record(self, model, step: int) -> None:
        output = None if self.view == "loss" else _predict(model, self.points)
        self.frames.append(Frame(step, output))

    def on_train_begin(self, run: FitRun) -> None:
        if self.points is None:
            self._setup(run.model, run.loss)
        # A new fit of the same model counts its steps from 0 again: carry on the count.
        last = self.frames[-1].step if self.frames else 0
        self._offset = last - run.step if run.step < last else 0
        if not self.frames or last != run.step + self._offset:
            self._record(run.model, run.step + self._offset)

    def on_batch_end(self, run: FitRun, step: int, loss: float) -> None:
        step += self._offset
        self.steps.append(step)
        self.losses.append(loss)
        if step % self.every == 0:
            self._record(run.model, step)

    def on_train_end(self, run: FitRun) -> None:
        step = run.step + self._offset
        if self.frames and self.frames[-1].step != step:
            self._record(run.model, step)


def _painter(rec: Recorder):
    """``(paint(ax, output), colour mappable or None)`` for one frame's prediction panel.

    Colour scales and axis limits are fixed over all frames, so that the frames compare.
    """
    outputs = np.stack([f.output for f in rec.frames])
    if rec.view == "decision_boundary":
        _, xx, yy = _grid_around(rec.X, rec.margin, rec.resolution)
        k = outputs.shape[-1]
        probabilities = rec._probabilities
        if probabilities is None:
            probabilities = bool(outputs.min() >= 0 and outputs.max() <= 1)
        scale = _binary_scale(probabilities, outputs)
        labels = None if rec.y is None else _class_labels(rec.y, len(rec.X), k, "Recorder")

        def paint(ax, output):
            grid_output = output.reshape(*xx.shape, k)
            _draw_boundary(ax, xx, yy, grid_output, probabilities, scale, rec.X, labels)

        return paint, ScalarMappable(Normalize(*scale), _DIVERGING) if k == 1 else None
    if rec.view == "function_map":
        low, high = float(rec.points[0, 0]), float(rec.points[-1, 0])
        norm = Normalize(float(outputs.min()), float(outputs.max()))

        def paint(ax, output):
            image = output[:, 0].reshape(rec._grid_shape)
            ax.imshow(image, origin="lower", extent=(low, high, low, high), norm=norm)
            ax.set(xlabel="x0", ylabel="x1")

        return paint, ScalarMappable(norm, matplotlib.rcParams["image.cmap"])
    # fit_1d: the data points need both X and y.
    y = None if rec.y is None or rec.X is None else rec.y.reshape(len(rec.y), -1)
    view = _fit_1d_view("auto", outputs.shape[-1], "Recorder")
    shown = np.concatenate([outputs.reshape(-1, outputs.shape[-1])] + ([] if y is None else [y]))
    low, high = shown.min(axis=0), shown.max(axis=0)
    pad = 0.05 * np.maximum(high - low, 1e-9)
    if view == "plane":
        limits = {"xlim": (low[0] - pad[0], high[0] + pad[0])}
        limits["ylim"] = (low[1] - pad[1], high[1] + pad[1])
    else:
        limits = {"ylim": (low.min() - pad.max(), high.max() + pad.max())}

    def paint(ax, output):
        _draw_fit_1d(ax, rec.points, output, rec.X, y, view)
        ax.set(**limits)

    return paint, None


def _loss_axes(ax, rec: Recorder, log: bool) -> None:
    """Fix the loss panel's limits to the whole run, so the curve grows into a still frame."""
    ax.set(title="loss", xlabel="step")
    if log:
        ax.set_yscale("log")
    if not rec.steps:
        return
    ax.set_xlim(min(rec.frames[0].step, rec.steps[0]), max(rec.steps[-1], rec.steps[0] + 1))
    losses = np.asarray(rec.losses, dtype=np.float64)
    finite = losses[np.isfinite(losses) & ((losses > 0) if log else True)]
    if finite.size:
        low, high = finite.min(), finite.max()
        if log:
            ax.set_ylim(low / 1.2, high * 1.2)
        else:
            pad = 0.05 * (high - low) or 0.05 * abs(high) or 1.0
            ax.set_ylim(low - pad, high + pad)


def _write_recording(rec: Recorder, path: Path, writer: PillowWriter, dpi, log: bool) -> None:
    if not rec.frames:
        raise LayerwiseError(
            "The Recorder holds no frames: pass it to fit(..., callbacks=[recorder]) first."
        )
    paint, colors = (None, None) if rec.view == "loss" else _painter(rec)
    fig = Figure(figsize=(9.0 if paint else 5.0, 3.8), layout="constrained")
    axes = fig.subplots(1, 2 if paint else 1, squeeze=False)[0]
    if colors is not None:
        fig.colorbar(colors, ax=axes[0], label="network output")
    _loss_axes(axes[-1], rec, log)
    steps, losses = np.asarray(rec.steps), np.asarray(rec.losses, dtype=np.float64)
    (curve,) = axes[-1].plot([], [], color="C0")
    with writer.saving(fig, str(path), dpi):
        for frame in rec.frames:
            seen = int(np.searchsorted(steps, frame.step, side="right"))
            curve.set_data(steps[:seen], losses[:seen])
            if paint:
                axes[0].clear()
                paint(axes[0], frame.output)
            # The step in the title also keeps consecutive frames distinct: Pillow merges
            # identical ones, which would change the GIF's frame count.
            axes[0].set_title(f"step {frame.step}")
            writer.grab_frame()


def animate(
    frames_or_recorder: Recorder | Sequence[Figure],
    path: str | Path,
    *,
    fps: float = 10,
    dpi: float = 80,
    log: bool = False,
) -> Path:
    """Write a GIF of a training run (or of a list of figures), one frame per recording.

    For a :class:`Recorder`, each frame shows the prediction of that moment (left: a
    decision boundary, function map or 1-D fit, on colour scales fixed for the whole
    run) and the loss curve up to it (right), as the animations of notebooks 000 and
    004. Written with matplotlib's ``PillowWriter`` (no ffmpeg needed).

    Parameters
    ----------
    frames_or_recorder : Recorder or sequence of Figure
        A recorder passed to ``fit``, or figures of equal size (one frame each).
    path : str or Path
        Output file, usually ``.gif``; its folder must exist.
    fps : float, default 10
        Frames per second.
    dpi : float, default 80
        Resolution of the frames.
    log : bool, default False
        Log-scaled loss axis.

    Returns
    -------
    Path
        ``path``; the file holds exactly ``len(recorder.frames)`` (or ``len(figures)``) frames.

    Raises
    ------
    LayerwiseError
        For an empty recorder or list, figures of different sizes, a missing folder or
        a non-positive ``fps``.

    Examples
    --------
    >>> animate(recorder, "train.gif")  # doctest: +SKIP
    PosixPath('train.gif')
    """
    path = Path(path)
    fps = real_number(fps, "animate: fps")
    dpi = real_number(dpi, "animate: dpi")
    if fps <= 0 or dpi <= 0:
        raise LayerwiseError(f"animate: fps and dpi must be positive; got fps={fps}, dpi={dpi}.")
    if not path.parent.is_dir():
        raise LayerwiseError(f"animate: the folder {str(path.parent)!r} does not exist.")
    writer = PillowWriter(fps=fps)
    if isinstance(frames_or_recorder, Recorder):
        _write_recording(frames_or_recorder, path, writer, dpi, log)
        return path
    figures = list(frames_or_recorder) if isinstance(frames_or_recorder, Sequence) else []
    if not figures or not all(isinstance(f, Figure) for f in figures):
        raise LayerwiseError(
            "animate expects a Recorder or a non-empty sequence of Figures; got "
            f"{type(frames_or_recorder).__name__}."
        )
    sizes = {tuple(f.get_size_inches()) for f in figures}
    if len(sizes) > 1:
        raise LayerwiseError(f"animate: the figures must have one size; got {sorted(sizes)}.")
    with writer.saving(figures[0], str(path), dpi):
        for fig in figures:
            writer.fig = fig  # the writer grabs whatever figure it holds
            writer.grab_frame()
    return path
