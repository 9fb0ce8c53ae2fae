"""``Session``: the one training engine, advanced in steps.

``fit``, the Bench, the playground, the estimators and the sweeps all train through a
``Session``: it holds the model, the loss, the optimizer, the data and the generator
that orders (or draws) the batches, and it carries the divergence guard, the
callbacks and the records (a loss per step, a :class:`History` per epoch).

One step is the notebooks' loop in four lines (see :func:`_step`)::

    pred = model.forward(xb, training=True)
    value = loss.forward(pred, yb)
    model.backward(loss.backward(), input_grad=False)
    optimizer.step(model.parameters())

Everything here works on any model with ``forward(x, training)``,
``backward(grad_out, input_grad=...)`` and ``parameters()`` (named ``(param, grad)``
pairs), so this module never imports the network or the file code.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from layerwise import losses as _losses
from layerwise import metrics as _metrics
from layerwise import optim as _optim
from layerwise._checks import (
    DESCRIPTION_ERRORS,
    LayerwiseError,
    LayerwiseWarning,
    as_matrix,
    cast,
    check_finite,
    check_sample_weight,
    check_seed,
    numeric_array,
    positive_int,
    real_number,
)
from layerwise.activations import sigmoid, softmax
from layerwise.callbacks import Callback, History, callback_list
from layerwise.optim import DivergenceError


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
    losses : list of float
        The loss of every step so far (``Session.losses``).
    callbacks : list of (str, dict)
        Each callback's type name and ``state_dict()``, in order.
    """

    epoch: int = 0
    step: int = 0
    rng_state: dict | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    callbacks: list[tuple[str, dict]] = field(default_factory=list)


class Session:
    """A training run that advances in steps: the engine under ``fit`` and every face.

    Parameters
    ----------
    model
        A ``Sequential`` (or any model with ``forward``, ``backward``, ``parameters``).
    loss : Loss or str
    optimizer : Optimizer or str
        Its ``lr`` may be changed between steps (a slider, a scheduler).
    data : (X, y) arrays, or callable ``data(rng, n) -> (X, y)``
        Arrays are ordered into batches (a new order every epoch when ``shuffle``); a
        callable draws ``n = batch_size`` fresh samples from the session's generator at
        every step (notebook 000's new batch per step, notebook 003's online learning).
    batch_size : int or None, default 32
        ``None``: full batch (arrays only); 1: online learning.
    shuffle : bool, default True
        Draw a new order of the arrays every epoch.
    seed : int or None
        Seed of the session's generator (batch order, drawn samples); the same seed
        repeats the run bit for bit.
    validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
        Evaluated at the end of every epoch (``val_loss``, ``val_accuracy``, ``val_*``
        for each metric).
    callbacks : sequence of Callback
        Their hooks get the session.
    sample_weight : array (n,), optional
        A non-negative weight per row of the arrays: the loss of a batch is the weighted
        mean (see :mod:`layerwise.losses`), so for full-batch training a weight of 2
        equals the row repeated. The epoch's loss and accuracy are weighted the same way.
    class_weight : dict or "balanced", optional
        A weight per class (``{label: weight}``; classes left out weigh 1), multiplied
        into ``sample_weight``; ``"balanced"`` is scikit-learn's
        ``n_samples / (n_classes * count)``. For ``CrossEntropy`` and single-output
        ``BinaryCrossEntropy`` (classes 0 and 1) on arrays.
    metrics : sequence of str or callable
        Computed over each epoch's predictions and over the validation data, recorded in
        the history under their names (``"mae"``, ``"val_mae"``...): names as
        :func:`layerwise.metrics.get` knows them (``"accuracy"``, ``"top_k_accuracy"``,
        ``"mse"``, ``"mae"``, ``"r2"``...) or functions ``f(y_true, y_pred)``. They see
        the targets as given and the predictions as probabilities for the classification
        losses (softmax rows for ``CrossEntropy``), the raw outputs otherwise.
    steps_per_epoch : int, optional
        For a data callable: the steps that make an epoch (with None, ``step`` never
        ends an epoch and ``run`` cannot be used). Arrays: ``ceil(n / batch_size)``.
    on_divergence : {"raise", "warn"}
        When the loss, a gradient or the updated weights turn NaN or infinite, the
        weights and the optimizer state go back to the start of the epoch (for a data
        callable without epochs: of the ``step`` call), then ``DivergenceError`` is
        raised, or a ``LayerwiseWarning`` issued and the steps stop.

    Attributes
    ----------
    model, loss, optimizer, params, callbacks, rng, batch_size, shuffle, seed
    steps : int
        Optimizer steps done.
    epoch : int
        Epochs completed.
    epochs : int or None
        The epoch count the current ``run`` goes to (for messages and progress bars).
    history : History
        One record per completed epoch: ``loss``, ``accuracy`` (classification),
        ``val_*``, ``lr``, ``time``.
    stop_training : bool
        Set by a callback to stop ``run`` (and ``step``) at the end of the epoch.

    Examples
    --------
    >>> session = Session(model, MSE(), SGD(lr=0.01), (X, y), batch_size=16, seed=0)
    >>> session.step(5).shape            # five steps, their losses
    (5,)
    >>> session.checkpoint(); session.run(3); session.rollback()   # try, then undo
    """

    def __init__(
        self,
        model,
        loss,
        optimizer,
        data,
        *,
        batch_size: int | None = 32,
        shuffle: bool = True,
        seed: int | None = None,
        validation_data: tuple | None = None,
        callbacks=(),
        steps_per_epoch: int | None = None,
        on_divergence: str = "raise",
        sample_weight=None,
        class_weight=None,
        metrics=(),
    ):
        self.model = model
        self.loss = _losses.get(loss)
        self.optimizer = _optim.get(optimizer)
        if on_divergence not in ("raise", "warn"):
            raise LayerwiseError(f"on_divergence must be 'raise' or 'warn'; got {on_divergence!r}.")
        self.on_divergence = on_divergence
        if batch_size is not None:
            batch_size = positive_int(batch_size, "batch_size")
        if not isinstance(shuffle, (bool, np.bool_)):  # "no" would shuffle
            raise LayerwiseError(f"shuffle must be True or False; got {shuffle!r}.")
        dtype = getattr(model, "dtype", np.float32)
        self._dtype = dtype
        if callable(data):
            if batch_size is None:
                raise LayerwiseError(
                    "A data callable needs a batch_size: the number of samples it draws per step."
                )
            if steps_per_epoch is not None:
                steps_per_epoch = positive_int(steps_per_epoch, "steps_per_epoch")
            if sample_weight is not None or class_weight is not None:
                raise LayerwiseError(
                    "sample_weight and class_weight are for (X, y) arrays, not a data callable."
                )
            self._draw, self._X, self._y = data, None, None
            self._size = batch_size
        else:
            if steps_per_epoch is not None:
                raise LayerwiseError(
                    "steps_per_epoch is for a data callable; with arrays an epoch is one pass "
                    "over them."
                )
            X, y = _pair(data, "data")
            X = as_matrix(X, "X", dtype)
            y = _as_targets(y, len(X), dtype, "y")
            self._draw, self._X = None, X
            self._y = _prepared_targets(model, self.loss, X, y, "y")
            self._size = len(X) if batch_size is None else min(batch_size, len(X))
            steps_per_epoch = -(-len(X) // self._size)
        self.batch_size, self.shuffle, self.steps_per_epoch = batch_size, shuffle, steps_per_epoch
        self._weights_of_rows = None  # the sample weights times the class weights, or None
        if self._X is not None:
            self._weights_of_rows = _row_weights(
                self.loss, self._y, sample_weight, class_weight, "Session"
            )
        self._validation = None
        if validation_data is not None:
            Xv, yv, wv = _triple(validation_data, "validation_data")
            Xv = as_matrix(Xv, "validation X", dtype)
            width = getattr(model, "in_features", None) if self._X is None else self._X.shape[1]
            if width is not None and Xv.shape[1] != width:
                raise LayerwiseError(f"validation X has {Xv.shape[1]} features but X has {width}.")
            yv = _as_targets(yv, len(Xv), dtype, "validation y")
            yv = _prepared_targets(model, self.loss, Xv, yv, "validation y")
            wv = _row_weights(self.loss, yv, wv, None, "validation_data")
            self._validation = (Xv, yv, wv)
        weighted = self._weights_of_rows is not None or (
            self._validation is not None and self._validation[2] is not None
        )
        if weighted and not _takes(self.loss.forward, "sample_weight"):
            raise LayerwiseError(f"{self.loss!r}.forward takes no sample_weight.")
        self.metrics = _resolve_metrics(metrics, self.loss)

        self.seed = check_seed(seed, "seed")
        self.rng = np.random.default_rng(self.seed)
        self.params = model.parameters()
        self._weights = _weight_arrays(self.params)  # what checkpoints copy
        self.callbacks = callback_list(callbacks)
        # The checks of model.forward and loss.forward cost ~10 % of a small net's step;
        # arrays are checked once above, so the steps skip them where the model allows.
        fast = _takes(model.forward, "check") and _takes(self.loss.forward, "check")
        if self._X is None:  # drawn batches are checked as they come, once (_draw_batch)
            widths = (getattr(model, "in_features", None), getattr(model, "out_features", None))
            fast = fast and None not in widths and hasattr(self.loss, "prepare")
            self._widths = widths if fast else None
        self._checked = {"check": False} if fast else {}
        self._count = _correct_counter(self.loss)
        # What the counter compares with, worked out once for the whole data set: the
        # class of one-hot rows, whether a BCE target is above 1/2 (a pass fewer a step).
        self._truth = None
        if self._count is not None and self._X is not None:
            if isinstance(self.loss, _losses.BinaryCrossEntropy):
                self._truth = self._y > 0.5
            elif self._y.ndim == 2:
                self._truth = self._y.argmax(axis=1)
        self._checkpoints: dict[str, dict] = {}
        self._guard: list[np.ndarray] | None = None  # see _mark
        self._running = False
        self._clear()

    def _clear(self) -> None:
        """The records and counters of a run that has not started."""
        self.steps, self.epoch, self.epochs = 0, 0, None
        self.history = History()
        self.stop_training = False
        self._losses: list[float] = []
        self._position, self._order = 0, None  # steps into the current epoch, its order
        self._total, self._correct, self._seen, self._elapsed = 0.0, 0.0, 0, 0.0
        self._outputs: list[tuple] = []  # the epoch's (pred, target, weight), for metrics
        self._guard = None

    # -- advancing -----------------------------------------------------------------

    def step(self, n: int = 1) -> np.ndarray:
        """Run ``n`` optimizer steps; return their losses, ``(n,)`` float64.

        Epochs that end on the way are closed (validation, history, callbacks). Fewer
        than ``n`` losses come back when a callback stops training at an epoch's end,
        or when the run diverged with ``on_divergence="warn"`` (then the steps of the
        rolled-back epoch are dropped from the record).
        """
        n = positive_int(n, "n")
        self.stop_training = False
        self._begin()
        done = len(self._losses)
        self._advance(n)
        self._note_training()
        return np.array(self._losses[done:], dtype=np.float64)

    def run(self, epochs: int = 1) -> History:
        """Run ``epochs`` whole epochs (first finishing one begun by ``step``).

        Calls the callbacks' ``on_train_begin`` and ``on_train_end`` around them, as
        ``fit`` does. Returns :attr:`history`.
        """
        if self.steps_per_epoch is None:
            raise LayerwiseError(
                "run() needs epochs: pass steps_per_epoch= to the Session for a data "
                "callable, or use step(n)."
            )
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise LayerwiseError(f"epochs must be a non-negative integer; got {epochs!r}.")
        if self.epochs is None or self.epochs < self.epoch + epochs:
            self.epochs = self.epoch + epochs
        self.stop_training = False
        self._begin()
        try:
            for _ in range(epochs):
                if not self._advance(self.steps_per_epoch - self._position) or self.stop_training:
                    break
        finally:
            self.end()
        return self.history

    def end(self) -> None:
        """Call the callbacks' ``on_train_end`` (``run`` does so at its end; call this
        after a series of ``step`` calls to let e.g. ``EarlyStopping`` restore)."""
        if self._running:
            self._running = False
            for c in self.callbacks:
                c.on_train_end(self)

    def _begin(self) -> None:
        if not self._running:
            self._running = True
            for c in self.callbacks:
                c.on_train_begin(self)

    def _advance(self, n: int) -> bool:
        """The training loop: ``n`` steps, closing epochs on the way. False if stopped."""
        model, loss, optimizer, params = self.model, self.loss, self.optimizer, self.params
        checked, count, record = self._checked, self._count, self._losses.append
        batch_callbacks = [
            c for c in self.callbacks if type(c).on_batch_end is not Callback.on_batch_end
        ]
        per_epoch, X, y, size = self.steps_per_epoch, self._X, self._y, self._size
        truths, weights, keep = self._truth, self._weights_of_rows, self._outputs.append
        collect = bool(self.metrics)
        wb = None
        if per_epoch is None:  # a stream without epochs: the guard restores to this call
            self._mark()
        clock = time.perf_counter()
        # The guard reports NaN and overflow with advice; NumPy's own RuntimeWarnings
        # would only repeat them without saying where or what to do.
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(n):
                if self._position == 0 and per_epoch is not None:
                    self._start_epoch()
                truth = None
                if X is None:
                    xb, yb = self._draw_batch()
                elif self._order is None:
                    start = self._position * size
                    xb, yb = X[start : start + size], y[start : start + size]
                    if truths is not None:
                        truth = truths[start : start + size]
                    if weights is not None:
                        wb = weights[start : start + size]
                else:
                    idx = self._order[self._position * size : (self._position + 1) * size]
                    # take() is ~3x faster than fancy indexing X[idx] (PERF-NOTES).
                    xb, yb = X.take(idx, axis=0), y.take(idx, axis=0)
                    if truths is not None:
                        truth = truths.take(idx, axis=0)
                    if weights is not None:
                        wb = weights.take(idx)
                try:
                    value, pred = _step(model, loss, optimizer, xb, yb, params, checked, wb)
                except DivergenceError as e:
                    self._elapsed += time.perf_counter() - clock
                    return self._diverged(e)
                self.steps += 1
                self._position += 1
                record(value)
                rows = len(xb) if wb is None else float(wb.sum())  # what the mean divides by
                self._total += value * rows
                self._seen += rows
                if count is not None:
                    self._correct += count(pred, yb if truth is None else truth, wb)
                if collect:
                    keep((pred.copy(), yb, wb))
                for c in batch_callbacks:
                    c.on_batch_end(self, self.steps, value)
                if self._position == per_epoch:
                    now = time.perf_counter()
                    self._elapsed += now - clock
                    clock = now
                    self._end_epoch()
                    if self.stop_training:
                        return False
        self._elapsed += time.perf_counter() - clock
        return True

    def _draw_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """A fresh batch from the data callable, checked as any data is (once: the
        model and the loss then skip their own checks, where they can)."""
        X, y = _pair(self._draw(self.rng, self._size), "the data callable's result")
        X = as_matrix(X, "X drawn by the data callable", self._dtype)
        if len(X) != self._size:
            raise LayerwiseError(
                f"The data callable was asked for {self._size} samples and returned {len(X)}."
            )
        if self._widths is None:  # the model and the loss check for themselves
            return X, _as_targets(y, len(X), self._dtype, "y drawn by the data callable")
        width, outputs = self._widths
        if X.shape[1] != width:
            raise LayerwiseError(
                f"The model expects input with {width} features; got shape {X.shape} from the "
                "data callable."
            )
        y = numeric_array(y, "y drawn by the data callable")
        pred_like = np.broadcast_to(np.zeros((), self._dtype), (len(X), outputs))  # no memory
        try:
            return X, self.loss.prepare(pred_like, y)
        except LayerwiseError as e:
            raise LayerwiseError(
                f"y drawn by the data callable does not fit {self.loss!r}: {e}"
            ) from None

    def _start_epoch(self) -> None:
        self._mark()
        n = len(self._X) if self._X is not None else 0
        shuffled = self.shuffle and self._X is not None and self._size < n
        self._order = self.rng.permutation(n) if shuffled else None
        self._total, self._correct, self._seen, self._elapsed = 0.0, 0.0, 0, 0.0
        self._outputs.clear()  # in place: the running loop appends to this list
        for c in self.callbacks:
            c.on_epoch_begin(self, self.epoch)

    def _end_epoch(self) -> None:
        logs = self.running_logs
        if self.metrics:
            preds, targets, weights = zip(*self._outputs)
            pred, target = np.concatenate(preds), np.concatenate(targets)
            weight = None if weights[0] is None else np.concatenate(weights)
            logs.update(_metric_logs(self.metrics, self.loss, target, pred, weight))
            self._outputs.clear()
        if self._validation is not None:
            Xv, yv, wv = self._validation
            val = _evaluate(self.model, Xv, yv, self.loss, 4096, wv, self.metrics)
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs["lr"] = self.optimizer.lr
        logs["time"] = self._elapsed
        self.history.append(logs)
        self._position, self._order = 0, None
        self.epoch += 1
        self._note_training()
        for c in self.callbacks:
            c.on_epoch_end(self, self.epoch - 1, logs)

    def _note_training(self) -> None:
        """Tell a model that keeps it (``Sequential.trained``) how it is being trained."""
        if not hasattr(self.model, "trained"):
            return
        loss = self.loss
        if isinstance(loss, _losses.CrossEntropy):
            task = "multiclass"
        elif isinstance(loss, _losses.BinaryCrossEntropy):
            outputs = getattr(self.model, "out_features", 1)
            task = "binary" if outputs == 1 else "multilabel"
        else:
            task = "regression"
        self.model.trained = {
            "task": task,
            "loss": type(loss).__name__,
            "from_logits": bool(getattr(loss, "from_logits", task == "multiclass")),
            "optimizer": type(self.optimizer).__name__,
            "lr": float(self.optimizer.lr),
            "epochs": self.epoch,
            "steps": self.steps,
            "samples": None if self._X is None else len(self._X),
        }

    @property
    def running_logs(self) -> dict[str, float]:
        """The current epoch's mean loss (and accuracy) over its steps so far."""
        if not self._seen:
            return {}
        logs = {"loss": self._total / self._seen}
        if self._count is not None:
            logs["accuracy"] = self._correct / self._seen
        return logs

    # -- records -------------------------------------------------------------------

    @property
    def losses(self) -> np.ndarray:
        """The loss of every step so far, ``(steps,)`` float64."""
        return np.array(self._losses, dtype=np.float64)

    def state(self) -> TrainingState:
        """Where the run stands, for a checkpoint file written at an epoch's end."""
        return TrainingState(
            epoch=self.epoch,
            step=self.steps,
            rng_state=self.rng.bit_generator.state,
            history={k: list(v) for k, v in self.history.history.items()},
            losses=list(self._losses),
            callbacks=[(type(c).__name__, c.state_dict()) for c in self.callbacks],
        )

    def load_state(self, state: TrainingState) -> None:
        """Continue from a checkpoint file's state (between two epochs).

        Each saved callback state goes to the next callback of the same type, in order;
        callbacks without a saved state start afresh.
        """
        self.epoch, self.steps = state.epoch, state.step
        if state.rng_state is not None:
            self.rng.bit_generator.state = state.rng_state
        self.history = History(state.history)
        self._losses = list(state.losses)
        self._position, self._order = 0, None
        waiting = list(self.callbacks)
        for name, saved in state.callbacks:
            if not saved:
                continue
            match = next((c for c in waiting if type(c).__name__ == name), None)
            if match is not None:
                waiting = waiting[waiting.index(match) + 1 :]
                try:
                    match.load_state_dict(saved)
                except LayerwiseError:
                    raise
                except DESCRIPTION_ERRORS as e:
                    raise LayerwiseError(
                        f"The saved state of the {name} callback is unreadable ({e!r}); it is "
                        f"not what a {name}'s state_dict() returns."
                    ) from None

    def fit_config(self) -> dict:
        """The ``fit`` arguments a checkpoint file keeps to resume this run."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "shuffle": self.shuffle}

    # -- checkpoints in memory -----------------------------------------------------

    def checkpoint(self, name: str = "last") -> None:
        """Keep a copy of the run as it is now under ``name``: weights, optimizer state,
        the generators (the session's and the layers'), counters and records."""
        self._checkpoints[name] = {
            "weights": [a.copy() for a in self._weights],
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "layer_rngs": [g.bit_generator.state for g in _layer_rngs(self.model)],
            "counters": (self.steps, self.epoch, self._position),
            "order": None if self._order is None else self._order.copy(),
            "epoch_sums": (self._total, self._correct, self._seen, self._elapsed),
            "outputs": list(self._outputs),
            "losses": list(self._losses),
            "history": {k: list(v) for k, v in self.history.history.items()},
            "callbacks": [c.state_dict() for c in self.callbacks],
        }

    def rollback(self, name: str = "last") -> None:
        """Restore the run to :meth:`checkpoint` ``name``, bit for bit (the checkpoint
        is kept, so one can roll back to it again)."""
        if name not in self._checkpoints:
            known = ", ".join(repr(k) for k in self._checkpoints) or "none yet"
            raise LayerwiseError(
                f"No checkpoint named {name!r} (known: {known}); call checkpoint({name!r}) first."
            )
        saved = self._checkpoints[name]
        for param, copy in zip(self._weights, saved["weights"]):
            np.copyto(param, copy)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.rng.bit_generator.state = saved["rng"]
        for generator, state in zip(_layer_rngs(self.model), saved["layer_rngs"]):
            generator.bit_generator.state = state
        self.steps, self.epoch, self._position = saved["counters"]
        self._order = None if saved["order"] is None else saved["order"].copy()
        self._total, self._correct, self._seen, self._elapsed = saved["epoch_sums"]
        self._outputs[:] = saved["outputs"]
        self._losses[:] = saved["losses"]
        self.history = History(saved["history"])
        for callback, state in zip(self.callbacks, saved["callbacks"]):
            callback.load_state_dict(state)
        self._guard = None
        if self._position:  # mid-epoch: the guard now restores to this point
            self._mark()

    def reset(self, seed: int | None = None) -> None:
        """Start the run again: new weights, a fresh optimizer, empty records.

        The weights are redrawn by ``model.reset_parameters(seed)`` (for ``Sequential``,
        ``None`` repeats its own seed); the session's generator restarts from ``seed``,
        or from the session's seed when None. In-memory checkpoints are kept.
        """
        reset_parameters = getattr(self.model, "reset_parameters", None)
        if reset_parameters is None:
            raise LayerwiseError(
                f"{type(self.model).__name__} has no reset_parameters(seed); reset needs it "
                "to redraw the weights."
            )
        reset_parameters(seed)
        self.optimizer.reset()
        if seed is not None:
            self.seed = check_seed(seed, "reset seed")
        self.rng = np.random.default_rng(self.seed)
        self._clear()

    # -- the divergence guard ------------------------------------------------------

    def _mark(self) -> None:
        """Remember the weights and optimizer state to restore if the run diverges.

        The copies are made once and then overwritten in place (in a full-batch run
        every step starts an epoch); parameters that tile one buffer, as ``Sequential``
        lays them out, are copied in one call.
        """
        if self._guard is None:
            self._guard = [a.copy() for a in self._weights]
            self._guard_optimizer = None
        else:
            for param, copy in zip(self._weights, self._guard):
                np.copyto(copy, param)
        self._guard_optimizer = self.optimizer._save_state(self._guard_optimizer)
        self._guard_at = (self.steps, self._position, len(self._losses), len(self._outputs))
        self._guard_sums = (self._total, self._correct, self._seen, self._elapsed)

    def _diverged(self, error: DivergenceError) -> bool:
        # The failing step changed nothing, or only overflowed the weights it was caught
        # updating, but the steps before it may already have blown the weights up: go back
        # to the mark (the start of the epoch).
        failed = self.steps + 1
        for param, copy in zip(self._weights, self._guard):
            np.copyto(param, copy)
        self.optimizer._load_state(self._guard_optimizer)
        self.steps, self._position, kept, kept_outputs = self._guard_at
        self._total, self._correct, self._seen, self._elapsed = self._guard_sums
        del self._losses[kept:]
        del self._outputs[kept_outputs:]
        if self.steps_per_epoch is None:
            where, since = f"step {failed}", "before this call to step()"
        else:
            total = f"/{self.epochs}" if self.epochs and self.epoch < self.epochs else ""
            batch = failed - self.steps + self._position
            where = f"epoch {self.epoch + 1}{total}, batch {batch} (step {failed})"
            since = "at the start of this epoch"
        self._order = self._order if self._position else None
        advice = f"Try a lower learning rate than {self.optimizer.lr:g}."
        if failed == 1 and "overflowed" not in str(error):
            # Nothing was updated before this loss or gradient: the rate is not the cause.
            largest = (
                "" if self._X is None else f" (the largest |X| is {np.abs(self._X).max():.3g})"
            )
            advice = (
                "Nothing had been updated yet, so the learning rate is not the cause: the "
                f"inputs, targets or weights are too large for {np.dtype(self._dtype).name}"
                f"{largest}. Rescale the data, e.g. with lw.data.standardize."
            )
        message = (
            f"Training diverged at {where}: {error}. The weights and optimizer state were "
            f"restored to their values {since}. {advice}"
        )
        if self.on_divergence == "raise":
            exc = DivergenceError(message)
            exc.history = self.history
            raise exc
        warnings.warn(message, LayerwiseWarning, stacklevel=4)
        return False

    def __repr__(self) -> str:
        return (
            f"Session({self.model!r}, {self.loss!r}, {self.optimizer!r}, steps={self.steps}, "
            f"epoch={self.epoch})"
        )


# -- one step ---------------------------------------------------------------------


def _step(
    model, loss, optimizer, xb, yb, params, checked=None, weights=None
) -> tuple[float, np.ndarray]:
    """Forward, loss, backward and update on one batch; returns the loss and prediction.

    ``weights`` are the batch's sample weights (None: every row counts once). Raises
    ``DivergenceError`` before the update when the loss or a gradient is not finite,
    and after it when the update overflowed the weights.
    """
    checked = checked or {}
    pred = model.forward(xb, training=True, **checked)
    if weights is None:
        value = loss.forward(pred, yb, **checked)
    else:
        value = loss.forward(pred, yb, sample_weight=weights, **checked)
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


# -- weights and generators ---------------------------------------------------------


def _weight_arrays(params) -> list[np.ndarray]:
    """The arrays to copy for a snapshot: the one buffer that the parameters tile (as
    ``Sequential`` lays them out), else each parameter."""
    arrays = [p for p, _ in params.values()]
    flat = _optim.flat_base(arrays)
    return [flat] if flat is not None else arrays


def _layer_rngs(model) -> list[np.random.Generator]:
    """The generators the layers draw from while training (Dropout's masks)."""
    layers = getattr(model, "layers", ())
    generators = (getattr(layer, "rng", None) for layer in layers)
    return [g for g in generators if isinstance(g, np.random.Generator)]


# -- evaluation ---------------------------------------------------------------------


def _correct_counter(loss):
    """A function counting correct predictions in a batch (weighted, given weights),
    or None for regression."""
    if isinstance(loss, _losses.CrossEntropy):

        def count(pred, target, weights=None):
            labels = target if target.ndim == 1 else target.argmax(axis=1)
            right = pred.argmax(axis=1) == labels
            return int(np.count_nonzero(right)) if weights is None else float(weights @ right)

        return count
    if isinstance(loss, _losses.BinaryCrossEntropy):
        threshold = 0.0 if loss.from_logits else 0.5

        def count(pred, target, weights=None):
            truth = target if target.dtype == bool else target.reshape(pred.shape) > 0.5
            right = (pred > threshold) == truth
            if weights is None:
                return np.count_nonzero(right) / pred.shape[1]
            return float(weights @ right.mean(axis=1))

        return count
    return None


def _evaluate(model, X, y, loss, batch_size, weights=None, metrics=()) -> dict[str, float]:
    """The mean loss (and accuracy, and ``metrics``) over ``(X, y)`` in inference mode,
    weighted by ``weights`` when given."""
    count = _correct_counter(loss)
    total, correct, preds = 0.0, 0.0, []
    for start in range(0, len(X), batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        wb = None if weights is None else weights[start : start + batch_size]
        pred = model.forward(xb, training=False)
        if wb is None:
            total += loss.forward(pred, yb) * len(xb)
        else:
            total += loss.forward(pred, yb, sample_weight=wb) * float(wb.sum())
        if count is not None:
            correct += count(pred, yb, wb)
        if metrics:
            preds.append(pred)
    seen = len(X) if weights is None else float(weights.sum())
    logs = {"loss": total / seen}
    if count is not None:
        logs["accuracy"] = correct / seen
    if metrics:
        logs.update(_metric_logs(metrics, loss, y, np.concatenate(preds), weights))
    return logs


def _resolve_metrics(metrics, loss) -> list[tuple[str, object]]:
    """``metrics`` as ``(name, function)`` pairs, leaving out the accuracy that a
    classification loss records anyway."""
    if isinstance(metrics, (str, bytes)) or callable(metrics):
        metrics = [metrics]
    resolved = []
    for metric in metrics:
        name, function = _metrics.get(metric)
        if name == "accuracy" and loss.classification:
            continue
        if name in ("loss", "lr", "time") or name in (n for n, _ in resolved):
            raise LayerwiseError(f"metrics: the name {name!r} is taken; give the function another.")
        resolved.append((name, function))
    return resolved


def _metric_logs(metrics, loss, target, pred, weights) -> dict[str, float]:
    """Each metric on the targets and the predictions as probabilities (classification)
    or raw outputs (regression)."""
    if isinstance(loss, _losses.CrossEntropy):
        pred = softmax(pred)
    elif isinstance(loss, _losses.BinaryCrossEntropy) and loss.from_logits:
        pred = sigmoid(pred)
    if pred.shape[1] == 1 and target.ndim == 1:
        pred = pred[:, 0]
    logs = {}
    for name, function in metrics:
        if weights is None:
            value = function(target, pred)
        else:
            value = function(target, pred, sample_weight=weights)
        logs[name] = float(value)
    return logs


def _row_weights(loss, y, sample_weight, class_weight, where: str) -> np.ndarray | None:
    """The weight of every row: ``sample_weight`` times the weight of the row's class
    (None when both are None), checked."""
    if sample_weight is None and class_weight is None:
        return None
    n = len(y)
    w = np.ones(n) if sample_weight is None else check_sample_weight(sample_weight, n, where)
    if class_weight is not None:
        w = w * _class_weights(loss, y, class_weight, where)
    if not w.sum() > 0:
        raise LayerwiseError(f"{where}: the sample weights sum to zero; nothing would be learned.")
    return w


def _class_weights(loss, y, class_weight, where: str) -> np.ndarray:
    """The weight of each row's class: from a ``{label: weight}`` dict (others weigh 1)
    or ``"balanced"`` (``n_samples / (n_classes * count)``, as scikit-learn)."""
    if isinstance(loss, _losses.CrossEntropy):
        labels = y if y.ndim == 1 else y.argmax(axis=1)
    elif isinstance(loss, _losses.BinaryCrossEntropy) and (y.ndim == 1 or y.shape[1] == 1):
        labels = (y.reshape(-1) > 0.5).astype(np.int64)
    else:
        raise LayerwiseError(
            f"{where}: class_weight needs CrossEntropy or a one-output BinaryCrossEntropy; "
            f"{loss!r} has no classes. Use sample_weight."
        )
    if isinstance(class_weight, str) and class_weight == "balanced":
        classes, counts = np.unique(labels, return_inverse=False, return_counts=True)
        table = dict(zip(classes.tolist(), (len(labels) / (len(classes) * counts)).tolist()))
    elif isinstance(class_weight, dict):
        table = {}
        for label, weight in class_weight.items():
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
                raise LayerwiseError(
                    f"{where}: class_weight keys are class labels (integers); got {label!r}."
                )
            table[int(label)] = real_number(weight, f"{where}: class_weight[{label}]", minimum=0.0)
    else:
        raise LayerwiseError(
            f"{where}: class_weight must be a dict {{label: weight}} or 'balanced'; "
            f"got {class_weight!r}."
        )
    return np.array([table.get(label, 1.0) for label in range(int(labels.max()) + 1)])[labels]


# -- input checks -------------------------------------------------------------------


def _pair(value, name: str) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise LayerwiseError(f"{name} must be a pair (X, y); got {type(value).__name__}.")
    return value[0], value[1]


def _triple(value, name: str) -> tuple:
    """``(X, y)`` or ``(X, y, sample_weight)`` as a triple (weights None when absent)."""
    if isinstance(value, (tuple, list)) and len(value) == 3:
        return value[0], value[1], value[2]
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise LayerwiseError(
            f"{name} must be (X, y) or (X, y, sample_weight); got {type(value).__name__}."
        )
    return value[0], value[1], None


def _as_targets(y, n: int, dtype, name: str) -> np.ndarray:
    y = numeric_array(y, name)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise LayerwiseError(
            f"{name} has shape {y.shape}; expected (n,) or (n, outputs) with n = {n} rows, "
            "one per sample of X."
        )
    check_finite(y, name)
    return cast(y, dtype, name) if y.dtype.kind == "f" else y


def _prepared_targets(model, loss, X, y, name: str) -> np.ndarray:
    """Run the loss's own checks once on every target, before any training step, and
    return the targets as its ``forward`` takes them."""
    n_in = getattr(model, "in_features", None)
    if n_in is not None and X.shape[1] != n_in:  # else the one-row probe below would say it
        x_name = "X" if name == "y" else name.replace(" y", " X")
        raise LayerwiseError(
            f"The model takes {n_in} features per row; {x_name} has shape {X.shape}."
        )
    width = model.forward(X[:1], training=False).shape[1]
    pred_like = np.broadcast_to(np.zeros((), X.dtype), (len(y), width))  # no memory
    try:
        if hasattr(loss, "prepare"):
            return loss.prepare(pred_like, y)
        loss.forward(np.zeros(pred_like.shape, X.dtype), y)
        return y
    except LayerwiseError as e:
        message = str(e)
        prefix = f"{loss!r}: "
        if message.startswith(prefix):  # the loss names itself: once is enough
            message = message[len(prefix) :]
        raise LayerwiseError(f"{name} does not fit {loss!r}: {message}") from None


def _takes(method, name: str) -> bool:
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):  # builtins and other objects without a signature
        return False
