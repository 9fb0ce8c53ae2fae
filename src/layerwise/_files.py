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
import sys
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as _safetensors_bytes

from layerwise import losses as _losses
from layerwise._checks import LayerwiseError, first_nonfinite, new_temporary_file, positive_int
from layerwise.session import TrainingState

FORMAT = "layerwise"
FORMAT_VERSION = "1"
OPTIMIZER_PREFIX = "optimizer/"
LOSSES_KEY = "training/losses"
_CALLBACK_PREFIX = "callbacks/"
# The largest safetensors header (the JSON description and the table of tensors) that
# layerwise writes or reads: parsing JSON can take ~25 times its size in memory (reading
# 16 MiB of empty dicts took 435 MB and 1.6 s), and safetensors' own limit is 100 MB. A
# history takes ~130 bytes an epoch, so a checkpoint holds some 100,000 epochs of it.
MAX_HEADER_BYTES = 16 * 2**20


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
    if losses.ndim != 1 or losses.dtype.kind != "f" or not np.isfinite(losses).all():
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
    if not isinstance(layer_rngs, dict):
        raise LayerwiseError(f"layer_rngs must map layer indices to states; got {layer_rngs!r}")
    random = {
        str(i)
        for i, layer in enumerate(model.layers)
        if isinstance(getattr(layer, "rng", None), np.random.Generator)
    }
    generators = {}
    for index, rng_state in layer_rngs.items():
        if index not in random:
            raise LayerwiseError(
                f"layer_rngs names layer {index!r}, but only layers {sorted(random)} draw "
                "random numbers"
            )
        generators[int(index)] = np.random.default_rng()
        generators[int(index)].bit_generator.state = rng_state  # validates it
    for index, rng in generators.items():
        model.layers[index].rng = rng


def loss_config(loss: _losses.Loss) -> dict:
    config = {"type": type(loss).__name__}
    if isinstance(loss, _losses.BinaryCrossEntropy):
        config["from_logits"] = loss.from_logits
    if getattr(loss, "label_smoothing", 0.0):  # CrossEntropy's, kept only when used
        config["label_smoothing"] = loss.label_smoothing
    return config


def loss_from(config: dict) -> _losses.Loss:
    classes = {cls.__name__: cls for cls in _losses.LOSSES.values()}
    if not isinstance(config, dict) or config.get("type") not in classes:
        raise LayerwiseError(f"unknown loss {config!r}")
    cls = classes[config["type"]]
    allowed = {"type", "from_logits"} if cls is _losses.BinaryCrossEntropy else {"type"}
    if cls is _losses.CrossEntropy:
        allowed = {"type", "label_smoothing"}  # the constructor checks its value
    if config.keys() - allowed or not isinstance(config.get("from_logits", False), bool):
        raise LayerwiseError(
            f"bad loss description {config!r}: expected the keys {sorted(allowed)}"
            + (" with from_logits true or false" if "from_logits" in allowed else "")
        )
    return cls(**{k: v for k, v in config.items() if k != "type"})


def fit_config(config) -> dict:
    """The ``fit`` arguments of a checkpoint (``epochs``, ``batch_size``, ``shuffle``),
    checked: they are passed to ``fit`` on resume, so nothing else may come from a file
    (a ``backup_dir`` would make a resumed run write and delete files elsewhere)."""
    allowed = ("epochs", "batch_size", "shuffle")
    if not isinstance(config, dict) or config.keys() - set(allowed):
        unknown = sorted(config.keys() - set(allowed)) if isinstance(config, dict) else config
        raise LayerwiseError(
            f"the fit configuration may hold only {', '.join(allowed)}; got {unknown!r}"
        )
    checked = {}
    for key in ("epochs", "batch_size"):  # None: a session stepped without run(); full batch
        if key in config:
            value, name = config[key], f"the fit configuration's {key}"
            checked[key] = None if value is None else positive_int(value, name)
    if "shuffle" in config:
        if not isinstance(config["shuffle"], bool):
            raise LayerwiseError(
                f"the fit configuration's shuffle must be true or false; got {config['shuffle']!r}"
            )
        checked["shuffle"] = config["shuffle"]
    return checked


# -- the container: safetensors, JSON metadata, a digest, atomic writes -------------


def write(path, tensors: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``tensors`` and the JSON-ready ``meta`` to ``path`` with their digest, atomically.

    Refused, leaving any file at ``path`` as it was: a folder that does not exist, a
    tensor holding NaN or infinity (``read`` would refuse the file, so saving it would
    only replace a good file with an unreadable one), a description that is not JSON or
    longer than :data:`MAX_HEADER_BYTES`.
    """
    path = Path(path)
    where = f"Cannot save to {str(path)!r}"
    if not path.parent.is_dir():
        raise LayerwiseError(f"{where}: folder {str(path.parent)!r} does not exist.")
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    for name, tensor in tensors.items():
        if tensor.dtype.kind == "f" and not np.isfinite(tensor).all():
            raise LayerwiseError(
                f"{where}: {name!r} holds {first_nonfinite(tensor)}. Files of non-finite "
                "weights cannot be loaded, so none is written (an existing file is left as "
                "it was). Train to finite weights (fit restores the last finite ones when a "
                "run diverges); np.savez can keep any arrays for a look."
            )
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION}
    try:
        metadata.update({k: json.dumps(v) for k, v in meta.items()})
    except (TypeError, ValueError, RecursionError) as e:
        reason = "it is nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise LayerwiseError(f"{where}: the description is not JSON ({reason}).") from None
    if sum(len(k) + len(v) for k, v in metadata.items()) > MAX_HEADER_BYTES:
        raise _too_large(where, metadata)
    metadata["sha256"] = digest(metadata, tensors)
    try:
        data = _safetensors_bytes(tensors, metadata=metadata)
    except SafetensorError as e:
        raise LayerwiseError(f"{where}: safetensors cannot store it ({e}).") from None
    if int.from_bytes(data[:8], "little") > MAX_HEADER_BYTES:  # with JSON's escapes
        raise _too_large(where, metadata)
    atomic_write(path, data)


def _too_large(where: str, metadata: dict[str, str]) -> LayerwiseError:
    sizes = {k: len(v) for k, v in metadata.items()}
    largest = max(sizes, key=sizes.get)
    return LayerwiseError(
        f"{where}: its description takes {sum(sizes.values()) / 2**20:.1f} MiB (of which "
        f"{largest!r} {sizes[largest] / 2**20:.1f} MiB); a layerwise file holds at most "
        f"{MAX_HEADER_BYTES / 2**20:g} MiB of it. Keep large data in a file of its own."
    )


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
        with open(path, "rb") as f:  # the header's length, before anything parses it
            header_bytes = int.from_bytes(f.read(8), "little")
    except OSError as e:
        raise LayerwiseError(f"{str(path)!r} could not be read: {e}") from None
    if header_bytes > MAX_HEADER_BYTES:
        raise LayerwiseError(
            f"{str(path)!r} declares a safetensors header of {header_bytes:,} bytes; a "
            f"layerwise file has at most {MAX_HEADER_BYTES:,} ({MAX_HEADER_BYTES / 2**20:g} MiB). "
            "It is damaged, or not a layerwise file."
        )
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
    for key in ("kind", "model", "optimizer", "loss", "training", "info", "trained"):
        if key in metadata:
            try:
                decoded[key] = json.loads(metadata[key])
            except (ValueError, RecursionError) as e:
                if isinstance(e, RecursionError):
                    reason = "it is nested too deeply"
                elif isinstance(e, json.JSONDecodeError):
                    reason = str(e)
                else:  # an integer longer than Python converts
                    digits = sys.get_int_max_str_digits()
                    reason = f"it holds an integer of more digits than Python reads ({digits})"
                raise LayerwiseError(
                    f"{str(path)!r}: metadata {key!r} is not valid JSON: {reason}"
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
