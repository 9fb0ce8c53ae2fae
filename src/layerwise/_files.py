"""What a training checkpoint holds, for the files that ``io`` writes and ``fit`` backs up.

A checkpoint is the model's tensors, the optimizer's buffers (``"optimizer/..."``), the
per-step losses (``"training/losses"``) and any arrays the callbacks keep
(``"callbacks/<i>/..."``), with a JSON description: the model, the optimizer's settings,
the loss and the training state. ``io.save_checkpoint`` and ``fit(..., backup_dir=)``
(:class:`~layerwise.training.BackupAndRestore`) write the same thing, so ``lw.resume``
can go on from either. This module sits below ``training`` and ``io`` so that both can
use it; it never builds a model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as _safetensors_bytes

from layerwise import losses as _losses
from layerwise._checks import LayerwiseError, new_temporary_file
from layerwise.session import TrainingState

FORMAT = "layerwise"
FORMAT_VERSION = "1"
OPTIMIZER_PREFIX = "optimizer/"
LOSSES_KEY = "training/losses"
_CALLBACK_PREFIX = "callbacks/"


def checkpoint_payload(model, optimizer, loss, state: TrainingState, fit_config: dict | None):
    """``(tensors, meta)`` of a training checkpoint of this run."""
    opt_state = optimizer.state_dict()
    tensors = model.state_dict()
    tensors.update({OPTIMIZER_PREFIX + k: v for k, v in opt_state["buffers"].items()})
    tensors[LOSSES_KEY] = np.asarray(state.losses, dtype=np.float64)
    callbacks = []
    for i, (name, saved) in enumerate(state.callbacks):
        callbacks.append([name, _tensors_out(saved, f"{_CALLBACK_PREFIX}{i}", tensors)])
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
        "loss": loss_config(loss),
        "training": {
            "epoch": state.epoch,
            "step": state.step,
            "rng_state": state.rng_state,
            "history": state.history,
            "fit": fit_config or {},
            "layer_rngs": layer_rngs,
            "callbacks": callbacks,
        },
    }
    return tensors, meta


def optimizer_buffers(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        k[len(OPTIMIZER_PREFIX) :]: v for k, v in tensors.items() if k.startswith(OPTIMIZER_PREFIX)
    }


def model_tensors(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        k: v
        for k, v in tensors.items()
        if not k.startswith((OPTIMIZER_PREFIX, _CALLBACK_PREFIX)) and k != LOSSES_KEY
    }


def training_state(training: dict, tensors: dict[str, np.ndarray]) -> TrainingState:
    """The :class:`TrainingState` a checkpoint's ``"training"`` entry describes, checked
    (a ``LayerwiseError`` naming what is wrong)."""
    losses = tensors.get(LOSSES_KEY, np.zeros(0))
    if losses.ndim != 1 or not np.isfinite(losses).all():
        raise LayerwiseError("the per-step losses are not a finite 1-D array")
    callbacks = training.get("callbacks", [])
    if not isinstance(callbacks, list) or not all(
        isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and isinstance(c[1], dict)
        for c in callbacks
    ):
        raise LayerwiseError("the callback states must be a list of [name, state] pairs")
    state = TrainingState(
        epoch=_count(training["epoch"], "epoch"),
        step=_count(training["step"], "step"),
        rng_state=training["rng_state"],
        history=_history(training["history"]),
        losses=losses.tolist(),
        callbacks=[(name, _tensors_in(saved, tensors)) for name, saved in callbacks],
    )
    np.random.default_rng().bit_generator.state = state.rng_state  # validates it
    return state


def set_layer_rngs(model, layer_rngs: dict) -> None:
    """Give the layers (Dropout) the generator states a checkpoint saved."""
    for index, rng_state in layer_rngs.items():
        layer = model.layers[int(index)]
        layer.rng = np.random.default_rng()
        layer.rng.bit_generator.state = rng_state


def loss_config(loss: _losses.Loss) -> dict:
    config = {"type": type(loss).__name__}
    if isinstance(loss, _losses.BinaryCrossEntropy):
        config["from_logits"] = loss.from_logits
    return config


def loss_from(config: dict) -> _losses.Loss:
    classes = {cls.__name__: cls for cls in _losses.LOSSES.values()}
    if not isinstance(config, dict) or config.get("type") not in classes:
        raise LayerwiseError(f"unknown loss {config!r}")
    return classes[config["type"]](**{k: v for k, v in config.items() if k != "type"})


# -- the container: safetensors, JSON metadata, a digest, atomic writes -------------


def write(path, tensors: dict[str, np.ndarray], meta: dict) -> None:
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
    metadata["sha256"] = digest(metadata, tensors)
    atomic_write(path, _safetensors_bytes(tensors, metadata=metadata))


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the new one."""
    fd, tmp = new_temporary_file(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
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


def digest(metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps({k: v for k, v in metadata.items() if k != "sha256"}, sort_keys=True).encode()
    )
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}|{t.dtype.str}|{t.shape}|".encode())
        h.update(t.tobytes())
    return h.hexdigest()


def read(path) -> tuple[dict[str, np.ndarray], dict]:
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
    if metadata.get("sha256") != digest(metadata, tensors):
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


# -- callback states: JSON with arrays moved out into tensors ---------------------------


def _tensors_out(value, key: str, tensors: dict):
    """``value`` with every array replaced by ``{"tensor": name}``, the array stored."""
    if isinstance(value, np.ndarray):
        tensors[key] = value
        return {"tensor": key}
    if isinstance(value, dict):
        return {k: _tensors_out(v, f"{key}/{k}", tensors) for k, v in value.items()}
    return value


def _tensors_in(value, tensors: dict):
    if isinstance(value, dict):
        if value.keys() == {"tensor"} and isinstance(value["tensor"], str):
            if value["tensor"] not in tensors:
                raise LayerwiseError(f"a callback state names a missing tensor {value['tensor']!r}")
            return tensors[value["tensor"]]
        return {k: _tensors_in(v, tensors) for k, v in value.items()}
    return value


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
