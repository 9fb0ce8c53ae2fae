"""Notebook 002 ("A neural network from scratch using numpy"): the architecture as a
list of dicts, binary cross-entropy and full-batch gradient descent on the moons,
cross-checked with scikit-learn, and the learning-rate study.

    python examples/002_moons.py [OUTPUT_FOLDER]

Writes decision_boundary.png and learning_rates.png; exits with an error if the
accuracy is below 96%.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import layerwise as lw

out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out/002")
out.mkdir(parents=True, exist_ok=True)

nn_architecture = [
    {"input_dim": 2, "output_dim": 16, "activation": "relu"},
    {"input_dim": 16, "output_dim": 1, "activation": "sigmoid"},
]
X, y = lw.data.moons(1000, noise=0.2, seed=0)


def train(lr, epochs=1000, dtype=np.float32):
    model = lw.Sequential.from_spec(nn_architecture, seed=99, dtype=dtype)
    initial = model.state_dict()
    history = model.fit(
        X.astype(dtype),
        y,
        loss=lw.BinaryCrossEntropy(),
        optimizer=lw.SGD(lr=lr),
        epochs=epochs,
        batch_size=None,
        progress=False,
    )  # full batch
    return model, history, initial


model, history, initial = train(lr=1.0)
accuracy = lw.metrics.accuracy(y, model.predict(X))
print(
    f"layerwise 2-16-1, lr 1.0, 1000 epochs: accuracy {accuracy:.4f}, "
    f"loss {history.history['loss'][-1]:.6f}"
)
lw.plot.decision_boundary(model, X, y).savefig(out / "decision_boundary.png")

# The same network and training in scikit-learn, started from the same weights: one
# fit() to create its arrays, then our initial weights, then 1000 more epochs. Both in
# float64: in float32 the two libraries round their products differently, and 1000
# steps at lr 1.0 amplify that to ~1e-3 in the weights (the losses agree to 1e-6).
model64, history64, initial = train(lr=1.0, dtype=np.float64)
X64 = X.astype(np.float64)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    sk = MLPClassifier(
        hidden_layer_sizes=(16,),
        solver="sgd",
        learning_rate_init=1.0,
        momentum=0,
        alpha=0,
        batch_size=len(X),
        max_iter=1,
        shuffle=False,
        tol=0,
        n_iter_no_change=10**6,
        warm_start=True,
        random_state=0,
    )
    sk.fit(X64, y)
    sk.coefs_ = [initial["0.W"].copy(), initial["2.W"].copy()]
    sk.intercepts_ = [initial["0.b"].copy(), initial["2.b"].copy()]
    sk.set_params(max_iter=1000).fit(X64, y)
sk_accuracy = sk.score(X64, y)
print(
    f"scikit-learn MLPClassifier, same start:   accuracy {sk_accuracy:.4f}, "
    f"loss {sk.loss_curve_[-1]:.6f}"
)
weight_gap = abs(sk.coefs_[0] - model64.layers[0].params["W"]).max()
print(f"largest difference of the first layer's weights after 1000 steps: {weight_gap:.1e}")

# The learning-rate study: small rates get stuck on a plateau.
runs = {f"lr={lr}": train(lr)[1] for lr in [2, 1, 0.5, 0.3, 0.2, 0.1]}
lw.plot.history(runs, keys=["loss"]).savefig(out / "learning_rates.png")
for name, h in runs.items():
    print(f"{name:7} final loss {h.history['loss'][-1]:.4f}")
# "What can we do other than the learning rate?" -- momentum, or Adam:
adam = lw.Sequential.from_spec(nn_architecture, seed=99)
h_adam = adam.fit(
    X,
    y,
    loss=lw.BinaryCrossEntropy(),
    optimizer=lw.Adam(lr=0.01),
    epochs=1000,
    batch_size=None,
    progress=False,
)
print(f"Adam 0.01 final loss {h_adam.history['loss'][-1]:.4f}")

assert accuracy >= 0.96, f"accuracy {accuracy:.4f} < 0.96"
assert abs(history64.history["loss"][-1] - sk.loss_curve_[-1]) < 1e-9, "scikit-learn disagrees"
assert weight_gap < 1e-8, "scikit-learn ended with other weights"
assert runs["lr=0.1"].history["loss"][-1] > runs["lr=1"].history["loss"][-1]
print(f"figures in {out}/")
