"""Notebook 000 ("smol guide"): networks as functions, then a 2-100-1 ReLU network
learning a 2-D function from random batches of 1000 points.

    python examples/000_function2d.py [OUTPUT_FOLDER]

Writes deep_net.png, cost.png, function_map.png and training.gif, and exits with an
error if the network does not reproduce the function.
"""

import functools
import sys
from pathlib import Path

import numpy as np

import layerwise as lw

out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out/000")
out.mkdir(parents=True, exist_ok=True)

# -- One layer, two layers, a deep net: a network is a function of its input ----------
one_layer = lw.Sequential([lw.Linear(3, 2), lw.Sigmoid()], seed=0)
print("one layer on (0.2, 0.4, -0.1):", one_layer.predict([[0.2, 0.4, -0.1]]))

# 20 hidden layers of 100 sigmoid units with weights uniform(-3, 3), as in the notebook
# (which has a typo, WeigthsFinal, in the same place).
wide = functools.partial(lw.init.uniform, low=-3.0, high=3.0)
unit = functools.partial(lw.init.uniform, low=-1.0, high=1.0)
layers = [lw.Linear(2, 100, init=unit, bias_init=unit), lw.Sigmoid()]
for _ in range(20):
    layers += [lw.Linear(100, 100, init=wide, bias_init=unit), lw.Sigmoid()]
layers += [lw.Linear(100, 1, init=unit, bias_init=unit), lw.Sigmoid()]
deep = lw.Sequential(layers, seed=1)
lw.plot.function_map(deep, -1.0, 1.0).savefig(out / "deep_net.png")

# -- Learning a 2-D function from random batches (the notebook's loop) ------------------
small = functools.partial(lw.init.uniform, low=-0.1, high=0.1)


def network():
    return lw.Sequential(
        [lw.Linear(2, 100, init=small), lw.ReLU(), lw.Linear(100, 1, init=small)], seed=0
    )


def make_batch(rng, n):
    """n fresh random points and the function's values there, as the notebook's."""
    return lw.data.function2d(n=n, seed=rng)


def train(model, optimizer, batches=2000):
    """One step per fresh batch of 1000 random points, as make_batch() / train_net()."""
    loss = lw.MSE()  # the notebook's cost: mean squared error per point
    session = lw.Session(model, loss, optimizer, make_batch, batch_size=1000, seed=0)
    return list(session.step(batches))


notebook = network()
costs_sgd = train(notebook, lw.SGD(lr=0.01))  # eta = 0.01, the top of the notebook's range
better = network()
costs_momentum = train(better, lw.SGD(lr=0.05, momentum=0.9))
fig = lw.plot.history(  # one cost per batch: per-step losses, drawn against the step
    [costs_sgd, costs_momentum],
    label=["SGD, lr 0.01 (notebook)", "SGD + momentum 0.9, lr 0.05"],
    log=True,
)
fig.savefig(out / "cost.png")
lw.plot.function_map(better, -0.5, 0.5, target=lw.data.default_function2d).savefig(
    out / "function_map.png"
)

# -- The animation of cost and prediction during training ---------------------------
# fit() over the same 2000 batches (no shuffling), with a Recorder taking a frame
# every 50 steps.
X = np.concatenate([lw.data.function2d(n=1000, seed=k)[0] for k in range(2000)])
y = lw.data.default_function2d(X[:, 0], X[:, 1])[:, None]
recorder = lw.plot.Recorder(view="function_map")
animated = network()
animated.fit(
    X,
    y,
    loss=lw.MSE(),
    optimizer=lw.SGD(lr=0.05, momentum=0.9),
    epochs=1,
    batch_size=1000,
    shuffle=False,
    callbacks=[recorder],
    progress=False,
)
lw.plot.animate(recorder, out / "training.gif")

X_test, y_test = lw.data.function2d(n=5000, seed=10**6)
unexplained = lw.MSE()(better.predict(X_test), y_test) / y_test.var()
print(f"plain SGD, lr 0.01: cost {costs_sgd[0]:.4f} -> {costs_sgd[-1]:.4f}")
print(
    f"momentum:           cost {costs_momentum[0]:.4f} -> {costs_momentum[-1]:.4f}; "
    f"{unexplained:.2%} of the function's variance unexplained on new points"
)
assert costs_sgd[-1] < costs_sgd[0], "plain SGD did not lower the cost"
assert unexplained < 0.02, "the network did not reproduce the function"
print(f"figures in {out}/")
