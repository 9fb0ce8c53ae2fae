"""What does ``lw.Diagnostics`` cost? Training time with and without it.

Each workload trains the same network from the same weights on the same batches:

- **none**: no callback;
- **default**: ``lw.Diagnostics()`` (a record every 50 steps), the frequency that must
  cost at most 10 % of the training time;
- **per epoch**: ``lw.Diagnostics(per="epoch")`` (the last batch of every epoch);
- **every step**: ``lw.Diagnostics(every=1)``, for scale.

The runs are interleaved round by round (the order rotated each round) in one process;
the table gives the median seconds per run without Diagnostics and each variant's ratio
to that: the ratio of the medians, the median over rounds of the ratio within a round
(paired), and ``1 + hooks / (run - hooks)`` from the seconds the callback spent in its
own hooks (timed inside the run, so it holds when other processes share the CPUs and
the first two ratios scatter).

    python benchmarks/diagnostics.py [--rounds 7] [--only C,E]
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from workloads import as_float_column, load_data, mnist_arrays

import layerwise as lw


@dataclass(frozen=True)
class Case:
    """One training run: ``fit(X, y)`` of ``build()`` with ``loss()`` and ``optimizer()``."""

    title: str
    build: Callable  # () -> Sequential
    loss: Callable  # () -> Loss
    optimizer: Callable  # () -> Optimizer
    data: Callable  # () -> (X, y)
    batch_size: int | None
    epochs: int


def relu_net(sizes, *, sigmoid=False, seed=0):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(lw.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(lw.ReLU())
    if sigmoid:
        layers.append(lw.Sigmoid())
    return lw.Sequential(layers, seed=seed)


def deep_sigmoid(seed=1):
    """Notebook 000's net: 20 hidden layers of 100 sigmoid units, weights U(-3, 3)."""
    wide = functools.partial(lw.init.uniform, low=-3.0, high=3.0)
    unit = functools.partial(lw.init.uniform, low=-1.0, high=1.0)
    layers = [lw.Linear(2, 100, init=unit, bias_init=unit), lw.Sigmoid()]
    for _ in range(20):
        layers += [lw.Linear(100, 100, init=wide, bias_init=unit), lw.Sigmoid()]
    layers += [lw.Linear(100, 1, init=unit, bias_init=unit), lw.Sigmoid()]
    return lw.Sequential(layers, seed=seed)


def _moons():
    data = load_data("moons", 1000)
    return data.X, as_float_column(data.y)


def _function2d(n):
    data = load_data("function2d", n)
    return data.X, as_float_column(data.y)


def _digits():
    data = load_data("digits", 1437)
    return data.X, data.y


def _mnist():
    X, _, y, _ = mnist_arrays()
    return X, y


def _online():
    X, y = lw.data.function2d(n=2000, seed=0)
    return X, y


CASES = {
    "C": Case(
        "moons 2-16-1, full batch, 1000 steps",
        lambda: relu_net((2, 16, 1), sigmoid=True),
        lw.BinaryCrossEntropy, lambda: lw.SGD(lr=1.0), _moons, None, 1000,
    ),
    "D": Case(
        "2-D function 2-100-1, batch 1000, 400 steps",
        lambda: relu_net((2, 100, 1)),
        lw.MSE, lambda: lw.SGD(lr=0.01), functools.partial(_function2d, 400_000), 1000, 1,
    ),
    "E": Case(
        "digits 64-64-10, batch 32, Adam, 20 epochs",
        lambda: relu_net((64, 64, 10)),
        lw.CrossEntropy, lambda: lw.Adam(lr=1e-3), _digits, 32, 20,
    ),
    "A": Case(
        "MNIST 784-256-128-10, batch 128, SGD momentum, 1 epoch",
        lambda: relu_net((784, 256, 128, 10)),
        lw.CrossEntropy, lambda: lw.SGD(lr=0.01, momentum=0.9), _mnist, 128, 1,
    ),
    "deep": Case(
        "notebook 000's deep sigmoid 2-100x21-1, batch 1000, 100 steps",
        deep_sigmoid,
        lw.MSE, lambda: lw.SGD(lr=0.01), functools.partial(_function2d, 100_000), 1000, 1,
    ),
    "online": Case(
        "online learning 2-16-1 tanh, batch 1, 2000 steps",
        lambda: lw.Sequential([lw.Linear(2, 16), lw.Tanh(), lw.Linear(16, 1)], seed=0),
        lw.MSE, lambda: lw.SGD(lr=0.05), _online, 1, 1,
    ),
}  # fmt: skip


class Timed(lw.Diagnostics):
    """Diagnostics that add up the seconds spent in their own hooks."""

    seconds = 0.0

    def on_train_begin(self, run):
        start = time.perf_counter()
        super().on_train_begin(run)
        self.seconds += time.perf_counter() - start

    def on_batch_end(self, run, step, loss):
        start = time.perf_counter()
        super().on_batch_end(run, step, loss)
        self.seconds += time.perf_counter() - start


VARIANTS = {
    "none": lambda: None,
    "default": lambda: Timed(),
    "per epoch": lambda: Timed(per="epoch"),
    "every step": lambda: Timed(every=1),
}


def train(case: Case, X, y, weights, diag) -> tuple[float, float]:
    """One run of ``fit`` from the given weights: (seconds, seconds inside Diagnostics)."""
    model = case.build()
    model.load_state_dict(weights)
    gc.collect()
    start = time.perf_counter()
    with warnings.catch_warnings():  # the deep sigmoid net warns (once per run)
        warnings.simplefilter("ignore", lw.LayerwiseWarning)
        model.fit(
            X, y, loss=case.loss(), optimizer=case.optimizer(), epochs=case.epochs,
            batch_size=case.batch_size, shuffle=False, callbacks=[] if diag is None else [diag],
            progress=False, seed=0,
        )  # fmt: skip
    return time.perf_counter() - start, 0.0 if diag is None else diag.seconds


def measure(case: Case, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """``{variant: [(seconds, seconds in the hooks), ...]}``, one entry per round."""
    X, y = case.data()
    weights = case.build().state_dict()
    names = list(VARIANTS)
    for name in names:  # warm-up
        train(case, X, y, weights, VARIANTS[name]())
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            times[name].append(train(case, X, y, weights, VARIANTS[name]()))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default=None, help="comma-separated keys, e.g. C,E")
    args = parser.parse_args()
    keys = list(CASES) if args.only is None else args.only.split(",")
    names = list(VARIANTS)[1:]
    print("Ratio to no Diagnostics: of the medians / paired / hooks' own time (see docstring)")
    print(f"{'':7}{'none (s)':>9}" + "".join(f"{n:>22}" for n in names))
    for key in keys:
        case = CASES[key]
        try:
            times = measure(case, args.rounds)
        except FileNotFoundError as e:
            print(f"{key:7}skipped: {e}")
            continue
        none = [t for t, _ in times["none"]]
        base = statistics.median(none)
        cells = []
        for name in names:
            total = [t for t, _ in times[name]]
            ratio = statistics.median(total) / base
            paired = statistics.median(t / b for t, b in zip(total, none))
            own = statistics.median(1 + h / (t - h) for t, h in times[name])
            cells.append(f"{ratio:.2f} / {paired:.2f} / {own:.3f}")
        print(f"{key:7}{base:9.3f}" + "".join(f"{c:>22}" for c in cells) + f"   {case.title}")


if __name__ == "__main__":
    main()
