"""Notebook 004 (backpropagation worksheet): a 1-6-7-2 sigmoid network fits a 1-D input
to a 2-D curve by steepest descent, with the Jacobians that the notebook derives by
hand checked against layerwise's backward pass.

    python examples/004_curve1d.py [OUTPUT_FOLDER]

Writes fit.png, cost.png and training.gif; exits with an error if the fit is poor.
"""

import sys
from pathlib import Path

import numpy as np

import layerwise as lw

out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out/004")
out.mkdir(parents=True, exist_ok=True)

x, y = lw.data.curve1d(200, noise=0.02, seed=0)
model = lw.Sequential(
    [lw.Linear(1, 6), lw.Sigmoid(), lw.Linear(6, 7), lw.Sigmoid(), lw.Linear(7, 2), lw.Sigmoid()],
    seed=0,
    dtype=np.float64,
)

# -- The worksheet's Jacobians, by the chain rule, against backward -----------------
# Cost C = mean over samples of |a3 - y|^2 (the worksheet's), i.e. 2 x MSE over elements.
W1, b1 = model.layers[0].params["W"], model.layers[0].params["b"]
W2, b2 = model.layers[2].params["W"], model.layers[2].params["b"]
W3, b3 = model.layers[4].params["W"], model.layers[4].params["b"]
sigma = lw.activations.sigmoid
a1 = sigma(x @ W1 + b1)
a2 = sigma(a1 @ W2 + b2)
a3 = sigma(a2 @ W3 + b3)
J = 2 * (a3 - y) * a3 * (1 - a3) / len(x)  # dC/dz3
J_W3 = a2.T @ J
J = (J @ W3.T) * a2 * (1 - a2)  # dC/dz2
J_W2 = a1.T @ J
J = (J @ W2.T) * a1 * (1 - a1)  # dC/dz1
J_W1, J_b1 = x.T @ J, J.sum(axis=0)

loss = lw.MSE()
loss(model.forward(x), y)
model.backward(loss.backward() * 2)  # C = 2 x MSE
for name, by_hand in [("0.W", J_W1), ("0.b", J_b1), ("2.W", J_W2), ("4.W", J_W3)]:
    np.testing.assert_allclose(model.parameters()[name][1], by_hand, rtol=1e-12, atol=1e-15)
print("hand-derived Jacobians == backward (to 1e-12)")
print(lw.gradcheck(model, x[:16], y[:16], lw.MSE()))

# -- Steepest descent, 50,000 iterations (the worksheet's "aggression" is the rate) ----
recorder = lw.plot.Recorder(x, y, every=2500)
history = model.fit(
    x,
    y,
    loss=lw.MSE(),
    optimizer=lw.SGD(lr=10.0),
    epochs=50_000,
    batch_size=None,
    callbacks=[recorder],
    progress=False,
)
lw.plot.fit_1d(model, x, y).savefig(out / "fit.png")
lw.plot.history(history, log=True).savefig(out / "cost.png")
lw.plot.animate(recorder, out / "training.gif")

mse = history.history["loss"][-1]
print(f"after 50,000 steps: mean squared error {mse:.5f} (noise variance {0.02**2:.5f})")
assert mse < 0.002, "the network did not fit the curve"
print(f"figures in {out}/")
