"""The engine behind one playground page: a ``lw.Session`` stepped in a worker thread.

The page's commands (see :mod:`layerwise.playground.protocol`) wait in a queue; the
worker applies them *between* chunks of training steps, so the network is never touched
in the middle of a step. While playing, a chunk lasts about ``CHUNK_SECONDS``, and a
frame (the state the page draws) is published at most every ``FRAME_SECONDS``; the
server keeps only the newest frame, so a slow page never makes training wait.

:class:`Run` is the run itself and can be driven without a thread (the tests do);
:class:`Engine` adds the thread and the queue.
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable

import numpy as np

import layerwise as lw
from layerwise._checks import LayerwiseError
from layerwise.activations import softmax
from layerwise.layers import Features
from layerwise.optim import DivergenceError
from layerwise.playground import datasets, export, protocol

GRID = 64  # heatmap resolution: one batched forward pass over GRID x GRID points
THUMB_STRIDE = 4  # neuron thumbnails: every 4th grid point, 16 x 16
FRAME_SECONDS = 0.05  # about 20 frames a second
CHUNK_SECONDS = 0.01  # training between two looks at the command queue
MAX_STEPS = 1_000_000  # a run stops here: the session keeps every step's loss
HISTORY_POINTS = 300  # curve points per frame (the per-epoch history, decimated)
DIAGNOSTICS_EVERY = 25
ACTIVATIONS = {
    "relu": lw.ReLU,
    "leaky_relu": lw.LeakyReLU,
    "tanh": lw.Tanh,
    "sigmoid": lw.Sigmoid,
    "linear": lw.Identity,
}
INITS = {"relu": "he_uniform", "leaky_relu": "he_uniform"}  # glorot_uniform for the others
_USER_CHECKPOINT, _TRIAL = "page", "_potential"


# -- building a run ------------------------------------------------------------------


def build_model(config: protocol.Config, data: datasets.Data):
    """The network and loss for ``config`` on ``data``, and the index of each hidden
    layer's activation in ``model.layers``.

    The network starts with a :class:`~layerwise.layers.Features` layer, so it takes the
    raw points ``(x1, x2)``. Outputs: one for regression and for two classes with BCE
    or MSE (a Sigmoid after it for BCE); one per class otherwise.
    """
    loss_name = resolve_loss(config.loss, data)
    layers = [Features(config.features)]
    width, hidden = len(config.features), []
    for units, activation in zip(config.layers, config.activations):
        init = INITS.get(activation, "glorot_uniform")
        layers += [lw.Linear(width, units, init=init), ACTIVATIONS[activation]()]
        hidden.append(len(layers) - 1)
        if config.dropout:
            layers.append(lw.Dropout(config.dropout))
        width = units
    outputs = 1 if data.task == "regression" or data.classes == 2 else data.classes
    if loss_name == "cross_entropy":
        outputs = data.classes
    layers.append(lw.Linear(width, outputs, init="glorot_uniform"))
    if loss_name == "bce":
        layers.append(lw.Sigmoid())
    losses = {"cross_entropy": lw.CrossEntropy, "bce": lw.BinaryCrossEntropy, "mse": lw.MSE}
    model = lw.Sequential(layers, seed=config.seed)
    return model, losses[loss_name](), hidden


def resolve_loss(name: str, data: datasets.Data) -> str:
    """The loss ``"auto"`` stands for, or ``name`` once it is checked against the task."""
    if data.task == "regression":
        if name not in ("auto", "mse"):
            raise LayerwiseError(
                f"The loss {name!r} needs class labels; a regression data set learns with MSE."
            )
        return "mse"
    if name == "auto":
        return "bce" if data.classes == 2 else "cross_entropy"
    return name


def build_optimizer(config: protocol.Config) -> lw.Optimizer:
    """The optimizer; weight decay is L2 on the weights only (not the biases)."""
    options = {"lr": config.lr, "weight_decay": config.weight_decay, "decay_biases": False}
    if config.optimizer == "sgd":
        return lw.SGD(**options)
    if config.optimizer == "momentum":
        return lw.SGD(momentum=0.9, **options)
    return {"adam": lw.Adam, "rmsprop": lw.RMSProp, "adamw": lw.AdamW}[config.optimizer](**options)


def targets(y: np.ndarray, data: datasets.Data, loss_name: str, outputs: int) -> np.ndarray:
    """``y`` as the loss takes it: labels for cross-entropy, a column for one output,
    one-hot rows for several."""
    if data.task == "regression":
        return y.reshape(-1, 1).astype(np.float32)
    if loss_name == "cross_entropy":
        return y
    if outputs == 1:
        return y.reshape(-1, 1).astype(np.float32)
    return lw.data.one_hot(y, data.classes).astype(np.float32)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode()


def _number(value) -> float | None:
    """A float for JSON (which has no NaN or infinity: None instead)."""
    value = float(value)
    return value if math.isfinite(value) else None


# -- the run -------------------------------------------------------------------------


class Run:
    """One page's data, network and ``lw.Session``, changed only by :meth:`apply`.

    Parameters
    ----------
    config : Config, optional
        The first configuration (default: the protocol's defaults).

    Attributes
    ----------
    session : lw.Session
    playing : bool
    status : str
        One line for the page: what happened last.
    """

    def __init__(self, config: protocol.Config | None = None):
        self.config = config or protocol.Config()
        self.csv: tuple[np.ndarray, np.ndarray] | None = None
        self.csv_name = ""
        self.data: datasets.Data | None = None
        self._data_key = None
        self.data_version = 0
        self.playing = False
        self.status = "Ready: press play."
        self.potential: dict | None = None
        self.has_checkpoint = False
        self.chunk = 10  # steps per chunk, adapted to CHUNK_SECONDS
        self._build()

    # -- construction --

    def _build(self) -> None:
        """New data (when a data setting changed), network and session for ``config``;
        all or nothing: on an error the run is left as it was."""
        config = self.config
        key = (config.dataset, config.points, config.noise, config.train_ratio)
        key += (config.classes, config.seed, self.csv_name)
        data = self.data if key == self._data_key else self._make_data(config)
        model, loss, hidden = build_model(config, data)  # raises for a loss the data refuses
        loss_name = resolve_loss(config.loss, data)
        y_train = targets(data.y_train, data, loss_name, model.out_features)
        y_test = targets(data.y_test, data, loss_name, model.out_features)
        diagnostics = lw.Diagnostics(every=DIAGNOSTICS_EVERY)
        self.session = lw.Session(
            model,
            loss,
            build_optimizer(config),
            (data.X_train, y_train),
            batch_size=config.batch_size,
            seed=config.seed,
            validation_data=(data.X_test, y_test),
            callbacks=[diagnostics],
            on_divergence="raise",  # the message comes with the error, not a warning
        )
        if key != self._data_key:
            self._data_key, self.data_version = key, self.data_version + 1
        self.data, self.y_train, self.y_test, self.loss_name = data, y_train, y_test, loss_name
        self.model, self.hidden, self.diagnostics = model, hidden, diagnostics
        self._eval_loss = type(loss)()  # its own caches, apart from the session's
        self.lr_events = [(0, config.lr)]
        self.playing, self.has_checkpoint, self.potential = False, False, None
        low, high = data.domain
        self.grid = lw.data.grid2d(low, high, resolution=GRID)[0]

    def _make_data(self, config: protocol.Config) -> datasets.Data:
        if config.dataset != "csv":
            return datasets.make(
                config.dataset,
                points=config.points,
                noise=config.noise,
                train_ratio=config.train_ratio,
                classes=config.classes,
                seed=config.seed,
            )
        if self.csv is None:
            raise LayerwiseError(
                "The configuration names an uploaded CSV, and none was uploaded on this page: "
                "upload it again (its data is not in the link)."
            )
        X, y = self.csv
        return datasets.split(X, y, train_ratio=config.train_ratio, seed=config.seed)

    # -- commands --

    def apply(self, command) -> dict | None:
        """Act on one command; returns a reply for the page (a download) or None.

        Raises ``LayerwiseError`` for a command that cannot be carried out (the run is
        left as it was).
        """
        kind = command.type
        if kind == "config":
            previous = self.config
            self.config = command.config
            try:
                self._build()
            except LayerwiseError:
                self.config = previous
                raise
            self.status = "New network: press play."
        elif kind == "play":
            self.playing = True
            self.status = "Training."
        elif kind == "pause":
            self.playing = False
            self.status = "Paused."
        elif kind == "step":
            self.playing = False
            self.train(1)
            if not self.status.startswith("Training diverged"):
                self.status = f"One step: step {self.session.steps}."
        elif kind == "reset":
            self.session.reset()
            self.session.optimizer.lr = self.config.lr
            self.lr_events = [(0, self.config.lr)]
            self.playing, self.potential = False, None
            self.status = f"Reset: the same initial weights (seed {self.config.seed})"
        elif kind == "lr":
            self.session.optimizer.lr = command.lr
            self.config = self.config.model_copy(update={"lr": command.lr})
            self._sync_lr()
            self.status = f"Learning rate {command.lr:g}."
        elif kind == "checkpoint":
            self.session.checkpoint(_USER_CHECKPOINT)
            self.has_checkpoint = True
            self.status = f"Checkpoint at step {self.session.steps}."
        elif kind == "rollback":
            if not self.has_checkpoint:
                raise LayerwiseError("No checkpoint yet: press checkpoint first.")
            self.session.rollback(_USER_CHECKPOINT)
            self._sync_lr()
            self.status = f"Rolled back to step {self.session.steps}."
        elif kind == "potential":
            self.potential = self.learning_potential(command.n)
            p = self.potential
            self.status = (
                f"Learning potential after {p['n']} steps: {p['after']:.3g} (now {p['now']:.3g}; "
                "higher is better)"
                if p["after"] is not None
                else f"Learning potential: {p['n']} more steps diverge at this rate."
            )
        elif kind == "upload":
            points = datasets.parse_csv(command.text)  # raises with the line at fault
            previous = self.config, self.csv, self.csv_name
            self.csv, self.csv_name = points, f"{command.name}#{self.data_version + 1}"
            self.config = self.config.model_copy(update={"dataset": "csv"})
            try:
                self._build()
            except LayerwiseError:
                self.config, self.csv, self.csv_name = previous
                raise
            data = self.data
            what = f"{data.classes} classes" if data.classes else "a value to regress"
            rows = len(data.X_train) + len(data.X_test)
            self.status = f"Loaded {command.name}: {rows} rows, {what}."
        elif kind == "export_model":
            return self.export_model()
        elif kind == "export_code":
            return self.export_code()
        return None

    def train(self, n: int) -> None:
        """``n`` optimizer steps; a divergence pauses the run with the guard's message."""
        left = MAX_STEPS - self.session.steps
        if left <= 0:
            self.playing = False
            self.status = f"Stopped at {MAX_STEPS:,} steps: reset or roll back to go on."
            return
        try:
            self.session.step(min(n, left))
        except DivergenceError as e:
            self.playing = False
            self.status = str(e)
        self._sync_lr()

    def advance(self) -> None:
        """One chunk of training, sized to last about ``CHUNK_SECONDS``."""
        started = time.perf_counter()
        self.train(self.chunk)
        elapsed = time.perf_counter() - started
        scale = CHUNK_SECONDS / max(elapsed, 1e-6)
        self.chunk = int(min(max(self.chunk * min(max(scale, 0.5), 2.0), 1), 5000))

    def _sync_lr(self) -> None:
        """Keep the record of rate changes (for the exported code) in step with the run."""
        steps, lr = self.session.steps, self.session.optimizer.lr
        events = [(s, r) for s, r in self.lr_events if s <= steps]
        if events and events[-1][0] == steps:
            events.pop()
        if not events or events[-1][1] != lr:
            events.append((steps, lr))
        self.lr_events = events
        if self.config.lr != lr:
            self.config = self.config.model_copy(update={"lr": lr})

    def learning_potential(self, n: int) -> dict:
        """``-log(test loss)`` after ``n`` more steps, from a checkpoint the run goes back
        to (``lw.Bench.learning_potential``'s idea, on the page's run)."""
        session = self.session
        now = self._evaluate(self.data.X_test, self.y_test)["loss"]
        session.checkpoint(_TRIAL)
        try:
            session.step(n)
            after = self._evaluate(self.data.X_test, self.y_test)["loss"]
        except DivergenceError:
            after = math.inf
        finally:
            session.rollback(_TRIAL)

        def potential(loss):
            return _number(-math.log(loss)) if loss > 0 else None

        return {"n": n, "now": potential(now), "after": potential(after)}

    # -- exports --

    def export_model(self) -> dict:
        """The network as ``.safetensors`` bytes (base64), its output as probabilities."""
        model = self.model
        if self.loss_name == "cross_entropy":  # the loss takes logits: add the softmax
            model = lw.Sequential([*model.copy().layers, lw.Softmax()])
            model.load_state_dict(self.model.state_dict())
        info = {"playground": self.config.model_dump(mode="json"), "step": self.session.steps}
        handle, path = tempfile.mkstemp(suffix=".safetensors")
        os.close(handle)
        try:
            lw.save(model, path, info=info)
            with open(path, "rb") as f:
                payload = f.read()
        finally:
            os.remove(path)
        return {
            "type": "download",
            "filename": "playground.safetensors",
            "mime": "application/octet-stream",
            "data": base64.b64encode(payload).decode(),
        }

    def export_code(self) -> dict:
        """A Python script that repeats this run with layerwise."""
        text = export.python_code(
            self.config,
            self.session.steps,
            self.lr_events,
            csv_name=self.csv_name,
            task=self.data.task,
            classes=self.data.classes,
            loss_name=self.loss_name,
        )
        return {"type": "download", "filename": "playground_run.py", "mime": "text/x-python",
                "text": text}  # fmt: skip

    # -- what the page draws --

    def _outputs_as_probabilities(self, out: np.ndarray) -> np.ndarray:
        """Class probabilities (n, classes) from the network's output."""
        if self.loss_name == "cross_entropy":
            return softmax(out)
        if out.shape[1] == 1:
            p = np.clip(out[:, 0], 0.0, 1.0)
            return np.column_stack([1 - p, p])
        return np.clip(out, 0.0, 1.0)

    def _evaluate(self, X: np.ndarray, y: np.ndarray) -> dict:
        with np.errstate(all="ignore"):
            out = self.model.predict(X)
            loss = self._eval_loss.forward(out, y)
        result = {"loss": _number(loss)}
        if self.data.task == "classification":
            labels = y if y.ndim == 1 else (y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0] > 0.5)
            predicted = self._outputs_as_probabilities(out).argmax(axis=1)
            result["accuracy"] = float(np.mean(predicted == labels))
        return result

    def frame(self) -> dict:
        """Everything the page shows now, JSON-ready."""
        session, data = self.session, self.data
        with np.errstate(all="ignore"):
            x, activations = self.grid, {}
            for i, layer in enumerate(self.model.layers):  # one batched pass over the grid
                x = layer.forward(x, training=False)
                activations[i] = x
        out = np.ascontiguousarray(x)
        heatmap = {"size": GRID, "domain": list(data.domain), "kind": data.task}
        if data.task == "regression":
            low, high = float(data.y_train.min()), float(data.y_train.max())
            scaled = (out[:, 0] - low) / ((high - low) or 1.0)
            heatmap.update(lo=low, hi=high, values=_b64(np.round(np.clip(scaled, 0, 1) * 255)))
        else:
            probs = self._outputs_as_probabilities(out)
            if data.classes == 2:
                heatmap["values"] = _b64(np.round(np.nan_to_num(probs[:, 1]) * 255))
            else:
                heatmap["values"] = _b64(np.round(np.nan_to_num(probs.max(axis=1)) * 255))
                heatmap["classes"] = _b64(probs.argmax(axis=1))
        history = session.history.history
        epochs = len(history.get("loss", []))
        keep = np.unique(np.linspace(0, epochs - 1, min(epochs, HISTORY_POINTS)).astype(int))
        curves = {"epoch": (keep + 1).tolist()}
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            if key in history:
                values = np.asarray(history[key], dtype=np.float64)[keep]
                curves[key] = [_number(v) for v in values]
        return {
            "type": "frame",
            "step": session.steps,
            "epoch": session.epoch,
            "playing": self.playing,
            "lr": session.optimizer.lr,
            "status": self.status,
            "train": self._evaluate(data.X_train, self.y_train),
            "test": self._evaluate(data.X_test, self.y_test),
            "history": curves,
            "heatmap": heatmap,
            "layers": [
                {
                    "units": activations[i].shape[1],
                    "thumbs": [self._thumb(column) for column in activations[i].T],
                }
                for i in self.hidden
            ],  # fmt: skip
            "weights": self._weights(),
            "diagnostics": self._diagnostics(),
            "warnings": list(self.diagnostics.warnings),
            "potential": self.potential,
            "checkpoint": self.has_checkpoint,
            "data_version": self.data_version,
            "config": self.config.model_dump(mode="json"),
        }

    def data_message(self) -> dict:
        """The points, sent when they change (not with every frame)."""
        data = self.data

        def points(X, y):
            X, y = X.astype(np.float64), y if y.dtype.kind == "i" else y.astype(np.float64)
            return {"x": np.round(X, 4).ravel().tolist(), "y": np.round(y, 4).tolist()}

        return {
            "type": "data",
            "version": self.data_version,
            "task": data.task,
            "classes": data.classes,
            "domain": list(data.domain),
            "train": points(data.X_train, data.y_train),
            "test": points(data.X_test, data.y_test),
        }

    @staticmethod
    def _thumb(values: np.ndarray) -> dict:
        """A neuron's output on the grid, every ``THUMB_STRIDE``-th point, as 0..255
        around 0 (128) scaled by its largest magnitude."""
        image = values.reshape(GRID, GRID)[::THUMB_STRIDE, ::THUMB_STRIDE]
        image = np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0)
        scale = float(np.abs(image).max()) or 1.0
        return {"scale": scale, "values": _b64(np.round((image / scale + 1) * 127.5))}

    def _weights(self) -> list[dict]:
        """Each Linear layer's weights ``(in, out)`` and biases, rounded, for the links."""
        result = []
        for layer in self.model.layers:
            if isinstance(layer, lw.Linear):
                W, b = layer.params["W"], layer.params["b"]
                W, b = np.nan_to_num(W.astype(np.float64)), np.nan_to_num(b.astype(np.float64))
                result.append({"W": np.round(W, 4).tolist(), "b": np.round(b, 4).tolist()})
        return result

    def _diagnostics(self) -> list[dict]:
        """The last record of ``lw.Diagnostics`` per hidden layer: the Linear before it
        (gradient norm, update ratio) and its activation (dead, saturated)."""
        records, rows = self.diagnostics.history, []
        if not self.diagnostics.steps:
            return rows
        names = {int(name.split(":")[0]): stats for name, stats in records.items()}
        for number, index in enumerate(self.hidden, start=1):
            act, lin = names.get(index, {}), names.get(index - 1, {})
            row = {"layer": number}
            for key, stats in (("dead", act), ("saturated", act), ("grad_norm", lin),
                               ("update_ratio", lin)):  # fmt: skip
                if key in stats:
                    row[key] = _number(stats[key][-1])
            rows.append(row)
        return rows


# -- the thread ----------------------------------------------------------------------


class Engine:
    """A :class:`Run` in a worker thread, fed by a queue of commands.

    Parameters
    ----------
    publish : callable(dict)
        Gets every message for the page: frames (``"type": "frame"``, of which the
        server keeps only the newest) and replies (data, downloads, errors, acks).
    """

    def __init__(self, publish: Callable[[dict], None], config: protocol.Config | None = None):
        self.publish = publish
        self.run = Run(config)
        self._commands: queue.Queue = queue.Queue(maxsize=256)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="playground-engine", daemon=True)

    def start(self) -> None:
        self.publish(self.run.data_message())
        self.publish(self.run.frame())
        self._thread.start()

    def submit(self, command) -> bool:
        """Queue a command for the worker; False when the queue is full (a flood)."""
        try:
            self._commands.put_nowait(command)
            return True
        except queue.Full:
            return False

    def close(self) -> None:
        """Ask the worker to end after its chunk (returns at once)."""
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._commands.put_nowait(None)  # wakes a waiting worker

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to end after its chunk, and wait for it."""
        self.close()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        run, last_frame = self.run, 0.0
        while not self._stop.is_set():
            changed = self._apply_commands(wait=not run.playing)
            if self._stop.is_set():
                break
            if run.playing:
                try:
                    run.advance()
                except Exception as e:  # noqa: BLE001 - a bug: pause and say so
                    run.playing, run.status = False, f"Internal error: {e!r}"
                changed = True
            now = time.perf_counter()
            # Half a chunk early rather than half a chunk late: frames come ~FRAME_SECONDS apart.
            due = now - last_frame >= FRAME_SECONDS - CHUNK_SECONDS / 2
            if changed and (due or not run.playing):
                self.publish(run.frame())
                last_frame = now

    def _apply_commands(self, wait: bool) -> bool:
        """Apply every queued command (waiting up to 0.2 s for one if ``wait``)."""
        applied = False
        while True:
            try:
                command = (
                    self._commands.get(timeout=0.2)
                    if wait and not applied
                    else (self._commands.get_nowait())
                )
            except queue.Empty:
                return applied
            if command is None:
                return applied
            applied = True
            version = self.run.data_version
            try:
                reply = self.run.apply(command)
            except Exception as e:  # noqa: BLE001 - the page hears of every failure
                message = str(e) if isinstance(e, LayerwiseError) else f"Internal error: {e!r}"
                self.run.status, self.run.playing = message, False
                self.publish({"type": "error", "message": message})
                reply = None
            if reply is not None:
                self.publish(reply)
            if self.run.data_version != version:
                self.publish(self.run.data_message())
            if command.id is not None:
                self.publish({"type": "ack", "id": command.id, "command": command.type,
                              "step": self.run.session.steps})  # fmt: skip
