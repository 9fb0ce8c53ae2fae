"""The ``layerwise`` command: train, evaluate, predict and inspect networks.

    layerwise train                       # digits, 64-64-10 ReLU, Adam: ~98% in seconds
    layerwise train --data moons --animate
    layerwise evaluate runs/digits-20261122-081500
    layerwise predict runs/digits-20261122-081500/model.safetensors images.npy
    layerwise info runs/digits-20261122-081500/model.safetensors

Usage errors and missing or unreadable files print one line on stderr and exit with
code 2 (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import sys
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


# Chosen so that each trains in seconds on 2 cores and reaches what its notebook shows.
# The rate an optimizer gets when --optimizer differs from the data set's default and no
# --lr is given (a data set's lr is tuned for its own optimizer: Adam's 3e-3 left SGD at
# 85 % on digits): torch's defaults, and for SGD, which has none, notebook 001's 0.1.
OPTIMIZER_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-2}

DEFAULTS = {
    "digits": Defaults([64], lr=3e-3),  # notebook 001: >= 97% test accuracy
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
class Data:
    """A train/test split and what kind of problem it is."""

    name: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    task: str  # "binary", "multiclass" or "regression"
    outputs: int


# Default of --batch-size: the data set's own (None already means full batch). Not a
# string, because argparse would run a string default through the option's type.
_FROM_DATA = object()


class UsageError(Exception):
    """A bad command line: one line on stderr, exit code 2."""


# -- data ---------------------------------------------------------------------------


def load_data(name: str, *, seed: int, test_size: float, data_path=None, download=False) -> Data:
    """Load or generate a data set by its command-line name and split it."""
    from sklearn.model_selection import train_test_split

    from layerwise.data._args import check_split

    if name == "digits":
        X_tr, X_te, y_tr, y_te = lw.data.digits(test_size=test_size, seed=seed)
        return Data(name, X_tr, X_te, y_tr, y_te, "multiclass", 10)
    if name in ("mnist", "fashion-mnist"):
        loader = lw.data.mnist if name == "mnist" else lw.data.fashion_mnist
        X_tr, X_te, y_tr, y_te = loader(data_path, download=download)
        return Data(name, X_tr, X_te, y_tr, y_te, "multiclass", 10)
    if name.startswith("csv:"):
        return _csv_data(name, seed=seed, test_size=test_size)
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


def _csv_data(name: str, *, seed: int, test_size: float) -> Data:
    """A numeric CSV (optional header row) with the target in its first column."""
    from sklearn.model_selection import train_test_split

    from layerwise.data._args import check_split

    path = Path(name[4:])
    if not path.is_file():
        raise UsageError(f"CSV file {str(path)!r} does not exist")
    table = _read_table(path)
    if table.shape[1] < 2:
        raise UsageError(f"{str(path)!r}: need a target column and at least one feature column")
    X, y = table[:, 1:].astype(np.float32), table[:, 0]
    classes = np.unique(y)
    is_labels = np.all(y == np.round(y)) and y.min() >= 0 and len(classes) <= 100
    check_split(len(X), test_size, 0, "--test-size")  # the CSV split is not stratified
    if is_labels:
        y = y.astype(np.int64)
        k = int(y.max()) + 1
        split = train_test_split(X, y, test_size=test_size, random_state=seed)
        return Data(name, *split, "binary" if k == 2 else "multiclass", 1 if k == 2 else k)
    split = train_test_split(
        X, y.astype(np.float32).reshape(-1, 1), test_size=test_size, random_state=seed
    )
    return Data(name, *split, "regression", 1)


def _read_table(path: Path) -> np.ndarray:
    """Numbers from a CSV file, skipping a header row of names."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if rows and rows[0] and not _is_number(rows[0][0]):
        rows = rows[1:]
    rows = [r for r in rows if r]
    if not rows:
        raise UsageError(f"{str(path)!r} holds no data rows")
    width = len(rows[0])
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise UsageError(
                f"{str(path)!r}: data row {number} has {len(row)} values, expected {width}"
            )
        for column, cell in enumerate(row, start=1):
            if not _is_number(cell):
                raise UsageError(
                    f"{str(path)!r}: data row {number}, column {column}: {cell!r} is not a number"
                )
    table = np.array(rows, dtype=np.float64)
    if not np.isfinite(table).all():
        raise UsageError(f"{str(path)!r} holds NaN or infinite values")
    return table


def _is_number(text: str) -> bool:
    try:
        float(text)
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
            f"--layers starts with {sizes[0]} inputs, but {data.name} has {features} features"
        )
    if sizes[-1] != data.outputs:
        raise UsageError(
            f"--layers ends with {sizes[-1]} outputs, but {data.name} needs {data.outputs} "
            f"({data.task})"
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
    name = "csv" if args.data.startswith("csv:") else args.data
    if name not in DEFAULTS:
        raise UsageError(f"unknown data set {args.data!r}; choose from {', '.join(DATASETS)}")
    defaults = DEFAULTS[name]
    data = load_data(
        args.data,
        seed=args.seed,
        test_size=args.test_size,
        data_path=args.data_path,
        download=args.download,
    )
    sizes = args.layers or [data.X_train.shape[1], *defaults.hidden, data.outputs]
    activation = args.activation or defaults.activation
    loss_name = args.loss or default_loss(data.task)
    optimizer_name = args.optimizer or defaults.optimizer
    if args.lr is not None:
        lr = args.lr
    elif optimizer_name == defaults.optimizer:
        lr = defaults.lr
    else:
        lr = OPTIMIZER_LR[optimizer_name]
    epochs = args.epochs if args.epochs is not None else defaults.epochs
    batch_size = defaults.batch_size if args.batch_size is _FROM_DATA else args.batch_size

    model = build_model(data, sizes, activation, args.seed)
    loss = lw.losses.get(loss_name)
    optimizer = lw.optim.get(optimizer_name, lr=lr)
    out = _run_folder(args.out, args.data)
    print(
        f"layerwise train: {args.data} ({len(data.X_train)} train / {len(data.X_test)} test), "
        f"network {'-'.join(map(str, sizes))} {activation}, {loss!r}, {optimizer!r}"
    )
    model.summary(print_fn=print)  # text, even when main() runs in a notebook

    callbacks = []
    recorder = None
    if args.animate:
        recorder = lw.plot.Recorder(data.X_train, data.y_train)
        callbacks.append(recorder)
    # A regression run gets figures a reader can judge without knowing the targets' scale.
    metrics = ["r2", "mae"] if data.task == "regression" else []
    start = time.perf_counter()
    diverged = None
    try:
        history = model.fit(
            data.X_train,
            data.y_train,
            loss=loss,
            optimizer=optimizer,
            epochs=epochs,
            batch_size=batch_size,
            validation_data=(data.X_test, data.y_test),
            seed=args.seed,
            callbacks=callbacks,
            progress=not args.no_progress,
            metrics=metrics,
        )
    except lw.DivergenceError as e:  # the weights are those from before it: keep them
        history, diverged = e.history, str(e)
    seconds = time.perf_counter() - start
    test = model.evaluate(data.X_test, data.y_test, loss=loss, metrics=metrics)

    config = {
        "command": "train",
        "data": args.data,
        "layers": sizes,
        "activation": activation,
        "loss": loss_name,
        "optimizer": optimizer_name,
        "lr": lr,
        "epochs": epochs,
        "epochs_run": len(history),
        "batch_size": batch_size,
        "seed": args.seed,
        "test_size": args.test_size,
        "task": data.task,
        "train_samples": len(data.X_train),
        "test_samples": len(data.X_test),
        "training_seconds": round(seconds, 3),
        "test": test,
        "diverged": diverged,
        "layerwise_version": lw.__version__,
        "finished": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    lw.save(model, out / "model.safetensors", info=config)
    history.to_csv(out / "history.csv")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    _save_pictures(out, model, data, history, recorder)

    scores = f"test loss {test['loss']:.4f}"
    if "accuracy" in test:
        scores = f"test accuracy {test['accuracy']:.4f}, " + scores
    if "r2" in test:
        scores = f"test R^2 {test['r2']:.4f}, MAE {test['mae']:.4g}, " + scores
    print(f"{scores} after {_plural(len(history), 'epoch')} in {seconds:.1f} s")
    if diverged:
        print(f"saved the run, with the weights from before the divergence, in {out}/")
        print(f"layerwise: error: {diverged} (--lr sets the learning rate)", file=sys.stderr)
        return 1
    print(f"saved the run in {out}/")
    return 0


def _run_folder(out, data_name: str) -> Path:
    if out is not None:
        folder = Path(out)
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{data_name.split(':')[0]}-{stamp}"
        folder, i = base, 1
        while folder.exists():
            i += 1
            folder = base.with_name(f"{base.name}-{i}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the run folder {str(folder)!r}: {e.strerror}") from None
    return folder


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


def cmd_evaluate(args) -> int:
    model, meta, run = _load_model(args.model)
    trained = _trained(meta)
    data_name = args.data or _from_info(trained, "data", None, _is_text, "pass --data")
    if data_name is None:
        raise UsageError("this model file does not say what data it was trained on; pass --data")
    seed = args.seed
    if seed is None:
        seed = _from_info(trained, "seed", 0, _is_count, "pass --seed")
    test_size = _from_info(trained, "test_size", 0.2, _is_fraction, "it must be in (0, 1)")
    loss_name = args.loss or _from_info(trained, "loss", None, _is_loss_name, "pass --loss")
    data = load_data(
        data_name, seed=seed, test_size=test_size, data_path=args.data_path, download=args.download
    )
    loss = lw.losses.get(loss_name or default_loss(data.task))
    if model.in_features != data.X_test.shape[1] or model.out_features != data.outputs:
        raise UsageError(
            f"the model maps {model.in_features} inputs to {model.out_features} outputs, but "
            f"{data_name} has {data.X_test.shape[1]} features and needs {data.outputs} outputs"
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
    outputs = model.predict(X)
    loss = _trained(meta).get("loss")
    if loss == "cross_entropy":
        outputs = lw.activations.softmax(outputs)
    classes = None
    if loss in ("cross_entropy", "bce", "binary_cross_entropy"):
        classes = (
            outputs.argmax(axis=1) if outputs.shape[1] > 1 else (outputs[:, 0] > 0.5).astype(int)
        )
    target = (
        Path(args.output)
        if args.output
        else source.with_name(source.stem + ".predictions" + source.suffix)
    )
    if target.suffix == ".npy":
        np.save(target, classes if classes is not None else outputs)
    else:
        with open(target, "w", newline="") as f:
            writer = csv.writer(f)
            names = [f"p{i}" if classes is not None else f"y{i}" for i in range(outputs.shape[1])]
            writer.writerow((["class"] if classes is not None else []) + names)
            for i, row in enumerate(outputs):
                prefix = [int(classes[i])] if classes is not None else []
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
    trained = _trained(meta)
    if trained:
        keys = ("data", "loss", "optimizer", "lr", "epochs_run", "batch_size", "seed")
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


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


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
        description="Train a network and write runs/<name>/ with model.safetensors, "
        "history.csv, config.json, loss.png and a picture of the result.",
        epilog="Examples:\n  layerwise train\n  layerwise train --data moons --layers 2,32,32,1 "
        "--lr 0.5 --animate\n  layerwise train --data mnist --data-path ~/data/mnist --epochs 3",
    )
    data_options(train, "digits")
    train.add_argument(
        "--layers",
        type=_sizes,
        metavar="N,N,...",
        help="all layer sizes from input to output, e.g. 64,64,10",
    )
    train.add_argument(
        "--activation", choices=sorted(lw.activations.ACTIVATIONS), help="hidden-layer activation"
    )
    train.add_argument("--loss", choices=sorted(lw.losses.LOSSES), help="default: from the task")
    train.add_argument("--optimizer", choices=sorted(lw.optim.OPTIMIZERS))
    train.add_argument("--lr", type=_non_negative, help="learning rate")
    train.add_argument("--epochs", type=_positive_int)
    train.add_argument(
        "--batch-size",
        type=_batch_size,
        default=_FROM_DATA,
        metavar="N|full",
        help="batch size, or 'full' for full-batch gradient descent",
    )
    train.add_argument("--seed", type=int, default=0, help="seed of data, weights and batches")
    train.add_argument("--test-size", type=_fraction, default=0.2, metavar="FRACTION")
    train.add_argument("--out", metavar="FOLDER", help="run folder (default runs/<data>-<time>)")
    train.add_argument("--animate", action="store_true", help="also write training.gif")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    predict.add_argument("-o", "--output", help="default: INPUT.predictions.csv|.npy")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = make_parser().parse_args(argv)
        if args.command is None:
            raise UsageError(
                "missing command: train, evaluate, predict or info (see layerwise --help)"
            )
        return args.run(args)
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
