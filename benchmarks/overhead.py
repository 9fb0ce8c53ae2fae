"""What does layerwise's layer abstraction cost against a hand-written NumPy loop?

On the tiny networks of workloads C, D and E every NumPy call counts, so this times the
same training several ways, in round-robin:

- **hand**: one plain NumPy function with the formulas written out (``np.dot``, the
  fused output gradient, in-place updates), computing the loss at every step as
  ``fit`` does: the loop a careful reader of the notebooks would write;
- **train_step**: a loop over the same batches calling ``lw.train_step`` (the layers,
  the loss, the optimizer and its divergence guard);
- **fit**: ``model.fit`` (adds the accuracy, the history and the per-epoch snapshot of
  the weights for the divergence guard; for C, a full-batch run, every step is an
  epoch);
- **session**: ``lw.Session(...).step(n)``, the engine under ``fit``, with the same
  guard, history and accuracy.

All of them start from the same weights and see the same batches, so their final losses
must agree: a fast but wrong loop shows. Prints microseconds per step and the ratios of
``fit`` and ``session`` to the hand-written and the tuned loops.

    python benchmarks/overhead.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import numpy as np
from workloads import as_float_column, load_data

import layerwise as lw

# (workload, data, sizes, loss, optimizer, lr, batch size, epochs, shuffle)
CASES = {
    "C": ("moons", 1000, (2, 16, 1), "bce", "sgd", 1.0, None, 1000, False),
    "D": ("function2d", 400_000, (2, 100, 1), "mse", "sgd", 0.01, 1000, 1, False),
    "E": ("digits", 1437, (64, 64, 10), "ce", "adam", 1e-3, 32, 20, True),
}


def network(sizes, loss_name):
    layers = [lw.Linear(sizes[0], sizes[1]), lw.ReLU(), lw.Linear(sizes[1], sizes[2])]
    if loss_name == "bce":
        layers.append(lw.Sigmoid())
    return lw.Sequential(layers, seed=0)


def batches(n, size, epochs, shuffle):
    """The index arrays (or slices) of every step, as ``fit`` draws them (seed 0)."""
    rng = np.random.default_rng(0)
    size = n if size is None else size
    for _ in range(epochs):
        order = rng.permutation(n) if shuffle and size < n else None
        for start in range(0, n, size):
            yield slice(start, start + size) if order is None else order[start : start + size]


# -- the hand-written loop -------------------------------------------------------------


def hand(X, y, weights, loss_name, optimizer, lr, size, epochs, shuffle):
    """Plain NumPy: 2-layer ReLU network, fused output gradient, SGD or Adam; returns
    the final weights."""
    W1, b1, W2, b2 = (weights[k].copy() for k in ("0.W", "0.b", "2.W", "2.b"))
    params = [W1, b1, W2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t, total = 0, 0.0  # total: the summed batch losses, as fit keeps them
    for idx in batches(len(X), size, epochs, shuffle):
        xb = X[idx] if isinstance(idx, slice) else X.take(idx, axis=0)
        yb = y[idx] if isinstance(idx, slice) else y.take(idx, axis=0)
        n = len(xb)
        z1 = np.dot(xb, W1)
        z1 += b1
        a1 = np.maximum(z1, 0)
        z2 = np.dot(a1, W2)
        z2 += b2
        if loss_name == "bce":  # sigmoid output, binary cross-entropy
            p = 1 / (1 + np.exp(-z2))
            loss = -float(np.mean(yb * np.log(p) + (1 - yb) * np.log1p(-p)))
            g2 = (p - yb) / z2.size
        elif loss_name == "mse":
            diff = z2 - yb
            loss = float(np.vdot(diff, diff)) / diff.size
            g2 = diff * (2 / diff.size)
        else:  # softmax cross-entropy on integer labels
            e = np.exp(z2 - z2.max(axis=1, keepdims=True))
            s = e / e.sum(axis=1, keepdims=True)
            loss = -float(np.log(s[np.arange(n), yb]).mean())
            s[np.arange(n), yb] -= 1
            g2 = s / n
        total += loss
        g1 = np.dot(g2, W2.T)
        g1 *= z1 > 0
        grads = [np.dot(xb.T, g1), g1.sum(axis=0), np.dot(a1.T, g2), g2.sum(axis=0)]
        t += 1
        for p_, g, m_, v_ in zip(params, grads, m, v):
            if optimizer == "sgd":
                p_ -= lr * g
            else:  # Adam, torch's formula
                m_ *= 0.9
                m_ += 0.1 * g
                v_ *= 0.999
                v_ += 0.001 * g * g
                denom = np.sqrt(v_ / (1 - 0.999**t)) + 1e-8
                p_ -= lr / (1 - 0.9**t) * m_ / denom
    return dict(zip(("0.W", "0.b", "2.W", "2.b"), params))


def tuned(X, y, weights, loss_name, optimizer, lr, size, epochs, shuffle):
    """The same loop as ``hand`` with what PERF-NOTES measured as fast: preallocated
    buffers and ``out=``, ``np.maximum`` against an array of zeros, bias gradients as
    GEMVs, and one flat parameter buffer for the optimizer; returns the final weights."""
    names = ("0.W", "0.b", "2.W", "2.b")
    flat = np.concatenate([weights[k].ravel() for k in names])
    grad, m, v, step = (np.zeros_like(flat) for _ in range(4))

    def split(buffer):
        views, start = [], 0
        for k in names:
            views.append(buffer[start : start + weights[k].size].reshape(weights[k].shape))
            start += weights[k].size
        return views

    (W1, b1, W2, b2), (dW1, db1, dW2, db2) = split(flat), split(grad)
    hidden, out = W1.shape[1], W2.shape[1]
    buffers, t, total = {}, 0, 0.0  # buffers per batch size (the last may be shorter)
    for idx in batches(len(X), size, epochs, shuffle):
        xb = X[idx] if isinstance(idx, slice) else X.take(idx, axis=0)
        yb = y[idx] if isinstance(idx, slice) else y.take(idx, axis=0)
        n = len(xb)
        if n not in buffers:
            buffers[n] = (
                np.empty((n, hidden), np.float32), np.zeros((n, hidden), np.float32),
                np.empty((n, hidden), bool), np.empty((n, hidden), np.float32),
                np.empty((n, out), np.float32), np.empty((n, hidden), np.float32),
                np.ones(n, np.float32), np.arange(n),
            )  # fmt: skip
        z1, zeros, mask, a1, z2, g1, ones, rows = buffers[n]
        np.dot(xb, W1, out=z1)
        z1 += b1
        np.greater(z1, 0, out=mask)
        np.maximum(z1, zeros, out=a1)
        np.dot(a1, W2, out=z2)
        z2 += b2
        if loss_name == "bce":  # z2 becomes p, then the gradient (p - t) / N
            with np.errstate(over="ignore"):
                np.exp(np.negative(z2, out=z2), out=z2)
            z2 += 1
            np.reciprocal(z2, out=z2)
            loss = -float(np.vdot(yb, np.log(z2)) + np.vdot(1 - yb, np.log1p(-z2))) / z2.size
            z2 -= yb
            z2 *= 1 / z2.size
        elif loss_name == "mse":
            z2 -= yb
            loss = float(np.vdot(z2, z2)) / z2.size
            z2 *= 2 / z2.size
        else:
            z2 -= z2.max(axis=1, keepdims=True)
            picked = z2[rows, yb]
            np.exp(z2, out=z2)
            sums = z2.sum(axis=1)
            loss = float(np.log(sums).sum() - picked.sum()) / n
            z2 /= sums[:, None]
            z2[rows, yb] -= 1
            z2 *= 1 / n
        total += loss
        g2 = z2
        np.dot(a1.T, g2, out=dW2)
        np.dot(ones, g2, out=db2)
        np.dot(g2, W2.T, out=g1)
        np.multiply(g1, mask, out=g1)
        np.dot(xb.T, g1, out=dW1)
        np.dot(ones, g1, out=db1)
        t += 1
        if optimizer == "sgd":
            np.multiply(grad, lr, out=step)
        else:
            m *= 0.9
            np.multiply(grad, 0.1, out=step)
            m += step
            v *= 0.999
            np.multiply(grad, grad, out=step)
            step *= 0.001
            v += step
            np.divide(v, 1 - 0.999**t, out=step)
            np.sqrt(step, out=step)
            step += 1e-8
            np.divide(m, step, out=step)
            step *= lr / (1 - 0.9**t)
        flat -= step
    return dict(zip(names, split(flat)))


# -- layerwise ------------------------------------------------------------------------


def layerwise_loss_and_optimizer(loss_name, optimizer, lr):
    loss = {"bce": lw.BinaryCrossEntropy, "mse": lw.MSE, "ce": lw.CrossEntropy}[loss_name]()
    return loss, lw.SGD(lr=lr) if optimizer == "sgd" else lw.Adam(lr=lr)


def steps(X, y, weights, sizes, loss_name, optimizer, lr, size, epochs, shuffle):
    model = network(sizes, loss_name)
    model.load_state_dict(weights)
    loss, opt = layerwise_loss_and_optimizer(loss_name, optimizer, lr)
    params = model.parameters()
    for idx in batches(len(X), size, epochs, shuffle):
        xb = X[idx] if isinstance(idx, slice) else X.take(idx, axis=0)
        yb = y[idx] if isinstance(idx, slice) else y.take(idx, axis=0)
        lw.train_step(model, loss, opt, xb, yb, params=params)
    return model.state_dict()


def fit(X, y, weights, sizes, loss_name, optimizer, lr, size, epochs, shuffle):
    model = network(sizes, loss_name)
    model.load_state_dict(weights)
    loss, opt = layerwise_loss_and_optimizer(loss_name, optimizer, lr)
    model.fit(
        X, y, loss=loss, optimizer=opt, epochs=epochs, batch_size=size, shuffle=shuffle,
        progress=False, seed=0,
    )  # fmt: skip
    return model.state_dict()


def session(X, y, weights, sizes, loss_name, optimizer, lr, size, epochs, shuffle):
    model = network(sizes, loss_name)
    model.load_state_dict(weights)
    loss, opt = layerwise_loss_and_optimizer(loss_name, optimizer, lr)
    run = lw.Session(model, loss, opt, (X, y), batch_size=size, shuffle=shuffle, seed=0)
    run.step(epochs * run.steps_per_epoch)
    return model.state_dict()


def final_loss(weights, X, y, sizes, loss_name) -> float:
    """The training loss of the final weights, computed the same way for all of them."""
    model = network(sizes, loss_name)
    model.load_state_dict(weights)
    loss = layerwise_loss_and_optimizer(loss_name, "sgd", 0.1)[0]
    return lw.evaluate(model, X, y, loss=loss)["loss"]


def measure(case, rounds: int) -> tuple[dict, dict]:
    """Median microseconds per step, and the final loss, of each way of training."""
    data_name, n, sizes, loss_name, opt, lr, size, epochs, shuffle = case
    data = load_data(data_name, n)
    X, y = data.X, data.y if loss_name == "ce" else as_float_column(data.y)
    weights = network(sizes, loss_name).state_dict()
    common = (X, y, weights)
    run = {
        "hand": partial(hand, *common, loss_name, opt, lr, size, epochs, shuffle),
        "tuned": partial(tuned, *common, loss_name, opt, lr, size, epochs, shuffle),
        "train_step": partial(steps, *common, sizes, loss_name, opt, lr, size, epochs, shuffle),
        "fit": partial(fit, *common, sizes, loss_name, opt, lr, size, epochs, shuffle),
        "session": partial(session, *common, sizes, loss_name, opt, lr, size, epochs, shuffle),
    }
    # A warm-up, and the results: the final weights' loss on the training data.
    losses = {name: final_loss(fn(), X, y, sizes, loss_name) for name, fn in run.items()}
    n_steps = sum(1 for _ in batches(len(X), size, epochs, shuffle))
    times = {name: [] for name in run}
    for _ in range(rounds):
        for name, fn in run.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) / n_steps * 1e6)
    return {name: statistics.median(t) for name, t in times.items()}, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    names = ("hand", "tuned", "train_step", "fit", "session")
    print("us per step " + "".join(f"{name:>11}" for name in names) + "   ratios to hand, tuned")
    for key, case in CASES.items():
        us, losses = measure(case, args.rounds)
        ratios = "  ".join(
            f"{name} {us[name] / us['hand']:.2f}x {us[name] / us['tuned']:.2f}x"
            for name in ("fit", "session")
        )
        print(f"{key:11} " + "".join(f"{us[name]:11.1f}" for name in names) + f"   {ratios}")
        print(" " * 12 + "final loss " + ", ".join(f"{losses[name]:.5f}" for name in names))


if __name__ == "__main__":
    main()
