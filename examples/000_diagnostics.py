"""Notebook 000's deep sigmoid net, watched by ``lw.Diagnostics`` while it trains.

    python examples/000_diagnostics.py [OUTPUT_FOLDER]

The notebook's net (20 hidden layers of 100 sigmoid units, weights uniform(-3, 3))
learns the 2-D function from fresh batches of 1000 points, with a record every 10
steps. Writes diagnostics.png (the README's picture: ``python examples/000_diagnostics.py
docs``) and exits with an error unless the record shows what the README says: most
hidden outputs saturated (and one warning saying so), gradient norms falling layer by
layer from the input side to the output side, updates of a few millionths of the
weights. A ReLU net of the same depth with He initialisation, trained the same way
(for half as many steps), must give no warning.
"""

import functools
import sys
import warnings
from pathlib import Path

import numpy as np

import layerwise as lw

out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out/000")
out.mkdir(parents=True, exist_ok=True)
STEPS = 200


def make_batch(rng, n):
    """n fresh random points and the function's values there, as the notebook's."""
    return lw.data.function2d(n=n, seed=rng)


def train(model, diag, steps=STEPS):
    session = lw.Session(
        model, lw.MSE(), lw.SGD(lr=0.01), make_batch, batch_size=1000, seed=0, callbacks=[diag]
    )
    return session.step(steps)


# -- the notebook's deep sigmoid net -----------------------------------------------------
wide = functools.partial(lw.init.uniform, low=-3.0, high=3.0)
unit = functools.partial(lw.init.uniform, low=-1.0, high=1.0)
layers = [lw.Linear(2, 100, init=unit, bias_init=unit), lw.Sigmoid()]
for _ in range(20):
    layers += [lw.Linear(100, 100, init=wide, bias_init=unit), lw.Sigmoid()]
layers += [lw.Linear(100, 1, init=unit, bias_init=unit), lw.Sigmoid()]
deep = lw.Sequential(layers, seed=1)

diag = lw.Diagnostics(every=10)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", lw.LayerwiseWarning)
    losses = train(deep, diag)
for w in caught:
    print("warning:", w.message)
fig = lw.plot.diagnostics(diag)
fig.suptitle(
    "Notebook 000's deep net: 20 hidden layers of 100 sigmoid units, weights U(-3, 3); "
    "SGD lr 0.01, batches of 1000"
)
fig.savefig(out / "diagnostics.png", dpi=90)
print(diag)

hidden = [name for name in diag.layers if "Linear(100 -> 100)" in name]
norms = np.array([np.mean(diag.history[name]["grad_norm"]) for name in hidden])
saturated = [np.mean(diag.history[f"{int(n.split(':')[0]) + 1}: Sigmoid()"]["saturated"])
             for n in hidden]  # fmt: skip
updates = np.nanmedian([diag.history[name]["update_ratio"] for name in hidden])
print(f"cost {losses[0]:.4f} -> {losses[-1]:.4f}")
print(f"gradient norm, first / last hidden layer: {norms[0] / norms[-1]:.1f}")
print(f"saturated hidden outputs: {np.mean(saturated):.0%}; median update / weight {updates:.1e}")

# -- the same depth with ReLU and He initialisation --------------------------------------
relu_layers = [lw.Linear(2, 100), lw.ReLU()]
for _ in range(20):
    relu_layers += [lw.Linear(100, 100), lw.ReLU()]
relu = lw.Sequential([*relu_layers, lw.Linear(100, 1)], seed=1)  # He uniform by default
relu_diag = lw.Diagnostics(every=10)
with warnings.catch_warnings():
    warnings.simplefilter("error", lw.LayerwiseWarning)
    relu_losses = train(relu, relu_diag, STEPS // 2)
print(f"ReLU + He: no warning; cost {relu_losses[0]:.4f} -> {relu_losses[-1]:.4f}")

assert [w.category for w in caught] == [lw.LayerwiseWarning], "expected one warning"
assert "is saturated" in str(caught[0].message)
assert np.mean(saturated) > 0.5, "the hidden layers should be mostly saturated"
assert norms[0] / norms[-1] > 3, "the gradient should fall from the first to the last layer"
assert np.corrcoef(np.arange(len(norms)), np.log(norms))[0, 1] < -0.9
assert updates < 1e-4, "the updates should be tiny next to the weights"
assert relu_diag.warnings == []
print(f"figure in {out}/")
