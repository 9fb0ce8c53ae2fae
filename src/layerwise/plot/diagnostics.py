"""``lw.plot.diagnostics``: what :class:`~layerwise.diagnostics.Diagnostics` recorded, over
training, one line per layer coloured by its depth."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from layerwise._checks import LayerwiseError
from layerwise.diagnostics import Diagnostics
from layerwise.plot._common import InlineFigure, _figure

_DEPTH = "viridis"  # dark purple at the input, yellow at the output
_LEGEND_MAX = 6  # more lines than this: the colour bar alone says which layer is which
_HEALTHY_UPDATE = 1e-3  # Karpathy's rule of thumb for update / weight


def diagnostics(diag, *, ax: Sequence[Axes] | None = None) -> Figure | Sequence[Axes]:
    """Six panels of a :class:`~layerwise.diagnostics.Diagnostics` record.

    Top row, for the layers with weights: the gradient norm ``||dW||`` over training
    (log scale); the same against the layer index at the first and the last record, to
    see it rise or fall through the depth; the update-to-weight ratio over training
    (log scale, with a dotted line at 1e-3, a common rule of thumb). Bottom row, for
    the activation layers: the share of saturated outputs (Sigmoid, Tanh; solid lines)
    and of dead units (ReLU; dashed) over training; the mean of the outputs with one
    standard deviation either side (error bars) against the layer index, at the first
    and the last record (Glorot & Bengio 2010, Fig. 3); and the weight norm ``||W||``
    of the layers with weights over training (log scale).

    In the panels over training each layer is one line, labelled with its name in the
    record (``"3: Linear(100 -> 100)"``) and coloured by its index in ``model.layers``
    (the colour bar); panels with up to six lines have a legend. Their x axis counts
    steps, or epochs for ``Diagnostics(per="epoch")``.

    Parameters
    ----------
    diag : Diagnostics or dict
        The callback after training, or its :meth:`~Diagnostics.to_dict` output (e.g.
        read back from JSON).
    ax : sequence of six Axes, optional
        Drawn into instead of a new figure, in the order above.

    Returns
    -------
    Figure or sequence of Axes
        A new figure, which displays itself in Jupyter; or ``ax`` when it was given.

    Raises
    ------
    LayerwiseError
        For something other than a Diagnostics record, or one without records.

    Examples
    --------
    >>> import layerwise as lw
    >>> X, y = lw.data.moons(200, seed=0)
    >>> model = lw.Sequential([lw.Linear(2, 16), lw.Tanh(), lw.Linear(16, 1)], seed=0)
    >>> diag = lw.Diagnostics(every=5)
    >>> hist = model.fit(X, y[:, None], loss=lw.MSE(), optimizer=lw.SGD(lr=0.1),
    ...                  epochs=100, batch_size=None, callbacks=[diag], progress=False)
    >>> fig = diagnostics(diag)
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['0: Linear(2 -> 16)', '2: Linear(16 -> 1)']
    """
    record = _record(diag)
    if ax is None:
        fig = InlineFigure(figsize=(13.5, 7.0), layout="constrained")
        axes = list(fig.subplots(2, 3).ravel())
    else:
        fig, axes = _figure(ax, 6, "diagnostics")
    grads, profile, updates, units, activations, weights = axes
    x, unit = record["x"], record["unit"]
    layers = record["history"]
    depth = Normalize(0, max(1, *(_index(name) for name in layers)))
    cmap = matplotlib.colormaps[_DEPTH]

    def color(name):
        return cmap(depth(_index(name)))

    weighted = {n: s for n, s in layers.items() if "grad_norm" in s}
    for name, stats in weighted.items():
        grads.plot(x, _positive(stats["grad_norm"]), color=color(name), label=name)
        updates.plot(x, _positive(stats["update_ratio"]), color=color(name), label=name)
        weights.plot(x, _positive(stats["weight_norm"]), color=color(name), label=name)
    _draw_profile(profile, weighted, record)
    updates.axhline(_HEALTHY_UPDATE, color="0.5", lw=0.8, ls=":", label="_1e-3")

    kinds = set()
    for name, stats in layers.items():
        for key, style in (("saturated", "-"), ("dead", "--")):
            if key in stats:
                units.plot(x, stats[key], style, color=color(name), label=name)
                kinds.add(key)
    _draw_activations(activations, {n: s for n, s in layers.items() if "mean" in s}, record)

    grads.set(title="gradient norm ||dW||", yscale="log")
    updates.set(title="update / weight ||ΔW|| / ||W||", yscale="log")
    updates.annotate("1e-3", (1.0, _HEALTHY_UPDATE), xycoords=("axes fraction", "data"),
                     xytext=(-2, -2), textcoords="offset points", ha="right", va="top",
                     color="0.4", fontsize="small")  # fmt: skip
    weights.set(title="weight norm ||W||", yscale="log")
    units.set(title=_units_title(kinds), ylim=(-0.03, 1.03))
    units.yaxis.set_major_formatter(PercentFormatter(1.0))
    for panel in (grads, updates, weights, units):
        panel.set_xlabel(unit)
        panel.xaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))
        named = [line for line in panel.lines if not line.get_label().startswith("_")]
        if not named:
            panel.text(0.5, 0.5, "no such layers", ha="center", va="center",
                       transform=panel.transAxes, color="0.5")  # fmt: skip
        elif len(named) <= _LEGEND_MAX:
            panel.legend(fontsize="small")
    bar = fig.colorbar(ScalarMappable(depth, cmap), ax=axes, shrink=0.8)
    bar.set_label("layer (index in model.layers)")
    bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return fig if ax is None else ax


def _picks(record: dict) -> list[tuple[int, str]]:
    """The first and the last record, ``(position, label)``, as the by-layer panels show them."""
    x, unit = record["x"], record["unit"]
    return [(i, f"{unit} {x[i]}") for i in sorted({0, len(x) - 1})]


def _draw_profile(panel: Axes, weighted: dict, record: dict) -> None:
    """``||dW||`` against the layer index, at the first and at the last record."""
    indices = [_index(name) for name in weighted]
    for (i, label), style in zip(_picks(record), (":", "-")):
        values = _positive(np.array([s["grad_norm"][i] for s in weighted.values()]))
        panel.plot(indices, values, style, marker="o", ms=3, color="k", label=label)
    panel.set(title="gradient norm by layer", xlabel="layer (index in model.layers)", yscale="log")
    panel.xaxis.set_major_locator(MaxNLocator(integer=True))
    if panel.lines:
        panel.legend(fontsize="small")


def _draw_activations(panel: Axes, layers: dict, record: dict) -> None:
    """Mean and standard deviation of each activation layer's outputs against the layer
    index, at the first record (grey, shifted left) and at the last (black)."""
    indices = np.array([_index(name) for name in layers], dtype=np.float64)
    picks = _picks(record)
    for (i, label), (shift, color) in zip(picks, ((-0.2, "0.6"), (0.2, "k"))):
        shift = shift if len(picks) > 1 else 0.0
        mean = np.array([s["mean"][i] for s in layers.values()])
        std = np.array([s["std"][i] for s in layers.values()])
        panel.errorbar(indices + shift, mean, yerr=std, fmt="o", ms=3, capsize=2, lw=1,
                       color=color, label=label)  # fmt: skip
    panel.set(title="activation mean ± std by layer", xlabel="layer (index in model.layers)")
    panel.xaxis.set_major_locator(MaxNLocator(integer=True))
    if layers:
        panel.legend(fontsize="small")
    else:
        panel.text(0.5, 0.5, "no such layers", ha="center", va="center",
                   transform=panel.transAxes, color="0.5")  # fmt: skip


def _units_title(kinds: set[str]) -> str:
    if kinds == {"saturated", "dead"}:
        return "saturated outputs (—), dead units (--)"
    if kinds == {"dead"}:
        return "dead units (ReLU)"
    if kinds == {"saturated"}:
        return "saturated outputs (sigmoid, tanh)"
    return "saturated outputs, dead units"


def _record(diag) -> dict:
    """The record as arrays: ``x``, its ``unit`` ("step" or "epoch") and ``history``."""
    if isinstance(diag, Diagnostics):
        diag = diag.to_dict()
    if not isinstance(diag, Mapping) or not {"steps", "epochs", "history"} <= diag.keys():
        raise LayerwiseError(
            f"diagnostics draws an lw.Diagnostics callback (or its to_dict()); got {diag!r}."
        )
    if not diag["steps"]:
        raise LayerwiseError(
            "diagnostics: the Diagnostics has no records yet; pass it to fit(callbacks=[...]) "
            "and train first."
        )
    unit = "epoch" if diag.get("per") == "epoch" else "step"
    x = np.asarray(diag["epochs"] if unit == "epoch" else diag["steps"], dtype=np.int64)
    history = {
        name: {k: _floats(v) for k, v in stats.items()} for name, stats in diag["history"].items()
    }
    return {"x": x, "unit": unit, "history": history}


def _floats(values) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def _positive(values: np.ndarray) -> np.ndarray:
    """The values with zeros (and below) as NaN: gaps on a log scale, not clipped spikes."""
    return np.where(values > 0, values, np.nan)


def _index(name: str) -> int:
    """The layer index from a record's layer name, ``"3: Linear(...)"`` -> 3."""
    return int(name.split(":", 1)[0])
