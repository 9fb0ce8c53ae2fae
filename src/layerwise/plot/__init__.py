"""Figures of training runs, data and networks, and GIF animations of training.

Every function draws with matplotlib's object-oriented API on a new figure and returns
it: a :class:`~matplotlib.figure.Figure` that displays itself in Jupyter when it is
the last expression of a cell (a fresh kernel needs no ``%matplotlib``) and shows once,
also when the inline backend is active. pyplot is not imported, so no backend is chosen,
no window opens and no global registry keeps the figure alive; elsewhere save it with
``fig.savefig("out.png")``, or call ``fig.show()`` for a window (pyplot is imported then).
Pass ``ax=`` (an Axes, or a sequence of Axes when the figure has several panels) to
draw into a figure of your own, e.g. one made by ``plt.subplots``; the function then
returns ``ax``, as seaborn and pandas do, and the figure is yours to show (pyplot's
inline backend shows it once at the end of the cell).

:func:`animate` returns a :class:`GIF`, which displays inline in Jupyter and can be
saved with ``gif.save("train.gif")`` (or written at once with ``animate(recorder, path)``).

>>> import layerwise as lw
>>> X, y = lw.data.moons(200, seed=0)
>>> model = lw.Sequential([lw.Linear(2, 16), lw.ReLU(), lw.Linear(16, 1), lw.Sigmoid()], seed=0)
>>> recorder = lw.plot.Recorder(X, y=y)
>>> hist = model.fit(X, y[:, None], loss="bce", optimizer=lw.SGD(lr=1.0), epochs=200,
...                  batch_size=None, callbacks=[recorder], progress=False)
>>> fig = lw.plot.decision_boundary(model, X, y)
>>> gif = lw.plot.animate(recorder, "moons.gif")  # doctest: +SKIP

lw.plot is the only part of layerwise that imports matplotlib (its modules: figures,
animation, diagnostics, sweep and the private _common).
"""

from layerwise.plot.animation import GIF, Frame, Recorder, animate
from layerwise.plot.diagnostics import diagnostics
from layerwise.plot.figures import (
    confusion_matrix,
    decision_boundary,
    fit_1d,
    function_map,
    history,
    image_grid,
    weights,
)
from layerwise.plot.sweep import sweep

__all__ = [
    "GIF",
    "Frame",
    "Recorder",
    "animate",
    "confusion_matrix",
    "decision_boundary",
    "diagnostics",
    "fit_1d",
    "function_map",
    "history",
    "image_grid",
    "sweep",
    "weights",
]
