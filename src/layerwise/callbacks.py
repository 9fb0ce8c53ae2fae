"""Callbacks: code that runs at the edges of a :class:`~layerwise.session.Session`'s
epochs and steps, and the per-epoch :class:`History` they share.

Every hook receives the session (``run``): its ``model``, ``loss``, ``optimizer``,
``params``, ``history``, the counters ``epoch`` (epochs completed) and ``steps``
(optimizer steps done), and the ``stop_training`` flag.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from layerwise._checks import LayerwiseError, real_number

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

    def state_dict(self) -> dict:
        """What the callback has learned during the run, JSON-ready (``{}`` when it
        keeps nothing): in-memory checkpoints and backups store it, so a resumed run
        goes on exactly as an uninterrupted one."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Go back to :meth:`state_dict`'s output."""


_HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_batch_end",
    "on_epoch_end",
    "on_train_end",
    "state_dict",
    "load_state_dict",
)


def callback_list(callbacks) -> list[Callback]:
    """``callbacks`` as a list of callbacks: a sequence of them, or a single one (the
    usual slip for a list of one), each a :class:`Callback` or an object with its hooks.
    """
    if _is_callback(callbacks):
        return [callbacks]
    if isinstance(callbacks, (str, bytes, dict)) or not isinstance(callbacks, Iterable):
        raise LayerwiseError(
            f"callbacks must be a list of callbacks, e.g. [lw.EarlyStopping()]; got {callbacks!r}."
        )
    items = list(callbacks)
    for i, item in enumerate(items):
        if not _is_callback(item):
            hint = ""
            if isinstance(item, type):
                hint = f" (a class: pass an instance, {item.__name__}(...))"
            raise LayerwiseError(
                f"callbacks[{i}] is {item!r}, not a callback{hint}; a callback is a "
                "lw.Callback (or has its on_train_begin ... on_train_end hooks)."
            )
    return items


def _is_callback(value) -> bool:
    if isinstance(value, type):
        return False
    return isinstance(value, Callback) or all(callable(getattr(value, h, None)) for h in _HOOKS)


class CSVLogger(Callback):
    """Write a row per epoch to a CSV file as the epoch ends: a log that survives a crash.

    The columns are ``epoch`` (counted from 1) and the keys of the first epoch's logs
    (``loss``, ``accuracy``, ``val_loss``, ..., ``lr``, ``time``). Each row is flushed to
    the operating system as soon as it is written, so a run killed at any moment (even
    by SIGKILL) leaves every finished epoch in the file.

    Parameters
    ----------
    path : str or Path
    append : bool, default False
        False: a run that starts from epoch 0 starts a new file, and a resumed run
        (``fit(..., backup_dir=)``, ``lw.resume``) keeps the rows of the epochs it
        resumes after, dropping any of the epochs it runs again. True: always append
        (several ``fit`` calls into one log), as Keras' ``append=True``.
    separator : str, default ","
    """

    def __init__(self, path, *, append: bool = False, separator: str = ","):
        if not isinstance(separator, str) or len(separator) != 1:
            raise LayerwiseError(f"CSVLogger separator must be one character; got {separator!r}.")
        self.path, self.append, self.separator = Path(path), bool(append), separator
        self._file = None
        self._writer = None
        self._keys: list[str] | None = None

    def on_train_begin(self, run: Session) -> None:
        if not self.path.parent.is_dir():
            raise LayerwiseError(
                f"CSVLogger: folder {str(self.path.parent)!r} for {str(self.path)!r} does "
                "not exist."
            )
        kept = self._rows_to_keep(run.epoch) if self.append or run.epoch else []
        self._keys = kept[0][1:] if kept else None
        self._file = open(self.path, "w" if not self.append else "a", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._file, delimiter=self.separator)
        if not self.append:
            self._writer.writerows(kept)
        self._file.flush()

    def _rows_to_keep(self, epoch: int) -> list[list[str]]:
        """The header and the rows of epochs up to ``epoch`` in the existing file."""
        try:
            with open(self.path, newline="") as f:
                rows = list(csv.reader(f, delimiter=self.separator))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise LayerwiseError(f"CSVLogger cannot read {str(self.path)!r}: {e}") from None
        if not rows or rows[0][:1] != ["epoch"]:
            return []
        if self.append:
            return rows
        return [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= epoch]

    def on_epoch_end(self, run: Session, epoch: int, logs: dict[str, float]) -> None:
        if self._writer is None:  # a session stepped without run(): open on first use
            self.on_train_begin(run)
        if self._keys is None:
            self._keys = list(logs)
            self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([epoch + 1, *(_cell(logs.get(k)) for k in self._keys)])
        self._file.flush()  # the OS has the row now: it survives the process being killed

    def on_train_end(self, run: Session) -> None:
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None


def _cell(value) -> str:
    return "" if value is None else repr(float(value))


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

    A run that starts at epoch 0 starts the count afresh; a run that goes on (a second
    ``Session.run``, a resumed checkpoint or backup) goes on counting.
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
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise LayerwiseError(
                f"EarlyStopping patience must be a positive integer; got {patience!r}."
            )
        min_delta = real_number(min_delta, "EarlyStopping min_delta")
        if not isinstance(monitor, str):
            raise LayerwiseError(
                f"EarlyStopping monitor must be a key of the epoch logs; got {monitor!r}."
            )
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.maximize = mode == "max" or (mode == "auto" and "accuracy" in monitor)
        self.restore_best = restore_best
        self._started = False

    def on_train_begin(self, run: Session) -> None:
        if run.epoch == 0 or not self._started:
            self.best = -math.inf if self.maximize else math.inf
            self.best_epoch, self.wait, self.stopped_epoch = None, 0, None
            self._best_weights = None
            self._started = True
        weights = self._best_weights
        if weights is not None and (
            weights.keys() != run.params.keys()
            or any(weights[k].shape != p.shape for k, (p, _) in run.params.items())
        ):
            raise LayerwiseError(
                "EarlyStopping's best weights, from a saved state, do not fit the model "
                "(other names or shapes): the state is not of this model."
            )

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

    def state_dict(self) -> dict:
        if not self._started:
            return {}
        best = None if math.isinf(self.best) else self.best  # JSON has no infinity
        state = {"best": best, "best_epoch": self.best_epoch, "wait": self.wait}
        if self._best_weights is not None:  # arrays: a file keeps them as tensors
            state["best_weights"] = {k: v.copy() for k, v in self._best_weights.items()}
        return state

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        best, weights = state["best"], state.get("best_weights")
        if best is not None:
            best = real_number(best, "EarlyStopping state: best")
        best_epoch = state["best_epoch"]
        if best_epoch is not None:
            best_epoch = _count(best_epoch, "EarlyStopping state: best_epoch")
        wait = _count(state["wait"], "EarlyStopping state: wait")
        if weights is not None and not (
            isinstance(weights, dict)
            and all(
                isinstance(v, np.ndarray) and v.dtype.kind == "f" and np.isfinite(v).all()
                for v in weights.values()
            )
        ):
            raise LayerwiseError("EarlyStopping state: best_weights must be finite float arrays.")
        self.best = (-math.inf if self.maximize else math.inf) if best is None else best
        self.best_epoch, self.wait, self.stopped_epoch = best_epoch, wait, None
        self._best_weights = None if weights is None else {k: v.copy() for k, v in weights.items()}
        self._started = True


class LearningRateScheduler(Callback):
    """Set ``optimizer.lr`` from ``schedule`` every epoch or every step.

    How ``schedule`` is called, by default: ``schedule(t, optimizer.initial_lr)``, the
    second argument always the rate the optimizer was built with, never the rate in use,
    so the function keeps no state and a rollback or a resumed run gets exactly the
    rates of an uninterrupted one.

    - ``per="epoch"``: at the start of every epoch, ``t`` = the epochs done (0 for the
      first epoch); the epoch runs at the returned rate.
    - ``per="step"``: at the start of the run and after every step, ``t`` = the steps
      done; the step after ``t`` steps runs at ``schedule(t, ...)``.

    Both counts are the :class:`~layerwise.session.Session`'s (``run.epoch``,
    ``run.steps``): a run resumed from a checkpoint goes on counting, while a new
    ``fit`` (a new session) starts again from 0.

    With ``current_lr=True`` it is called as Keras calls it, ``schedule(t, lr)`` with
    ``lr`` the rate in use (``optimizer.lr``), once at the start of every epoch
    (``per="epoch"``, as ``keras.callbacks.LearningRateScheduler``), or after every step
    (``per="step"``: the first step runs at the optimizer's rate as it is). The rate in
    use is part of the optimizer's state, so checkpoints keep it and resumed runs are
    exact in this form too.

    Parameters
    ----------
    schedule : callable (t, base_lr) -> lr, or (t, lr) -> lr with ``current_lr``
        E.g. ``lw.optim.CosineDecay(t_max=30)``, ``lw.optim.OneCycle(0.1, total_steps)``
        with ``per="step"``, or (Keras) ``lambda epoch, lr: lr * 0.9``.
    per : {"epoch", "step"}
    current_lr : bool, default False
        Pass the rate in use instead of ``optimizer.initial_lr`` (the Keras form).

    Raises
    ------
    LayerwiseError
        If ``schedule`` returns a negative or non-finite rate (naming ``t``).
    """

    def __init__(self, schedule, per: str = "epoch", *, current_lr: bool = False):
        if per not in ("epoch", "step"):
            raise LayerwiseError(
                f"LearningRateScheduler per must be 'epoch' or 'step'; got {per!r}."
            )
        if not callable(schedule):
            raise LayerwiseError(f"schedule must be callable (t, base_lr) -> lr; got {schedule!r}.")
        self.schedule, self.per, self.current_lr = schedule, per, bool(current_lr)

    def _set(self, run: Session, t: int) -> None:
        optimizer = run.optimizer
        value = self.schedule(t, optimizer.lr if self.current_lr else optimizer.initial_lr)
        try:
            lr = float(value)
        except (TypeError, ValueError):
            lr = math.nan
        if not (math.isfinite(lr) and lr >= 0):
            raise LayerwiseError(
                f"The learning-rate schedule {self.schedule!r} returned {value!r} at "
                f"{self.per} {t}; a rate must be a finite number >= 0."
            )
        optimizer.lr = lr

    def on_train_begin(self, run: Session) -> None:
        if not self.current_lr:  # the Keras form changes the rate it gets: call it once per t
            self._set(run, run.epoch if self.per == "epoch" else run.steps)

    def on_epoch_begin(self, run: Session, epoch: int) -> None:
        if self.per == "epoch":
            self._set(run, epoch)

    def on_batch_end(self, run: Session, step: int, loss: float) -> None:
        if self.per == "step":
            self._set(run, step)


class ReduceLROnPlateau(Callback):
    r"""Reduce the rate when ``monitor`` has stopped improving, as torch's
    ``ReduceLROnPlateau``.

    At the end of every epoch the monitored value is compared with the best so far: it
    improves on it if

    ======  =========================================  ===============================
    mode    ``threshold_mode="rel"``                   ``threshold_mode="abs"``
    ======  =========================================  ===============================
    min     ``value < best * (1 - threshold)``          ``value < best - threshold``
    max     ``value > best * (1 + threshold)``          ``value > best + threshold``
    ======  =========================================  ===============================

    An improvement becomes the new best and zeroes the count of bad epochs, anything
    else (NaN too) adds one. When the count exceeds ``patience``, the rate becomes
    :math:`\max(\eta \cdot factor, \eta_{min})` (unless that changes it by ``eps`` or
    less), the count restarts, and the next ``cooldown`` epochs count no bad epochs.
    :meth:`update` is that rule alone.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs (``"loss"``, ``"val_accuracy"``, ...).
    factor : float, default 0.1
        The rate is multiplied by it, in ``[0, 1)``.
    patience : int, default 10
        Bad epochs tolerated before a reduction (0: reduce at the first).
    threshold : float, default 1e-4
        How much better than the best a value must be to count as an improvement.
    threshold_mode : {"rel", "abs"}
        Relative to the best, or absolute (see the table).
    cooldown : int, default 0
        Epochs after a reduction in which bad epochs are not counted.
    min_lr : float, default 0.0
        The rate is never reduced below it.
    eps : float, default 1e-8
        A reduction smaller than this is skipped.
    mode : {"auto", "min", "max"}
        "auto" maximizes keys containing "accuracy" and minimizes the others.

    Attributes
    ----------
    best : float
        The best value so far (``inf``, or ``-inf`` when maximizing, before the first).
    num_bad_epochs, cooldown_counter : int
        As torch's.

    Notes
    -----
    **State.** The callback keeps no rate of its own: it reads ``optimizer.lr`` and
    writes it back, so the reduced rate lives in the optimizer's state (checkpoints keep
    it) and survives further ``fit`` calls with the same optimizer. The counters
    (:meth:`state_dict`) start afresh at ``on_train_begin`` only for a new run, one whose
    optimizer has not stepped yet (``optimizer.step_count == 0``: a new optimizer, or
    after ``Session.reset``); a second ``fit`` with the same optimizer, or a resumed run,
    goes on with them. (``run.epoch == 0`` could not tell: every ``fit`` is a new
    session counting from epoch 0.) A ``LearningRateScheduler`` in its default form
    would overwrite every reduction, so the two together raise, unless the scheduler
    has ``current_lr=True`` (then it starts from the reduced rate).

    **scikit-learn's** ``learning_rate="adaptive"`` (``solver="sgd"``) divides the rate
    by 5 when the training loss has failed to fall by ``tol`` for more than
    ``n_iter_no_change`` epochs in a row (its docs say "two consecutive epochs", the
    old fixed value). ``ReduceLROnPlateau("loss", factor=0.2, patience=n_iter_no_change,
    threshold=tol, threshold_mode="abs")`` is the same rule except that

    - scikit-learn's best moves to every lower loss, even one lower by less than
      ``tol``, while here (and in torch) only an improvement moves it: a loss creeping
      down by less than ``tol`` an epoch is reduced for sooner by scikit-learn;
    - scikit-learn counts a fall of exactly ``tol`` as an improvement, here it must be
      more;
    - once the rate is at most 1e-6 scikit-learn stops training instead of reducing;
      here ``min_lr`` only bounds the rate (add ``EarlyStopping`` to stop);
    - scikit-learn's loss includes its L2 penalty ``alpha``; the ``"loss"`` logged here
      does not include ``weight_decay``.

    Where every epoch either improves by more than ``tol`` or does not lower the loss
    at all, the rates are the same (to rounding: ``lr * 0.2`` against ``lr / 5``). With
    ``early_stopping=True`` scikit-learn watches the validation score instead, for the
    classifier ``monitor="val_accuracy"`` (``mode="max"``, the same differences).

    Examples
    --------
    >>> plateau = ReduceLROnPlateau("loss", factor=0.5, patience=1)
    >>> [plateau.update(loss, 1.0) for loss in (3.0, 2.0, 2.0, 2.0)]
    [1.0, 1.0, 1.0, 0.5]
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
        mode: str = "auto",
    ):
        if mode not in ("auto", "min", "max"):
            raise LayerwiseError(
                f"ReduceLROnPlateau mode must be 'auto', 'min' or 'max'; got {mode!r}."
            )
        if threshold_mode not in ("rel", "abs"):
            raise LayerwiseError(
                f"ReduceLROnPlateau threshold_mode must be 'rel' or 'abs'; got {threshold_mode!r}."
            )
        if not isinstance(monitor, str):
            raise LayerwiseError(f"monitor must be a key of the epoch logs; got {monitor!r}.")
        self.factor = real_number(factor, "factor", minimum=0.0)
        if self.factor >= 1:
            raise LayerwiseError(
                f"ReduceLROnPlateau factor must be in [0, 1) (the rate is multiplied by it); "
                f"got {factor!r}."
            )
        self.monitor, self.mode, self.threshold_mode = monitor, mode, threshold_mode
        self.patience = _count(patience, "patience")
        self.cooldown = _count(cooldown, "cooldown")
        self.threshold = real_number(threshold, "threshold", minimum=0.0)
        self.min_lr = real_number(min_lr, "min_lr", minimum=0.0)
        self.eps = real_number(eps, "eps", minimum=0.0)
        self.maximize = mode == "max" or (mode == "auto" and "accuracy" in monitor)
        self.reset()

    def reset(self) -> None:
        """Forget the best value and the counters (the state of a new run)."""
        self.best = -math.inf if self.maximize else math.inf
        self.num_bad_epochs = self.cooldown_counter = 0

    def _improves(self, value: float) -> bool:
        relative, best, threshold = self.threshold_mode == "rel", self.best, self.threshold
        if self.maximize:
            return value > (best * (1 + threshold) if relative else best + threshold)
        return value < (best * (1 - threshold) if relative else best - threshold)

    def update(self, value: float, lr: float) -> float:
        """Take one epoch's ``value`` of the monitored quantity; return the rate to use
        from now on (``lr``, the rate in use, or its reduction)."""
        value = float(value)
        if self._improves(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            reduced = max(lr * self.factor, self.min_lr)
            if lr - reduced > self.eps:
                lr = reduced
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return lr

    def on_train_begin(self, run: Session) -> None:
        for c in run.callbacks:
            if isinstance(c, LearningRateScheduler) and not c.current_lr:
                raise LayerwiseError(
                    "ReduceLROnPlateau and a LearningRateScheduler both set the rate: the "
                    "scheduler would undo every reduction. Use one of them, or the "
                    "scheduler's Keras form (current_lr=True), which starts from the rate "
                    "in use."
                )
        if run.optimizer.step_count == 0:  # a new run (see the notes)
            self.reset()

    def on_epoch_end(self, run: Session, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise LayerwiseError(
                f"ReduceLROnPlateau monitors {self.monitor!r}, but the epoch logs have only "
                f"{sorted(logs)}. Pass validation_data, or monitor 'loss'."
            )
        run.optimizer.lr = self.update(logs[self.monitor], run.optimizer.lr)

    def state_dict(self) -> dict:
        """``{"best", "num_bad_epochs", "cooldown_counter"}``; an infinite ``best`` (before
        the first epoch) is the string ``"inf"`` or ``"-inf"``, as JSON has no infinity."""
        best = self.best if math.isfinite(self.best) else str(self.best)
        return {
            "best": best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
        }

    def load_state_dict(self, state: dict) -> None:
        try:
            best = state["best"]
            if isinstance(best, bool) or not isinstance(best, (int, float, str)):
                raise TypeError(f"best is {best!r}")
            best = float(best)  # "inf" and "-inf" too
            counts = [_count(state[k], k) for k in ("num_bad_epochs", "cooldown_counter")]
        except (KeyError, TypeError, ValueError) as e:
            raise LayerwiseError(
                f"Bad ReduceLROnPlateau state {state!r} ({e}); expected state_dict()'s output."
            ) from None
        self.best, (self.num_bad_epochs, self.cooldown_counter) = best, counts


def _count(value, name: str) -> int:
    """``value`` as a non-negative int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise LayerwiseError(f"{name} must be a non-negative integer; got {value!r}.")
    return int(value)
