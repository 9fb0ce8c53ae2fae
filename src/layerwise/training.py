"""``fit``, ``train_step`` and ``evaluate``: training in one call, on the Session.

``fit`` is a :class:`~layerwise.session.Session` run for whole epochs plus a progress
bar; ``train_step`` is one step of the session's loop on a batch you give it. The
records, callbacks and training state live in :mod:`layerwise.callbacks` and
:mod:`layerwise.session`, and are re-exported here.
"""

from __future__ import annotations

import importlib.util
import sys
import time

import numpy as np
from tqdm import std as _tqdm_std

from layerwise import _display
from layerwise import losses as _losses
from layerwise._checks import LayerwiseError, as_matrix, positive_int
from layerwise.callbacks import Callback, EarlyStopping, History, LearningRateScheduler
from layerwise.session import (
    Session,
    TrainingState,
    _as_targets,
    _evaluate,
    _step,
)

__all__ = [
    "fit",
    "train_step",
    "evaluate",
    "Session",
    "History",
    "TrainingState",
    "Callback",
    "EarlyStopping",
    "LearningRateScheduler",
]


def train_step(model, loss, optimizer, xb, yb, *, params=None) -> float:
    """One step of gradient descent on the batch ``(xb, yb)``; returns the batch loss.

    Raises :class:`~layerwise.optim.DivergenceError` (a ``LayerwiseError``) without
    touching the weights when the loss or a gradient is NaN or infinite, and after the
    update when it overflowed the weights.
    ``params`` defaults to ``model.parameters()``.
    """
    params = model.parameters() if params is None else params
    return _step(model, loss, optimizer, xb, yb, params)[0]


def evaluate(model, X, y, *, loss, batch_size: int | None = None) -> dict[str, float]:
    """Mean loss, and accuracy for classification losses, over ``(X, y)`` in inference mode.

    Returns ``{"loss": float}`` or ``{"loss": float, "accuracy": float}``.
    """
    loss = _losses.get(loss)
    X = as_matrix(X, "X", getattr(model, "dtype", np.float32))
    y = _as_targets(y, len(X), X.dtype, "y")
    return _evaluate(model, X, y, loss, batch_size or 4096)


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

    This is ``Session(model, loss, optimizer, (X, y), ...).run(epochs)`` with a progress
    bar: see :class:`~layerwise.session.Session` to advance a run step by step.

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
        One progress bar for the call with the live loss, accuracy and validation
        figures: a notebook bar in Jupyter (a text bar there without ipywidgets), a text
        bar in a terminal, and one line per epoch on stderr when it is not a terminal (a
        log file, CI). ``False`` is silent.
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
    epochs = positive_int(epochs, "epochs")
    if validation_split:
        if validation_data is not None:
            raise LayerwiseError("Pass validation_data or validation_split, not both.")
        X, y, validation_data = _split_validation(model, X, y, validation_split)
    callbacks = list(callbacks)
    if progress:
        callbacks.append(_Progress())
    session = Session(
        model,
        loss,
        optimizer,
        (X, y),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        validation_data=validation_data,
        callbacks=callbacks,
        on_divergence=on_divergence,
    )
    if initial_state is not None:
        session.load_state(initial_state)
    session.epochs = epochs
    return session.run(max(0, epochs - session.epoch))


def _split_validation(model, X, y, fraction: float):
    """Hold out the last ``fraction`` of ``(X, y)``, before any shuffling (as Keras)."""
    if not isinstance(fraction, float) or not 0 < fraction < 1:
        raise LayerwiseError(f"validation_split must be in (0, 1); got {fraction!r}.")
    X = as_matrix(X, "X", getattr(model, "dtype", np.float32))
    y = _as_targets(y, len(X), X.dtype, "y")
    cut = int(len(X) * (1 - fraction))
    if cut < 1 or cut == len(X):
        raise LayerwiseError(
            f"validation_split={fraction} leaves no training or no validation samples out "
            f"of {len(X)}."
        )
    return X[:cut], y[:cut], (X[cut:], y[cut:])


# -- progress -------------------------------------------------------------------------


class _Progress(Callback):
    """``fit``'s progress: one bar for the whole call, or one line per epoch.

    The bar counts steps (epochs, for full-batch runs) and shows the epoch, the live
    loss and accuracy of the epoch so far and the last validation figures. In Jupyter
    it is a notebook bar when ipywidgets is installed and a text bar otherwise; in a
    terminal a text bar; elsewhere (a pipe, a log file, CI) each epoch prints one line
    on stderr, as Keras' ``verbose=2``.
    """

    interval = 0.1  # seconds between two refreshes of the bar: a refresh costs ~50 µs

    def on_train_begin(self, run: Session) -> None:
        self.bar, self.logs, self.start, self.next_refresh = None, {}, run.steps, 0.0
        total = (run.epochs - run.epoch) * run.steps_per_epoch
        if _display.in_kernel():
            bar_class = _notebook_bar()
        elif _isatty(sys.stderr):
            bar_class = _tqdm_std.tqdm
        else:
            return
        self.bar = bar_class(
            total=total,
            desc=self._epoch(run),
            unit="epoch" if run.steps_per_epoch == 1 else "batch",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=False,
        )

    def on_batch_end(self, run: Session, step: int, loss: float) -> None:
        if self.bar is not None and time.perf_counter() >= self.next_refresh:
            self._refresh(run)

    def on_epoch_end(self, run: Session, epoch: int, logs: dict[str, float]) -> None:
        self.logs = logs
        if self.bar is None:
            figures = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k not in _QUIET)
            print(f"{self._epoch(run, epoch)} - {logs['time']:.2f}s - {figures}", file=sys.stderr)
            sys.stderr.flush()

    def on_train_end(self, run: Session) -> None:
        if self.bar is not None:
            self._refresh(run)
            self.bar.close()

    def _refresh(self, run: Session) -> None:
        self.next_refresh = time.perf_counter() + self.interval
        bar = self.bar
        bar.set_description_str(self._epoch(run), refresh=False)
        live = run.running_logs or self.logs
        shown = {"loss": live.get("loss"), "acc": live.get("accuracy")}
        shown.update(
            {"val_loss": self.logs.get("val_loss"), "val_acc": self.logs.get("val_accuracy")}
        )
        bar.set_postfix({k: f"{v:.4f}" for k, v in shown.items() if v is not None}, refresh=False)
        bar.update(run.steps - self.start - bar.n)

    @staticmethod
    def _epoch(run: Session, epoch: int | None = None) -> str:
        current = min(run.epoch + 1, run.epochs) if epoch is None else epoch + 1
        return f"Epoch {current}/{run.epochs}"


_QUIET = ("lr", "time")  # logged, but not worth a place on the progress line


def _notebook_bar():
    """tqdm's notebook bar when ipywidgets is there, else its text bar (which Jupyter
    shows as one line that redraws itself), rather than tqdm.auto's warning."""
    if importlib.util.find_spec("ipywidgets") is None:  # the notebook bar is a widget
        return _tqdm_std.tqdm
    try:
        from tqdm import notebook  # imports ipywidgets: only in a kernel that has it
    except ImportError:
        return _tqdm_std.tqdm
    return notebook.tqdm


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False
