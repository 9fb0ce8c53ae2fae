"""``lw.plot.sweep``: the runs of :func:`layerwise.sweep`, as loss curves and as a metric
against a parameter."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from layerwise._checks import LayerwiseError
from layerwise.plot._common import _figure, _IntegerTicks
from layerwise.sweep import SweepResults


def sweep(
    results: SweepResults,
    *,
    key: str = "loss",
    metric: str | None = None,
    x: str | None = None,
    over: str = "seed",
    log: bool = False,
    ax: Sequence[Axes] | None = None,
) -> Figure | Sequence[Axes]:
    """Two panels of a sweep: the curves of each point, and a metric against a parameter.

    Left: ``key`` per epoch, one colour per point of the grid without ``over`` (the
    seeds): the median over the seeds as a line, and the band from the lowest to the
    highest run, so a wide band means the seed matters as much as the parameter.
    Right: the final ``metric`` of every run as a dot at its value of ``x``, with a
    line through the medians over the seeds; one line per value of the other
    parameters when more than ``x`` and ``over`` vary. The x axis is logarithmic when
    the values of ``x`` are positive and span a factor of ten or more (learning
    rates). Runs that diverged or failed are left out and counted in the title.

    Parameters
    ----------
    results : SweepResults
        What :func:`layerwise.sweep` returned.
    key : str, default "loss"
        The per-epoch record for the curves (``"val_loss"``, ``"accuracy"``...).
    metric : str, optional
        The final value for the right panel; default ``results.metric`` (``val_loss``
        with validation data, else ``loss``).
    x : str, optional
        The parameter along the right panel's x axis; default the first numeric one
        other than ``over`` (``over`` itself when nothing else varies).
    over : str, default "seed"
        The parameter whose runs make a spread rather than a point of their own.
    log : bool, default False
        A log-scaled y axis for both panels.
    ax : sequence of two Axes, optional
        Drawn into instead of a new figure.

    Returns
    -------
    Figure or sequence of Axes
        A new figure, which displays itself in Jupyter; or ``ax`` when it was given.

    Raises
    ------
    LayerwiseError
        For something other than a SweepResults, a key or metric no run recorded, an
        unknown or non-numeric ``x``, or a sweep without a finished run.

    Examples
    --------
    >>> X, y = lw.data.moons(1000, noise=0.2, seed=0)
    >>> results = lw.sweep({"lr": [2, 1, 0.5, 0.3, 0.2, 0.1], "seed": range(5)},
    ...                    data=(X, y), layers=[16], optimizer="sgd", epochs=1000,
    ...                    batch_size=None)
    >>> fig = lw.plot.sweep(results)   # doctest: +SKIP
    >>> [line.get_label() for line in fig.axes[0].lines][:2]   # doctest: +SKIP
    ['lr=2', 'lr=1']
    """
    if not isinstance(results, SweepResults):
        raise LayerwiseError(
            f"plot.sweep draws what lw.sweep returns (SweepResults); got {type(results).__name__}."
        )
    metric = results.metric if metric is None else metric
    ok = [i for i, row in enumerate(results.rows) if row["status"] == "ok"]
    if not ok:
        raise LayerwiseError("plot.sweep: no run of the sweep finished; nothing to draw.")
    if not any(key in results.histories[i].history for i in ok):
        recorded = sorted({k for i in ok for k in results.histories[i].history})
        raise LayerwiseError(f"plot.sweep: no run recorded {key!r}; recorded: {recorded}.")
    if not any(f"final_{metric}" in results.rows[i] for i in ok):
        raise LayerwiseError(f"plot.sweep: no run has a final {metric!r}.")
    x = _x_parameter(results, x, over)
    fig, (curves, against) = _figure(ax, 2, "plot.sweep")
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])

    groups = _groups(results, ok, [n for n in results.names if n != over])
    for i, (label, members) in enumerate(groups.items()):
        runs = [results.histories[m].history.get(key) for m in members]
        runs = [r for r in runs if r]
        if not runs:
            continue
        length = min(len(r) for r in runs)  # a run stopped early shortens its group
        stacked = np.array([r[:length] for r in runs], dtype=np.float64)
        epochs = np.arange(1, length + 1)
        color = colors[i % len(colors)]
        curves.plot(epochs, np.median(stacked, axis=0), color=color, label=label or key)
        if len(runs) > 1:
            low, high = stacked.min(axis=0), stacked.max(axis=0)
            curves.fill_between(epochs, low, high, color=color, alpha=0.2, lw=0)
    spread = f"median and range over {over}" if over in results.names else "one run each"
    curves.set(title=f"{key} ({spread})", xlabel="epoch", ylabel=key)
    curves.xaxis.set_major_locator(_IntegerTicks())

    others = [n for n in results.names if n not in (x, over)]
    series = _groups(results, ok, others) if x is not None else {"": ok}
    for i, (label, members) in enumerate(series.items()):
        color = colors[i % len(colors)] if others else "C0"
        values = {}
        for m in members:
            final = results.rows[m].get(f"final_{metric}")
            at = results.rows[m].get(x) if x is not None else m
            if final is not None and at is not None:
                values.setdefault(at, []).append(final)
        at = np.array(sorted(values), dtype=np.float64)
        against.plot(
            np.repeat(at, [len(values[a]) for a in sorted(values)]),
            [v for a in sorted(values) for v in values[a]],
            "o", color=color, alpha=0.5, ms=4, label="_runs",
        )  # fmt: skip
        medians = [np.median(values[a]) for a in sorted(values)]
        against.plot(at, medians, "-", color=color, label=label or f"median over {over}")
    against.set(title=f"final {metric}", xlabel=x or "run", ylabel=metric)
    if x is not None and _spans_decades(results.column(x)):
        against.set_xscale("log")
        ticks = sorted({v for v in results.column(x) if v is not None})
        if len(ticks) <= 12:  # label the values tried (0.1, 0.2, 0.5...), not the decades
            against.set_xticks(ticks, [f"{t:g}" for t in ticks])
            against.xaxis.set_minor_locator(NullLocator())
    if others or over in results.names:
        against.legend(fontsize="small")
    if len(groups) > 1:
        curves.legend(fontsize="small", ncols=2 if len(groups) > 6 else 1)
    if log:
        curves.set_yscale("log")
        against.set_yscale("log")
    lost = len(results) - len(ok)
    if lost:
        fig.suptitle(f"{len(results)} runs, {lost} diverged or failed (left out)")
    return fig if ax is None else ax


def _x_parameter(results: SweepResults, x: str | None, over: str) -> str | None:
    if x is not None:
        if x not in results.names:
            raise LayerwiseError(
                f"plot.sweep: x={x!r} is not a parameter; they are {results.names}."
            )
        if not all(_is_real(v) for v in results.column(x) if v is not None):
            raise LayerwiseError(f"plot.sweep: x={x!r} must be a numeric parameter.")
        return x
    numeric = [
        n for n in results.names if all(_is_real(v) for v in results.column(n) if v is not None)
    ]
    choices = [n for n in numeric if n != over] or numeric
    return choices[0] if choices else None


def _groups(results: SweepResults, members: list[int], names: list[str]) -> dict[str, list[int]]:
    """The runs by their values of ``names``, labelled ``"lr=0.5, layers=16"``, in order."""
    groups: dict[str, list[int]] = {}
    for m in members:
        row = results.rows[m]
        label = ", ".join(f"{n}={_text(row.get(n))}" for n in names)
        groups.setdefault(label, []).append(m)
    return groups


def _text(value) -> str:
    if isinstance(value, list):  # layers: 32-16
        return "-".join(map(str, value))
    return f"{value:g}" if _is_real(value) else str(value)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _spans_decades(values) -> bool:
    values = np.array([v for v in values if v is not None], dtype=np.float64)
    return bool((values > 0).all() and values.max() >= 10 * values.min())
