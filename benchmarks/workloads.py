"""The benchmark workloads and their three implementations: layerwise, PyTorch, scikit-learn.

A :class:`Workload` describes one training run (architecture, loss, optimizer, batch
size, epochs, data) once; :func:`prepare` turns it into a ready-to-time run for one
implementation. Everything that is not training (loading and converting the data,
building the model and the optimizer, evaluating the result) happens outside the
timed ``train()`` call, for all three implementations alike.

This module imports only NumPy at the top: PyTorch, scikit-learn and layerwise are
imported when first used, so that a memory-measuring child process loads only the
library it measures.
"""

from __future__ import annotations

import gzip
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np

IMPLEMENTATIONS = ("layerwise", "torch", "sklearn")

# What the "FLOPs" of a training run are: the GEMMs of every optimizer step, and
# nothing else (bias adds, activations, the loss and the optimizer are not counted).
FLOP_RULE = (
    "GEMM FLOPs only: per sample, forward 2*sum(in*out) + weight gradients "
    "2*sum(in*out) + input gradients 2*sum(in*out) over every Linear layer but the "
    "first (nothing needs the gradient of the data); element-wise work, the loss and "
    "the optimizer update are not counted. Prediction: forward only."
)


def data_root() -> Path:
    """``$LAYERWISE_DATA``, or the ``shared/data`` folder beside the repository."""
    env = os.environ.get("LAYERWISE_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


# -- workloads ----------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One training run, described once for all three implementations.

    ``task`` fixes the output and the loss: "multiclass" (logits, cross-entropy),
    "binary" (one sigmoid unit, binary cross-entropy) or "regression" (one linear
    unit, mean squared error). Hidden layers use ReLU.
    """

    key: str
    title: str
    data: str  # "mnist", "moons", "function2d" or "digits"
    sizes: tuple[int, ...]  # layer widths, input first
    task: str
    optimizer: str  # "sgd" or "adam"
    lr: float
    batch_size: int | None  # None: full batch
    epochs: int
    shuffle: bool
    n_train: int  # training samples
    momentum: float = 0.0
    targets: dict[str, float] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return self.n_train if self.batch_size is None else min(self.batch_size, self.n_train)

    @property
    def steps(self) -> int:
        """Optimizer steps per run."""
        return self.epochs * -(-self.n_train // self.batch)

    @property
    def samples(self) -> int:
        """Samples processed per run (epochs x training samples)."""
        return self.epochs * self.n_train

    @property
    def flops(self) -> float:
        """GEMM FLOPs of one run (see ``FLOP_RULE``)."""
        return self.samples * train_flops_per_sample(self.sizes)

    @property
    def optimizer_text(self) -> str:
        if self.optimizer == "adam":
            return f"Adam(lr={self.lr:g})"
        return f"SGD(lr={self.lr:g}, momentum={self.momentum:g})"

    def scaled(self, fraction: float) -> Workload:
        """The same workload with a fraction of the work (same shapes): for warm-ups."""
        if self.data in ("mnist", "function2d"):
            n = max(self.batch, int(self.n_train * fraction) // self.batch * self.batch)
            return replace(self, n_train=n)
        return replace(self, epochs=max(1, int(self.epochs * fraction)))

    def describe(self) -> str:
        arch = "-".join(map(str, self.sizes))
        batch = "full batch" if self.batch_size is None else f"batch {self.batch_size}"
        order = "shuffled" if self.shuffle else "in order"
        return (
            f"{arch} ({self.task}), {self.optimizer_text}, {batch}, {self.epochs} epoch(s) "
            f"of {self.n_train} samples ({order}): {self.steps} steps, "
            f"{self.flops / 1e9:.3g} GFLOP per run"
        )


def train_flops_per_sample(sizes: tuple[int, ...]) -> float:
    macs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * sum(macs) + 2 * sum(macs) + 2 * sum(macs[1:])


def predict_flops_per_sample(sizes: tuple[int, ...]) -> float:
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def workloads(quick: bool = False) -> list[Workload]:
    """Workloads A-E. ``quick`` keeps the shapes and cuts the work (a smoke run)."""
    mnist_n = 12_000 if quick else 60_000
    a_targets = {"vs_torch": 1.2, "vs_sklearn": 1.5}
    b_targets = {"vs_torch": 1.0, "vs_sklearn": 1.2, "gemm_efficiency": 0.8}
    tiny_targets = {"vs_torch": 5.0, "vs_sklearn": 3.0}
    mnist_net = (784, 256, 128, 10)
    mnist = dict(data="mnist", task="multiclass", epochs=1, shuffle=True, n_train=mnist_n)
    return [
        Workload(
            key="A-sgdm", title="MNIST-sized, SGD momentum", sizes=mnist_net,
            optimizer="sgd", lr=0.01, momentum=0.9, batch_size=128, targets=a_targets, **mnist,
        ),
        Workload(
            key="A-adam", title="MNIST-sized, Adam", sizes=mnist_net,
            optimizer="adam", lr=1e-3, batch_size=128, targets=a_targets, **mnist,
        ),
        Workload(
            key="B", title="Wide, SGD momentum", sizes=(784, 1024, 1024, 10),
            optimizer="sgd", lr=0.01, momentum=0.9, batch_size=512, targets=b_targets, **mnist,
        ),
        Workload(
            key="C", title="Notebook 002: moons", data="moons", sizes=(2, 16, 1), task="binary",
            optimizer="sgd", lr=1.0, batch_size=None, epochs=200 if quick else 1000,
            shuffle=False, n_train=1000, targets=tiny_targets,
        ),
        Workload(
            key="D", title="Notebook 000: 2-D function", data="function2d", sizes=(2, 100, 1),
            task="regression", optimizer="sgd", lr=0.01, batch_size=1000, epochs=1,
            shuffle=False, n_train=(400 if quick else 2000) * 1000, targets=tiny_targets,
        ),
        Workload(
            key="E", title="Notebook 001: digits", data="digits", sizes=(64, 64, 10),
            task="multiclass", optimizer="adam", lr=1e-3, batch_size=32,
            epochs=20 if quick else 100, shuffle=True, n_train=1437, targets=tiny_targets,
        ),
    ]  # fmt: skip


# -- data -------------------------------------------------------------------------


@dataclass
class Data:
    """Training and evaluation arrays: float32 features; int64 labels or float32 targets."""

    X: np.ndarray
    y: np.ndarray
    X_eval: np.ndarray
    y_eval: np.ndarray
    eval_name: str  # what X_eval is: "test", "train" or "held-out"


_DATA_CACHE: dict[tuple[str, int], Data] = {}


def load_data(name: str, n_train: int) -> Data:
    """The data of a workload, made once per process (never inside a timed run)."""
    key = (name, n_train)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = _make_data(name, n_train)
    return _DATA_CACHE[key]


def _make_data(name: str, n_train: int) -> Data:
    from layerwise import data

    if name == "mnist":
        X, X_test, y, y_test = mnist_arrays()
        return Data(X[:n_train], y[:n_train], X_test, y_test, "test")
    if name == "moons":
        X, y = data.moons(n_train, noise=0.2, seed=0)
        return Data(X, y, X, y, "train")  # notebook 002 reports the training loss
    if name == "function2d":
        # One array of every batch, generated before timing; read in order, batch 1000.
        X, y = data.function2d(n=n_train, seed=0)
        X_eval, y_eval = data.function2d(n=10_000, seed=1)
        return Data(X, y, X_eval, y_eval, "held-out")
    if name == "digits":
        X, X_test, y, y_test = data.digits(test_size=0.2, seed=0)
        return Data(X, y, X_test, y_test, "test")
    raise ValueError(f"unknown data set {name!r}")


@cache
def mnist_arrays():
    """``lw.data.mnist`` on the real files (``$LAYERWISE_DATA`` or ../shared/data), once."""
    from layerwise import data

    folder = data_root() / "mnist"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No MNIST folder at {folder}; set $LAYERWISE_DATA to the folder that holds "
            "mnist/ (the real IDX files)."
        )
    return data.mnist(path=folder)


def read_mnist_train(n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST training set with NumPy alone (as ``lw.data.mnist``: float32 in [0, 1]).

    For the memory children, so that the PyTorch and scikit-learn ones need not import
    layerwise (whose ``data`` package imports scikit-learn).
    """
    folder = data_root() / "mnist"
    with gzip.open(folder / "train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    with gzip.open(folder / "train-images-idx3-ubyte.gz") as f:
        raw = f.read()
    X = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784).astype(np.float32)
    del raw
    X /= 255.0
    if n_train < len(X):
        X = X[:n_train].copy()
    return X, y[:n_train]


def as_float_column(y: np.ndarray) -> np.ndarray:
    """Targets as a float32 column ``(n, 1)`` (binary labels for BCE, regression values)."""
    return np.ascontiguousarray(y, dtype=np.float32).reshape(len(y), 1)


# -- a prepared run -----------------------------------------------------------------


@dataclass
class Prepared:
    """One implementation's run, ready to time.

    ``train()`` is the timed part and returns the last epoch's mean training loss as
    the implementation reports it; ``predict(X)`` returns class scores or
    probabilities ``(n, classes)``, the probability ``(n, 1)`` for "binary", or
    the prediction ``(n, 1)`` for "regression".
    """

    train: Callable[[], float]
    predict: Callable[[np.ndarray], np.ndarray]
    param_dtype: Callable[[], str]


def prepare(impl: str, wl: Workload, data: Data) -> Prepared:
    """Build a fresh model and optimizer of ``impl`` for ``wl`` (seeded, untimed)."""
    return {"layerwise": _layerwise, "torch": _torch, "sklearn": _sklearn}[impl](wl, data)


def evaluate(wl: Workload, data: Data, run: Prepared) -> dict[str, float]:
    """The same metrics for every implementation, computed with NumPy from its outputs."""
    out = np.asarray(run.predict(data.X_eval), dtype=np.float64)
    if wl.task == "multiclass":
        return {f"{data.eval_name} acc": float(np.mean(out.argmax(axis=1) == data.y_eval))}
    if wl.task == "binary":
        p = np.clip(out.ravel(), 1e-7, 1 - 1e-7)
        t = data.y_eval.ravel()
        bce = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
        return {
            f"{data.eval_name} BCE": float(bce),
            f"{data.eval_name} acc": float(np.mean((p > 0.5) == t)),
        }
    mse = np.mean((out.ravel() - data.y_eval.ravel()) ** 2)
    r2 = 1 - mse / np.var(data.y_eval)  # 0: no better than predicting the mean
    return {f"{data.eval_name} MSE": float(mse), f"{data.eval_name} R2": float(r2)}


# -- layerwise ----------------------------------------------------------------------


def _layerwise(wl: Workload, data: Data) -> Prepared:
    import layerwise as lw

    layers = []
    for i, (a, b) in enumerate(zip(wl.sizes[:-1], wl.sizes[1:])):
        layers.append(lw.Linear(a, b))
        if i < len(wl.sizes) - 2:
            layers.append(lw.ReLU())
    if wl.task == "binary":
        layers.append(lw.Sigmoid())
    model = lw.Sequential(layers, seed=0)
    loss = {"multiclass": lw.CrossEntropy, "binary": lw.BinaryCrossEntropy, "regression": lw.MSE}[
        wl.task
    ]()
    if wl.optimizer == "adam":
        optimizer = lw.Adam(lr=wl.lr)
    else:
        optimizer = lw.SGD(lr=wl.lr, momentum=wl.momentum)
    y = data.y if wl.task == "multiclass" else as_float_column(data.y)

    def train() -> float:
        history = model.fit(
            data.X,
            y,
            loss=loss,
            optimizer=optimizer,
            epochs=wl.epochs,
            batch_size=wl.batch_size,
            shuffle=wl.shuffle,
            progress=False,
            seed=0,
        )
        return history.history["loss"][-1]

    return Prepared(train, model.predict, lambda: model.dtype.name)


# -- PyTorch ------------------------------------------------------------------------


def configure_torch(threads: int) -> None:
    """Set PyTorch's intra-op threads (once per process, before any timing)."""
    import torch

    torch.set_num_threads(threads)


def _torch_model(sizes: tuple[int, ...], binary: bool):
    from torch import nn

    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if binary:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def _torch(wl: Workload, data: Data) -> Prepared:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = _torch_model(wl.sizes, wl.task == "binary")
    if wl.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=wl.lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=wl.lr, momentum=wl.momentum)
    loss_fn = {"multiclass": nn.CrossEntropyLoss, "binary": nn.BCELoss, "regression": nn.MSELoss}[
        wl.task
    ]()
    X = torch.from_numpy(data.X)  # shares memory with the NumPy array
    y = torch.from_numpy(data.y if wl.task == "multiclass" else as_float_column(data.y))
    n, size = len(X), wl.batch
    generator = torch.Generator().manual_seed(0)

    def train() -> float:
        model.train()
        epoch_loss = float("nan")
        for _ in range(wl.epochs):
            order = torch.randperm(n, generator=generator) if wl.shuffle and size < n else None
            total = 0.0
            for start in range(0, n, size):
                if order is None:
                    xb, yb = X[start : start + size], y[start : start + size]
                else:
                    idx = order[start : start + size]
                    xb, yb = X[idx], y[idx]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(xb)
            epoch_loss = total / n
        return epoch_loss

    def predict(X_new: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return model(torch.from_numpy(X_new)).numpy()

    return Prepared(train, predict, lambda: str(next(model.parameters()).dtype))


# -- scikit-learn -------------------------------------------------------------------


def sklearn_estimator(wl: Workload):
    """sklearn's MLP with the workload's architecture, optimizer and batching."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    lr = wl.lr
    if wl.task == "regression":
        # sklearn's squared error is half the mean squared error, so its gradient is
        # half of torch's and layerwise's: twice the rate takes the same steps.
        lr = 2 * wl.lr
    common = dict(
        hidden_layer_sizes=wl.sizes[1:-1],
        activation="relu",
        solver=wl.optimizer,
        alpha=0.0,
        batch_size=wl.batch,
        learning_rate="constant",
        learning_rate_init=lr,
        max_iter=wl.epochs,
        shuffle=wl.shuffle,
        random_state=0,
        tol=0.0,
        n_iter_no_change=wl.epochs + 1,  # never stop early: run every epoch
        early_stopping=False,
    )
    if wl.optimizer == "sgd":
        common.update(momentum=wl.momentum, nesterovs_momentum=False)
    cls = MLPRegressor if wl.task == "regression" else MLPClassifier
    return cls(**common)


def _sklearn(wl: Workload, data: Data) -> Prepared:
    from sklearn.exceptions import ConvergenceWarning

    estimator = sklearn_estimator(wl)
    y = data.y.ravel()  # labels (classifier) or float32 values (regressor), 1-D

    def train() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(data.X, y)
        if wl.task == "regression":
            return 2 * estimator.loss_  # as a mean squared error
        return estimator.loss_

    def predict(X_new: np.ndarray) -> np.ndarray:
        if wl.task == "regression":
            return estimator.predict(X_new).reshape(-1, 1)
        probs = estimator.predict_proba(X_new)
        return probs[:, 1:] if wl.task == "binary" else probs

    return Prepared(train, predict, lambda: estimator.coefs_[0].dtype.name)


# -- F: prediction ------------------------------------------------------------------


@dataclass
class Predictor:
    """A trained model's inference call in one implementation (the timed part)."""

    predict: Callable[[], np.ndarray]


def predictors(impls: tuple[str, ...], X_train, y_train, X_test) -> dict:
    """One 784-256-128-10 network, trained by layerwise, copied into every implementation.

    The same weights everywhere make the outputs comparable: all three must predict the
    same classes. Returns ``{impl: Predictor}``.
    """
    import layerwise as lw

    model = lw.Sequential(
        [lw.Linear(784, 256), lw.ReLU(), lw.Linear(256, 128), lw.ReLU(), lw.Linear(128, 10)],
        seed=0,
    )
    model.fit(
        X_train,
        y_train,
        loss=lw.CrossEntropy(),
        optimizer=lw.SGD(lr=0.01, momentum=0.9),
        batch_size=128,
        progress=False,
        seed=0,
    )
    linears = [layer for layer in model.layers if isinstance(layer, lw.Linear)]
    weights = [(layer.params["W"].copy(), layer.params["b"].copy()) for layer in linears]
    out = {}
    if "layerwise" in impls:
        out["layerwise"] = Predictor(lambda: model.predict(X_test))
    if "torch" in impls:
        out["torch"] = _torch_predictor(weights, X_test)
    if "sklearn" in impls:
        out["sklearn"] = _sklearn_predictor(weights, X_train, y_train, X_test)
    return out


def _torch_predictor(weights, X_test) -> Predictor:
    import torch

    net = _torch_model((784, 256, 128, 10), binary=False)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for m, (W, b) in zip(linears, weights):
            m.weight.copy_(torch.from_numpy(W.T))  # torch keeps (out, in)
            m.bias.copy_(torch.from_numpy(b))
    net.eval()
    X = torch.from_numpy(X_test)

    def predict() -> np.ndarray:
        with torch.no_grad():
            return net(X).numpy()

    return Predictor(predict)


def _sklearn_predictor(weights, X_train, y_train, X_test) -> Predictor:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    estimator = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=1, random_state=0)
    with warnings.catch_warnings():  # one short fit sets sklearn's fitted attributes
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X_train[:2000], y_train[:2000])
    estimator.coefs_ = [W.copy() for W, _ in weights]  # sklearn keeps (in, out), as we do
    estimator.intercepts_ = [b.copy() for _, b in weights]
    return Predictor(lambda: estimator.predict_proba(X_test))
