"""Model files and training checkpoints: safetensors with a JSON description, no pickle.

A file holds the parameters as tensors (``"0.W"``, ``"0.b"``, ...) and, in the
safetensors metadata, the architecture and dtype as JSON, so :func:`load` needs no code
from the user and never executes any. A checkpoint adds the optimizer's buffers
(``"optimizer/exp_avg.0.W"``, ...), its settings, the loss, and the training state
(epoch, step, the shuffling generator's state, the history), which is what
:func:`resume` needs to continue a run exactly as if it had never stopped.

Every file carries a SHA-256 digest of its metadata and tensors: a truncated, corrupted
or edited file is refused with a ``LayerwiseError``, never loaded half-right. Writes go
to a temporary file in the same folder, are flushed and fsynced, then renamed over the
target (``os.replace`` is atomic), so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

from layerwise import _files
from layerwise import losses as _losses
from layerwise import optim as _optim
from layerwise._checks import DESCRIPTION_ERRORS, LayerwiseError, positive_int, real_number
from layerwise.callbacks import Callback, History
from layerwise.network import Sequential
from layerwise.session import Session, TrainingState

FORMAT, FORMAT_VERSION = _files.FORMAT, _files.FORMAT_VERSION


# -- writing ----------------------------------------------------------------------


def save(model: Sequential, path, *, info: dict | None = None) -> None:
    """Write ``model`` (architecture, dtype, weights) to a ``.safetensors`` file atomically.

    ``info`` is any JSON-ready dict stored beside them (e.g. the data it was trained
    on); :func:`read_metadata` returns it, and ``"trained"``: how ``fit`` or a
    ``Session`` last trained the model (``model.trained``: task, loss, optimizer,
    epochs, steps, samples), written whenever the model knows it.

    Raises
    ------
    LayerwiseError
        If the model holds layers that a file cannot describe (``Elementwise`` or
        user-defined layers; save ``model.state_dict()`` for those instead), weights that
        are NaN or infinite (:func:`load` could not read the file back, so the file at
        ``path`` is left as it was), or an ``info`` that is not JSON or makes the
        description larger than 16 MiB.

    Examples
    --------
    >>> lw.save(model, "digits.safetensors"); model = lw.load("digits.safetensors")
    """
    meta = {"kind": "model", "model": model.config()}
    if getattr(model, "trained", None):  # how fit or a Session trained it
        meta["trained"] = model.trained
    if info is not None:
        meta["info"] = info
    _files.write(path, model.state_dict(), meta)


def save_checkpoint(
    path,
    model: Sequential,
    optimizer: _optim.Optimizer,
    loss: _losses.Loss,
    state: TrainingState,
    fit_config: dict | None = None,
) -> None:
    """Write everything needed to resume training exactly, atomically.

    ``state`` is the :class:`~layerwise.training.TrainingState` between two epochs (what
    ``Session.state()`` returns at an epoch's end); ``fit_config`` the ``fit`` arguments
    to reuse on resume (``epochs``, ``batch_size``, ``shuffle``).
    """
    tensors, meta = _files.checkpoint_payload(model, optimizer, loss, state, fit_config)
    _files.write(path, tensors, meta)


# -- reading ------------------------------------------------------------------------


def read_metadata(path) -> dict:
    """The verified description of a model file or checkpoint, without building the model.

    Returns a dict with ``"kind"`` ("model" or "checkpoint"), ``"model"`` (the
    architecture), and where present ``"info"``, ``"optimizer"``, ``"loss"`` and
    ``"training"``.
    """
    return _files.read(path)[1]


def load(path) -> Sequential:
    """Read a model written by :func:`save` (or the model inside a checkpoint).

    Raises
    ------
    LayerwiseError
        For a missing, truncated, corrupted or mismatched file, and for a description
        that its tensors contradict (other shapes or dtype: nothing is built before the
        two agree) or that is too large (a header over 16 MiB, over 10,000 layers).
    """
    tensors, meta = _files.read(path)
    return _model_from(path, tensors, meta)


def _model_from(path, tensors: dict, meta: dict) -> Sequential:
    if "model" not in meta:
        raise LayerwiseError(f"{str(path)!r} holds no model description.")
    weights = _files.model_tensors(tensors)
    try:
        # The tensors' shapes bound what the description may build: a Linear(10**12, 10)
        # beside small tensors is refused before anything is allocated.
        shapes = {name: tensor.shape for name, tensor in weights.items()}
        model = Sequential.from_config(meta["model"], shapes=shapes)
        _check_dtypes(weights, model.dtype)
        model.load_state_dict(weights)
    except LayerwiseError as e:
        raise LayerwiseError(f"{str(path)!r} does not describe a valid network: {e}") from None
    trained = meta.get("trained")
    model.trained = trained if isinstance(trained, dict) else None  # saved again with it
    return model


def _check_dtypes(tensors: dict, dtype) -> None:
    """``lw.save`` writes every parameter and optimizer buffer in the network's dtype:
    another dtype is a foreign or edited file (float64 values of 1e300 would become
    infinite in a float32 network)."""
    for name, tensor in tensors.items():
        if tensor.dtype != dtype:
            raise LayerwiseError(
                f"tensor {name!r} is {tensor.dtype.name}, but the description says the "
                f"network is {dtype.name}"
            )


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns: everything ``fit`` needs to go on."""

    model: Sequential
    optimizer: _optim.Optimizer
    loss: _losses.Loss
    state: TrainingState
    fit_config: dict

    @property
    def history(self) -> History:
        return History(self.state.history)


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` or :class:`ModelCheckpoint`."""
    tensors, meta = _files.read(path)
    if meta.get("kind") != "checkpoint":
        raise LayerwiseError(f"{str(path)!r} is a model file, not a training checkpoint.")
    model = _model_from(path, tensors, meta)
    try:
        opt_meta = dict(meta["optimizer"])
        step, lr = opt_meta.pop("step"), opt_meta.pop("current_lr")
        optimizer = _optim.from_config(opt_meta)
        buffers = _files.optimizer_buffers(tensors)
        _check_dtypes(buffers, model.dtype)
        expected = {f"{slot}.{name}" for slot in optimizer.slots for name in model.parameters()}
        if step and buffers.keys() != expected:
            raise LayerwiseError(
                f"the optimizer state lacks {sorted(expected - buffers.keys())} and has "
                f"unexpected {sorted(buffers.keys() - expected)}"
            )
        params = model.parameters()
        for key, buffer in buffers.items():
            if key not in expected:
                raise LayerwiseError(f"the optimizer state has an unexpected {key!r}")
            shape = params[key.split(".", 1)[1]][0].shape
            if buffer.shape != shape:
                raise LayerwiseError(
                    f"the optimizer state {key!r} has shape {buffer.shape}; its parameter has "
                    f"shape {shape}"
                )
        optimizer.load_state_dict({"step": step, "lr": lr, "buffers": buffers})
        loss = _files.loss_from(meta["loss"])
        training = meta["training"]
        state = _files.training_state(training, tensors)
        _files.set_layer_rngs(model, training["layer_rngs"])
        fit_config = _files.fit_config(training["fit"])
    except LayerwiseError as e:
        raise LayerwiseError(f"{str(path)!r}: bad checkpoint: {e}") from None
    except DESCRIPTION_ERRORS as e:
        raise LayerwiseError(
            f"{str(path)!r}: bad checkpoint, training state unreadable ({e!r})."
        ) from None
    return Checkpoint(model, optimizer, loss, state, fit_config)


def resume(path, X, y, **fit_kwargs) -> tuple[Sequential, History]:
    """Load a checkpoint and continue its training run on ``(X, y)``.

    The model, optimizer, loss, epoch count, batch size, shuffling and the shuffling
    generator's position come from the checkpoint; ``fit_kwargs`` (``epochs``,
    ``callbacks``, ``validation_data``, ...) override or add to them. The result equals,
    bit for bit, the run that was never interrupted.

    Returns
    -------
    (model, history)
    """
    ckpt = load_checkpoint(path)
    kwargs = {**ckpt.fit_config, **fit_kwargs}
    history = ckpt.model.fit(
        X, y, loss=ckpt.loss, optimizer=ckpt.optimizer, initial_state=ckpt.state, **kwargs
    )
    return ckpt.model, history


class ModelCheckpoint(Callback):
    """Write a training checkpoint every ``every`` epochs, or only when ``monitor`` improves.

    Parameters
    ----------
    path : str or Path
        File to write. It may hold fields of the epoch's logs and ``{epoch}``, e.g.
        ``"ckpt-{epoch:03d}.safetensors"`` or ``"best-{val_loss:.3f}.safetensors"``, to keep
        one file per epoch; else the same file is replaced each time. The template is
        checked when it is given (``"run{1}/ck.safetensors"`` is refused), and the folder,
        when no field is in its name, when training begins: a mistake costs no epoch.
    every : int, default 1
        Consider every ``every``-th epoch.
    keep_last : int or None
        Delete older files written by this callback, keeping this many.
    monitor : str, optional
        A key of the epoch logs (``"val_loss"``, ``"val_accuracy"``, ...): with
        ``save_best_only``, what "best" means. Default ``"val_loss"``.
    save_best_only : bool, default False
        Write only when ``monitor`` is better than at every earlier write, so the file
        holds the best epoch's weights (``lw.load`` reads them as a model, and
        ``lw.resume`` goes on from there).
    mode : {"auto", "min", "max"}
        "auto" maximizes keys containing "accuracy" and minimizes the others.

    Attributes
    ----------
    best : float or None
        The best value of ``monitor`` so far; ``best_epoch`` its epoch (from 1).
    written : list of Path
    """

    def __init__(
        self,
        path,
        *,
        every: int = 1,
        keep_last: int | None = None,
        monitor: str | None = None,
        save_best_only: bool = False,
        mode: str = "auto",
    ):
        if not isinstance(every, int) or every < 1:
            raise LayerwiseError(
                f"ModelCheckpoint every must be a positive integer; got {every!r}."
            )
        if keep_last is not None and (not isinstance(keep_last, int) or keep_last < 1):
            raise LayerwiseError(
                f"keep_last must be a positive integer or None; got {keep_last!r}."
            )
        if mode not in ("auto", "min", "max"):
            raise LayerwiseError(
                f"ModelCheckpoint mode must be 'auto', 'min' or 'max'; got {mode!r}."
            )
        self.path, self.every, self.keep_last = str(path), every, keep_last
        _check_template(self.path)
        self.monitor = "val_loss" if monitor is None else str(monitor)
        self.save_best_only = bool(save_best_only)
        self.maximize = mode == "max" or (mode == "auto" and "accuracy" in self.monitor)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.written: list[Path] = []

    def on_train_begin(self, run: Session) -> None:
        folder = Path(self.path).parent
        if "{" not in str(folder) and not folder.is_dir():
            raise LayerwiseError(
                f"ModelCheckpoint cannot write {self.path!r}: folder {str(folder)!r} does not "
                "exist. Create it first."
            )

    def on_epoch_end(self, run: Session, epoch: int, logs: dict[str, float]) -> None:
        if (epoch + 1) % self.every:
            return
        if self.save_best_only:
            if self.monitor not in logs:
                raise LayerwiseError(
                    f"ModelCheckpoint monitors {self.monitor!r}, but the epoch logs have only "
                    f"{sorted(logs)}. Pass validation_data, or monitor 'loss'."
                )
            value = logs[self.monitor]
            if self.best is not None and not (
                value > self.best if self.maximize else value < self.best
            ):
                return
            self.best, self.best_epoch = value, epoch + 1
        try:
            path = Path(self.path.format(epoch=epoch + 1, **logs))
        except (KeyError, IndexError, ValueError) as e:
            raise LayerwiseError(
                f"ModelCheckpoint path {self.path!r} names {e} that the epoch logs "
                f"({sorted(logs)}) and 'epoch' do not fill."
            ) from None
        save_checkpoint(path, run.model, run.optimizer, run.loss, run.state(), run.fit_config())
        if path in self.written:
            self.written.remove(path)
        self.written.append(path)
        if self.keep_last is not None:
            while len(self.written) > self.keep_last:
                self.written.pop(0).unlink(missing_ok=True)

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "written": [str(p) for p in self.written],
        }

    def load_state_dict(self, state: dict) -> None:
        """Go back to :meth:`state_dict`'s output. Of the files it lists as written (which
        ``keep_last`` may delete) only those that this callback's path template can name
        are kept: a state from a file cannot make it delete anything else."""
        best, best_epoch = state.get("best"), state.get("best_epoch")
        written = state.get("written", [])
        if best is not None:
            best = real_number(best, "ModelCheckpoint state: best")
        if best_epoch is not None:
            best_epoch = positive_int(best_epoch, "ModelCheckpoint state: best_epoch")
        if not isinstance(written, list) or not all(isinstance(p, str) for p in written):
            raise LayerwiseError(
                f"ModelCheckpoint state: written must be a list of paths; got {written!r}."
            )
        ours = _template_pattern(self.path)
        self.best, self.best_epoch = best, best_epoch
        self.written = [Path(p) for p in written if ours.fullmatch(str(Path(p)))]


def _check_template(template: str) -> None:
    """Raise unless a ``ModelCheckpoint`` path template names its fields (log keys, the
    epoch) and formats with numbers for them, as the epochs' logs will fill it."""
    try:
        parts = list(string.Formatter().parse(template))
        for name in {name for _, name, _, _ in parts if name is not None}:
            if not name or name.isdigit() or "." in name or "[" in name:
                raise ValueError(f"the field {{{name}}} is not the name of a log key")
        template.format_map(_Numbers())
    except (ValueError, IndexError, KeyError, TypeError) as e:
        raise LayerwiseError(
            f"ModelCheckpoint path {template!r} is not a valid template ({e}); its fields "
            "name log keys or the epoch, e.g. 'ckpt-{epoch:03d}.safetensors' or "
            "'best-{val_loss:.3f}.safetensors' (double the braces for a literal one)."
        ) from None


class _Numbers(dict):
    """Any field of a template, as a number: 1 for the epoch, 1.0 for a log key."""

    def __missing__(self, key):
        return 1 if key == "epoch" else 1.0


def _template_pattern(template: str) -> re.Pattern:
    """The paths that a template can produce: its text, any name in place of a field."""
    pattern = ""
    for literal, name, _, _ in string.Formatter().parse(str(Path(template))):
        pattern += re.escape(literal) + (r"[^/\\]*" if name is not None else "")
    return re.compile(pattern)
