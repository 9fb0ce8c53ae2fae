"""``Diagnostics``: per-layer statistics recorded while a network trains, and their report.

A :class:`Diagnostics` callback looks inside the network every ``every`` steps (or
epochs) and writes down, for each layer of ``model.layers``:

- a layer with parameters (``Linear``): the norm of its weight gradient, the norm of
  its weights after the step and the update-to-weight ratio of the step,
  ``||W_after - W_before|| / ||W_after||`` (a rule of thumb of Karpathy's: around 1e-3
  is healthy);
- an activation layer: the mean and the standard deviation of its outputs over the
  batch (the quantities Glorot & Bengio 2010 follow layer by layer); for ``Sigmoid``
  and ``Tanh`` the share of saturated outputs, for ``ReLU`` the share of dead units.

No pass is run again: the statistics come from what the layers keep for their
backward pass (STYLE 6), ``Sigmoid`` and ``Tanh`` their output, ``ReLU`` its mask
``x > 0``, ``Linear`` its input (the output of the layer below), and from the gradients
the step has just filled. The only extra work is a copy of the weights one step before
each recorded step, for the update ratio. Records are made in ``on_batch_end``, after
the optimizer step: the activations and gradients are those of the step's batch, the
weights those after the update.

Definitions
-----------
saturated
    A sigmoid or tanh output within 3 % of the output range from an asymptote:
    ``|tanh| > 0.97``, sigmoid ``< 0.015`` or ``> 0.985`` (the same rule, since
    ``2 sigmoid(x) - 1 = tanh(x / 2)``). There the derivative is below 6 % of its
    maximum, so the unit passes on less than 6 % of the gradient it would pass at its
    centre. Reported as the share of the batch's outputs (samples x units).
dead
    A ReLU unit whose output is 0 for every sample of the batch: no gradient reaches
    its weights. Reported as the share of the layer's units.

Warnings
--------
Each of these is issued once per run, as a :class:`~layerwise.LayerwiseWarning` that
names the layer and suggests a remedy:

- vanishing or exploding gradients: the RMS weight gradient (``||dW|| / sqrt(size)``,
  so that layers of different sizes compare) of the first layer with parameters is
  below :data:`VANISHING` or above :data:`EXPLODING` times that of the last one;
- a dead ReLU layer: at least :data:`DEAD` of its units dead, on a batch of at least
  :data:`MIN_BATCH` samples (on a batch of one, half the units are "dead" by chance);
- a saturated hidden sigmoid or tanh layer: more than :data:`SATURATED` of its outputs
  saturated (the output layer may saturate: a confident prediction is no fault).

This module works on any model with ``layers`` (it never imports the network).

    >>> import layerwise as lw
    >>> X, y = lw.data.moons(200, seed=0)
    >>> model = lw.Sequential([lw.Linear(2, 16), lw.ReLU(), lw.Linear(16, 1)], seed=0)
    >>> diag = lw.Diagnostics(every=10)
    >>> hist = model.fit(X, y[:, None], loss=lw.BinaryCrossEntropy(from_logits=True),
    ...                  optimizer=lw.SGD(lr=0.5), epochs=50, batch_size=None,
    ...                  callbacks=[diag], progress=False)
    >>> diag.steps[:3], len(diag)
    ([10, 20, 30], 5)
"""

from __future__ import annotations

import math
import os
import sys
import warnings
import weakref
from typing import TYPE_CHECKING

import numpy as np

from layerwise._checks import LayerwiseError, LayerwiseWarning, positive_int
from layerwise.activations import ReLU, Sigmoid, Tanh
from layerwise.callbacks import Callback
from layerwise.layers import Dropout

if TYPE_CHECKING:  # annotations only: the session imports the callbacks
    from layerwise.session import Session

SATURATION = 0.97  # |tanh| (or |2 sigmoid - 1|) above this is saturated
VANISHING = 1e-3  # first/last RMS gradient ratio below this: vanishing gradients
EXPLODING = 1e3  # ... above this: exploding gradients
DEAD = 0.9  # share of dead units that makes a ReLU layer "dead"
MIN_BATCH = 32  # fewer samples than this: too few to call a unit dead
SATURATED = 0.5  # share of saturated outputs that makes a hidden layer "saturated"
DEFAULT_EVERY = {"step": 50, "epoch": 1}  # 50 steps: as Lightning logs

# The statistics, in the order of the report's columns.
STATS = ("mean", "std", "saturated", "dead", "grad_norm", "weight_norm", "update_ratio")
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Diagnostics(Callback):
    """A callback recording per-layer statistics every ``every`` steps or epochs.

    Pass it to ``fit(..., callbacks=[diag])`` or to a ``Session``; draw the records
    with ``lw.plot.diagnostics(diag)``, read the last ones with ``print(diag)``.

    Parameters
    ----------
    every : int, optional
        Record every ``every``-th step or epoch (step 50, 100, ...; epoch 1, 2, ...).
        Default: 50 steps, or every epoch with ``per="epoch"``. A record costs up to
        about one training step on a small network (far less on a large one), so the
        default keeps the cost within 10 % of the training time
        (``benchmarks/diagnostics.py``).
    per : {"step", "epoch"}, default "step"
        Count in optimizer steps, or in epochs (then the record is made on the last
        batch of the epoch). In a full-batch run an epoch is one step: ``per="epoch"``
        records every step there unless ``every`` says otherwise.

    Attributes
    ----------
    steps : list of int
        The optimizer step (from 1) of each record.
    epochs : list of int
        The epoch (from 1) that step belongs to.
    history : dict[str, dict[str, list[float]]]
        For each layer, named as ``"3: Linear(100 -> 100)"`` (its index in
        ``model.layers`` and the layer), each of its statistics, one value per record:
        ``"grad_norm"``, ``"weight_norm"``, ``"update_ratio"`` for layers with
        parameters; ``"mean"``, ``"std"`` and ``"saturated"`` (Sigmoid, Tanh) or
        ``"dead"`` (ReLU) for activations. ``Dropout`` layers are left out. NaN where a
        value could not be known: the mean of a ReLU whose output no layer keeps (the
        last layer, or before a Dropout), the update ratio of a step whose previous
        step this callback did not see.
    warnings : list of str
        The warnings issued during the run.

    Raises
    ------
    LayerwiseError
        When training starts with a model without ``layers``, or ``per="epoch"`` in a
        session without epochs (a data callable without ``steps_per_epoch``).

    Notes
    -----
    A Diagnostics records one run: when a run starts from step 0 (a second ``fit``,
    say) the records and the warnings start afresh; a resumed run (``fit`` with
    ``initial_state``, ``Session.run`` again) goes on with them. Records of steps that
    a rollback undoes are dropped.

    References
    ----------
    X. Glorot and Y. Bengio, "Understanding the difficulty of training deep feedforward
    neural networks", AISTATS 2010 (activations and saturation by layer).
    A. Karpathy, "Building makemore part 3" (2022) (saturated tanh, update-to-weight
    ratios).

    Examples
    --------
    >>> diag = Diagnostics()                 # every 50 steps
    >>> diag = Diagnostics(per="epoch")      # on the last batch of every epoch
    """

    def __init__(self, every: int | None = None, per: str = "step"):
        if per not in DEFAULT_EVERY:
            raise LayerwiseError(f"Diagnostics per must be 'step' or 'epoch'; got {per!r}.")
        self.per = per
        if every is None:
            every = DEFAULT_EVERY[per]
        self.every = positive_int(every, "Diagnostics every")
        self._clear()
        self._run = None  # a weak reference to the session, which must not keep its data alive
        self._probes: list[_Probe] = []
        self._weighted: list[_Probe] = []  # the probes of layers with weights

    def _clear(self) -> None:
        self.steps: list[int] = []
        self.epochs: list[int] = []
        self.history: dict[str, dict[str, list[float]]] = {}
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._before_step: int | None = None  # the step after which the weights were copied

    # -- the hooks -------------------------------------------------------------------

    def on_train_begin(self, run: Session) -> None:
        if self._run is None or self._run() is not run:  # a new session: its model's layers
            self._probes = _probes(run.model)
            self._weighted = [p for p in self._probes if p.kind == "weights"]
            self._run = weakref.ref(run)
        if run.steps == 0:  # a run from the start: new records, warnings armed again
            self._clear()
        if self.per == "epoch" and run.steps_per_epoch is None:
            raise LayerwiseError(
                "Diagnostics(per='epoch') needs epochs, and this session has none (a data "
                "callable without steps_per_epoch). Use per='step'."
            )
        if self._due(run, run.steps + 1):
            self._copy_weights(run.steps)

    def on_batch_end(self, run: Session, step: int, loss: float) -> None:
        if self._due(run, step):
            self._record(run, step)
        if self._due(run, step + 1):
            self._copy_weights(step)

    def _due(self, run: Session, step: int) -> bool:
        """Whether ``step`` (counted from 1) is recorded."""
        if self.per == "step":
            return step % self.every == 0
        per_epoch = run.steps_per_epoch
        return step % per_epoch == 0 and (step // per_epoch) % self.every == 0

    def _copy_weights(self, step: int) -> None:
        for probe in self._probes:
            for param, copy in zip(probe.params(), probe.before):
                np.copyto(copy, param)
        self._before_step = step

    # -- one record ------------------------------------------------------------------

    def _record(self, run: Session, step: int) -> None:
        while self.steps and self.steps[-1] >= step:  # a rollback undid these steps
            self._drop_last()
        self.steps.append(step)
        self.epochs.append(run.epoch + 1)
        layers = run.model.layers
        seen = self._before_step == step - 1
        for probe in self._probes:
            stats = self.history.setdefault(probe.name, {})
            for key, value in probe.measure(layers, seen).items():
                stats.setdefault(key, []).append(value)
        self._check_gradients(step)
        self._check_units(step, last=len(layers) - 1)

    def _drop_last(self) -> None:
        self.steps.pop()
        self.epochs.pop()
        for stats in self.history.values():
            for values in stats.values():
                values.pop()

    # -- warnings --------------------------------------------------------------------

    def _check_gradients(self, step: int) -> None:
        """Compare the RMS weight gradients of the first and the last layer with weights."""
        weighted = self._weighted
        if len(weighted) < 2:
            return
        first, last = weighted[0], weighted[-1]
        low = self.history[first.name]["grad_norm"][-1] / math.sqrt(first.size)
        high = self.history[last.name]["grad_norm"][-1] / math.sqrt(last.size)
        ratio = low / high if high > 0 else math.nan
        compared = (
            f"at step {step}: the gradient of layer {first.where} is {ratio:.1e} times that "
            f"of layer {last.where} (RMS per weight)"
        )
        if ratio < VANISHING:
            self._warn(
                "vanishing",
                f"Vanishing gradients {compared}, so the first layers barely learn. Use ReLU "
                "activations with He initialisation (lw.Linear(..., init='he_uniform')), or "
                "fewer layers.",
            )
        elif ratio > EXPLODING:
            self._warn(
                "exploding",
                f"Exploding gradients {compared}. Use a lower learning rate, smaller initial "
                "weights (init='he_uniform', or 'glorot_uniform' for sigmoid and tanh), or "
                "clip the gradients (the optimizer's clip_norm=).",
            )

    def _check_units(self, step: int, last: int) -> None:
        """Look for a dead ReLU layer and a saturated hidden sigmoid or tanh layer."""
        for probe in self._probes:
            stats = self.history[probe.name]
            if probe.kind == "relu":
                share, batch = stats["dead"][-1], probe.layer._positive.shape[0]
                if share >= DEAD and batch >= MIN_BATCH:
                    self._warn(
                        "dead",
                        f"Layer {probe.where} has gone dead at step {step}: {share:.0%} of its "
                        f"units output 0 for all {batch} samples of the batch, so no gradient "
                        "reaches their weights. Use a lower learning rate, He initialisation "
                        "(init='he_uniform') for the Linear layer before it, or LeakyReLU.",
                    )
            elif probe.kind in ("sigmoid", "tanh") and probe.index != last:
                share = stats["saturated"][-1]
                if share > SATURATED:
                    self._warn(
                        "saturated",
                        f"Layer {probe.where} is saturated at step {step}: {share:.0%} of its "
                        "outputs lie within 3 % of an asymptote, where its derivative is below "
                        "6 % of its maximum, so little gradient passes through. Use smaller "
                        "initial weights (init='glorot_uniform'), ReLU activations with He "
                        "initialisation (init='he_uniform'), or a lower learning rate.",
                    )

    def _warn(self, kind: str, message: str) -> None:
        """Issue ``message`` unless a warning of this kind was issued in this run."""
        if kind in self._warned:
            return
        self._warned.add(kind)
        self.warnings.append(message)
        warnings.warn(message, LayerwiseWarning, stacklevel=_outside_layerwise())

    # -- reading the records ---------------------------------------------------------

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def layers(self) -> list[str]:
        """The names of the recorded layers, in network order."""
        return list(self.history)

    def to_dict(self) -> dict:
        """The records as plain lists, JSON-ready (NaN written as None)."""
        return {
            "per": self.per,
            "every": self.every,
            "steps": list(self.steps),
            "epochs": list(self.epochs),
            "history": {
                name: {k: [None if math.isnan(v) else v for v in values] for k, values in s.items()}
                for name, s in self.history.items()
            },
            "warnings": list(self.warnings),
            "warned": sorted(self._warned),
        }

    def state_dict(self) -> dict:
        """The records and the warnings issued (:meth:`to_dict`), for checkpoints."""
        return self.to_dict()

    def load_state_dict(self, state: dict) -> None:
        """Go back to :meth:`state_dict`'s output (the weight copy is not kept: the next
        record's update ratio is NaN unless the step before it is seen)."""
        self.steps, self.epochs = list(state["steps"]), list(state["epochs"])
        self.history = {
            name: {k: [math.nan if v is None else v for v in values] for k, values in s.items()}
            for name, s in state["history"].items()
        }
        self.warnings, self._warned = list(state["warnings"]), set(state["warned"])
        self._before_step = None

    def report(self) -> str:
        """A table of the last record, one row per layer."""
        if not self.steps:
            return "Diagnostics: no records yet (train with this callback first)."
        header = ("layer", "mean", "std", "saturated", "dead", "|grad|", "|W|", "update/W")
        rows = []
        for name, stats in self.history.items():
            cells = [name]
            for key in STATS:
                values = stats.get(key)
                cells.append("" if values is None else _format(key, values[-1]))
            rows.append(cells)
        widths = [max(len(r[c]) for r in (header, *rows)) for c in range(len(header))]
        lines = [
            "  ".join(
                cell.ljust(width) if c == 0 else cell.rjust(width)
                for c, (cell, width) in enumerate(zip(row, widths))
            )
            for row in (header, *rows)
        ]
        unit = f"epoch {self.epochs[-1]}" if self.per == "epoch" else f"step {self.steps[-1]}"
        title = f"Diagnostics at {unit} ({len(self)} records)"
        return "\n".join([title, lines[0], "-" * len(lines[0]), *lines[1:]])

    __str__ = report

    def __repr__(self) -> str:
        return (
            f"Diagnostics(every={self.every}, per={self.per!r}, records={len(self)}, "
            f"layers={len(self.history)})"
        )


# -- what is measured in each layer ----------------------------------------------------


class _Probe:
    """The statistics of one layer and where they come from.

    ``kind`` is "weights" (a layer with parameters), "sigmoid", "tanh", "relu" or
    "activation" (any other layer without parameters).
    """

    def __init__(self, layers, index: int):
        layer = layers[index]
        self.index, self.layer = index, layer
        self.name = f"{index}: {layer!r}"
        self.where = f"{index} ({layer!r})"
        params = getattr(layer, "params", None) or {}
        # The weight matrix alone when there is one (a bias often starts at 0, which
        # would make its update ratio infinite); else all the layer's parameters.
        self.keys = ["W"] if "W" in params else list(params)
        self.before = [np.empty_like(params[k]) for k in self.keys]
        self.size = sum(params[k].size for k in self.keys)
        if self.keys:
            self.kind = "weights"
        elif isinstance(layer, Sigmoid):
            self.kind = "sigmoid"
        elif isinstance(layer, Tanh):
            self.kind = "tanh"
        elif isinstance(layer, ReLU):
            self.kind = "relu"
        else:
            self.kind = "activation"

    def params(self) -> list[np.ndarray]:
        return [self.layer.params[k] for k in self.keys]

    def measure(self, layers, seen: bool) -> dict[str, float]:
        """This layer's statistics now; ``seen``: the weight copy is of the step before."""
        if self.kind == "weights":
            weights = self.params()
            values = {
                "grad_norm": _norm([self.layer.grads[k] for k in self.keys]),
                "weight_norm": _norm(weights),
                "update_ratio": math.nan,
            }
            if seen and values["weight_norm"] > 0:
                for copy, param in zip(self.before, weights):
                    np.subtract(param, copy, out=copy)  # the copy becomes the update
                values["update_ratio"] = _norm(self.before) / values["weight_norm"]
            return values
        out = _output(layers, self.index)
        mean, std = _spread(out)
        values = {"mean": mean, "std": std}
        if self.kind == "sigmoid":
            values["saturated"] = _saturated(self.layer._y, 0.5)
        elif self.kind == "tanh":
            values["saturated"] = _saturated(self.layer._y, 0.0)
        elif self.kind == "relu":
            active = self.layer._positive.any(axis=0)  # units active on some sample
            values["dead"] = (active.size - np.count_nonzero(active)) / active.size
        return values


def _probes(model) -> list[_Probe]:
    layers = getattr(model, "layers", None)
    if not layers:
        raise LayerwiseError(
            f"Diagnostics reads each layer's values, but {type(model).__name__} has no "
            "'layers' list. Use a Sequential (or a model with .layers)."
        )
    return [_Probe(layers, i) for i, layer in enumerate(layers) if not isinstance(layer, Dropout)]


def _output(layers, i: int) -> np.ndarray | None:
    """The output of ``layers[i]`` on the last batch, if some layer keeps it: its own
    cache (Sigmoid, Tanh, Softmax keep their output), or the cached input of the next
    layer (Linear and Elementwise keep theirs)."""
    own = getattr(layers[i], "_y", None)
    if own is not None:
        return own
    if i + 1 < len(layers):
        return getattr(layers[i + 1], "_x", None)
    return None


def _norm(arrays: list[np.ndarray]) -> float:
    """The L2 norm of the arrays taken together (Frobenius for one matrix)."""
    total = 0.0
    for a in arrays:
        flat = a.ravel(order="K")  # a view, also of the F-ordered arrays Linear makes
        total += float(np.vdot(flat, flat))
    return math.sqrt(total)


def _spread(x: np.ndarray | None) -> tuple[float, float]:
    """Mean and standard deviation over every entry of ``x`` (NaN, NaN for None)."""
    if x is None or x.size == 0:
        return math.nan, math.nan
    flat = x.ravel(order="K")
    mean = float(flat.sum()) / flat.size  # x.mean() is 5x slower on a small array
    centred = flat - mean
    return mean, math.sqrt(float(np.vdot(centred, centred)) / flat.size)


def _saturated(y: np.ndarray, centre: float) -> float:
    """The share of entries of ``y`` farther than ``SATURATION`` of the half-range from
    ``centre``: 0 and a half-range of 1 for tanh, 0.5 and 0.5 for the sigmoid."""
    distance = np.abs(y - centre) if centre else np.abs(y)
    reach = SATURATION if not centre else SATURATION * centre
    return np.count_nonzero(distance > reach) / y.size


def _format(key: str, value: float) -> str:
    if math.isnan(value):
        return "-"
    if key in ("saturated", "dead"):
        return f"{value:.0%}"
    if key in ("mean", "std"):
        return f"{value:.3f}"
    return f"{value:.2e}"


def _outside_layerwise() -> int:
    """The ``stacklevel`` of the first caller outside the layerwise package, so that a
    warning points at the user's ``fit`` or ``step`` line."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
