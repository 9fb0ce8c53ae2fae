"""The training loop: ``fit``, ``train_step``, ``History``, callbacks and the divergence guard.

Everything here works on any model with ``forward(x, training)``,
``backward(grad_out, input_grad=...)`` and ``parameters()`` (named ``(param, grad)``
pairs), so this module never imports the network or file code. ``fit`` checks the data
once; when the model's ``forward`` and the loss's ``forward`` accept ``check=``, as
layerwise's do, it then skips their checks for every batch.

One step is the notebooks' loop in four lines (:func:`train_step`)::

    pred = model.forward(xb, training=True)
    value = loss.forward(pred, yb)
    model.backward(loss.backward(), input_grad=False)
    optimizer.step(model.parameters())

``fit`` adds mini-batches from its own seeded generator (the same seed gives the same
run bit for bit), a tqdm bar, a :class:`History`, callbacks, validation, and a guard
that stops a diverging run before a NaN reaches the weights.
"""

from __future__ import annotations

import csv
import functools
import inspect
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from layerwise import losses as _losses
from layerwise import optim as _optim
from layerwise._checks import (
    LayerwiseError,
    LayerwiseWarning,
    as_matrix,
    check_finite,
    numeric_array,
    positive_int,
)
from layerwise.optim import DivergenceError

# -- records ----------------------------------------------------------------------


class History:
    """Per-epoch records of a training run, as Keras's ``History``.

    ``history.history`` maps ``"loss"``, ``"accuracy"`` (classification losses),
    ``"val_loss"``, ``"val_accuracy"`` (with validation data), ``"lr"`` and ``"time"``
    (seconds) to one value per epoch.
    """

    def __init__(self, history: dict[str, list[float]] | None = None):
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}

    @property
    def epoch(self) -> list[int]:
        return list(range(len(next(iter(self.history.values()), []))))

    def append(self, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={list(self.history)})"

    def to_csv(self, path) -> None:
        """Write one row per epoch: ``epoch`` and every recorded key."""
        keys = list(self.history)
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["epoch", *keys])
            for i in self.epoch:
                writer.writerow([i + 1, *(self.history[k][i] for k in keys)])


@dataclass
class TrainingState:
    """Where a run stands between two epochs: enough to resume it exactly.

    Attributes
    ----------
    epoch : int
        Epochs completed.
    step : int
        Optimizer steps completed.
    rng_state : dict or None
        ``bit_generator.state`` of the generator that shuffles the batches.
    history : dict
        ``History.history`` so far.
    """

    epoch: int = 0
    step: int = 0
    rng_state: dict | None = None
    history: dict[str, list[float]] = field(default_factory=dict)


class FitRun:
    """What callbacks see of a running ``fit``: the objects, the counters and a stop flag.

    Attributes: ``model``, ``loss``, ``optimizer``, ``params`` (the named pairs),
    ``history``, ``epochs``, ``batch_size``, ``shuffle``, ``rng``, ``epoch`` (0-based,
    current), ``step`` (optimizer steps done) and ``stop_training`` (set it to stop
    after the current epoch).
    """

    def __init__(self, model, loss, optimizer, *, epochs, batch_size, shuffle, rng, state):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.params = model.parameters()
        self.history = History(state.history)
        self.epochs, self.batch_size, self.shuffle = epochs, batch_size, shuffle
        self.rng = rng
        self.epoch, self.step = state.epoch, state.step
        self.stop_training = False
        fast = _takes(model.forward, "check") and _takes(loss.forward, "check")
        self.checked = {"check": False} if fast else {}
        self.count_correct = _correct_counter(loss)
        self.weights_copy, self.optimizer_copy = None, None  # see _snapshot

    def state(self) -> TrainingState:
        """The state after the current epoch, for a checkpoint written at its end."""
        return TrainingState(
            epoch=self.epoch + 1,
            step=self.step,
            rng_state=self.rng.bit_generator.state,
            history={k: list(v) for k, v in self.history.history.items()},
        )

    def fit_config(self) -> dict:
        return {"epochs": self.epochs, "batch_size": self.batch_size, "shuffle": self.shuffle}


# -- callbacks ----------------------------------------------------------------------


class Callback:
    """Base class for code that runs during ``fit``; override the hooks you need.

    Every hook gets the :class:`FitRun`. ``on_batch_end`` is called after each optimizer
    step with the global step count and the batch's loss (only for callbacks that
    override it, so the others cost nothing per batch).
    """

    def on_train_begin(self, run: FitRun) -> None: ...

    def on_epoch_begin(self, run: FitRun, epoch: int) -> None: ...

    def on_batch_end(self, run: FitRun, step: int, loss: float) -> None: ...

    def on_epoch_end(self, run: FitRun, epoch: int, logs: dict[str, float]) -> None: ...

    def on_train_end(self, run: FitRun) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs (``"loss"``, ``"val_accuracy"``, ...).
    patience : int, default 5
        Epochs without improvement before stopping.
    min_delta : float, default 0
        Smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}
        "auto" maximizes keys containing "accuracy" and minimizes the others.
    restore_best : bool, default True
        At the end, copy back the weights of the best epoch.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        *,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ):
        if mode not in ("auto", "min", "max"):
            raise LayerwiseError(
                f"EarlyStopping mode must be 'auto', 'min' or 'max'; got {mode!r}."
            )
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.maximize = mode == "max" or (mode == "auto" and "accuracy" in monitor)
        self.restore_best = restore_best

    def on_train_begin(self, run: FitRun) -> None:
        self.best = -math.inf if self.maximize else math.inf
        self.best_epoch, self.wait, self.stopped_epoch = None, 0, None
        self._best_weights = None

    def on_epoch_end(self, run: FitRun, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise LayerwiseError(
                f"EarlyStopping monitors {self.monitor!r}, but the epoch logs have only "
                f"{sorted(logs)}. Pass validation_data, or monitor 'loss'."
            )
        value = logs[self.monitor]
        if self.maximize:
            improved = value > self.best + self.min_delta
        else:
            improved = value < self.best - self.min_delta
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self._best_weights = {k: p.copy() for k, (p, _) in run.params.items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            run.stop_training = True

    def on_train_end(self, run: FitRun) -> None:
        if self.restore_best and self._best_weights is not None:
            for name, (param, _) in run.params.items():
                np.copyto(param, self._best_weights[name])


class LearningRateScheduler(Callback):
    """Set ``optimizer.lr = schedule(t, optimizer.initial_lr)`` every epoch or every step.

    Parameters
    ----------
    schedule : callable (t, base_lr) -> lr
        E.g. ``lw.optim.CosineDecay(t_max=30)``; ``t`` counts epochs or steps done.
    per : {"epoch", "step"}
    """

    def __init__(self, schedule, per: str = "epoch"):
        if per not in ("epoch", "step"):
            raise LayerwiseError(
                f"LearningRateScheduler per must be 'epoch' or 'step'; got {per!r}."
            )
        if not callable(schedule):
            raise LayerwiseError(f"schedule must be callable (t, base_lr) -> lr; got {schedule!r}.")
        self.schedule, self.per = schedule, per

    def _set(self, run: FitRun, t: int) -> None:
        run.optimizer.lr = float(self.schedule(t, run.optimizer.initial_lr))

    def on_train_begin(self, run: FitRun) -> None:
        self._set(run, run.epoch if self.per == "epoch" else run.step)

    def on_epoch_begin(self, run: FitRun, epoch: int) -> None:
        if self.per == "epoch":
            self._set(run, epoch)

    def on_batch_end(self, run: FitRun, step: int, loss: float) -> None:
        if self.per == "step":
            self._set(run, step)


# -- one step ---------------------------------------------------------------------


def _step(model, loss, optimizer, xb, yb, params, checked=None) -> tuple[float, np.ndarray]:
    # ``checked`` is check=False for models and losses that take it, once the whole data
    # set has been checked: the checks would otherwise cost ~10 % of a small net's step.
    checked = checked or {}
    pred = model.forward(xb, training=True, **checked)
    value = loss.forward(pred, yb, **checked)
    if not math.isfinite(value):
        raise DivergenceError(f"the loss is {value}")
    _backward(model, loss)
    optimizer.step(params)
    return value, pred


def _backward(model, loss) -> None:
    """Back-propagate the loss through the model, skipping the last layer when the loss
    has a fused gradient for its input (BCE after a Sigmoid)."""
    fused, layers = None, getattr(model, "layers", None)
    if layers and _can_fuse(type(model), type(loss)):
        fused = loss.backward_through(layers[-1])
    if fused is None:
        model.backward(loss.backward(), input_grad=False)
    else:
        model.backward(fused, input_grad=False, skip_last=True)


@functools.cache
def _can_fuse(model_type: type, loss_type: type) -> bool:
    """Whether the loss offers ``backward_through`` and the model's backward ``skip_last``."""
    fusing = callable(getattr(loss_type, "backward_through", None))
    return fusing and _takes(getattr(model_type, "backward", None), "skip_last")


def train_step(model, loss, optimizer, xb, yb, *, params=None) -> float:
    """One step of gradient descent on the batch ``(xb, yb)``; returns the batch loss.

    Raises :class:`~layerwise.optim.DivergenceError` (a ``LayerwiseError``) without
    touching the weights when the loss or a gradient is NaN or infinite, and after the
    update when it overflowed the weights.
    ``params`` defaults to ``model.parameters()``.
    """
    params = model.parameters() if params is None else params
    return _step(model, loss, optimizer, xb, yb, params)[0]


# -- evaluation ---------------------------------------------------------------------


def _correct_counter(loss):
    """A function counting correct predictions in a batch, or None for regression."""
    if isinstance(loss, _losses.CrossEntropy):

        def count(pred, target):
            labels = target if target.ndim == 1 else target.argmax(axis=1)
            return int(np.count_nonzero(pred.argmax(axis=1) == labels))

        return count
    if isinstance(loss, _losses.BinaryCrossEntropy):
        threshold = 0.0 if loss.from_logits else 0.5

        def count(pred, target):
            hits = (pred > threshold) == (target.reshape(pred.shape) > 0.5)
            return np.count_nonzero(hits) / pred.shape[1]

        return count
    return None


def evaluate(model, X, y, *, loss, batch_size: int | None = None) -> dict[str, float]:
    """Mean loss, and accuracy for classification losses, over ``(X, y)`` in inference mode.

    Returns ``{"loss": float}`` or ``{"loss": float, "accuracy": float}``.
    """
    loss = _losses.get(loss)
    X = as_matrix(X, "X", getattr(model, "dtype", np.float32))
    y = _as_targets(y, len(X), X.dtype, "y")
    return _evaluate(model, X, y, loss, batch_size or 4096)


def _evaluate(model, X, y, loss, batch_size) -> dict[str, float]:
    count = _correct_counter(loss)
    total, correct = 0.0, 0.0
    for start in range(0, len(X), batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        pred = model.forward(xb, training=False)
        total += loss.forward(pred, yb) * len(xb)
        if count is not None:
            correct += count(pred, yb)
    logs = {"loss": total / len(X)}
    if count is not None:
        logs["accuracy"] = correct / len(X)
    return logs


# -- fit ----------------------------------------------------------------------------


def fit(
    model,
    X,
    y,
    *,
    loss,
    optimizer,
    epochs: int = 1,
    batch_size: int | None = 32,
    shuffle: bool = True,
    validation_data: tuple | None = None,
    validation_split: float = 0.0,
    callbacks=(),
    seed: int | None = None,
    progress: bool = True,
    on_divergence: str = "raise",
    initial_state: TrainingState | None = None,
) -> History:
    """Train ``model`` on ``(X, y)`` with mini-batch gradient descent.

    Parameters
    ----------
    model
        A ``Sequential`` (or any model with ``forward``, ``backward``, ``parameters``).
    X : array (n, features)
    y : array (n,) or (n, outputs)
        Targets as the loss wants them (class labels or one-hot for ``CrossEntropy``).
    loss : Loss or str
    optimizer : Optimizer or str
        An optimizer object keeps its state (moments, step count) across ``fit`` calls.
    epochs : int, default 1
        The epoch count to reach: with ``initial_state`` at epoch 3 and ``epochs=10``,
        seven more epochs run (as Keras's ``initial_epoch``).
    batch_size : int or None, default 32
        ``None`` for full-batch gradient descent, 1 for online learning.
    shuffle : bool, default True
        Draw a new batch order every epoch from a generator seeded by ``seed``.
    validation_data : (X_val, y_val), optional
    validation_split : float in [0, 1)
        Hold out this fraction from the end of ``(X, y)`` (before shuffling, as Keras).
    callbacks : sequence of Callback
    seed : int or None
        Seed of the shuffling generator; the same seed repeats the run bit for bit.
    progress : bool, default True
        A tqdm bar per epoch with the live loss and accuracy; it stays quiet when
        stderr is not a terminal.
    on_divergence : {"raise", "warn"}
        What to do when the loss, a gradient or the updated weights turn NaN/inf:
        the weights and the optimizer state go back to the start of the epoch, then
        ``DivergenceError`` is raised (its ``history`` attribute holds the epochs so
        far) or a ``LayerwiseWarning`` is issued and the history returned.
    initial_state : TrainingState, optional
        Resume from a checkpoint's state (see ``lw.load_checkpoint``).

    Returns
    -------
    History
    """
    loss = _losses.get(loss)
    optimizer = _optim.get(optimizer)
    epochs = positive_int(epochs, "epochs")
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
    if on_divergence not in ("raise", "warn"):
        raise LayerwiseError(f"on_divergence must be 'raise' or 'warn'; got {on_divergence!r}.")
    dtype = getattr(model, "dtype", np.float32)
    X = as_matrix(X, "X", dtype)
    y = _as_targets(y, len(X), dtype, "y")
    X, y, validation_data = _split_validation(X, y, validation_data, validation_split, dtype)
    y = _prepared_targets(model, loss, X, y, "y")
    if validation_data is not None:
        Xv, yv = validation_data
        validation_data = (Xv, _prepared_targets(model, loss, Xv, yv, "validation y"))

    state = initial_state or TrainingState()
    rng = np.random.default_rng(seed)
    if state.rng_state is not None:
        rng.bit_generator.state = state.rng_state
    run = FitRun(
        model,
        loss,
        optimizer,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=shuffle,
        rng=rng,
        state=state,
    )
    callbacks = list(callbacks)
    for c in callbacks:
        c.on_train_begin(run)
    try:
        # The divergence guard reports NaN and overflow with advice; NumPy's own
        # RuntimeWarnings would only repeat them without saying where or what to do.
        with np.errstate(over="ignore", invalid="ignore"):
            _fit_epochs(run, X, y, validation_data, callbacks, progress, on_divergence)
    finally:
        for c in callbacks:
            c.on_train_end(run)
    return run.history


def _fit_epochs(run: FitRun, X, y, validation_data, callbacks, progress, on_divergence) -> None:
    batch_callbacks = [c for c in callbacks if type(c).on_batch_end is not Callback.on_batch_end]
    for epoch in range(run.epoch, run.epochs):
        run.epoch = epoch
        for c in callbacks:
            c.on_epoch_begin(run, epoch)
        logs = _fit_epoch(run, X, y, batch_callbacks, progress, on_divergence)
        if logs is None:  # diverged, with on_divergence="warn"
            return
        if validation_data is not None:
            val = _evaluate(run.model, *validation_data, run.loss, 4096)
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs["lr"] = run.optimizer.lr
        run.history.append(logs)
        for c in callbacks:
            c.on_epoch_end(run, epoch, logs)
        if run.stop_training:
            return


def _fit_epoch(run: FitRun, X, y, batch_callbacks, progress, on_divergence) -> dict | None:
    model, loss, optimizer, params = run.model, run.loss, run.optimizer, run.params
    n = len(X)
    size = n if run.batch_size is None else min(run.batch_size, n)
    order = run.rng.permutation(n) if run.shuffle and size < n else None
    count = run.count_correct
    _snapshot(run)
    bar = _progress_bar(run, -(-n // size), progress)
    start_time = time.perf_counter()
    total, correct, seen = 0.0, 0.0, 0
    for start in range(0, n, size):
        if order is None:
            xb, yb = X[start : start + size], y[start : start + size]
        else:
            # take() is ~3x faster than fancy indexing X[idx] (PERF-NOTES).
            idx = order[start : start + size]
            xb, yb = X.take(idx, axis=0), y.take(idx, axis=0)
        try:
            value, pred = _step(model, loss, optimizer, xb, yb, params, run.checked)
        except DivergenceError as e:
            bar and bar.close()
            return _diverged(run, e, start // size, on_divergence)
        run.step += 1
        total += value * len(xb)
        seen += len(xb)
        if count is not None:
            correct += count(pred, yb)
        for c in batch_callbacks:
            c.on_batch_end(run, run.step, value)
        if bar is not None:
            bar.update(1)
            if bar.n % max(1, bar.total // 20) == 0 or bar.n == bar.total:
                live = {"loss": f"{total / seen:.4f}"}
                if count is not None:
                    live["acc"] = f"{correct / seen:.4f}"
                bar.set_postfix(live, refresh=False)
    if bar is not None:
        bar.close()
    logs = {"loss": total / n}
    if count is not None:
        logs["accuracy"] = correct / n
    logs["time"] = time.perf_counter() - start_time
    return logs


def _progress_bar(run: FitRun, batches: int, progress: bool):
    if not progress:
        return None
    return tqdm(
        total=batches,
        desc=f"Epoch {run.epoch + 1}/{run.epochs}",
        unit="batch",
        leave=batches > 1 or run.epoch + 1 == run.epochs,
        disable=None,  # None: quiet when stderr is not a terminal
        dynamic_ncols=True,
    )


def _snapshot(run: FitRun) -> None:
    """Keep copies of the weights and optimizer state from the start of the epoch, to
    restore if it diverges.

    The copies are made once and then overwritten in place (in full-batch runs every
    step is an epoch); parameters that tile one buffer, as ``Sequential`` lays them out,
    are copied in one call.
    """
    if run.weights_copy is None:
        params = [p for p, _ in run.params.values()]
        flat = _optim.flat_base(params)
        run.weights_copy = [(p, p.copy()) for p in ([flat] if flat is not None else params)]
    else:
        for param, copy in run.weights_copy:
            np.copyto(copy, param)
    run.optimizer_copy = run.optimizer.state_dict()


def _diverged(run: FitRun, error: DivergenceError, batch: int, on_divergence: str):
    # The failing step changed nothing, or only overflowed the weights it was caught
    # updating, but the steps before it may already have blown the weights up: go back
    # to the start of the epoch.
    for param, copy in run.weights_copy:
        np.copyto(param, copy)
    run.optimizer.load_state_dict(run.optimizer_copy)
    message = (
        f"Training diverged at epoch {run.epoch + 1}/{run.epochs}, batch {batch + 1} "
        f"(step {run.step + 1}): {error}. The weights and optimizer state were restored to "
        f"their values at the start of this epoch. Try a lower learning rate than "
        f"{run.optimizer.lr:g}."
    )
    if on_divergence == "raise":
        exc = DivergenceError(message)
        exc.history = run.history
        raise exc
    warnings.warn(message, LayerwiseWarning, stacklevel=4)
    return None


# -- input checks -------------------------------------------------------------------


def _as_targets(y, n: int, dtype, name: str) -> np.ndarray:
    y = numeric_array(y, name)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise LayerwiseError(
            f"{name} has shape {y.shape}; expected (n,) or (n, outputs) with n = {n} rows, "
            "one per sample of X."
        )
    check_finite(y, name)
    return y.astype(dtype, copy=False) if y.dtype.kind == "f" else y


def _split_validation(X, y, validation_data, validation_split, dtype):
    if validation_data is not None:
        if validation_split:
            raise LayerwiseError("Pass validation_data or validation_split, not both.")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise LayerwiseError("validation_data must be a pair (X_val, y_val).")
        Xv = as_matrix(validation_data[0], "validation X", dtype)
        if Xv.shape[1] != X.shape[1]:
            raise LayerwiseError(f"validation X has {Xv.shape[1]} features but X has {X.shape[1]}.")
        return X, y, (Xv, _as_targets(validation_data[1], len(Xv), dtype, "validation y"))
    if not validation_split:
        return X, y, None
    if not isinstance(validation_split, float) or not 0 < validation_split < 1:
        raise LayerwiseError(f"validation_split must be in (0, 1); got {validation_split!r}.")
    cut = int(len(X) * (1 - validation_split))
    if cut < 1 or cut == len(X):
        raise LayerwiseError(
            f"validation_split={validation_split} leaves no training or no validation "
            f"samples out of {len(X)}."
        )
    return X[:cut], y[:cut], (X[cut:], y[cut:])


def _prepared_targets(model, loss, X, y, name: str) -> np.ndarray:
    """Run the loss's own checks once on every target, before any training step, and
    return the targets as its ``forward`` takes them."""
    width = model.forward(X[:1], training=False).shape[1]
    pred_like = np.broadcast_to(np.zeros((), X.dtype), (len(y), width))  # no memory
    try:
        if hasattr(loss, "prepare"):
            return loss.prepare(pred_like, y)
        loss.forward(np.zeros(pred_like.shape, X.dtype), y)
        return y
    except LayerwiseError as e:
        raise LayerwiseError(f"{name} does not fit {loss!r}: {e}") from None


def _takes(method, name: str) -> bool:
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):  # builtins and other objects without a signature
        return False
