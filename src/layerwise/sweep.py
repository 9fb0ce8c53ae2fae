"""``lw.sweep``: many trainings at once, on every core here or on a Dask cluster.

A sweep trains one model per *point*: a combination of parameters such as a learning
rate and a seed. Every run is an ordinary :class:`~layerwise.session.Session` run; the
sweep only decides where it runs (worker processes on this machine, or a Dask
cluster), collects one row per run into a :class:`SweepResults` table and, with
``out=``, keeps every finished run in a folder so that a sweep started again does only
what is left.

Notebook 002's learning-rate study, with five seeds per rate, in one call::

    import layerwise as lw
    X, y = lw.data.moons(1000, noise=0.2, seed=0)
    results = lw.sweep({"lr": [2, 1, 0.5, 0.3, 0.2, 0.1], "seed": range(5)},
                       data=(X, y), layers=[16], optimizer="sgd", epochs=1000,
                       batch_size=None)
    lw.plot.sweep(results)

Why the backends agree bit for bit: a run depends only on its point, the shared
settings and the data. The seed draws the weights (``Sequential(..., seed=)``) and
orders the batches (``Session(..., seed=)``); nothing depends on which process runs it
or when, and each run uses the same number of BLAS threads on either backend.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import itertools
import json
import math
import re
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from layerwise import _files
from layerwise import activations as _activations
from layerwise import losses as _losses
from layerwise import optim as _optim
from layerwise._checks import LayerwiseError, LayerwiseWarning, check_seed, positive_int
from layerwise.callbacks import History
from layerwise.layers import Linear
from layerwise.network import Sequential
from layerwise.optim import DivergenceError
from layerwise.session import Session

__all__ = ["sweep", "SweepResults", "RECIPE"]

# The names a point (or a setting shared by every point) uses to describe a run, and
# their defaults. ``layers`` are the hidden sizes: the input and output sizes come from
# the data. ``loss=None`` picks one from the targets (as the ``layerwise`` command does).
RECIPE: dict[str, object] = {
    "layers": None,
    "activation": "relu",
    "loss": None,
    "optimizer": "sgd",
    "lr": None,  # None: the optimizer's own default
    "momentum": None,
    "weight_decay": None,
    "batch_size": 32,
    "epochs": 1,
    "seed": 0,
    "shuffle": True,
    "metrics": (),
    "steps_per_epoch": None,
}
_BUILD_NAMES = ("layers", "activation")  # what build= replaces
_OPTIMIZER_NAMES = ("lr", "momentum", "weight_decay")

# Columns of the table that are not parameters (a parameter may not take these names).
_RESERVED = ("status", "epochs_run", "time", "error", "key")
_UNPLOTTED = ("lr", "time")  # recorded per epoch, but no metric of the run

FOLDER_FORMAT = "layerwise-sweep"
FOLDER_VERSION = 1


# -- the result table -------------------------------------------------------------------


class SweepResults:
    """The table of a sweep: one row per run, in the order of the points.

    Attributes
    ----------
    names : list of str
        The parameters that vary from point to point (the table's first columns).
    points : list of dict
        Each run's parameters.
    rows : list of dict
        Each run's row: its parameters, ``status`` (``"ok"``, ``"diverged"`` or
        ``"failed"``), ``epochs_run``, ``final_<key>`` and ``best_<key>`` for every
        key of the history (``loss``, ``accuracy``, ``val_loss``...; best is the lowest
        loss or error and the highest accuracy or R²), ``time`` (seconds), ``error``
        (the message of a failed or diverged run, else ``""``) and ``key`` (the run's
        name in the sweep folder).
    histories : list of History
        Each run's per-epoch record (the epochs before a divergence).
    folder : Path or None
        The sweep folder, when the sweep had ``out=``.

    Examples
    --------
    >>> results.best()["lr"]               # the point with the lowest final loss
    2
    >>> results.to_csv("sweep.csv"); df = results.to_pandas()
    """

    def __init__(self, names, points, records, folder=None):
        self.names = list(names)
        self.points = [dict(p) for p in points]
        self.histories = [History(r["history"]) for r in records]
        self.rows = [_row(p, r) for p, r in zip(self.points, records)]
        self.folder = None if folder is None else Path(folder)

    @property
    def columns(self) -> list[str]:
        """The parameters, ``status``, ``epochs_run``, the metrics, ``time``, ``error``, ``key``."""
        metrics = []
        for row in self.rows:
            metrics += [c for c in row if c.startswith(("final_", "best_")) and c not in metrics]
        return [*self.names, "status", "epochs_run", *metrics, "time", "error", "key"]

    @property
    def metric(self) -> str:
        """The metric that ranks the runs: ``val_loss`` with validation data, else ``loss``."""
        return "val_loss" if any("final_val_loss" in row for row in self.rows) else "loss"

    def column(self, name: str) -> list:
        """One column as a list (``None`` where a run has no such value)."""
        if name not in self.columns:
            raise LayerwiseError(f"The sweep has no column {name!r}; it has {self.columns}.")
        return [row.get(name) for row in self.rows]

    def best(self, metric: str | None = None) -> dict:
        """The row of the best finished run by its final ``metric`` (default :attr:`metric`)."""
        metric = self.metric if metric is None else metric
        sign = -1.0 if _higher_is_better(metric) else 1.0
        scored = [
            (sign * row[f"final_{metric}"], i)
            for i, row in enumerate(self.rows)
            if row["status"] == "ok" and _is_number(row.get(f"final_{metric}"))
        ]
        if not scored:
            raise LayerwiseError(f"No run of the sweep finished with a final {metric!r}.")
        return self.rows[min(scored)[1]]

    def to_csv(self, path) -> None:
        """Write the table as CSV (lists such as ``layers`` as JSON text), atomically."""
        _files.atomic_write(Path(path), self._csv().encode())

    def _csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        columns = self.columns
        writer.writerow(columns)
        for row in self.rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        return buffer.getvalue()

    def to_pandas(self):
        """The table as a pandas DataFrame (lists become tuples, so they can be grouped)."""
        try:
            import pandas as pd
        except ImportError:
            raise LayerwiseError("to_pandas() needs pandas: pip install pandas") from None
        columns = self.columns
        records = [
            {c: tuple(v) if isinstance(v, list) else v for c, v in row.items()} for row in self.rows
        ]
        return pd.DataFrame.from_records(records, columns=columns)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]

    def __repr__(self) -> str:
        counts = {s: sum(r["status"] == s for r in self.rows) for s in ("ok", "diverged", "failed")}
        shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        lines = [f"SweepResults({len(self)} runs: {shown or 'none'})"]
        metric = f"final_{self.metric}"
        for row in self.rows[:20]:
            point = ", ".join(f"{k}={_short(row[k])}" for k in self.names)
            value = row.get(metric)
            figure = f"{metric} {value:.4g}" if _is_number(value) else row["status"]
            lines.append(f"  {point or '(one point)'}: {figure}")
        if len(self) > 20:
            lines.append(f"  ... {len(self) - 20} more")
        return "\n".join(lines)


def _row(point: dict, record: dict) -> dict:
    """A run's row from its point and what the run returned."""
    row = dict(point)
    row["status"] = record["status"]
    history = record["history"]
    row["epochs_run"] = len(next(iter(history.values()), []))
    for key, values in history.items():
        if key in _UNPLOTTED or not values:
            continue
        finite = [v for v in values if _is_number(v)]
        row[f"final_{key}"] = values[-1]
        pick = max if _higher_is_better(key) else min
        row[f"best_{key}"] = pick(finite) if finite else float("nan")
    row["time"] = record["time"]
    row["error"] = record["error"]
    row["key"] = record["key"]
    return row


def _higher_is_better(metric: str) -> bool:
    return metric.endswith(("accuracy", "r2"))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)  # repr: exact floats


def _short(value) -> str:
    return "-".join(map(str, value)) if isinstance(value, (list, tuple)) else f"{value}"


# -- the sweep ----------------------------------------------------------------------------


def sweep(
    params,
    *,
    data,
    build: Callable | None = None,
    out=None,
    scheduler=None,
    n_jobs: int | None = None,
    validation_data: tuple | None = None,
    save_models: bool = False,
    progress: bool = True,
    **settings,
) -> SweepResults:
    """Train one model per point of ``params``, in parallel; return the table of runs.

    Each run is a :class:`~layerwise.session.Session` run for ``epochs`` epochs. Its
    model comes from ``build(**point)`` or, without ``build``, from the recipe names
    (:data:`RECIPE`): ``layers`` (hidden sizes; the input and output sizes come from
    the data), ``activation``, ``loss`` (default: ``"bce"`` for two classes, with a
    Sigmoid output, ``"cross_entropy"`` for more, ``"mse"`` for real targets),
    ``optimizer``, ``lr``, ``momentum``, ``weight_decay``, ``batch_size`` (``None``:
    full batch), ``epochs``, ``seed`` (the weights and the batch order), ``shuffle``,
    ``metrics``, ``steps_per_epoch``. A point may set any of them; settings shared by
    every point are keyword arguments.

    Parameters
    ----------
    params : dict of lists, or list of dicts
        A grid (``{"lr": [1, 0.1], "seed": range(5)}``: every combination, the last
        name varying fastest) or the points themselves (random or hand-picked). Values
        are numbers, strings, booleans, None or lists of those (e.g. ``layers``).
    data : (X, y) arrays, or callable ``data(rng, n) -> (X, y)``
        As for ``Session``; the same for every run.
    build : callable, optional
        ``build(**point) -> model``: gets the point's parameters (names of its own
        allowed); the recipe then only trains the model (loss, optimizer, batches).
        It runs in the worker processes, so it must be a function they can import or
        unpickle (a module-level function, or a lambda from a notebook).
    out : str or Path, optional
        The sweep folder: every run is written to ``out/runs/<key>/`` as soon as it
        ends (``result.json`` with the row and the history, ``history.csv``, and
        ``model.safetensors`` with ``save_models=True``); the table goes to
        ``out/sweep.csv``. Started again with the same folder, the sweep skips the runs
        already there (a run's key hashes its point, the shared settings, the data and
        the name of ``build``), so an interrupted sweep loses only the runs in flight.
    scheduler : str or distributed.Client, optional
        Run on a Dask cluster: the scheduler's address (``"tcp://host:8786"``) or a
        client. Needs ``pip install "layerwise[dask]"``, and layerwise (and what
        ``build`` imports) on the workers. By default the runs go to worker processes
        on this machine (joblib's loky).
    n_jobs : int, optional
        Local processes (default: one per core, at most one per run); 1 runs every
        point here, one after another. Ignored with a scheduler.
    validation_data : (X_val, y_val), optional
        Evaluated after every epoch of every run (``val_loss``, ``val_accuracy``...).
    save_models : bool, default False
        Also keep each run's trained model in its folder (needs ``out``).
    progress : bool, default True
        One progress bar for the whole sweep: runs done and the best so far.
    **settings
        Recipe names shared by every point, e.g. ``layers=[16], epochs=1000``.

    Returns
    -------
    SweepResults
        One row per point, in the order of the points; a run that diverged or raised is
        a row with its status and error, and the other runs go on.

    Raises
    ------
    LayerwiseError
        For a bad grid (empty lists, repeated points, unknown names without ``build``,
        values that are not plain data), a bad setting, a sweep folder of another
        format, or a missing Dask.
    """
    names, points = _points(params)
    shared = _shared_settings(settings, build)
    both = [n for n in names if n in shared]
    if both:
        raise LayerwiseError(
            f"{both[0]!r} is both a parameter of the points and a shared setting; give it once."
        )
    for i, point in enumerate(points):
        _check_names(point, build, f"point {i}")
    if (
        build is None
        and shared.get("layers") is None
        and any(p.get("layers") is None for p in points)
    ):
        raise LayerwiseError(
            "No model: give layers= (the hidden sizes, e.g. layers=[16]) or build=."
        )
    if save_models and out is None:
        raise LayerwiseError("save_models=True keeps the models in the sweep folder: pass out=.")
    if n_jobs is not None:
        n_jobs = positive_int(n_jobs, "n_jobs")
    data, validation = _check_data(data, validation_data)
    identity = {
        "shared": _key_material(shared, "settings"),
        "data": _digest(data, validation),
        "build": None if build is None else _qualified_name(build),
    }
    keys = [_run_key(point, identity) for point in points]
    folder = None if out is None else _SweepFolder(Path(out), names, identity)
    records: dict[int, dict] = {}
    if folder is not None:
        for i, key in enumerate(keys):
            done = folder.finished(key)
            if done is not None:
                records[i] = {**done, "index": i}
    pending = [i for i in range(len(points)) if i not in records]
    jobs = [
        {
            "index": i,
            "key": keys[i],
            "point": points[i],
            "shared": shared,
            "build": build,
            "keep_model": save_models,
        }
        for i in pending
    ]
    bar = _SweepBar(len(points), len(records), progress)
    for record in records.values():
        bar.add(record, points, new=False)
    if scheduler is not None:
        finished = _dask_runs(jobs, data, validation, scheduler)
    else:
        finished = _local_runs(jobs, data, validation, n_jobs)
    try:
        for record in finished:
            i = record["index"]
            if folder is not None:
                folder.write(record, points[i], names)
            record.pop("model", None)
            records[i] = record  # by index: a run that arrives twice counts once
            bar.add(record, points)
    finally:
        finished.close()  # stops the runs still in flight when the sweep is interrupted
        bar.close()
        if folder is not None and records:  # the table so far, also when interrupted
            done = sorted(records)
            partial = SweepResults(names, [points[i] for i in done], [records[i] for i in done])
            partial.to_csv(folder.path / "sweep.csv")
    return SweepResults(names, points, [records[i] for i in range(len(points))], folder=out)


# -- points and settings --------------------------------------------------------------------


def _points(params) -> tuple[list[str], list[dict]]:
    """The parameter names and every point, checked: plain values, no repeats."""
    if isinstance(params, Mapping):
        names = list(params)
        values = []
        for name in names:
            options = params[name]
            if isinstance(options, (str, bytes, Mapping)) or not isinstance(options, Iterable):
                raise LayerwiseError(
                    f"params[{name!r}] must be a list of values to try; got {options!r}. "
                    f"Pass a setting shared by every point as sweep(..., {name}=...)."
                )
            options = list(options)
            if not options:
                raise LayerwiseError(f"params[{name!r}] is empty: give at least one value.")
            values.append(options)
        points = [dict(zip(names, combo)) for combo in itertools.product(*values)]
    elif isinstance(params, (list, tuple)):
        if not params:
            raise LayerwiseError("params is an empty list: give at least one point.")
        names, points = [], []
        for i, point in enumerate(params):
            if not isinstance(point, Mapping):
                raise LayerwiseError(f"params[{i}] must be a dict of parameters; got {point!r}.")
            names += [n for n in point if n not in names]
            points.append(dict(point))
    else:
        raise LayerwiseError(
            "params must be a grid (a dict of lists) or a list of points (dicts); got "
            f"{type(params).__name__}."
        )
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise LayerwiseError(f"parameter names must be identifiers; got {name!r}.")
        if name in _RESERVED:
            raise LayerwiseError(
                f"{name!r} is a column of the results; name the parameter otherwise."
            )
    points = [{n: _plain(v, f"parameter {n!r}") for n, v in p.items()} for p in points]
    seen: dict[str, int] = {}
    for i, point in enumerate(points):
        text = json.dumps(point, sort_keys=True)
        if text in seen:
            raise LayerwiseError(f"point {i} {point} repeats point {seen[text]}; drop the repeat.")
        seen[text] = i
    return names, points


def _plain(value, where: str):
    """``value`` as plain JSON data (NumPy scalars and arrays become numbers and lists)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LayerwiseError(f"{where}: {value!r} is not a finite number.")
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    raise LayerwiseError(
        f"{where}: {value!r} is not plain data (a number, string, bool, None or a list of "
        "those); name it instead, e.g. optimizer='adam', and let build= make the object."
    )


def _shared_settings(settings: dict, build) -> dict:
    """The settings shared by every point, checked here once rather than failing every run."""
    for name in settings:
        if name in _RESERVED:
            raise LayerwiseError(f"{name!r} is a column of the results, not a setting.")
    _check_names(settings, build, "sweep()")
    optimizer = settings.get("optimizer")
    if optimizer is not None and str(optimizer).lower() not in _optim.OPTIMIZERS:
        _optim.get(optimizer)  # raises the registry's error, which lists the known names
    if settings.get("loss") is not None:
        _losses.get(settings["loss"])
    if settings.get("activation") is not None:
        _activations.get(settings["activation"])
    for name in ("epochs", "batch_size"):
        if settings.get(name) is not None:
            positive_int(settings[name], name)
    return dict(settings)


def _check_names(names, build, where: str) -> None:
    unknown = [n for n in names if n not in RECIPE]
    if unknown and build is None:
        raise LayerwiseError(
            f"{where}: unknown name(s) {unknown}; without build= a run is described by "
            f"{', '.join(RECIPE)}. Pass build=f to make the model from names of your own."
        )


def _check_data(data, validation):
    """The data as given (arrays made NumPy arrays), and the validation pair."""
    if not callable(data):
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise LayerwiseError(
                f"data must be (X, y) arrays or a callable data(rng, n); got {type(data).__name__}."
            )
        data = (np.asarray(data[0]), np.asarray(data[1]))
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) not in (2, 3):
            raise LayerwiseError("validation_data must be (X_val, y_val).")
        validation = tuple(np.asarray(v) for v in validation)
    return data, validation


def _key_material(settings: dict, where: str) -> dict:
    """The settings as JSON for the runs' keys (functions by their qualified names)."""
    described = {}
    for name, value in settings.items():
        if name == "metrics":
            items = [value] if isinstance(value, str) or callable(value) else list(value)
            value = [m if isinstance(m, str) else _qualified_name(m) for m in items]
        described[name] = _plain(value, f"{where}: {name}")
    return described


def _qualified_name(function) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', '?')}"


def _digest(data, validation) -> str:
    """A SHA-256 of the arrays (shape, dtype and bytes), or the name of a data callable."""
    h = hashlib.sha256()
    arrays = [] if callable(data) else list(data)
    if callable(data):
        h.update(_qualified_name(data).encode())
    arrays += list(validation or ())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _run_key(point: dict, identity: dict) -> str:
    """A run's stable name: its parameters, readable, and a hash of all it depends on."""
    text = json.dumps({"point": point, **identity}, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    readable = "_".join(f"{n}={_short(v)}" for n, v in point.items())
    readable = re.sub(r"[^A-Za-z0-9.=_-]", "", readable)[:80]
    return f"{readable}-{digest}" if readable else digest


# -- one run (in a worker process) --------------------------------------------------------


def _train(index, key, point, shared, build, keep_model, data, validation, threads=1) -> dict:
    """Train one point with a Session; return its record (never raises for the run's errors).

    Runs in a worker: everything it needs comes in its arguments, and the record it
    returns (history, status, error, time, and the model when asked) goes back to the
    sweep, which alone writes files.
    """
    start = time.perf_counter()
    settings = {**RECIPE, **shared, **point}
    status, error, model, session = "ok", "", None, None
    with _blas_threads(threads):
        try:
            model, loss = _model_and_loss(settings, data, build, point)
            session = Session(
                model,
                loss,
                _optimizer(settings),
                data,
                batch_size=settings["batch_size"],
                shuffle=settings["shuffle"],
                seed=check_seed(settings["seed"], "seed"),
                validation_data=validation,
                metrics=settings["metrics"],
                steps_per_epoch=settings["steps_per_epoch"],
            )
            session.run(positive_int(settings["epochs"], "epochs"))
        except DivergenceError as e:  # the weights are those from before it
            status, error = "diverged", str(e)
        except Exception as e:  # a failing run is a result: the sweep goes on
            status, error = "failed", f"{type(e).__name__}: {e}"
    history = {} if session is None else session.history.history
    history = {k: [float(v) for v in values] for k, values in history.items()}
    return {
        "index": index,
        "key": key,
        "status": status,
        "error": error,
        "history": history,
        "time": time.perf_counter() - start,
        "model": model if keep_model and status != "failed" else None,
    }


def _model_and_loss(settings: dict, data, build, point: dict):
    """The run's model (from ``build`` or the recipe) and its loss."""
    X, y = _sample(data)
    loss_name = settings["loss"] or _default_loss(y)
    loss = _losses.get(loss_name)
    if build is not None:
        return build(**point), loss
    sizes = settings["layers"]
    if sizes is None:
        raise LayerwiseError("No model: give layers= (the hidden sizes, e.g. [16]) or build=.")
    sizes = [sizes] if isinstance(sizes, int) else list(sizes)
    sizes = [positive_int(s, "layers") for s in sizes]
    activation = _activations.get(settings["activation"])
    widths = [X.shape[1], *sizes, _outputs(loss, y)]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers.append(Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(activation())
    if isinstance(loss, _losses.BinaryCrossEntropy) and not loss.from_logits:
        layers.append(_activations.Sigmoid())
    return Sequential(layers, seed=check_seed(settings["seed"], "seed")), loss


def _sample(data):
    """Arrays whose shapes and kinds are those of the data (a draw, for a callable)."""
    if callable(data):
        return data(np.random.default_rng(0), 2)
    return data


def _default_loss(y) -> str:
    y = np.asarray(y)
    if y.dtype.kind in "iub":
        return "bce" if y.ndim == 1 and y.max() <= 1 else "cross_entropy"
    return "mse"


def _outputs(loss, y) -> int:
    y = np.asarray(y)
    if y.ndim == 2:
        return y.shape[1]
    if isinstance(loss, _losses.CrossEntropy):
        return int(y.max()) + 1
    return 1


def _optimizer(settings: dict):
    options = {n: settings[n] for n in _OPTIMIZER_NAMES if settings[n] is not None}
    try:
        return _optim.get(settings["optimizer"], **options)
    except TypeError as e:
        raise LayerwiseError(f"optimizer {settings['optimizer']!r}: {e}") from None


@functools.cache
def _thread_controller():
    from threadpoolctl import ThreadpoolController  # comes with scikit-learn

    return ThreadpoolController()


def _blas_threads(threads: int):
    """Limit NumPy's BLAS to ``threads`` threads for a run, so that the workers together
    use each core once (a worker per core, each with a BLAS pool of every core, would
    run cores x cores threads and slow every run down)."""
    return _thread_controller().limit(limits=threads, user_api="blas")


# -- backends -------------------------------------------------------------------------------


def _local_runs(jobs: list[dict], data, validation, n_jobs: int | None) -> Iterator[dict]:
    """Each job's record as it finishes, from loky worker processes (or here, for 1)."""
    if not jobs:
        return
    from joblib import Parallel, cpu_count, delayed  # joblib comes with scikit-learn

    cores = cpu_count()
    workers = min(n_jobs or cores, len(jobs))
    threads = max(1, cores // workers)  # the cores split between the workers' BLAS
    if workers == 1:
        for job in jobs:
            yield _train(**job, data=data, validation=validation, threads=threads)
        return
    parallel = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")
    yield from parallel(
        delayed(_train)(**job, data=data, validation=validation, threads=threads) for job in jobs
    )


def _dask_runs(jobs: list[dict], data, validation, scheduler) -> Iterator[dict]:
    """Each job's record as it finishes on a Dask cluster.

    The scheduler retries a task whose worker died (``distributed.scheduler.
    allowed-failures`` times); a task that kept killing workers comes back as a failed
    run. Each run is one BLAS thread: a worker runs as many at once as it has threads.
    """
    try:
        import distributed
    except ImportError:
        raise LayerwiseError(
            "sweep(scheduler=...) runs on Dask, which is not installed: "
            'pip install "layerwise[dask]"'
        ) from None
    if isinstance(scheduler, str):
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")):
            raise LayerwiseError(
                f"scheduler must be a Dask scheduler address such as 'tcp://127.0.0.1:8786' or a "
                f"distributed.Client; got {scheduler!r}."
            )
        client = distributed.Client(scheduler, set_as_default=False)
    elif isinstance(scheduler, distributed.Client):
        client = None
    else:
        raise LayerwiseError(
            "scheduler must be an address ('tcp://host:8786') or a distributed.Client; got "
            f"{type(scheduler).__name__}."
        )
    active = client or scheduler
    futures: dict = {}  # future -> job (None for the data)
    try:
        if not jobs:
            return
        # The data travels as one task that the runs depend on, so each worker fetches it
        # once; not scattered, because scattered data dies with its worker and a task
        # result is computed again.
        tag = uuid.uuid4().hex[:8]
        shipped = active.submit(_ship, data, validation, key=f"layerwise-sweep-{tag}-data")
        futures[shipped] = None
        for job in jobs:
            key = f"layerwise-sweep-{tag}-{job['key']}"
            futures[active.submit(_train_shipped, job, shipped, key=key)] = job
        runs = [f for f, job in futures.items() if job is not None]
        for future in distributed.as_completed(runs, loop=active.loop):
            job = futures[future]
            if future.status != "finished":  # KilledWorker (it took its workers down), cancelled
                if future.status == "error":
                    error = f"{type(future.exception()).__name__}: {future.exception()}"
                else:
                    error = f"Dask {future.status} the run (its data was lost?)"
                yield {
                    "index": job["index"],
                    "key": job["key"],
                    "status": "failed",
                    "error": error,
                    "history": {},
                    "time": 0.0,
                }
            else:
                yield future.result()
            future.release()
    finally:
        if futures:
            active.cancel(list(futures))
        if client is not None:
            client.close()


def _ship(data, validation) -> tuple:
    return data, validation


def _train_shipped(job: dict, shipped) -> dict:
    data, validation = shipped
    return _train(**job, data=data, validation=validation, threads=1)


# -- the sweep folder ---------------------------------------------------------------------


class _SweepFolder:
    """``out/``: ``sweep.json`` (what the folder holds), ``runs/<key>/`` per finished run
    (``result.json``, written last, marks it finished), ``sweep.csv`` (the table).

    Only JSON, CSV and safetensors files: nothing here runs code when read.
    """

    def __init__(self, path: Path, names: list[str], identity: dict):
        self.path = path
        self.runs = path / "runs"
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LayerwiseError(f"cannot create the sweep folder {str(path)!r}: {e}") from None
        marker = path / "sweep.json"
        if marker.exists():
            try:
                described = json.loads(marker.read_text())
            except (OSError, ValueError) as e:
                raise LayerwiseError(f"{str(marker)!r} is not a sweep description: {e}") from None
            if not isinstance(described, dict) or described.get("format") != FOLDER_FORMAT:
                raise LayerwiseError(
                    f"{str(path)!r} holds a sweep.json of another format; choose another folder."
                )
        description = {
            "format": FOLDER_FORMAT,
            "version": FOLDER_VERSION,
            "names": names,
            "settings": identity["shared"],
            "build": identity["build"],
            "data_sha256": identity["data"],
        }
        _files.atomic_write(marker, (json.dumps(description, indent=2) + "\n").encode())

    def finished(self, key: str) -> dict | None:
        """The record of a finished run, or None (not run, or its file unreadable)."""
        path = self.runs / key / "result.json"
        if not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text())
            record = {k: saved[k] for k in ("key", "status", "error", "history", "time")}
            if record["key"] != key or record["status"] not in ("ok", "diverged", "failed"):
                raise ValueError("it describes another run")
            History(record["history"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            warnings.warn(
                f"{str(path)!r} is unreadable ({e}); the run goes again.",
                LayerwiseWarning,
                stacklevel=3,
            )
            return None
        return record

    def write(self, record: dict, point: dict, names: list[str]) -> None:
        """Write a finished run: its history and model first, ``result.json`` last."""
        folder = self.runs / record["key"]
        folder.mkdir(exist_ok=True)
        model = record.get("model")
        if model is not None:
            from layerwise.io import save  # io sits above network and training, as sweep

            try:
                save(
                    model, folder / "model.safetensors", info={"point": point, "key": record["key"]}
                )
            except LayerwiseError as e:
                record["error"] = (record["error"] + " " if record["error"] else "") + (
                    f"The model was not saved: {e}"
                )
        _files.atomic_write(folder / "history.csv", _history_csv(record["history"]).encode())
        saved = {
            "format": FOLDER_FORMAT,
            "version": FOLDER_VERSION,
            "params": point,
            **{k: record[k] for k in ("key", "status", "error", "time", "history")},
        }
        _files.atomic_write(folder / "result.json", (json.dumps(saved) + "\n").encode())


def _history_csv(history: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(history)
    writer.writerow(["epoch", *keys])
    for i in range(len(next(iter(history.values()), []))):
        writer.writerow([i + 1, *(repr(history[k][i]) for k in keys)])
    return buffer.getvalue()


# -- progress ---------------------------------------------------------------------------------


class _SweepBar:
    """One bar for the sweep: runs done of all, and the best final metric so far.

    A notebook or terminal bar as ``fit``'s; elsewhere (a log file, CI) a line per run.
    """

    def __init__(self, total: int, done: int, enabled: bool):
        from layerwise import _display
        from layerwise.training import _isatty, _notebook_bar

        self.best, self.bar, self.lines, self.count, self.total = None, None, False, 0, total
        if not enabled:
            return
        if _display.in_kernel():
            bar_class = _notebook_bar()
        elif _isatty(sys.stderr):
            from tqdm import std

            bar_class = std.tqdm
        else:
            self.lines = True
            return
        self.bar = bar_class(total=total, initial=done, desc="sweep", unit="run", file=sys.stderr)

    def add(self, record: dict, points: list[dict], new: bool = True) -> None:
        self.count += 1
        history = record["history"]
        metric = "val_loss" if "val_loss" in history else "loss"
        values = history.get(metric) or [float("nan")]
        final = values[-1]
        point = points[record["index"]] if "index" in record else None
        if record["status"] == "ok" and _is_number(final):
            if self.best is None or final < self.best[0]:
                self.best = (final, metric, point)
        best = ""
        if self.best is not None:
            value, metric, where = self.best
            shown = ", ".join(f"{k}={_short(v)}" for k, v in (where or {}).items())
            best = f"best {metric} {value:.4g} ({shown})"
        if self.bar is not None:
            self.bar.set_postfix_str(best, refresh=False)
            self.bar.update(1 if new else 0)
        elif self.lines and new:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in point.items())
            print(
                f"sweep: {self.count}/{self.total} {shown}: {record['status']} - {best}",
                file=sys.stderr,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
