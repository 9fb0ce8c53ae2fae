"""Helpers shared by the figures and the animations of ``lw.plot`` (private)."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import XAxis
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from layerwise import _display
from layerwise._checks import LayerwiseError, as_matrix, numeric_array
from layerwise.activations import Sigmoid, Softmax, softmax

_DIVERGING = "RdBu_r"  # blue below the centre, red above: class 0 / class 1, W < 0 / W > 0
_PANEL_SIZE = (4.5, 3.6)
_CHUNK = 1024  # points per model.predict call (see _predict)

# -- the figures lw.plot returns ----------------------------------------------------------


class InlineFigure(Figure):
    """A matplotlib Figure that displays itself in Jupyter, made without pyplot.

    IPython's display protocol asks an object for its picture: ``_repr_png_`` renders
    the figure (through matplotlib's Agg canvas, as ``savefig`` does), so the figure
    shows when it is the last expression of a cell, in a fresh kernel without
    ``%matplotlib``. Once the inline backend is active (``%matplotlib inline``, or
    pyplot imported in the kernel) its own PNG formatter for figures takes over; either
    way the figure shows once, because pyplot does not hold it and so does not show it
    again at the end of the cell. Nothing global changes: no backend is chosen and no
    pyplot registry keeps the figure alive.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()

    def show(self, warn: bool = True) -> None:
        """Show the figure: inline in Jupyter, else in a window of pyplot's backend.

        In a Jupyter kernel (and VS Code) the figure displays as the cell's output.
        Elsewhere it is handed to pyplot (``plt.figure(fig)``, matplotlib 3.11 or newer)
        and shown with ``plt.show()``, which blocks a script until the window closes,
        as matplotlib recommends for figures made without pyplot. pyplot is imported
        only here, when a window is asked for.

        Parameters
        ----------
        warn : bool, default True
            As matplotlib's ``Figure.show``: False returns quietly when no window can
            open, instead of raising.

        Raises
        ------
        LayerwiseError
            When no window can open: matplotlib's backend is non-interactive (e.g.
            "agg" on a machine without a display) or matplotlib is older than 3.11.
            Save the figure with ``fig.savefig("figure.png")`` instead.
        """
        if _display.in_kernel():
            _display.display(self)
            return
        import matplotlib.pyplot as plt  # a window is pyplot's job

        adopted = self.canvas.manager is None
        if adopted:
            try:
                plt.figure(self)
            except ValueError as e:  # matplotlib < 3.11 cannot adopt a figure
                if not warn:
                    return
                raise LayerwiseError(
                    "fig.show() opens a window through pyplot, which adopts a figure made "
                    f"without it from matplotlib 3.11 on; this is matplotlib "
                    f"{matplotlib.__version__}. Save the figure with fig.savefig('figure.png') "
                    "or upgrade matplotlib."
                ) from e
        if self.canvas.required_interactive_framework is None:  # Agg, PDF, ...: no windows
            backend = plt.get_backend()
            if adopted:
                plt.close(self)  # leave pyplot as it was
            if not warn:
                return
            raise LayerwiseError(
                f"fig.show() cannot open a window: matplotlib's backend {backend!r} draws no "
                "windows (a machine without a display, or MPLBACKEND set to a file backend). "
                "Save the figure with fig.savefig('figure.png'), or choose an interactive "
                "backend (e.g. MPLBACKEND=QtAgg or TkAgg)."
            )
        plt.show()


# -- shared helpers -------------------------------------------------------------------


def _figure(ax, panels: int, what: str, size=_PANEL_SIZE) -> tuple[Figure, list[Axes]]:
    """A new figure with ``panels`` axes side by side, or the caller's axes, checked.

    The functions return the new figure, or ``ax`` itself when the caller gave it (as
    seaborn and pandas do): the caller's figure is theirs to show, and returning it
    would show it twice in Jupyter when pyplot manages it.
    """
    if ax is None:
        fig = InlineFigure(figsize=(size[0] * panels, size[1]), layout="constrained")
        return fig, list(fig.subplots(1, panels, squeeze=False)[0])
    axes = [ax] if isinstance(ax, Axes) else list(np.asarray(ax, dtype=object).ravel())
    if len(axes) != panels or not all(isinstance(a, Axes) for a in axes):
        wanted = "one Axes" if panels == 1 else f"a sequence of {panels} Axes"
        raise LayerwiseError(f"{what} draws {panels} panel(s); pass ax= as {wanted}; got {ax!r}.")
    return axes[0].figure, axes


class _IntegerTicks(MaxNLocator):
    """Whole-number ticks (epochs, steps, rows, classes), as many as fit without touching.

    ``MaxNLocator(nbins="auto")`` allows a tick per three font sizes of an x axis
    whatever its labels say, so a million epochs printed "150000300000450000...". Here
    the labels decide: side by side along x, the widest one (at ``_CHAR`` font sizes
    a character) plus a gap of one font size; stacked along y, or rotated, 2 font sizes.
    Every whole number gets a tick when they all fit (the classes of a confusion matrix).

    Parameters
    ----------
    rotated : bool, default False
        Whether the x labels are drawn at an angle (then they need only their height).
    """

    _CHAR = 0.65  # a digit of DejaVu Sans is 0.64 font sizes wide
    _STEPS = [1, 2, 2.5, 5, 10]  # AutoLocator's: 0, 10000, 20000 rather than 0, 8000, 16000

    def __init__(self, *, rotated: bool = False):
        super().__init__(integer=True, min_n_ticks=1, steps=self._STEPS)
        self.rotated = rotated

    def tick_values(self, vmin, vmax):
        low, high = sorted((vmin, vmax))
        if self.axis is None or not high > low:
            return super().tick_values(vmin, vmax)
        along_x = isinstance(self.axis, XAxis)
        # The axis length in font sizes: get_tick_space allows 3 a tick along x, 2 along y.
        room = max(1, self.axis.get_tick_space()) * (3 if along_x else 2)

        def ticks_that_fit(bins: int) -> tuple[np.ndarray, bool]:
            locator = MaxNLocator(bins, integer=True, min_n_ticks=1, steps=self._STEPS)
            ticks = locator.tick_values(vmin, vmax)
            ticks = ticks[(ticks >= low) & (ticks <= high)]
            if len(ticks) < 2:
                return ticks, True
            spacing = room * (ticks[1] - ticks[0]) / (high - low)
            if along_x and not self.rotated:
                widest = max(len(label) for label in self.axis.major.formatter.format_ticks(ticks))
                return ticks, spacing >= self._CHAR * widest + 1.0
            return ticks, spacing >= 2.0

        # The most bins whose labels fit, by bisection: more bins, closer labels.
        best, _ = ticks_that_fit(1)
        fewest, most = 2, int(min(room, high - low + 1))
        while fewest <= most:
            bins = (fewest + most) // 2
            ticks, fit = ticks_that_fit(bins)
            if fit:
                best, fewest = ticks, bins + 1
            else:
                most = bins - 1
        return best


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


# -- drawing pieces used by the figures and the animations ----------------------------


def _draw_boundary(
    ax, xx, yy, outputs, probabilities: bool, scale, X=None, labels=None, names=None
):
    """Draw the outputs ``(r, r, k)`` over the grid and the points; return the contour set.

    The regions are drawn in pale colours and the points in full ones with black edges,
    so that a point shows its class on any region, its own class's included (notebook
    002's red and blue points); with labels and at most 10 classes, a legend names them
    (``names``, else "class i").
    """
    k = outputs.shape[-1]
    if k == 1:
        Z = outputs[..., 0]
        low, high = scale
        filled = ax.contourf(
            xx, yy, Z, levels=np.linspace(low, high, 11), cmap=_DIVERGING, alpha=_PALE
        )
        threshold = (low + high) / 2
        if np.nanmin(Z) < threshold < np.nanmax(Z):
            ax.contour(xx, yy, Z, levels=[threshold], colors="k", linewidths=1.0)
    else:
        classes = outputs.argmax(axis=-1)
        filled = ax.contourf(
            xx, yy, classes, levels=np.arange(k + 1) - 0.5, colors=_class_colors(k), alpha=_PALE
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
        palette = _point_colors(max(k, 2))
        colors = "w" if labels is None else palette[labels]
        ax.scatter(X[:, 0], X[:, 1], c=colors, s=18, edgecolors="k", linewidths=0.6, zorder=2)
        if labels is not None and len(palette) <= 10:
            present = np.unique(labels)
            handles = [
                Line2D(
                    [], [], linestyle="", marker="o", markersize=5, markerfacecolor=palette[c],
                    markeredgecolor="k", markeredgewidth=0.6,
                    label=str(names[c]) if names is not None else f"class {c}",
                )
                for c in present
            ]  # fmt: skip
            ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.85)
    ax.set(xlim=(xx[0, 0], xx[0, -1]), ylim=(yy[0, 0], yy[-1, 0]), xlabel="x0", ylabel="x1")
    return filled


_PALE = 0.45  # the regions' opacity over white: pale, so that the points stand out


def _point_colors(k: int) -> np.ndarray:
    """The points' colours: the regions' colours at full strength (the darkest ends of
    the red-blue map for two classes)."""
    if k <= 2:
        return matplotlib.colormaps[_DIVERGING](np.array([0.0, 1.0]))
    return _class_colors(k)


def _binary_scale(probabilities: bool, Z: np.ndarray) -> tuple[float, float]:
    """[0, 1] for probabilities; symmetric around 0 for logits, so the middle is the boundary."""
    if probabilities:
        return 0.0, 1.0
    m = float(np.nanmax(np.abs(Z))) if Z.size else 0.0
    return (-m, m) if m > 0 else (-1.0, 1.0)


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
