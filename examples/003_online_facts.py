"""Notebook 003 ("Neural Nets t2"): components with forward and backward, online
learning one fact at a time, a bench with checkpoint and rollback, and the toy
experiments: identity, swap, a constant through a ReLU, XOR.

    python examples/003_online_facts.py [OUTPUT_FOLDER]

The notebook's bugs are not here: the affine layer's backward multiplies by W^T
(the notebook used M), the loss does not turn into NaN (and if a learning rate
makes it, fit() stops and restores the weights), and a checkpoint is a state dict
or a safetensors file, never dill/pickle.
"""

import sys
from pathlib import Path

import numpy as np

import layerwise as lw

out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out/003")
out.mkdir(parents=True, exist_ok=True)


def learn(model, kind, *, lr=0.1, n=100, epochs=1, seed=3):
    """Online learning: one SGD step per fact, as Network.learn(facts)."""
    X, y = lw.data.facts(kind, n, seed=seed)
    loss = lw.BinaryCrossEntropy() if kind == "xor" else lw.MSE()
    steps = StepLosses()
    history = model.fit(
        X,
        y,
        loss=loss,
        optimizer=lw.SGD(lr=lr),
        epochs=epochs,
        batch_size=1,
        shuffle=False,
        progress=False,
        callbacks=[steps],
    )
    return history, steps


class StepLosses(lw.Callback):
    """The loss of every fact, as the notebook's list of losses."""

    def __init__(self):
        self.losses = []

    def on_batch_end(self, run, step, loss):
        self.losses.append(loss)


# An identity layer and a map layer do not learn (they have no parameters) ...
assert lw.Sequential([lw.Identity()]).parameters() == {}
plus_one = lw.Elementwise(lambda z: z + 1, lambda z: np.ones_like(z))
print("Map layer (x + 1) on [0 1 2]:", lw.Sequential([plus_one]).predict([[0, 1, 2]]))

# ... an affine layer learns the identity and the swap, one fact at a time.
results = {}
for kind in ("identity", "swap"):
    net = lw.Sequential([lw.Linear(2, 2)], seed=0, dtype=np.float64)
    _, steps = learn(net, kind, n=200, epochs=5)
    results[kind] = steps.losses
    print(f"{kind}: W =\n{net.layers[0].params['W'].round(4)}, last loss {steps.losses[-1]:.2e}")
lw.plot.history(list(results.values()), label=list(results), log=True).savefig(out / "losses.png")
lw.plot.weights(net).savefig(out / "swap_weights.png")

# A constant through a ReLU.
net = lw.Sequential([lw.Linear(2, 2), lw.ReLU()], seed=1, dtype=np.float64)
_, steps = learn(net, "constant", lr=0.05, n=200, epochs=5)
print("constant [1, 1] through a ReLU:", net.predict([[0.3, -2.0]]).round(4))
constant_loss = steps.losses[-1]

# XOR with a 2-2-1 network (tanh hidden, sigmoid out), online.
xor = lw.Sequential([lw.Linear(2, 2), lw.Tanh(), lw.Linear(2, 1), lw.Sigmoid()], seed=0)
learn(xor, "xor", lr=0.5, n=4, epochs=2000)
X4, y4 = lw.data.facts("xor", 4, seed=0)
for x, p in zip(X4.astype(int).tolist(), xor.predict(X4)[:, 0]):
    print(f"XOR {x} -> {p:.3f}")

# -- The bench: checkpoint, rollback, and the learning potential of a rate ------------
bench = lw.Sequential([lw.Linear(2, 2)], seed=0, dtype=np.float64)
checkpoint = bench.state_dict()  # in memory; lw.save(bench, "bench.safetensors") on disk


def learning_potential(alpha, n=100):
    """-log(loss after n facts) from the checkpoint, leaving the bench as it was."""
    _, steps = learn(bench, "swap", lr=alpha, n=n)
    bench.load_state_dict(checkpoint)  # rollback
    return -np.log(steps.losses[-1])


potentials = {alpha: learning_potential(alpha) for alpha in (0.01, 0.03, 0.1, 0.3, 0.6)}
for alpha, value in potentials.items():
    print(f"alpha {alpha:4}: learning potential {value:6.2f}")
np.testing.assert_array_equal(bench.state_dict()["0.W"], checkpoint["0.W"])

assert results["identity"][-1] < 1e-8 and results["swap"][-1] < 1e-8
assert constant_loss < 1e-6
assert ((xor.predict(X4) > 0.5) == (y4 > 0.5)).all(), "XOR not learned"
assert max(potentials, key=potentials.get) > 0.01
print(f"figures in {out}/")
