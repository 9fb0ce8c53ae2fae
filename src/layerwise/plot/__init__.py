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

lw.plot is the only part of layerwise that imports matplotlib (its modules: figures,
animation and the private _common).
"""

from layerwise.plot.animation import Frame, Recorder, animate
from layerwise.plot.figures import (
    confusion_matrix,
    decision_boundary,
    fit_1d,
    function_map,
    history,
    image_grid,
    weights,
)

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
