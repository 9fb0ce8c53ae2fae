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
from pathlib import Path

import numpy as np
from tqdm import std as _tqdm_std

from layerwise import _display, _files
from layerwise import losses as _losses
from layerwise._checks import (
    DESCRIPTION_ERRORS,
    LayerwiseError,
    as_matrix,
    positive_int,
    real_number,
)
from layerwise.callbacks import (
    Callback,
    EarlyStopping,
    History,
    LearningRateScheduler,
    callback_list,
)
from layerwise.session import (
    Session,
    TrainingState,
    _as_targets,
    _evaluate,
    _prepared_targets,
    _resolve_metrics,
    _row_weights,
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
    "BackupAndRestore",
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


def evaluate(
    model,
    X,
    y,
    *,
    loss,
    batch_size: int | None = None,
    sample_weight=None,
    class_weight=None,
    metrics=(),
) -> dict[str, float]:
    """Mean loss, and accuracy for classification losses, over ``(X, y)`` in inference mode.

    ``sample_weight``, ``class_weight`` and ``metrics`` are as for ``fit``: the loss,
    the accuracy and the metrics become weighted means.

    Returns ``{"loss": float}`` or ``{"loss": float, "accuracy": float}``, and a key per
    metric.
    """
    loss = _losses.get(loss)
    X = as_matrix(X, "X", getattr(model, "dtype", np.float32))
    y = _prepared_targets(model, loss, X, _as_targets(y, len(X), X.dtype, "y"), "y")
    weights = _row_weights(loss, y, sample_weight, class_weight, "evaluate")
    metrics = _resolve_metrics(metrics, loss)
    return _evaluate(model, X, y, loss, batch_size or 4096, weights, metrics)


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
    sample_weight=None,
    class_weight=None,
    metrics=(),
    backup_dir=None,
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
    sample_weight : array (n,), optional
        A non-negative weight per sample: each batch's loss is the weighted mean, so in
        full-batch training a weight of 2 is the same as the row twice.
        ``validation_split`` holds out the weights with their rows.
    class_weight : dict or "balanced", optional
        A weight per class, multiplied into ``sample_weight`` (training rows only, as
        Keras); ``"balanced"`` as scikit-learn's ``compute_class_weight``.
    metrics : sequence of str or callable
        E.g. ``["mae", "r2"]`` or ``["top_k_accuracy"]``: recorded per epoch for the
        training batches and the validation data (``"mae"``, ``"val_mae"``); see
        :class:`~layerwise.session.Session`.
    backup_dir : str or Path, optional
        Keep a backup of the run in this folder at the end of the epochs (at most one a
        second) and, when the same ``fit`` starts again after an interruption (a crash,
        a kill, Ctrl-C), go on from it: the result equals, bit for bit, the run that was
        never interrupted. The backup is deleted when the run completes. See
        :class:`BackupAndRestore`.

    Returns
    -------
    History
    """
    epochs = positive_int(epochs, "epochs")
    if validation_split:
        if validation_data is not None:
            raise LayerwiseError("Pass validation_data or validation_split, not both.")
        X, y, sample_weight, validation_data = _split_validation(
            model, X, y, validation_split, sample_weight
        )
    callbacks = callback_list(callbacks)
    backup = None if backup_dir is None else BackupAndRestore(backup_dir)
    if backup is not None:  # last, so that it saves the other callbacks' states of the epoch
        callbacks.append(backup)
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
        sample_weight=sample_weight,
        class_weight=class_weight,
        metrics=metrics,
    )
    if initial_state is not None:
        session.load_state(initial_state)
    session.epochs = epochs
    if backup is not None:
        backup.restore(session)
    return session.run(max(0, epochs - session.epoch))


def _split_validation(model, X, y, fraction: float, sample_weight=None):
    """Hold out the last ``fraction`` of ``(X, y)`` (and of the sample weights), before
    any shuffling (as Keras)."""
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
    if sample_weight is None:
        return X[:cut], y[:cut], None, (X[cut:], y[cut:])
    w = np.asarray(sample_weight)
    if w.shape != (len(X),):
        raise LayerwiseError(
            f"sample_weight has shape {w.shape}; expected ({len(X)},), one weight per row."
        )
    return X[:cut], y[:cut], w[:cut], (X[cut:], y[cut:], w[cut:])


# -- backups --------------------------------------------------------------------------


class BackupAndRestore(Callback):
    """Back a run up to a folder as epochs end, and go on from the backup after a crash.

    As Keras' ``BackupAndRestore``, with layerwise's exact resume: the backup is a training
    checkpoint (weights, optimizer state, the generators of the batches and of Dropout,
    the history, the per-step losses and the callbacks' states), written atomically to
    ``backup_dir/backup.safetensors``; :meth:`restore` puts a session back where the
    backup left it, and the run then equals, bit for bit, one that was never
    interrupted. ``fit(..., backup_dir=)`` does both; with a ``Session``, add the callback
    last and call ``restore`` before running.

    Parameters
    ----------
    backup_dir : str or Path
        Created if missing.
    interval : float, default 1.0
        The least time in seconds between two backups (0: at the end of every epoch), so
        that short epochs are not slowed down by writes; an interrupted run loses at most
        the epochs of that interval and the one in flight.
    delete_on_end : bool, default True
        Delete the backup (and the folder, if that leaves it empty) when the run reaches
        its last epoch or a callback stops it; not when it is interrupted or diverges.
    """

    filename = "backup.safetensors"

    def __init__(self, backup_dir, *, interval: float = 1.0, delete_on_end: bool = True):
        self.backup_dir = Path(backup_dir)
        self.path = self.backup_dir / self.filename
        self.interval = real_number(interval, "BackupAndRestore interval", minimum=0.0)
        self.delete_on_end = bool(delete_on_end)
        self._last_write = -float("inf")

    def restore(self, run: Session) -> bool:
        """Put ``run`` back where the backup left it; False when there is no backup.

        Raises
        ------
        LayerwiseError
            If the backup is damaged, or is of another run (another model, optimizer,
            loss or batching): delete it, or choose another folder.
        """
        if not self.path.is_file():
            return False
        tensors, meta = _files.read(self.path)
        where = f"The backup {str(self.path)!r}"
        if meta.get("kind") != "checkpoint":
            raise LayerwiseError(f"{where} is not a training checkpoint.")
        model_config = getattr(run.model, "config", lambda: None)()
        saved_optimizer, saved_fit = meta.get("optimizer"), meta.get("training", {})
        if isinstance(saved_optimizer, dict):
            saved_optimizer = {
                k: v for k, v in saved_optimizer.items() if k not in ("step", "current_lr")
            }
        saved_fit = saved_fit.get("fit") if isinstance(saved_fit, dict) else saved_fit
        for what, saved, current in (
            ("model", meta.get("model"), model_config),
            ("optimizer", saved_optimizer, run.optimizer.config()),
            ("loss", meta.get("loss"), _files.loss_config(run.loss)),
            (
                "batching",
                _batching(saved_fit) if isinstance(saved_fit, dict) else saved_fit,
                _batching(run.fit_config()),
            ),
        ):
            if saved != current:
                raise LayerwiseError(
                    f"{where} is of another run: its {what} is {saved}, this run's is "
                    f"{current}. Delete it to start afresh, or use another backup_dir."
                )
        try:
            training = meta["training"]
            state = _files.training_state(training, tensors)
            weights = _files.model_tensors(tensors)
            if weights.keys() != run.params.keys():
                raise LayerwiseError("its tensors do not match the model's parameters")
            for name, (param, _) in run.params.items():
                if (weights[name].shape, weights[name].dtype) != (param.shape, param.dtype):
                    raise LayerwiseError(
                        f"its tensor {name!r} is {weights[name].dtype.name} of shape "
                        f"{weights[name].shape}; the parameter is {param.dtype.name} of shape "
                        f"{param.shape}"
                    )
                if not np.isfinite(weights[name]).all():
                    raise LayerwiseError(f"its tensor {name!r} holds NaN or infinite values")
            opt = meta["optimizer"]
            run.optimizer.load_state_dict(
                {
                    "step": opt["step"],
                    "lr": opt["current_lr"],
                    "buffers": _files.optimizer_buffers(tensors),
                }
            )
            _files.set_layer_rngs(run.model, training["layer_rngs"])
        except LayerwiseError as e:
            raise LayerwiseError(f"{where} is damaged: {e}") from None
        except DESCRIPTION_ERRORS as e:
            raise LayerwiseError(f"{where} is damaged ({e!r}).") from None
        for name, (param, _) in run.params.items():
            np.copyto(param, weights[name])
        run.load_state(state)
        return True

    def on_epoch_end(self, run: Session, epoch: int, logs: dict[str, float]) -> None:
        now = time.monotonic()
        last = run.epochs is not None and run.epoch >= run.epochs
        if now - self._last_write < self.interval and not last:
            return
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        tensors, meta = _files.checkpoint_payload(
            run.model, run.optimizer, run.loss, run.state(), run.fit_config()
        )
        _files.write(self.path, tensors, meta)
        self._last_write = now

    def on_train_end(self, run: Session) -> None:
        finished = run.stop_training or (run.epochs is not None and run.epoch >= run.epochs)
        if finished and self.delete_on_end:
            self.path.unlink(missing_ok=True)
            try:  # the folder too, when nothing else is in it
                self.backup_dir.rmdir()
            except OSError:
                pass


def _batching(fit_config: dict) -> dict:
    """What must be the same for a backup to continue a run: how the batches are made."""
    return {k: fit_config.get(k) for k in ("batch_size", "shuffle")}


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
