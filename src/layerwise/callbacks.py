"""Callbacks: code that runs at the edges of a :class:`~layerwise.session.Session`'s
epochs and steps, and the per-epoch :class:`History` they share.

Every hook receives the session (``run``): its ``model``, ``loss``, ``optimizer``,
``params``, ``history``, the counters ``epoch`` (epochs completed) and ``steps``
(optimizer steps done), and the ``stop_training`` flag.
"""

from __future__ import annotations

import csv
import math
from typing import TYPE_CHECKING

import numpy as np

from layerwise._checks import LayerwiseError

if TYPE_CHECKING:  # annotations only, never imported at run time: session imports us
    from layerwise.session import Session


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


class Callback:
    """Base class for code that runs during ``fit``; override the hooks you need.

    Every hook gets the :class:`~layerwise.session.Session` that runs it.
    ``on_train_begin`` / ``on_train_end`` frame each ``Session.run`` (so each ``fit``);
    ``on_batch_end`` is called after each optimizer step with the global step count and
    the batch's loss (only for callbacks that override it, so the others cost nothing per
    batch).
    """

    def on_train_begin(self, run: Session) -> None: ...

    def on_epoch_begin(self, run: Session, epoch: int) -> None: ...

    def on_batch_end(self, run: Session, step: int, loss: float) -> None: ...

    def on_epoch_end(self, run: Session, epoch: int, logs: dict[str, float]) -> None: ...

    def on_train_end(self, run: Session) -> None: ...


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

    def on_train_begin(self, run: Session) -> None:
        self.best = -math.inf if self.maximize else math.inf
        self.best_epoch, self.wait, self.stopped_epoch = None, 0, None
        self._best_weights = None

    def on_epoch_end(self, run: Session, epoch: int, logs: dict[str, float]) -> None:
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

    def on_train_end(self, run: Session) -> None:
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

    def _set(self, run: Session, t: int) -> None:
        run.optimizer.lr = float(self.schedule(t, run.optimizer.initial_lr))

    def on_train_begin(self, run: Session) -> None:
        self._set(run, run.epoch if self.per == "epoch" else run.steps)

    def on_epoch_begin(self, run: Session, epoch: int) -> None:
        if self.per == "epoch":
            self._set(run, epoch)

    def on_batch_end(self, run: Session, step: int, loss: float) -> None:
        if self.per == "step":
            self._set(run, step)
