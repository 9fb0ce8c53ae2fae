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

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as _safetensors_bytes

from layerwise import losses as _losses
from layerwise import optim as _optim
from layerwise._checks import LayerwiseError, file_mode
from layerwise.callbacks import Callback, History
from layerwise.network import Sequential
from layerwise.session import Session, TrainingState

FORMAT = "layerwise"
FORMAT_VERSION = "1"
_OPTIMIZER_PREFIX = "optimizer/"


# -- writing ----------------------------------------------------------------------


def save(model: Sequential, path, *, info: dict | None = None) -> None:
    """Write ``model`` (architecture, dtype, weights) to a ``.safetensors`` file atomically.

    ``info`` is any JSON-ready dict stored beside them (e.g. how the model was
    trained); :func:`read_metadata` returns it.

    Raises
    ------
    LayerwiseError
        If the model holds layers that a file cannot describe (``Elementwise`` or
        user-defined layers); save ``model.state_dict()`` for those instead.

    Examples
    --------
    >>> lw.save(model, "digits.safetensors"); model = lw.load("digits.safetensors")
    """
    meta = {"kind": "model", "model": model.config()}
    if info is not None:
        meta["info"] = info
    _write(path, model.state_dict(), meta)


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
    opt_state = optimizer.state_dict()
    tensors = model.state_dict()
    tensors.update({_OPTIMIZER_PREFIX + k: v for k, v in opt_state["buffers"].items()})
    layer_rngs = {
        str(i): layer.rng.bit_generator.state
        for i, layer in enumerate(model.layers)
        if isinstance(getattr(layer, "rng", None), np.random.Generator)
    }
    meta = {
        "kind": "checkpoint",
        "model": model.config(),
        "optimizer": {
            **optimizer.config(),
            "step": opt_state["step"],
            "current_lr": opt_state["lr"],
        },
        "loss": _loss_config(loss),
        "training": {
            "epoch": state.epoch,
            "step": state.step,
            "rng_state": state.rng_state,
            "history": state.history,
            "fit": fit_config or {},
            "layer_rngs": layer_rngs,
        },
    }
    _write(path, tensors, meta)


def _write(path, tensors: dict[str, np.ndarray], meta: dict) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise LayerwiseError(
            f"Cannot save to {str(path)!r}: folder {str(path.parent)!r} does not exist."
        )
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION}
    try:
        metadata.update({k: json.dumps(v) for k, v in meta.items()})
    except (TypeError, ValueError) as e:
        raise LayerwiseError(
            f"Cannot save to {str(path)!r}: the description is not JSON ({e})."
        ) from None
    metadata["sha256"] = _digest(metadata, tensors)
    _atomic_write(path, _safetensors_bytes(tensors, metadata=metadata))


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable; not every platform can fsync a folder
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _digest(metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps({k: v for k, v in metadata.items() if k != "sha256"}, sort_keys=True).encode()
    )
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}|{t.dtype.str}|{t.shape}|".encode())
        h.update(t.tobytes())
    return h.hexdigest()


# -- reading ------------------------------------------------------------------------


def _read(path) -> tuple[dict[str, np.ndarray], dict]:
    """Tensors and decoded metadata of a verified layerwise file."""
    path = Path(path)
    if not path.is_file():
        raise LayerwiseError(f"No such model file: {str(path)!r}.")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError, OverflowError) as e:
        raise LayerwiseError(
            f"{str(path)!r} is not a readable safetensors file (truncated or corrupted?): {e}"
        ) from None
    if metadata.get("format") != FORMAT:
        raise LayerwiseError(
            f"{str(path)!r} is a safetensors file but not one written by layerwise."
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise LayerwiseError(
            f"{str(path)!r} has layerwise format version {metadata.get('format_version')!r}; "
            f"this version reads {FORMAT_VERSION!r}."
        )
    if metadata.get("sha256") != _digest(metadata, tensors):
        raise LayerwiseError(
            f"{str(path)!r} is corrupted: its contents do not match the SHA-256 digest it was "
            "saved with."
        )
    decoded = {}
    for key in ("kind", "model", "optimizer", "loss", "training", "info"):
        if key in metadata:
            try:
                decoded[key] = json.loads(metadata[key])
            except json.JSONDecodeError as e:
                raise LayerwiseError(
                    f"{str(path)!r}: metadata {key!r} is not valid JSON: {e}"
                ) from None
    return tensors, decoded


def read_metadata(path) -> dict:
    """The verified description of a model file or checkpoint, without building the model.

    Returns a dict with ``"kind"`` ("model" or "checkpoint"), ``"model"`` (the
    architecture), and where present ``"info"``, ``"optimizer"``, ``"loss"`` and
    ``"training"``.
    """
    return _read(path)[1]


def load(path) -> Sequential:
    """Read a model written by :func:`save` (or the model inside a checkpoint).

    Raises
    ------
    LayerwiseError
        For a missing, truncated, corrupted or mismatched file.
    """
    tensors, meta = _read(path)
    return _model_from(path, tensors, meta)


def _model_from(path, tensors: dict, meta: dict) -> Sequential:
    if "model" not in meta:
        raise LayerwiseError(f"{str(path)!r} holds no model description.")
    try:
        model = Sequential.from_config(meta["model"])
        model.load_state_dict(
            {k: v for k, v in tensors.items() if not k.startswith(_OPTIMIZER_PREFIX)}
        )
    except LayerwiseError as e:
        raise LayerwiseError(f"{str(path)!r} does not describe a valid network: {e}") from None
    return model


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
    tensors, meta = _read(path)
    if meta.get("kind") != "checkpoint":
        raise LayerwiseError(f"{str(path)!r} is a model file, not a training checkpoint.")
    model = _model_from(path, tensors, meta)
    try:
        opt_meta = dict(meta["optimizer"])
        step, lr = opt_meta.pop("step"), opt_meta.pop("current_lr")
        optimizer = _optim.from_config(opt_meta)
        buffers = {
            k[len(_OPTIMIZER_PREFIX) :]: v
            for k, v in tensors.items()
            if k.startswith(_OPTIMIZER_PREFIX)
        }
        expected = {f"{slot}.{name}" for slot in optimizer.slots for name in model.parameters()}
        if step and buffers.keys() != expected:
            raise LayerwiseError(
                f"the optimizer state lacks {sorted(expected - buffers.keys())} and has "
                f"unexpected {sorted(buffers.keys() - expected)}"
            )
        optimizer.load_state_dict({"step": step, "lr": lr, "buffers": buffers})
        loss = _loss_from(meta["loss"])
        training = meta["training"]
        state = TrainingState(
            epoch=_count(training["epoch"], "epoch"),
            step=_count(training["step"], "step"),
            rng_state=training["rng_state"],
            history=_history(training["history"]),
        )
        np.random.default_rng().bit_generator.state = state.rng_state  # validates it
        for index, rng_state in training["layer_rngs"].items():
            layer = model.layers[int(index)]
            layer.rng = np.random.default_rng()
            layer.rng.bit_generator.state = rng_state
        fit_config = dict(training["fit"])
    except LayerwiseError as e:
        raise LayerwiseError(f"{str(path)!r}: bad checkpoint: {e}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
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
    """Write a training checkpoint every ``every`` epochs.

    Parameters
    ----------
    path : str or Path
        File to write; may contain ``{epoch}`` (e.g. ``"ckpt-{epoch:03d}.safetensors"``)
        to keep one file per epoch, else the same file is replaced each time.
    every : int, default 1
    keep_last : int or None
        Delete older files written by this callback, keeping this many.
    """

    def __init__(self, path, *, every: int = 1, keep_last: int | None = None):
        if not isinstance(every, int) or every < 1:
            raise LayerwiseError(
                f"ModelCheckpoint every must be a positive integer; got {every!r}."
            )
        if keep_last is not None and (not isinstance(keep_last, int) or keep_last < 1):
            raise LayerwiseError(
                f"keep_last must be a positive integer or None; got {keep_last!r}."
            )
        self.path, self.every, self.keep_last = str(path), every, keep_last
        self.written: list[Path] = []

    def on_epoch_end(self, run: Session, epoch: int, logs: dict[str, float]) -> None:
        if (epoch + 1) % self.every:
            return
        path = Path(self.path.format(epoch=epoch + 1))
        save_checkpoint(path, run.model, run.optimizer, run.loss, run.state(), run.fit_config())
        if path in self.written:
            self.written.remove(path)
        self.written.append(path)
        if self.keep_last is not None:
            while len(self.written) > self.keep_last:
                self.written.pop(0).unlink(missing_ok=True)


def _loss_config(loss: _losses.Loss) -> dict:
    config = {"type": type(loss).__name__}
    if isinstance(loss, _losses.BinaryCrossEntropy):
        config["from_logits"] = loss.from_logits
    return config


def _loss_from(config: dict) -> _losses.Loss:
    classes = {cls.__name__: cls for cls in _losses.LOSSES.values()}
    if not isinstance(config, dict) or config.get("type") not in classes:
        raise LayerwiseError(f"unknown loss {config!r}")
    return classes[config["type"]](**{k: v for k, v in config.items() if k != "type"})


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LayerwiseError(f"{name} must be a non-negative integer; got {value!r}")
    return value


def _history(value) -> dict[str, list[float]]:
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(x, (int, float)) for x in v) for v in value.values()
    ):
        raise LayerwiseError("history must map names to lists of numbers")
    return value
