"""layerwise's scikit-learn estimators against scikit-learn's own MLP, in the same run.

Each case fits ``layerwise.estimators.MLPClassifier`` and
``sklearn.neural_network.MLPClassifier`` with the same parameters on the same data:
the whole ``fit`` call is timed (validation, initial weights, training), as a user
meets it. Every epoch runs (``tol=0``, ``n_iter_no_change=max_iter``).

- **digits**: 64-100-10 ReLU, Adam, batch 200, 200 epochs, scikit-learn's defaults
  otherwise (``alpha=1e-4``, shuffled), on ``load_digits`` scaled to [0, 1] (1437
  training rows). Twice: float64 data (both train in float64, the default) and
  float32 data (both train in float32).
- **A-sgdm**, **A-adam**: workload A of ``benchmarks/workloads.py``: MNIST
  784-256-128-10 ReLU, 1 epoch of 60,000 in batches of 128, SGD (momentum 0.9, not
  Nesterov, lr 0.01) or Adam (lr 1e-3), ``alpha=0``, float32 as loaded.

Runs are interleaved round by round, in an order that alternates, after a quiet pause
(``machine.settle``); a run during which other processes took a noticeable share of
the CPUs is repeated (up to twice, keeping the least disturbed). Reported: median
seconds, the ratio of the medians (scikit-learn / layerwise, > 1: layerwise faster),
the median of the per-round ratios (paired), and test accuracy.

On a shared machine, a 2-thread BLAS slows down several times over whenever another
process takes a core. ``--threads 1`` limits both libraries to one BLAS thread
(threadpoolctl) and also reports the process's CPU seconds, which do not count the time
it waited for a core: the measure that stays put when the machine is busy.

``--floor`` adds, on the digits cases, what any NumPy implementation of this training
costs: **numpy-loop**, a hand-written loop of only the NumPy calls the arithmetic needs
(scikit-learn's forward, softmax cross-entropy, backward, L2 on the weights and Adam,
the same shuffled batches, no checks, no bookkeeping), and **gemm-only**, the five
matrix products of each step and nothing else. scikit-learn's time over theirs is the
most a NumPy library could reach here.

    python benchmarks/estimators.py [--rounds 5] [--only digits-f64,A-adam] [--threads 1]
    python benchmarks/estimators.py --only digits-f64,digits-f32 --floor
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time
import warnings
from dataclasses import dataclass, field

import machine
import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from layerwise.estimators import MLPClassifier

IMPLEMENTATIONS = ("layerwise", "sklearn")
FLOORS = ("numpy-loop", "gemm-only")


@dataclass
class Case:
    key: str
    title: str
    params: dict
    data: str  # "digits" or "mnist"
    dtype: type = np.float32
    target: float = 1.5  # scikit-learn / layerwise to reach
    arrays: tuple = field(default=(), repr=False)


def cases() -> list[Case]:
    digits = dict(
        hidden_layer_sizes=(100,), solver="adam", batch_size=200, max_iter=200, tol=0.0,
        n_iter_no_change=200, random_state=0,
    )  # fmt: skip
    mnist = dict(
        hidden_layer_sizes=(256, 128), batch_size=128, max_iter=1, alpha=0.0, tol=0.0,
        n_iter_no_change=1, random_state=0,
    )  # fmt: skip
    sgdm = dict(solver="sgd", learning_rate_init=0.01, momentum=0.9, nesterovs_momentum=False)
    adam = dict(solver="adam")
    return [
        Case("digits-f64", "digits 64-100-10, Adam, float64", digits, "digits", np.float64, 3.0),
        Case("digits-f32", "digits 64-100-10, Adam, float32", digits, "digits", np.float32, 3.0),
        Case("A-sgdm", "MNIST 784-256-128-10, SGD momentum", {**mnist, **sgdm}, "mnist"),
        Case("A-adam", "MNIST 784-256-128-10, Adam", {**mnist, **adam}, "mnist"),
    ]  # fmt: skip


def load(case: Case) -> tuple:
    """``(X_train, X_test, y_train, y_test)`` in the case's dtype (untimed)."""
    if case.data == "digits":
        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X / 16.0, y, test_size=0.2, random_state=0
        )
    else:
        from workloads import mnist_arrays

        X_train, X_test, y_train, y_test = mnist_arrays()
    return X_train.astype(case.dtype), X_test.astype(case.dtype), y_train, y_test


def numpy_loop(case: Case, gemm_only: bool = False) -> float:
    """The digits training as a bare NumPy loop (the floor; see the module docstring);
    returns the test accuracy it reached (NaN for ``gemm_only``)."""
    X, y = case.arrays[0], case.arrays[2]
    p, dtype = case.params, X.dtype
    n, size, alpha = len(X), p["batch_size"], 1e-4
    lr, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
    (hidden,) = p["hidden_layer_sizes"]
    rng = np.random.default_rng(0)
    shapes = [(X.shape[1], hidden), (hidden,), (hidden, 10), (10,)]
    sizes = [int(np.prod(s)) for s in shapes]
    ends = np.cumsum([0, *sizes])
    # One flat buffer for the parameters and one for the gradients, as layerwise has.
    theta, grad = np.zeros(ends[-1], dtype), np.zeros(ends[-1], dtype)
    W1, b1, W2, b2 = (theta[a:b].reshape(s) for a, b, s in zip(ends, ends[1:], shapes))
    gW1, gb1, gW2, gb2 = (grad[a:b].reshape(s) for a, b, s in zip(ends, ends[1:], shapes))
    for W in (W1, W2):  # scikit-learn's Glorot-uniform bound
        bound = math.sqrt(6 / sum(W.shape))
        W[...] = rng.uniform(-bound, bound, W.shape)
    weights = np.zeros_like(theta)  # 1 on the weights, 0 on the biases: alpha's L2
    weights[ends[0] : ends[1]] = weights[ends[2] : ends[3]] = 1
    m, v, scratch = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    Y = np.eye(10, dtype=dtype)[y]
    t = 0
    for _ in range(p["max_iter"]):
        order, total = rng.permutation(n), 0.0
        for start in range(0, n, size):
            idx = order[start : start + size]
            xb, yb = X.take(idx, axis=0), Y.take(idx, axis=0)
            if gemm_only:
                h = xb @ W1
                z = h @ W2
                np.dot(h.T, z, out=gW2)
                dh = z @ W2.T
                np.dot(xb.T, dh, out=gW1)
                continue
            h = xb @ W1
            h += b1
            np.maximum(h, 0, out=h)
            z = h @ W2
            z += b2
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            total -= float(np.vdot(yb, np.log(np.maximum(z, 1e-10))))  # the loss, as sklearn
            z -= yb
            z /= len(idx)
            np.dot(h.T, z, out=gW2)
            np.sum(z, axis=0, out=gb2)
            dh = z @ W2.T
            dh *= h > 0
            np.dot(xb.T, dh, out=gW1)
            np.sum(dh, axis=0, out=gb1)
            grad += (alpha / len(idx)) * weights * theta
            t += 1
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            np.multiply(grad, grad, out=scratch)
            scratch *= 1 - beta2
            v += scratch
            c = math.sqrt(1 - beta2**t)
            np.sqrt(v, out=scratch)
            scratch += eps * c
            np.divide(m, scratch, out=scratch)
            scratch *= lr * c / (1 - beta1**t)
            theta -= scratch
    if gemm_only:
        return math.nan
    X_test, y_test = case.arrays[1], case.arrays[3]
    scores = np.maximum(X_test @ W1 + b1, 0) @ W2 + b2
    return float(np.mean(scores.argmax(axis=1) == y_test))


def run_floor(case: Case, impl: str) -> tuple[float, dict]:
    machine.settle()
    cpu = time.process_time()
    accuracy = []
    seconds, other = machine.timed(
        lambda: accuracy.append(numpy_loop(case, gemm_only=impl == "gemm-only"))
    )
    cpu = time.process_time() - cpu
    return seconds, {"other_cpu_s": other, "cpu_s": cpu, "accuracy": accuracy[0]}


def run_once(case: Case, impl: str) -> tuple[float, dict]:
    if impl in FLOORS:
        return run_floor(case, impl)
    X_train, X_test, y_train, y_test = case.arrays
    cls = MLPClassifier if impl == "layerwise" else SkMLPClassifier
    estimator = clone(cls(**case.params))
    machine.settle()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cpu = time.process_time()
        seconds, other = machine.timed(lambda: estimator.fit(X_train, y_train))
        cpu = time.process_time() - cpu
    accuracy = float(np.mean(estimator.predict(X_test) == y_test))
    extras = {"other_cpu_s": other, "cpu_s": cpu, "accuracy": accuracy, "loss": estimator.loss_}
    return seconds, extras


def measure(
    case: Case, rounds: int, impls: tuple[str, ...], retries: int = 2
) -> dict[str, list[tuple[float, dict]]]:
    machine.log(f"{case.key}: warm-up")
    for impl in impls:
        run_once(case, impl)
    runs: dict[str, list] = {impl: [] for impl in impls}
    for r in range(rounds):
        order = impls if r % 2 == 0 else impls[::-1]
        for impl in order:
            result = run_once(case, impl)
            for _ in range(retries):
                if not machine.disturbed(*result):
                    break
                machine.log(f"{case.key}: {impl} disturbed ({machine.other_text(*result)}); again")
                again = run_once(case, impl)
                if machine.other_share(*again) < machine.other_share(*result):
                    result = again
            runs[impl].append(result)
        text = ", ".join(f"{i} {runs[i][-1][0]:.3f}s" for i in impls)
        machine.log(f"{case.key}: round {r + 1}/{rounds}: {text}")
    return runs


def report(results: dict[str, dict], cpu: bool) -> str:
    """The Markdown table; with ``cpu``, also the CPU seconds and their ratio."""
    columns = ["case", "layerwise", "scikit-learn", "ratio (medians)", "paired", "target"]
    if cpu:
        columns += ["CPU layerwise", "CPU scikit-learn", "CPU ratio"]
    floors = [f for f in FLOORS if any(f in runs for _, runs in results.values())]
    columns += [f"{f} (scikit-learn / it)" for f in floors]
    columns += ["accuracy layerwise", "accuracy scikit-learn", "disturbed"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for key, (case, runs) in results.items():
        ours, theirs = ([s for s, _ in runs[i]] for i in IMPLEMENTATIONS)
        ratio = statistics.median(theirs) / statistics.median(ours)
        paired = statistics.median(t / o for t, o in zip(theirs, ours))
        mark = "✓" if ratio >= case.target else "✗"
        cells = [
            f"**{key}** {case.title}",
            f"{statistics.median(ours):.3f} s",
            f"{statistics.median(theirs):.3f} s",
            f"{ratio:.2f}x",
            f"{paired:.2f}x",
            f"{case.target:g}x {mark}",
        ]
        if cpu:
            cpu_ours, cpu_theirs = (
                statistics.median(e["cpu_s"] for _, e in runs[i]) for i in IMPLEMENTATIONS
            )
            cells += [f"{cpu_ours:.3f} s", f"{cpu_theirs:.3f} s", f"{cpu_theirs / cpu_ours:.2f}x"]
        for floor in floors:
            if floor not in runs:
                cells.append("")
                continue
            seconds = statistics.median(s for s, _ in runs[floor])
            accuracy = statistics.median(e["accuracy"] for _, e in runs[floor])
            cell = f"{seconds:.3f} s ({statistics.median(theirs) / seconds:.2f}x)"
            cells.append(cell + ("" if math.isnan(accuracy) else f", accuracy {accuracy:.4f}"))
        for impl in IMPLEMENTATIONS:
            cells.append(f"{statistics.median(e['accuracy'] for _, e in runs[impl]):.4f}")
        cells.append(str(sum(machine.disturbed(*run) for i in runs for run in runs[i])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", help="comma-separated case keys, e.g. digits-f64,A-adam")
    parser.add_argument("--threads", type=int, help="BLAS threads (default: NumPy's own)")
    parser.add_argument(
        "--floor", action="store_true", help="also time the bare NumPy loops on digits"
    )
    args = parser.parse_args(argv)
    selected = set(args.only.split(",")) if args.only else None
    limit = contextlib.nullcontext()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(args.threads, user_api="blas")
    results = {}
    with limit:
        machine.log(f"BLAS threads: {machine.blas_threads()}")
        for case in cases():
            if selected is not None and case.key not in selected:
                continue
            case.arrays = load(case)
            impls = IMPLEMENTATIONS + (FLOORS if args.floor and case.data == "digits" else ())
            results[case.key] = (case, measure(case, args.rounds, impls))
            case.arrays = ()
    print(report(results, cpu=args.threads == 1))


if __name__ == "__main__":
    main()
