"""The ``layerwise`` command: train, evaluate, predict, inspect, sweep and play.

    layerwise train                       # digits, 64-1024-10 ReLU, Adam: ~99% in seconds
    layerwise train --data moons --animate
    layerwise evaluate runs/digits-20261122-081500
    layerwise predict runs/digits-20261122-081500/model.safetensors images.npy
    layerwise info runs/digits-20261122-081500/model.safetensors
    layerwise sweep --data moons --lr 2,1,0.5,0.3,0.2,0.1 --seeds 0-4   # 30 runs, all cores
    layerwise playground                  # the browser page on 127.0.0.1

Usage errors and missing or unreadable files print one line on stderr and exit with
code 2 (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as _dt
import itertools
import json
import math
import os
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import layerwise as lw
from layerwise._checks import LayerwiseError

DATASETS = (
    "digits",
    "mnist",
    "fashion-mnist",
    "moons",
    "circles",
    "xor",
    "spiral",
    "function2d",
    "curve1d",
    "csv:PATH",
)


@dataclass
class Defaults:
    """The network and training settings a data set gets when the user names none."""

    hidden: list[int]
    activation: str = "relu"
    optimizer: str = "adam"
    lr: float = 1e-3
    epochs: int = 30
    batch_size: int | None = 32
    label_smoothing: float = 0.0  # with cross-entropy only


# Chosen so that each trains in seconds on 2 cores and reaches what its notebook shows.
# The rate an optimizer gets when --optimizer differs from the data set's default and no
# --lr is given (a data set's lr is tuned for its own optimizer: Adam's 3e-3 left SGD at
# 85 % on digits): torch's defaults, and for SGD, which has none, notebook 001's 0.1.
OPTIMIZER_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-2}

DEFAULTS = {
    # Chosen by repeated cross-validation on the training split (docs/decisions.md):
    # 45 errors in 15 folds, against 92 for the 64 units before it.
    "digits": Defaults([1024], lr=3e-3, label_smoothing=0.1),
    "mnist": Defaults([256, 128], epochs=5, batch_size=128),
    "fashion-mnist": Defaults([256, 128], epochs=10, batch_size=128),
    "moons": Defaults([16], optimizer="sgd", lr=1.0, epochs=1000, batch_size=None),  # nb 002
    "circles": Defaults([16], optimizer="sgd", lr=1.0, epochs=1000, batch_size=None),
    "xor": Defaults([8], activation="tanh", lr=1e-2, epochs=300, batch_size=None),
    "spiral": Defaults([64, 64], lr=1e-2, epochs=500, batch_size=None),
    "function2d": Defaults([100], lr=3e-3, epochs=400, batch_size=1000),  # notebook 000
    "curve1d": Defaults([6, 7], activation="sigmoid", lr=0.05, epochs=3000, batch_size=None),
    "csv": Defaults([64]),
}


@dataclass
class Recipe:
    """A documented configuration for ``layerwise train --recipe NAME``.

    The network is ``[RandomShift(shift)] [Dropout(input_dropout)]`` then, per hidden
    size, ``Linear, ReLU, Dropout(dropout)``, then a ``Linear`` to the classes. The
    optimizer is SGD with Nesterov momentum (or Adam) and ``max_norm`` on the weights;
    the rate warms up linearly over the first 2 % of the steps, then follows a cosine to
    0 (per step), in ``dtype``. ``validation`` rows, drawn by ``--seed``, are held out of
    the training set and scored every epoch; the test set is scored once, at the end.
    With ``validation=0`` (a recipe chosen beforehand, on a validation split or by
    cross-validation) every training row is trained on, and the history's validation
    columns are the test split's, as for a plain ``train``; nothing is chosen by them.
    ``--epochs``, ``--lr``, ``--batch-size`` and ``--seed`` override the recipe.
    """

    data: str
    hidden: list[int]
    note: str  # what it reaches, where and in how long
    input_dropout: float = 0.2
    dropout: float = 0.5
    max_norm: float | None = 3.5
    optimizer: str = "sgd"  # "sgd" (Nesterov momentum 0.9) or "adam"
    lr: float = 0.1
    epochs: int = 20
    batch_size: int = 128
    shift: int = 0  # RandomShift's max_shift in pixels (0: no augmentation)
    label_smoothing: float = 0.0
    validation: int = 5000
    dtype: str = "float32"  # 3x faster than float64 here, at the same error

    def quick(self) -> Recipe:
        """The same code path in a few hundred small steps (``--quick``, what CI runs):
        hidden layers of 1/8 the width, 4 epochs of 75 batches, 1,000 validation rows."""
        return dataclasses.replace(
            self,
            hidden=[max(8, n // 8) for n in self.hidden],
            epochs=4,
            validation=min(self.validation, 1000),
        )


# Chosen on a validation split (benchmarks/results/recipes-explore.md): within 15 minutes
# on 2 cores (60 epochs in float32), lighter dropout than the paper's 0.2 / 0.5 (made for
# runs of hundreds of epochs) and label smoothing reach a lower error.
_MNIST = dict(input_dropout=0.1, dropout=0.3, label_smoothing=0.1, epochs=60)
RECIPES = {
    "mnist": Recipe(
        "mnist",
        [1024, 1024, 1024],
        "MNIST, no augmentation: 1.19 % test error, 8 min (2 cores)",
        # On the validation split: 3 x 1024 with 0.1 / 0.2 reached 1.38 % in 50 epochs, 2 x
        # 1024 1.56 % (0.1 / 0.3, 60 epochs) and 1.40 % (0.1 / 0.2, 100 epochs, as long).
        # Chosen so, it trains on all 60,000 images, as Srivastava et al. did.
        **{**_MNIST, "dropout": 0.2, "epochs": 50, "validation": 0},
    ),
    "mnist-shift": Recipe(
        "mnist",
        [1024, 1024],
        "MNIST, random shifts of <= 2 pixels: 0.82 % test error, 12 min",
        shift=2,
        **{**_MNIST, "input_dropout": 0.0},
    ),
    "fashion-mnist": Recipe(
        "fashion-mnist",
        [1024, 1024],
        "Fashion-MNIST: 90.50 % test accuracy, 11 min",
        **{**_MNIST, "input_dropout": 0.0, "dropout": 0.2},
    ),
    "digits": Recipe(
        "digits",
        [256],
        "scikit-learn's 8x8 digits: 98.61 % test accuracy, 1-2 s",
        input_dropout=0.0,
        max_norm=None,
        epochs=60,
        batch_size=32,
        lr=0.05,
        label_smoothing=0.1,
        validation=0,  # chosen by 5-fold cross-validation; 1,437 rows are too few to spare
        dtype="float64",  # chosen so; 0.5 s a run either way
    ),
}
QUICK_SAMPLES = 75 * 128  # --quick trains on this many rows (300 steps in 4 epochs)


@dataclass
class Data:
    """A train/test split and what kind of problem it is."""

    name: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    task: str  # "binary", "multiclass" or "regression"
    outputs: int
    classes: list[str] | None = None  # the class names of a CSV's text labels
    target: str | None = None  # a CSV's target column, as the run line names it


# Default of --batch-size: the data set's own (None already means full batch). Not a
# string, because argparse would run a string default through the option's type.
_FROM_DATA = object()


class UsageError(Exception):
    """A bad command line: one line on stderr, exit code 2."""


# -- data ---------------------------------------------------------------------------


def load_data(
    name: str, *, seed: int, test_size: float, data_path=None, download=False, target=None
) -> Data:
    """Load or generate a data set by its command-line name and split it."""
    if name not in ("mnist", "fashion-mnist") and (data_path is not None or download):
        option = "--data-path" if data_path is not None else "--download"
        raise UsageError(f"{option} is for mnist and fashion-mnist; {name} needs no files")
    if target is not None and not name.startswith("csv:"):
        raise UsageError(f"--target is for csv:PATH data; {name} has its own targets")
    if name == "digits":
        X_tr, X_te, y_tr, y_te = lw.data.digits(test_size=test_size, seed=seed)
        return Data(name, X_tr, X_te, y_tr, y_te, "multiclass", 10)
    if name in ("mnist", "fashion-mnist"):
        X_tr, X_te, y_tr, y_te = _mnist(name, data_path, download)
        return Data(name, X_tr, X_te, y_tr, y_te, "multiclass", 10)
    if name.startswith("csv:"):
        return _csv_data(name, seed=seed, test_size=test_size, target=target)
    generators = {
        "moons": lambda: lw.data.moons(1000, noise=0.2, seed=seed),
        "circles": lambda: lw.data.circles(1000, noise=0.1, seed=seed),
        "xor": lambda: lw.data.xor(400, noise=0.2, seed=seed),
        "spiral": lambda: lw.data.spiral(600, classes=3, noise=0.2, seed=seed),
        "function2d": lambda: lw.data.function2d(n=5000, seed=seed),
        "curve1d": lambda: lw.data.curve1d(400, noise=0.02, seed=seed),
    }
    if name not in generators:
        raise UsageError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    from sklearn.model_selection import train_test_split  # seconds to import: not before here

    from layerwise.data._args import check_split

    X, y = generators[name]()
    classes = int(y.max()) + 1 if y.dtype.kind == "i" else 0
    check_split(len(X), test_size, classes, "--test-size")
    split = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y if classes else None
    )
    if not classes:
        return Data(name, *split, "regression", y.shape[1])
    task = "binary" if classes == 2 else "multiclass"
    return Data(name, *split, task, 1 if classes == 2 else classes)


def _mnist(name: str, data_path, download: bool):
    """MNIST or Fashion-MNIST, with the loader's errors said in command-line terms."""
    from layerwise.data.loaders import IDX_FILES

    loader = lw.data.mnist if name == "mnist" else lw.data.fashion_mnist
    folder = None
    if data_path is not None:
        folder = Path(data_path).expanduser()
        if not folder.is_dir():
            raise UsageError(f"--data-path {str(data_path)!r} is not a folder")
        if (folder / name).is_dir():  # the parent, as $LAYERWISE_DATA is, works too
            folder = folder / name
    try:
        return loader(folder, download=download)
    except LayerwiseError as e:
        if "files not found" not in str(e):
            raise
        where = f"in {str(folder)!r}" if folder else "in $LAYERWISE_DATA or the cache"
        raise UsageError(
            f"{name} files not found {where}: pass --data-path FOLDER (holding "
            f"{IDX_FILES['train_images']}.gz and the other three, or a {name} subfolder "
            f"with them), or add --download"
        ) from None


# Names that mark a CSV's target column when --target does not say.
TARGET_NAMES = ("target", "label", "class", "y")


def _csv_data(name: str, *, seed: int, test_size: float, target=None) -> Data:
    """A CSV of numeric features and one target column (see ``train --help``)."""
    path = Path(name[4:])
    if not path.is_file():
        raise UsageError(f"CSV file {str(path)!r} does not exist")
    header, rows, decimal_comma = _read_rows(path)
    width = len(rows[0])
    if width < 2:
        raise UsageError(f"{str(path)!r}: need a target column and at least one feature column")
    # Columns that hold no number at all: class names (or a mistake, when not the target).
    texts = [
        c
        for c in range(width)
        if not _is_number(rows[0][c], decimal_comma)
        and not any(_is_number(r[c], decimal_comma) for r in rows)
    ]
    column = _target_column(path, header, width, texts, target)
    for c in texts:
        if c != column:
            raise UsageError(
                f"{str(path)!r}: feature column {_column_name(header, c)} holds text "
                f"({rows[0][c]!r}); features must be numbers (choose the target with --target)"
            )
    features = [c for c in range(width) if c != column]
    X = _numbers(path, [[r[c] for c in features] for r in rows], decimal_comma, features)
    label = header[column] if header else str(column)  # as --target names it
    from sklearn.model_selection import train_test_split  # seconds to import: not before here

    from layerwise.data._args import check_split

    check_split(len(X), test_size, 0, "--test-size")  # the CSV split is not stratified
    if column in texts:  # class names: sorted, so that a run and its evaluate agree
        names = sorted({r[column].strip() for r in rows})
        if len(names) > 1000:
            raise UsageError(f"{str(path)!r}: the target {label!r} has {len(names)} classes")
        index = {n: i for i, n in enumerate(names)}
        y = np.array([index[r[column].strip()] for r in rows], dtype=np.int64)
        k = len(names)
        split = train_test_split(X, y, test_size=test_size, random_state=seed)
        task = "binary" if k == 2 else "multiclass"
        return Data(name, *split, task, 1 if k == 2 else k, classes=names, target=label)
    y = _numbers(path, [[r[column]] for r in rows], decimal_comma, [column])[:, 0]
    classes = np.unique(y)
    is_labels = np.all(y == np.round(y)) and y.min() >= 0 and len(classes) <= 100
    if is_labels:
        y = y.astype(np.int64)
        k = int(y.max()) + 1
        split = train_test_split(X, y, test_size=test_size, random_state=seed)
        task = "binary" if k == 2 else "multiclass"
        return Data(name, *split, task, 1 if k == 2 else k, target=label)
    split = train_test_split(X, y.reshape(-1, 1), test_size=test_size, random_state=seed)
    return Data(name, *split, "regression", 1, target=label)


def _read_rows(path: Path) -> tuple[list[str] | None, list[list[str]], bool]:
    """``(header or None, rows, decimal comma)`` of a CSV: the separator (``,``, ``;`` or a
    tab) is detected, a first row of names is the header, blank lines are skipped."""
    with open(path, newline="") as f:
        sample = f.read(64 * 1024)
        f.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:  # one column, or nothing to tell from
            dialect = csv.excel
        rows = [r for r in csv.reader(f, dialect) if any(cell.strip() for cell in r)]
    if not rows:
        raise UsageError(f"{str(path)!r} holds no data rows")
    # "1,5;2,0": with ";" between the values, "," may be the decimal mark.
    decimal_comma = dialect.delimiter == ";"
    header = None
    first = rows[0]
    if len(rows) > 1 and len(first) == len(rows[1]):
        names = [not _is_number(a, decimal_comma) for a in first]
        numbers = [_is_number(b, decimal_comma) for b in rows[1]]
        if all(names) or any(n and m for n, m in zip(names, numbers)):
            header, rows = [cell.strip() for cell in first], rows[1:]
    elif all(not _is_number(a, decimal_comma) for a in first):
        header, rows = [cell.strip() for cell in first], rows[1:]
    if not rows:
        raise UsageError(f"{str(path)!r} holds a header row but no data rows")
    width = len(header) if header else len(rows[0])
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise UsageError(
                f"{str(path)!r}: data row {number} has {len(row)} values, expected {width}"
            )
    return header, rows, decimal_comma


def _target_column(path: Path, header, width: int, texts: list[int], target) -> int:
    """The target column: ``--target`` (a name of the header, or an index counted from 0,
    negative from the end), else the one column of text, else a column named target,
    label, class or y, else the first column."""
    if target is not None:
        try:
            index = int(target)
        except ValueError:
            if header is None:
                raise UsageError(
                    f"--target {target!r}: {str(path)!r} has no header row of names; "
                    "give the column's index (0 is the first, -1 the last)"
                ) from None
            if target not in header:
                raise UsageError(
                    f"--target {target!r} is not a column of {str(path)!r}; its columns are "
                    + ", ".join(header)
                ) from None
            return header.index(target)
        if not -width <= index < width:
            raise UsageError(
                f"--target {index}: {str(path)!r} has {width} columns (0 to {width - 1})"
            )
        return index % width
    if len(texts) == 1:
        return texts[0]
    if len(texts) > 1:
        names = ", ".join(_column_name(header, c) for c in texts)
        raise UsageError(
            f"{str(path)!r}: the columns {names} hold text; features must be numbers. "
            "Choose the target with --target"
        )
    if header:
        named = [c for c, n in enumerate(header) if n.lower() in TARGET_NAMES]
        if len(named) == 1:
            return named[0]
    return 0


def _column_name(header, column: int) -> str:
    return repr(header[column]) if header else f"{column}"


def _numbers(path: Path, rows: list[list[str]], decimal_comma: bool = False, columns=None):
    """The cells as float32, refusing text, NaN and infinities with the cell's place
    (``columns``: the file's column of each cell of a row, when they are a selection)."""
    try:
        table = np.array(
            [[_number(cell, decimal_comma) for cell in row] for row in rows], dtype=np.float64
        )
    except ValueError:
        for number, row in enumerate(rows, start=1):
            for column, cell in enumerate(row):
                if not _is_number(cell, decimal_comma):
                    place = column if columns is None else columns[column]
                    raise UsageError(
                        f"{str(path)!r}: data row {number}, column {place + 1}: {cell!r} is "
                        "not a number"
                    ) from None
        raise
    if not np.isfinite(table).all():
        raise UsageError(f"{str(path)!r} holds NaN or infinite values")
    if np.abs(table).max(initial=0) > np.finfo(np.float32).max:
        raise UsageError(f"{str(path)!r} holds values beyond float32's range")
    return table.astype(np.float32)


def _read_table(path: Path) -> np.ndarray:
    """Numbers from a CSV file (``predict``'s input), skipping a header row of names."""
    header, rows, decimal_comma = _read_rows(path)
    return _numbers(path, rows, decimal_comma)


def _number(text: str, decimal_comma: bool = False) -> float:
    text = text.strip()
    if decimal_comma:
        text = text.replace(",", ".")
    return float(text)


def _is_number(text: str, decimal_comma: bool = False) -> bool:
    try:
        _number(text, decimal_comma)
    except ValueError:
        return False
    return True


# -- networks -----------------------------------------------------------------------


# The most parameters that ``train --layers`` builds: 400 MB as float32, 1.6 GB with the
# gradients and Adam's two moments; far more than any of the data sets needs.
MAX_PARAMETERS = 100_000_000


def build_model(data: Data, sizes: list[int], activation: str, seed: int) -> lw.Sequential:
    """Linear layers of the given sizes with ``activation`` between them; the output
    layer is plain for cross-entropy and regression, sigmoid for binary tasks."""
    if len(sizes) < 2:
        raise UsageError("--layers needs at least an input and an output size, e.g. 64,10")
    count = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))
    if count > MAX_PARAMETERS:
        raise UsageError(
            f"--layers {','.join(map(str, sizes))} makes {count:,} parameters "
            f"({4 * count / 2**30:,.1f} GiB as float32); the command line builds at most "
            f"{MAX_PARAMETERS:,}. Use smaller layers"
        )
    features = data.X_train.shape[1]
    if sizes[0] != features:
        raise UsageError(
            f"--layers starts with {_plural(sizes[0], 'input')}, but {data.name} has "
            f"{_plural(features, 'feature')}"
        )
    if sizes[-1] != data.outputs:
        raise UsageError(
            f"--layers ends with {_plural(sizes[-1], 'output')}, but {data.name} needs "
            f"{data.outputs} ({data.task})"
        )
    act = lw.activations.get(activation)
    layers: list[lw.Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(lw.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(act())
    if data.task == "binary" or (data.name == "curve1d" and activation == "sigmoid"):
        layers.append(lw.Sigmoid())  # notebook 004's network is sigmoid to the output
    return lw.Sequential(layers, seed=seed)


def default_loss(task: str) -> str:
    return {"binary": "bce", "multiclass": "cross_entropy", "regression": "mse"}[task]


# -- commands -------------------------------------------------------------------------


def cmd_train(args) -> int:
    if args.recipe:
        return _train_recipe(args)
    if args.resume:
        return _resume(args)
    name = "csv" if args.data.startswith("csv:") else args.data
    if name not in DEFAULTS:
        raise UsageError(f"unknown data set {args.data!r}; choose from {', '.join(DATASETS)}")
    defaults = DEFAULTS[name]
    out = _run_folder(args.out, args.data, overwrite=args.overwrite)
    data = load_data(
        args.data,
        seed=args.seed,
        test_size=args.test_size,
        data_path=args.data_path,
        download=args.download,
        target=args.target,
    )
    sizes = args.layers or [data.X_train.shape[1], *defaults.hidden, data.outputs]
    activation = args.activation or defaults.activation
    loss_name = args.loss or default_loss(data.task)
    _check_loss(loss_name, data)
    optimizer_name = args.optimizer or defaults.optimizer
    if args.lr is not None:
        lr = args.lr
    elif optimizer_name == defaults.optimizer:
        lr = defaults.lr
    else:
        lr = OPTIMIZER_LR[optimizer_name]
    epochs = args.epochs if args.epochs is not None else defaults.epochs
    batch_size = defaults.batch_size if args.batch_size is _FROM_DATA else args.batch_size
    extra = {}
    if args.momentum is not None:
        if optimizer_name not in ("sgd", "rmsprop"):
            raise UsageError(f"--momentum is for --optimizer sgd or rmsprop, not {optimizer_name}")
        extra["momentum"] = args.momentum
    if args.weight_decay is not None:
        extra["weight_decay"] = args.weight_decay
    smoothing = _label_smoothing(args, defaults, loss_name)

    model = build_model(data, sizes, activation, args.seed)
    loss = lw.CrossEntropy(smoothing) if smoothing else lw.losses.get(loss_name)
    optimizer = lw.optim.get(optimizer_name, lr=lr, **extra)
    config = {
        "command": "train",
        "data": _data_name(args.data),
        "data_path": None if args.data_path is None else str(Path(args.data_path).resolve()),
        "target": data.target,
        "classes": data.classes,
        "standardize": args.standardize,
        "layers": sizes,
        "activation": activation if len(sizes) > 2 else None,
        "loss": loss_name,
        **({"label_smoothing": smoothing} if smoothing else {}),
        "optimizer": optimizer_name,
        "lr": lr,
        **extra,
        "epochs": epochs,
        "batch_size": batch_size,
        "early_stopping": args.early_stopping,
        "validation_split": args.validation_split if args.early_stopping else None,
        "seed": args.seed,
        "test_size": args.test_size,
        "task": data.task,
    }
    # Plain cross-entropy for the test loss: comparable with runs without smoothing.
    test_loss = lw.CrossEntropy() if smoothing else None
    return _train_run(args, out, data, model, loss, optimizer, config, test_loss=test_loss)


def _label_smoothing(args, defaults: Defaults, loss_name: str) -> float:
    """``--label-smoothing``, else the data set's (which only cross-entropy takes)."""
    if args.label_smoothing is None:
        return defaults.label_smoothing if loss_name == "cross_entropy" else 0.0
    if loss_name != "cross_entropy":
        raise UsageError(f"--label-smoothing is for --loss cross_entropy, not {loss_name}")
    return args.label_smoothing


def _data_name(name: str) -> str:
    """The data's name as ``evaluate`` finds it again from any folder (CSV paths absolute)."""
    return f"csv:{Path(name[4:]).resolve()}" if name.startswith("csv:") else name


def _check_loss(loss_name: str, data: Data) -> None:
    """Refuse a loss the task cannot use, in command-line terms."""
    classify = data.task in ("binary", "multiclass")
    if loss_name == "cross_entropy" and data.task != "multiclass":
        fix = "bce" if data.task == "binary" else "mse or mae"
        raise UsageError(
            f"--loss cross_entropy needs 3 or more classes; {data.name} is a "
            f"{data.task} task: use --loss {fix}"
        )
    if loss_name in ("bce", "binary_cross_entropy") and data.task != "binary":
        fix = "cross_entropy" if classify else "mse or mae"
        raise UsageError(
            f"--loss {loss_name} needs 2 classes; {data.name} is a {data.task} "
            f"task: use --loss {fix}"
        )
    if loss_name in ("mse", "mae") and classify:
        fix = "cross_entropy" if data.task == "multiclass" else "bce"
        raise UsageError(
            f"--loss {loss_name} is for regression; {data.name} is a {data.task} "
            f"task: use --loss {fix}"
        )


def _standardize(data: Data, model) -> tuple:
    """Scale the features (and a regression's targets, when the network ends in a
    ``Linear``) to mean 0 and spread 1 on the training split, in place. Returns the
    ``(mean, scale)`` pairs of the inputs and of the targets (None when left alone); a
    constant column keeps scale 1, as in scikit-learn's StandardScaler."""

    def fit(values):
        mean = values.mean(axis=0, dtype=np.float64)
        scale = values.std(axis=0, dtype=np.float64)
        scale[scale == 0] = 1.0
        return mean, scale

    inputs = fit(data.X_train)
    data.X_train = ((data.X_train - inputs[0]) / inputs[1]).astype(np.float32)
    data.X_test = ((data.X_test - inputs[0]) / inputs[1]).astype(np.float32)
    targets = None
    if data.task == "regression" and isinstance(model.layers[-1], lw.Linear):
        targets = fit(data.y_train)
        data.y_train = ((data.y_train - targets[0]) / targets[1]).astype(np.float32)
        data.y_test = ((data.y_test - targets[0]) / targets[1]).astype(np.float32)
    return inputs, targets


def _fold_standardization(model: lw.Sequential, inputs, targets) -> None:
    """Fold the scaling into the first and last layers, so the saved model takes raw
    features and gives targets in their own units:
    ``((x - m) / s) W + b = x (W / s) + (b - (m / s) W)``, and ``t = y s' + m'``."""
    mean, scale = inputs
    first = model.layers[0]
    W, b = first.params["W"], first.params["b"]
    b[...] = b - (mean / scale) @ W.astype(np.float64)  # uses W before it is scaled
    W[...] = W / scale[:, None]
    if targets is not None:
        mean, scale = targets
        last = model.layers[-1]
        last.params["W"][...] = last.params["W"] * scale
        last.params["b"][...] = last.params["b"] * scale + mean


class _LastEpoch(lw.Callback):
    """Keeps the run as it was when its last epoch ended, to save it after Ctrl-C."""

    session = None

    def on_train_begin(self, run) -> None:
        self.session = run
        run.checkpoint("cli-last-epoch")

    def on_epoch_end(self, run, epoch: int, logs) -> None:
        run.checkpoint("cli-last-epoch")


def _train_run(
    args,
    out: Path,
    data: Data,
    model,
    loss,
    optimizer,
    config,
    *,
    state=None,
    validation=None,
    callbacks=(),
    test_loss=None,
    headline=None,
):
    """Train (from ``state`` when resuming), then write the run folder and say how it went.

    ``validation``: held-out ``(X, y)`` scored every epoch (default: the test split, or a
    split of the training rows with ``--early-stopping``); ``callbacks`` are added to the
    command's own; ``test_loss`` scores the test split at the end (default ``loss``);
    ``headline`` replaces the first line printed.
    """
    raw = data.X_train, data.X_test, data.y_train, data.y_test
    scaling = _standardize(data, model) if config.get("standardize") else None
    print(
        headline
        or f"layerwise train: {args.data if state is None else config['data']} "
        f"({len(data.X_train)} train / {len(data.X_test)} test"
        + (f", target {data.target!r}" if data.target else "")
        + f"), network {'-'.join(map(str, config['layers']))}"
        + (f" {config['activation']}" if config["activation"] else "")
        + f", {loss!r}, {optimizer!r}"
    )
    if state is not None:
        print(f"resuming after epoch {state.epoch} of {_plural(config['epochs'], 'epoch')}")
    model.summary(print_fn=print)  # text, even when main() runs in a notebook

    keeper = _LastEpoch()
    callbacks = [keeper, *callbacks]
    recorder = None
    if args.animate:
        # A 2-D problem shows the map over the training points; a wider one what the
        # network predicts on the test rows, which it never trains on.
        two_d = data.X_train.shape[1] <= 2
        recorder = lw.plot.Recorder(
            *((data.X_train, data.y_train) if two_d else (data.X_test, data.y_test))
        )
        callbacks.append(recorder)
    validation = {"validation_data": validation or (data.X_test, data.y_test)}
    if config.get("early_stopping"):  # stopping on the test split would tune to it
        callbacks.append(lw.EarlyStopping(patience=config["early_stopping"]))
        validation = {"validation_split": config["validation_split"]}
    # A regression run gets figures a reader can judge without knowing the targets' scale.
    metrics = ["r2", "mae"] if data.task == "regression" else []
    start = time.perf_counter()
    diverged = interrupted = None
    try:
        history = model.fit(
            data.X_train,
            data.y_train,
            loss=loss,
            optimizer=optimizer,
            epochs=config["epochs"],
            batch_size=config["batch_size"],
            seed=config["seed"],
            callbacks=callbacks,
            progress=not args.no_progress,
            metrics=metrics,
            initial_state=state,
            **validation,
        )
    except lw.DivergenceError as e:  # the weights are those from before it: keep them
        history, diverged = e.history, str(e)
    except KeyboardInterrupt:
        session = keeper.session
        if session is None or session.epoch == (state.epoch if state else 0):
            print("layerwise: interrupted before an epoch ended; nothing saved", file=sys.stderr)
            return 130
        session.rollback("cli-last-epoch")  # the weights of the last finished epoch
        history, interrupted = session.history, True
    seconds = time.perf_counter() - start
    session = keeper.session

    config.update(
        epochs_run=len(history),
        train_samples=len(data.X_train),
        test_samples=len(data.X_test),
        training_seconds=round(seconds, 3),
        diverged=diverged,
        interrupted=interrupted,
        layerwise_version=lw.__version__,
        finished=_dt.datetime.now().isoformat(timespec="seconds"),
    )
    _prepare_folder(out)
    # The checkpoint holds the run as trained (standardized inputs): --resume goes on from it.
    lw.io.save_checkpoint(
        out / "checkpoint.safetensors",
        model,
        optimizer,
        loss,
        session.state(),
        session.fit_config(),
    )
    if scaling is not None:
        _fold_standardization(model, *scaling)
        data.X_train, data.X_test, data.y_train, data.y_test = raw  # as they come
    test = model.evaluate(data.X_test, data.y_test, loss=test_loss or loss, metrics=metrics)
    config["test"] = test
    lw.save(model, out / "model.safetensors", info=config)
    history.to_csv(out / "history.csv")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    _save_pictures(out, model, data, history, recorder)

    scores = f"test loss {test['loss']:.4f}"
    if "accuracy" in test:
        error = 100 * (1 - test["accuracy"])
        scores = f"test accuracy {test['accuracy']:.4f} (error {error:.2f} %), " + scores
    if "r2" in test:
        scores = f"test R^2 {test['r2']:.4f}, MAE {test['mae']:.4g}, " + scores
    print(f"{scores} after {_plural(len(history), 'epoch')} in {seconds:.1f} s")
    if diverged:
        print(f"saved the run, with the weights from before the divergence, in {out}/")
        print(f"layerwise: error: {diverged} (--lr sets the learning rate)", file=sys.stderr)
        return 1
    if interrupted:
        print(f"saved the {_plural(len(history), 'finished epoch')} in {out}/")
        print(
            f"layerwise: interrupted; go on with: layerwise train --resume {out}", file=sys.stderr
        )
        return 130
    print(f"saved the run in {out}/")
    return 0


# Options that shape a run; --resume takes them from the run and refuses them here.
_RUN_SHAPING = (
    "data",
    "layers",
    "activation",
    "loss",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "label_smoothing",
    "target",
    "data_path",
    "early_stopping",
    "out",
)


def _given(value) -> bool:
    """Whether an option was given: not its default None (False for a switch); a given 0
    counts (``0 in (None, False)`` would say it does not)."""
    return value is not None and value is not False


def _resume(args) -> int:
    """``train --resume RUN [--epochs N]``: go on from the run's checkpoint, bit for bit as
    if it had never stopped, and write the run folder again."""
    run = Path(args.resume)
    checkpoint = run / "checkpoint.safetensors"
    if not (run / "config.json").is_file() or not checkpoint.is_file():
        raise UsageError(
            f"--resume {str(run)!r} is not a run folder with config.json and "
            "checkpoint.safetensors (as layerwise train writes)"
        )
    given = [name for name in _RUN_SHAPING if _given(getattr(args, name))]
    if args.data == "digits":  # --data's default: given or not, it says nothing
        given.remove("data")
    if args.batch_size is not _FROM_DATA:
        given.append("batch_size")
    if args.standardize:
        given.append("standardize")
    if given:
        raise UsageError(
            f"--resume goes on with the run's own settings; drop --{given[0].replace('_', '-')}"
        )
    try:
        config = json.loads((run / "config.json").read_text())
    except (ValueError, OSError) as e:
        raise UsageError(f"cannot read {str(run / 'config.json')!r}: {e}") from None
    if not isinstance(config, dict) or config.get("command") != "train":
        raise UsageError(f"{str(run / 'config.json')!r} is not the config of a train run")
    if not _is_text(config.get("data")):
        raise UsageError(f"{str(run / 'config.json')!r} does not name the run's data")
    if config.get("recipe"):  # its validation rows and schedule are not rebuilt here
        raise UsageError(
            f"--resume goes on with train runs; {str(run)!r} is a --recipe run: run the "
            "recipe again"
        )
    ckpt = lw.load_checkpoint(checkpoint)
    done = ckpt.state.epoch
    epochs = args.epochs if args.epochs is not None else config.get("epochs")
    if not _is_count(epochs) or epochs <= done:
        raise UsageError(
            f"the run in {str(run)!r} already has {_plural(done, 'epoch')}; pass --epochs N "
            f"with N > {done} (the total to reach)"
        )
    data = load_data(
        config.get("data"),
        seed=config.get("seed", 0),
        test_size=config.get("test_size", 0.2),
        data_path=config.get("data_path"),
        target=config.get("target"),
    )
    config = {**config, "epochs": epochs}
    test_loss = lw.CrossEntropy() if config.get("label_smoothing") else None  # as the run had
    return _train_run(
        args,
        run,
        data,
        ckpt.model,
        ckpt.loss,
        ckpt.optimizer,
        config,
        state=ckpt.state,
        test_loss=test_loss,
    )


def build_recipe_model(recipe: Recipe, features: int, classes: int, seed: int) -> lw.Sequential:
    """The network of a :class:`Recipe` for rows of ``features`` square-image pixels."""
    side = math.isqrt(features)
    layers: list[lw.Layer] = []
    if recipe.shift:
        layers.append(lw.layers.RandomShift((side, side), recipe.shift))
    if recipe.input_dropout:
        layers.append(lw.Dropout(recipe.input_dropout))
    for n_in, n_out in zip([features, *recipe.hidden], recipe.hidden):
        layers += [lw.Linear(n_in, n_out), lw.ReLU()]
        if recipe.dropout:
            layers.append(lw.Dropout(recipe.dropout))
    layers.append(lw.Linear(recipe.hidden[-1], classes))
    return lw.Sequential(layers, seed=seed, dtype=recipe.dtype)


# Options a recipe sets itself (--epochs, --lr, --batch-size and --seed may override it).
_RECIPE_SETS = (
    "layers",
    "activation",
    "loss",
    "optimizer",
    "momentum",
    "weight_decay",
    "label_smoothing",
    "target",
    "standardize",
    "early_stopping",
    "resume",
    "animate",
)


def _train_recipe(args) -> int:
    """``train --recipe NAME [--quick]``: a configuration of :data:`RECIPES`, trained on
    the training split less a validation split (scored every epoch), then scored once on
    the test split."""
    recipe = RECIPES[args.recipe]
    given = [name for name in _RECIPE_SETS if _given(getattr(args, name, None))]
    if given:
        raise UsageError(
            f"--recipe {args.recipe} sets the network and the training; drop "
            f"--{given[0].replace('_', '-')} (--epochs, --lr, --batch-size and --seed may "
            "override it)"
        )
    if args.data not in ("digits", recipe.data):  # "digits": --data's default
        raise UsageError(f"--recipe {args.recipe} trains on {recipe.data}, not {args.data}")
    if args.quick:
        recipe = recipe.quick()
    epochs = args.epochs if args.epochs is not None else recipe.epochs
    lr = args.lr if args.lr is not None else recipe.lr
    batch_size = recipe.batch_size if args.batch_size is _FROM_DATA else args.batch_size
    if batch_size is None:
        raise UsageError("--recipe trains in mini-batches: give --batch-size a number")
    out = _run_folder(args.out, recipe.data, overwrite=args.overwrite)
    data = load_data(
        recipe.data,
        seed=args.seed,
        test_size=args.test_size,
        data_path=args.data_path,
        download=args.download,
    )
    # The validation rows, drawn by the seed, chose the recipe; the test set is scored once.
    order = np.random.default_rng(args.seed).permutation(len(data.X_train))
    if args.quick:
        order = order[: QUICK_SAMPLES + recipe.validation]
    held, kept = order[: recipe.validation], order[recipe.validation :]
    X_train, y_train = data.X_train[kept], data.y_train[kept]
    X_val, y_val = data.X_train[held], data.y_train[held]

    model = build_recipe_model(recipe, X_train.shape[1], data.outputs, args.seed)
    loss = lw.CrossEntropy(label_smoothing=recipe.label_smoothing)
    if recipe.optimizer == "sgd":
        optimizer = lw.SGD(lr, momentum=0.9, nesterov=True, max_norm=recipe.max_norm)
    else:
        optimizer = lw.optim.get(recipe.optimizer, lr=lr, max_norm=recipe.max_norm)
    steps = epochs * math.ceil(len(X_train) / batch_size)
    warmup = max(1, steps // 50)
    schedule = lw.optim.LinearWarmup(warmup, 0.1, after=lw.optim.CosineDecay(steps - warmup))
    headline = (
        f"layerwise train --recipe {args.recipe}{' --quick' if args.quick else ''}: "
        f"{recipe.data} ({len(X_train)} train / {len(X_val)} validation / {len(data.X_test)} "
        f"test), {_plural(epochs, 'epoch')} of batches of {batch_size}, {optimizer!r}, "
        f"{loss!r}, warm-up over {warmup} steps then cosine to 0"
    )
    config = {
        "command": "train",
        "recipe": args.recipe,
        "quick": bool(args.quick),
        **{k: v for k, v in dataclasses.asdict(recipe).items() if k != "note"},
        "data": recipe.data,
        "data_path": None if args.data_path is None else str(Path(args.data_path).resolve()),
        "layers": [X_train.shape[1], *recipe.hidden, data.outputs],
        "activation": "relu",
        "loss": "cross_entropy",
        "optimizer": recipe.optimizer,
        "lr": lr,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": args.seed,
        "test_size": args.test_size,
        "task": data.task,
        "validation_samples": len(X_val),
    }
    data.X_train, data.y_train = X_train, y_train
    return _train_run(
        args,
        out,
        data,
        model,
        loss,
        optimizer,
        config,
        validation=(X_val, y_val) if len(X_val) else None,
        callbacks=[lw.LearningRateScheduler(schedule, per="step")],
        # Plain cross-entropy (not the smoothed one): a test loss comparable across recipes.
        test_loss=lw.CrossEntropy(),
        headline=headline,
    )


# What a run folder holds; --overwrite removes these (and only these) first.
RUN_FILES = (
    "model.safetensors",
    "checkpoint.safetensors",
    "history.csv",
    "config.json",
    "loss.png",
    "decision_boundary.png",
    "confusion_matrix.png",
    "function_map.png",
    "fit_1d.png",
    "training.gif",
)


def _run_folder(out, data_name: str, *, overwrite: bool = False) -> Path:
    """The run folder to write (created only when there is a run to save): a new
    ``runs/<data>-<time>``, or ``out``, which must not hold another run's files unless
    ``overwrite``."""
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{data_name.split(':')[0]}-{stamp}"
        folder, i = base, 1
        while folder.exists():
            i += 1
            folder = base.with_name(f"{base.name}-{i}")
        return folder
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {str(folder)!r} is a file, not a folder")
    held = [name for name in RUN_FILES if (folder / name).exists()]
    if held and not overwrite:
        raise UsageError(
            f"--out {str(folder)!r} already holds a run ({held[0]}...); choose another "
            "folder, or pass --overwrite to replace it"
        )
    return folder


def _prepare_folder(folder: Path) -> None:
    """Create the run folder, or clear an old run's files out of it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES:
            (folder / name).unlink(missing_ok=True)
    except OSError as e:
        raise UsageError(f"cannot write the run folder {str(folder)!r}: {e.strerror}") from None


def _save_pictures(out: Path, model, data: Data, history, recorder) -> None:
    def save(fig, name):
        fig.savefig(out / name, dpi=100, bbox_inches="tight")

    regression = data.task == "regression"
    keys = ["loss", "r2"] if regression and "r2" in history.history else None
    run = f"{data.name}: {len(history)}-epoch run, {len(data.X_train)} training samples"
    losses = lw.plot.history(history, log=regression, keys=keys, val_label="test", title=run)
    save(losses, "loss.png")
    features = data.X_train.shape[1]
    if data.task != "regression" and features == 2:
        title = f"{data.name}: the {len(data.X_test)} test points"
        picture = lw.plot.decision_boundary(model, data.X_test, data.y_test, title=title)
        save(picture, "decision_boundary.png")
    elif data.task != "regression":
        pred = model.predict(data.X_test)
        labels = pred.argmax(axis=1) if pred.shape[1] > 1 else (pred[:, 0] > 0.5).astype(int)
        names = lw.data.FASHION_CLASSES if data.name == "fashion-mnist" else None
        matrix = lw.plot.confusion_matrix(data.y_test, labels, labels=names)
        matrix.axes[0].set_title(f"{data.name}: the {len(data.X_test)} test samples")
        save(matrix, "confusion_matrix.png")
    elif data.name == "function2d":
        fig = lw.plot.function_map(model, -0.5, 0.5, target=lw.data.default_function2d)
        save(fig, "function_map.png")
    elif features == 1:
        save(lw.plot.fit_1d(model, data.X_test, data.y_test), "fit_1d.png")
    if recorder is not None:
        lw.plot.animate(recorder, out / "training.gif")


def _load_model(path: str) -> tuple[lw.Sequential, dict, Path | None]:
    """A model from a model file, a checkpoint or a run folder, with its metadata."""
    target = Path(path)
    run = None
    if target.is_dir():
        run, target = target, target / "model.safetensors"
    if not target.exists():
        raise UsageError(f"no such model file or run folder: {path!r}")
    return lw.load(target), lw.io.read_metadata(target), run


def _trained(meta: dict) -> dict:
    """How ``train`` made the model (the file's ``info``), or {} if it says nothing usable."""
    info = meta.get("info")
    return info if isinstance(info, dict) else {}


def _from_info(trained: dict, key: str, default, valid, fix: str):
    """``trained[key]`` (or ``default``), refused unless ``valid(value)``: the file's info
    is free JSON that may come from anywhere."""
    value = trained.get(key, default)
    if value is not None and not valid(value):
        raise UsageError(
            f"the model file's info has {key}={_short(value)}, which is unusable; {fix}"
        )
    return value


def _short(value, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _facts(meta: dict) -> dict:
    """How ``fit`` or a ``Session`` trained the model (the file's ``trained``: written by
    ``lw.save`` however the model was trained), with only the fields that are usable."""
    facts = meta.get("trained")
    if not isinstance(facts, dict):
        return {}
    usable = {
        "task": lambda v: v in ("binary", "multiclass", "multilabel", "regression"),
        "loss": _is_text,
        "from_logits": lambda v: isinstance(v, bool),
        "optimizer": _is_text,
        "lr": _is_real,
        "epochs": _is_count,
        "steps": _is_count,
        "samples": _is_count,
    }
    return {k: v for k, v in facts.items() if k in usable and usable[k](v)}


_TASK_OF_LOSS = {
    "cross_entropy": "multiclass",
    "bce": "binary",
    "binary_cross_entropy": "binary",
    "mse": "regression",
    "mae": "regression",
}


def _task(meta: dict) -> tuple[str | None, bool]:
    """``(task, from_logits)`` of a model file: from its training facts, else from the
    loss that ``train`` wrote in its info; ``(None, False)`` when the file says neither."""
    facts = _facts(meta)
    if "task" in facts:
        return facts["task"], facts.get("from_logits", facts["task"] == "multiclass")
    task = _TASK_OF_LOSS.get(_trained(meta).get("loss"))
    return task, task == "multiclass"


def _class_names(meta: dict, k: int) -> list[str] | None:
    """The class names a CSV's text labels gave (``train`` keeps them in the info)."""
    names = _trained(meta).get("classes")
    if isinstance(names, list) and len(names) == k and all(_is_text(n) for n in names):
        return names
    return None


def cmd_evaluate(args) -> int:
    model, meta, run = _load_model(args.model)
    trained = _trained(meta)
    data_name = args.data or _from_info(trained, "data", None, _is_text, "pass --data")
    if data_name is None:
        how = "it was saved from Python, or its info" if "trained" in meta else "it"
        raise UsageError(
            f"the model file does not name the data it was trained on ({how} has no 'data'); "
            "pass --data NAME or --data csv:PATH"
        )
    seed = args.seed
    if seed is None:
        seed = _from_info(trained, "seed", 0, _is_count, "pass --seed")
    test_size = _from_info(trained, "test_size", 0.2, _is_fraction, "it must be in (0, 1)")
    loss_name = args.loss or _from_info(trained, "loss", None, _is_loss_name, "pass --loss")
    data_path = args.data_path
    if data_path is None and args.data is None:  # the run's own data: where it came from
        data_path = _from_info(trained, "data_path", None, _is_text, "pass --data-path")
    target = args.target
    if target is None and args.data is None:
        target = _from_info(trained, "target", None, _is_text, "pass --target")
    data = load_data(
        data_name,
        seed=seed,
        test_size=test_size,
        data_path=data_path,
        download=args.download,
        target=target,
    )
    if model.in_features != data.X_test.shape[1] or model.out_features != data.outputs:
        raise UsageError(
            f"the model maps {_plural(model.in_features, 'input')} to "
            f"{_plural(model.out_features, 'output')}, but {data_name} has "
            f"{_plural(data.X_test.shape[1], 'feature')} and needs "
            f"{_plural(data.outputs, 'output')}"
        )
    if loss_name is not None:
        _check_loss(loss_name, data)
    loss = lw.losses.get(loss_name or default_loss(data.task))
    if data.classes is not None and trained.get("classes") not in (None, data.classes):
        raise UsageError(
            f"{data_name} now holds the classes {', '.join(data.classes)}, not those the model "
            "was trained on"
        )
    metrics = ["r2", "mae"] if data.task == "regression" else []
    result = model.evaluate(data.X_test, data.y_test, loss=loss, metrics=metrics)
    print(
        f"{data_name} test split ({len(data.X_test)} samples): "
        + ", ".join(f"{k} {v:.4f}" for k, v in result.items())
    )
    return 0


def cmd_predict(args) -> int:
    model, meta, _ = _load_model(args.model)
    source = Path(args.input)
    if not source.is_file():
        raise UsageError(f"no such input file: {args.input!r}")
    if source.suffix == ".npy":
        try:  # mapped, not read: a header declaring more than the file holds is refused
            X = np.load(source, allow_pickle=False, mmap_mode="r")
        except (ValueError, OSError) as e:
            raise UsageError(f"cannot read {args.input!r} as a NumPy array: {e}") from None
    elif source.suffix == ".csv":
        X = _read_table(source)
    else:
        raise UsageError(f"input must be a .csv or .npy file; got {args.input!r}")
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or X.shape[1] != model.in_features:
        raise UsageError(
            f"{args.input!r} holds rows of {X.shape[-1] if X.ndim else 0} values (shape "
            f"{X.shape}); the model takes {model.in_features} features per row"
        )
    outputs = model.predict(X)
    task, from_logits = _task(meta)
    if task is None:
        print(
            "layerwise: note: the model file does not say what it was trained for; writing "
            "its raw outputs",
            file=sys.stderr,
        )
    if task == "multiclass" and from_logits:
        outputs = lw.activations.softmax(outputs)
    elif task in ("binary", "multilabel") and from_logits:
        outputs = lw.activations.sigmoid(outputs)
    k = outputs.shape[1]
    classes = None
    if task == "multiclass":
        classes = outputs.argmax(axis=1)
    elif task == "binary":
        classes = (outputs[:, 0] > 0.5).astype(np.int64)
    names = _class_names(meta, 2 if task == "binary" else k)
    target = (
        Path(args.output)
        if args.output
        else source.with_name(source.stem + ".predictions" + source.suffix)
    )
    labels = classes if names is None or classes is None else np.array(names)[classes]
    if target.suffix == ".npz":
        arrays = {"outputs": outputs} if classes is None else {"classes": labels}
        if classes is not None or task == "multilabel":
            arrays["probabilities"] = outputs
        np.savez(target, **arrays)
    elif target.suffix == ".npy":
        np.save(target, outputs if classes is None or args.probabilities else labels)
    else:
        if task == "binary":  # one column: the probability of the second class
            columns = [f"p_{names[1] if names else 1}"]
        elif task in ("multiclass", "multilabel"):
            columns = [f"p_{names[i] if names else i}" for i in range(k)]
        else:
            columns = [f"y{i}" for i in range(k)]
        with open(target, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow((["class"] if classes is not None else []) + columns)
            for i, row in enumerate(outputs):
                prefix = [labels[i]] if classes is not None else []
                writer.writerow(prefix + [f"{v:.6g}" for v in row])
    print(f"wrote {_plural(len(outputs), 'prediction')} to {target}")
    return 0


def cmd_info(args) -> int:
    model, meta, run = _load_model(args.model)
    path = Path(args.model)
    checkpoint = None
    if meta.get("kind") == "checkpoint":  # checked whole, not read field by field
        checkpoint = lw.load_checkpoint(path / "model.safetensors" if run else path)
    print(f"{path}: layerwise {'checkpoint' if checkpoint else 'model'}, {model.dtype.name}")
    model.summary(print_fn=print)  # text, even when main() runs in a notebook
    facts = _facts(meta)
    if facts:
        what = facts.get("task", "?")
        line = f"trained for: {what}"
        if what in ("multiclass", "binary"):
            k = model.out_features if what == "multiclass" else 2
            names = _class_names(meta, k)
            line += f", {k} classes" + (f" ({', '.join(names)})" if names else "")
        parts = [f"{facts[k]}" for k in ("loss", "optimizer") if k in facts]
        if "lr" in facts:
            parts.append(f"lr {facts['lr']:g}")
        if "epochs" in facts:
            parts.append(_plural(facts["epochs"], "epoch"))
        if "steps" in facts:
            parts.append(_plural(facts["steps"], "step"))
        if facts.get("samples") is not None:
            parts.append(f"on {facts['samples']} samples")
        print(line + ("; " + ", ".join(parts) if parts else ""))
    trained = _trained(meta)
    if trained:
        keys = (
            "data",
            "loss",
            "label_smoothing",
            "optimizer",
            "lr",
            "epochs_run",
            "batch_size",
            "seed",
        )
        shown = ", ".join(f"{k}={_plain(trained[k])}" for k in keys if k in trained)
        print(f"trained with: {shown}")
        test = trained.get("test")
        if isinstance(test, dict) and all(_is_real(v) for v in test.values()):
            print("test: " + ", ".join(f"{_plain(k)} {v:.4f}" for k, v in test.items()))
        elif "test" in trained:
            print(f"test: {_short(test)}")
    if checkpoint:
        print(
            f"checkpoint after epoch {checkpoint.state.epoch} (step {checkpoint.state.step}), "
            f"optimizer {type(checkpoint.optimizer).__name__}, "
            f"loss {type(checkpoint.loss).__name__}"
        )
    return 0


def cmd_playground(args) -> int:
    """Serve the playground on 127.0.0.1 (another host only with --allow-remote)."""
    try:
        from layerwise.playground import server
    except ImportError as e:  # the web framework is an extra
        raise UsageError(
            f"the playground needs {e.name or 'its web framework'}: "
            'pip install "layerwise[playground]"'
        ) from None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (0-65535; 0: any free one)")
    if args.host not in server.LOOPBACK_NAMES and args.host != "::1":
        if not args.allow_remote:
            raise UsageError(
                f"--host {args.host} would serve the playground to other machines; add "
                "--allow-remote if that is what you want"
            )
        print(
            f"layerwise: warning: serving the playground on {args.host}: anyone who can reach "
            "this machine can drive it and use its CPU; there is no login",
            file=sys.stderr,
        )
    server.serve(args.host, args.port, open_browser=not args.no_browser)
    return 0


MAX_SWEEP_RUNS = 10_000  # a typo in --seeds (0-100000) should not start a week of runs


def cmd_sweep(args) -> int:
    name = "csv" if args.data.startswith("csv:") else args.data
    if name not in DEFAULTS:
        raise UsageError(f"unknown data set {args.data!r}; choose from {', '.join(DATASETS)}")
    defaults = DEFAULTS[name]
    data = load_data(
        args.data,
        seed=args.data_seed,
        test_size=args.test_size,
        data_path=args.data_path,
        download=args.download,
    )
    batch_sizes = [defaults.batch_size] if args.batch_size is _FROM_DATA else args.batch_size
    if args.layers and len({tuple(sizes) for sizes in args.layers}) < len(args.layers):
        raise UsageError("--layers gives the same network twice")
    grid = {
        "layers": args.layers or [defaults.hidden],
        "activation": args.activation or [defaults.activation],
        "optimizer": args.optimizer or [defaults.optimizer],
        "lr": args.lr or [None],  # None: the data set's rate for its optimizer, as train
        "epochs": args.epochs or [defaults.epochs],
        "batch_size": batch_sizes,
        "seed": args.seeds,
    }
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    if len(points) > MAX_SWEEP_RUNS:
        raise UsageError(
            f"the grid makes {len(points):,} runs; the command line runs at most "
            f"{MAX_SWEEP_RUNS:,}. Give fewer values"
        )
    for point in points:
        if point["lr"] is None:
            same = point["optimizer"] == defaults.optimizer
            point["lr"] = defaults.lr if same else OPTIMIZER_LR[point["optimizer"]]
    # What every point shares is a setting, not a column of the table.
    shared = {k: points[0][k] for k in grid if all(p[k] == points[0][k] for p in points)}
    points = [{k: v for k, v in p.items() if k not in shared} for p in points]
    metrics = ["r2", "mae"] if data.task == "regression" else []
    out = _run_folder(args.out, f"sweep-{args.data}")
    varied = ", ".join(f"{k} x{len({str(p[k]) for p in points})}" for k in points[0])
    print(
        f"layerwise sweep: {args.data} ({len(data.X_train)} train / {len(data.X_test)} test), "
        f"{_plural(len(points), 'run')} ({varied or 'one point'})"
    )
    results = lw.sweep(
        points,
        data=(data.X_train, data.y_train),
        validation_data=(data.X_test, data.y_test),
        out=out,
        scheduler=args.scheduler,
        n_jobs=args.workers,
        save_models=args.save_models,
        progress=not args.no_progress,
        loss=args.loss or default_loss(data.task),
        metrics=metrics,
        **shared,
    )
    statuses = results.column("status")
    if "ok" not in statuses:
        print(f"layerwise: error: no run finished: {results.rows[0]['error']}", file=sys.stderr)
        return 1
    figure = lw.plot.sweep(results)
    figure.savefig(out / "sweep.png", dpi=100, bbox_inches="tight")
    best = results.best()
    point = ", ".join(f"{k}={_grid_value(best[k])}" for k in results.names) or "the one point"
    figures = [
        f"test {k.removeprefix('final_val_')} {best[k]:.4f}"
        for k in best
        if k.startswith("final_val_")
    ]
    print(f"best: {point}: {', '.join(figures)}")
    lost = len(statuses) - statuses.count("ok")
    if lost:
        print(f"{lost} of {len(statuses)} runs diverged or failed: see sweep.csv")
    print(f"saved sweep.csv, sweep.png and {_plural(len(results), 'run')} in {out}/")
    return 0


def _grid_value(value) -> str:
    """A value of a sweep's point as the command line takes it (layers 32,16)."""
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _plain(value) -> str:
    """A value of the info as ``train`` wrote it (``data=digits``), shortened."""
    return value if isinstance(value, str) and len(value) <= 60 else _short(value)


def _is_text(value) -> bool:
    return isinstance(value, str)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_real(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond the floats
        return False


def _is_fraction(value) -> bool:
    return _is_real(value) and 0 < value < 1


def _is_loss_name(value) -> bool:
    return isinstance(value, str) and value in lw.losses.LOSSES


# -- the parser -----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line of stderr, with exit code 2."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _batch_size(text: str):
    return None if text.lower() in ("full", "none") else _positive_int(text)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of sizes"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive; got {text!r}")
    return sizes


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def _values(parse, what: str):
    """A parser of ``sweep``'s comma-separated alternatives (``2,1,0.5``), each by ``parse``."""

    def parse_values(text: str) -> list:
        parts = [part.strip() for part in text.split(",")]
        if not all(parts):
            raise argparse.ArgumentTypeError(f"{text!r} has an empty {what}")
        values = [parse(part) for part in parts]
        repeated = [v for i, v in enumerate(values) if v in values[:i]]
        if repeated:  # the same run twice
            raise argparse.ArgumentTypeError(f"{text!r} gives {repeated[0]!r} twice")
        return values

    return parse_values


def _named(registry: dict, what: str):
    def parse_name(text: str) -> str:
        if text not in registry:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r}; choose from {', '.join(sorted(registry))}"
            )
        return text

    return parse_name


def _seeds(text: str) -> list[int]:
    """``0-4`` (a range, both ends included) or ``0,3,7``."""
    try:
        if "-" in text and "," not in text:
            low, high = (int(part) for part in text.split("-"))
            if low > high:
                raise argparse.ArgumentTypeError(
                    f"the seed range {text!r} goes down; write e.g. 0-4"
                )
            return list(range(low, high + 1))
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a seed range (0-4) or a list of seeds (0,1,2)"
        ) from None
    if any(seed < 0 for seed in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be >= 0; got {text!r}")
    if len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r} gives a seed twice")
    return seeds


def make_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="layerwise",
        description="Train, evaluate and inspect NumPy neural networks.",
        epilog="Example: layerwise train --data moons --animate",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"layerwise {lw.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def data_options(p, default):
        p.add_argument(
            "--data",
            default=default,
            metavar="NAME",
            help=f"data set: {', '.join(DATASETS)}" + (f" (default {default})" if default else ""),
        )
        p.add_argument("--data-path", metavar="FOLDER", help="folder with the MNIST files")
        p.add_argument("--download", action="store_true", help="download MNIST if not found")
        p.add_argument("--debug", action="store_true", help="show tracebacks")

    train = commands.add_parser(
        "train",
        help="train a network and save a run folder",
        formatter_class=formatter,
        description=textwrap.fill(
            "Train a network and write runs/<name>/ with model.safetensors, "
            "checkpoint.safetensors, history.csv, config.json, loss.png and a picture of the "
            "result."
        )
        + "\n\n"
        + textwrap.fill(
            "CSV data (csv:PATH): one row per sample, separated by ',', ';' or tabs, with or "
            "without a header row of names. One column is the target (--target; else the "
            "one column of text, else a column named target, label, class or y, else the "
            "first); the others are the features, numbers. A target of text (setosa) or of "
            "whole numbers from 0 is a class label, anything else a value to regress."
        )
        + "\n\nDefaults per data set:\n"
        + "\n".join(
            f"  {name}: hidden {','.join(map(str, d.hidden))} {d.activation}, {d.optimizer} "
            f"lr {d.lr:g}, {d.epochs} epochs, batch {d.batch_size or 'full'}"
            + (f", label smoothing {d.label_smoothing:g}" if d.label_smoothing else "")
            for name, d in DEFAULTS.items()
        ),
        epilog="Examples:\n  layerwise train\n  layerwise train --data moons --layers 2,32,32,1 "
        "--lr 0.5 --animate\n  layerwise train --data mnist --data-path ~/data/mnist --epochs 3"
        "\n  layerwise train --data csv:iris.csv --target species --standardize",
    )
    data_options(train, "digits")
    train.add_argument(
        "--target",
        metavar="NAME|INDEX",
        help="csv:PATH: the target column, by header name or index (0 first, -1 last)",
    )
    train.add_argument(
        "--standardize",
        action="store_true",
        help="scale features to mean 0, spread 1 on the training split (folded into the "
        "saved model, which takes raw features)",
    )
    train.add_argument(
        "--layers",
        type=_sizes,
        metavar="N,N,...",
        help="all layer sizes from input to output, e.g. 64,64,10 (default: the data set's)",
    )
    train.add_argument(
        "--activation",
        choices=sorted(lw.activations.ACTIVATIONS),
        help="hidden-layer activation (default: the data set's)",
    )
    train.add_argument(
        "--loss",
        choices=sorted(lw.losses.LOSSES),
        help="default: cross_entropy for classes, bce for 2 classes, mse for regression",
    )
    train.add_argument(
        "--optimizer", choices=sorted(lw.optim.OPTIMIZERS), help="default: the data set's"
    )
    train.add_argument(
        "--lr",
        type=_non_negative,
        help="learning rate (default: the data set's for its optimizer; for another: "
        + ", ".join(f"{k} {v:g}" for k, v in OPTIMIZER_LR.items())
        + ")",
    )
    train.add_argument("--momentum", type=_non_negative, help="sgd or rmsprop momentum (default 0)")
    train.add_argument(
        "--weight-decay", type=_non_negative, metavar="L2", help="weight decay (default 0)"
    )
    train.add_argument(
        "--label-smoothing",
        type=_probability,
        metavar="EPS",
        help="cross_entropy: train towards (1 - EPS) one-hot + EPS / classes (default: the "
        "data set's; 0 turns it off)",
    )
    train.add_argument("--epochs", type=_positive_int, help="default: the data set's")
    train.add_argument(
        "--batch-size",
        type=_batch_size,
        default=_FROM_DATA,
        metavar="N|full",
        help="batch size, or 'full' for full-batch gradient descent (default: the data set's)",
    )
    train.add_argument(
        "--early-stopping",
        type=_positive_int,
        metavar="PATIENCE",
        help="stop when the validation loss has not improved for PATIENCE epochs, keeping the "
        "best weights (validation rows come from the training split)",
    )
    train.add_argument(
        "--validation-split",
        type=_fraction,
        default=0.1,
        metavar="FRACTION",
        help="with --early-stopping: the share of the training split held out (default 0.1)",
    )
    train.add_argument(
        "--seed", type=int, default=0, help="seed of data, weights and batches (default 0)"
    )
    train.add_argument(
        "--test-size", type=_fraction, default=0.2, metavar="FRACTION", help="default 0.2"
    )
    train.add_argument("--out", metavar="FOLDER", help="run folder (default runs/<data>-<time>)")
    train.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    train.add_argument(
        "--resume",
        metavar="RUN",
        help="go on with a run folder (after Ctrl-C, or with a larger --epochs)",
    )
    train.add_argument("--animate", action="store_true", help="also write training.gif")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        help="a documented configuration that reaches the published MLP figures (see README)",
    )
    train.add_argument(
        "--quick", action="store_true", help="with --recipe: a few hundred small steps only"
    )
    train.set_defaults(run=cmd_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a model on a test split",
        formatter_class=formatter,
        description="Evaluate a run folder or model file on the test split of its data.",
        epilog="Example:\n  layerwise evaluate runs/digits-20261122-081500",
    )
    evaluate.add_argument("model", metavar="RUN_OR_MODEL")
    data_options(evaluate, None)
    evaluate.add_argument("--loss", choices=sorted(lw.losses.LOSSES))
    evaluate.add_argument("--target", metavar="NAME|INDEX", help="csv:PATH: the target column")
    evaluate.add_argument("--seed", type=int, help="seed of the data split (default: the run's)")
    evaluate.set_defaults(run=cmd_evaluate)

    predict = commands.add_parser(
        "predict",
        help="predict for a .csv or .npy file of inputs",
        formatter_class=formatter,
        description="Write the model's predictions for each row of INPUT (a CSV with an "
        "optional header row, or a .npy array). Classifiers write the class and the "
        "probabilities.",
        epilog="Example:\n  layerwise predict runs/digits-x/model.safetensors X.npy -o y.npy",
    )
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument("input", metavar="INPUT")
    predict.add_argument(
        "-o",
        "--output",
        help="a .csv (class and probabilities), .npy (classes, or values) or .npz (classes "
        "and probabilities); default: INPUT.predictions.csv|.npy",
    )
    predict.add_argument(
        "--probabilities", action="store_true", help="a .npy output holds the probabilities"
    )
    predict.add_argument("--debug", action="store_true", help="show tracebacks")
    predict.set_defaults(run=cmd_predict)

    info = commands.add_parser(
        "info",
        help="describe a model file",
        formatter_class=formatter,
        description="Show a model's layers, shapes, parameter count and how it was trained.",
        epilog="Example:\n  layerwise info runs/digits-x/model.safetensors",
    )
    info.add_argument("model", metavar="MODEL")
    info.add_argument("--debug", action="store_true", help="show tracebacks")
    info.set_defaults(run=cmd_info)

    playground = commands.add_parser(
        "playground",
        help="watch and steer a network learn, in the browser",
        formatter_class=formatter,
        description="Serve the playground page on this machine (127.0.0.1) and open it: "
        "data sets or your CSV, features, layers, optimizers, live learning rate, "
        "checkpoint and rollback, export of the model and of the code.",
        epilog="Examples:\n  layerwise playground\n  layerwise playground --port 8800 --no-browser",
    )
    playground.add_argument("--port", type=int, default=8000, help="default 8000")
    playground.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    playground.add_argument(
        "--allow-remote", action="store_true", help="allow a --host other machines can reach"
    )
    playground.add_argument("--no-browser", action="store_true", help="do not open a browser")
    playground.add_argument("--debug", action="store_true", help="show tracebacks")
    playground.set_defaults(run=cmd_playground)

    sweep = commands.add_parser(
        "sweep",
        help="train one network per combination of settings, in parallel",
        formatter_class=formatter,
        description="Train one network per combination of the comma-separated values (x the "
        "seeds) on every core, or on a Dask cluster with --scheduler, and write FOLDER/ with "
        "sweep.csv (a row per run, the test split as validation), sweep.png and runs/<run>/. "
        "Started again with the same --out, it runs only what is not there yet.",
        epilog="Examples:\n  layerwise sweep --data moons --layers 16 --lr 2,1,0.5,0.3,0.2,0.1 "
        "--seeds 0-4 --epochs 1000 --batch-size full\n  layerwise sweep --data digits "
        "--layers 32 64,64 --optimizer sgd,adam --seeds 0-2 --scheduler tcp://10.0.0.5:8786",
    )
    data_options(sweep, "moons")
    sweep.add_argument(
        "--layers",
        type=_sizes,
        nargs="+",
        metavar="N,N,...",
        help="hidden-layer sizes, one network per value (e.g. 16 32,16); default: the data's",
    )
    sweep.add_argument(
        "--activation", type=_values(_named(lw.activations.ACTIVATIONS, "activation"), "name")
    )
    sweep.add_argument("--loss", choices=sorted(lw.losses.LOSSES), help="default: from the task")
    sweep.add_argument(
        "--optimizer", type=_values(_named(lw.optim.OPTIMIZERS, "optimizer"), "name")
    )
    sweep.add_argument("--lr", type=_values(_non_negative, "rate"), metavar="LR,LR,...")
    sweep.add_argument("--epochs", type=_values(_positive_int, "count"), metavar="N,N,...")
    sweep.add_argument(
        "--batch-size",
        type=_values(_batch_size, "size"),
        default=_FROM_DATA,
        metavar="N|full,...",
        help="batch sizes, 'full' for full-batch gradient descent",
    )
    sweep.add_argument(
        "--seeds", type=_seeds, default=[0], metavar="0-4|0,1,2", help="weights and batch order"
    )
    sweep.add_argument("--data-seed", type=int, default=0, help="seed of the data and its split")
    sweep.add_argument("--test-size", type=_fraction, default=0.2, metavar="FRACTION")
    sweep.add_argument("--out", metavar="FOLDER", help="default runs/sweep-<data>-<time>")
    sweep.add_argument("--workers", type=_positive_int, help="local processes (default: all cores)")
    sweep.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask cluster")
    sweep.add_argument("--save-models", action="store_true", help="keep each run's model")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.set_defaults(run=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = make_parser().parse_args(argv)
        if args.command is None:
            raise UsageError(
                "missing command: train, evaluate, predict, info, sweep or playground "
                "(see layerwise --help)"
            )
        return args.run(args)
    except BrokenPipeError:  # `layerwise ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as Python's docs do
        return 141
    except (UsageError, LayerwiseError, OSError) as e:
        if debug:
            raise
        # One line, even for messages that list several places or fixes.
        message = " ".join(line.strip() for line in str(e).splitlines()) or type(e).__name__
        if isinstance(e, OSError) and e.filename:
            message = f"{e.strerror}: {e.filename!r}"
        print(f"layerwise: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("layerwise: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
