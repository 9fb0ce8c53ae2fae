"""The `layerwise` console script, run for real in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import layerwise as lw
from layerwise.cli import load_data

SCRIPT = Path(sys.executable).parent / "layerwise"


def layerwise(*args, cwd=None) -> subprocess.CompletedProcess:
    assert SCRIPT.exists(), f"the console script is not installed beside {sys.executable}"
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    result = layerwise("train", "--no-progress", cwd=folder)
    assert result.returncode == 0, result.stderr
    (run,) = (folder / "runs").iterdir()
    return run


def test_train_with_no_arguments_trains_digits(digits_run):
    assert sorted(p.name for p in digits_run.iterdir()) == [
        "checkpoint.safetensors",
        "config.json",
        "confusion_matrix.png",
        "history.csv",
        "loss.png",
        "model.safetensors",
    ]
    config = json.loads((digits_run / "config.json").read_text())
    assert config["data"] == "digits" and config["layers"] == [64, 1024, 10]
    assert config["label_smoothing"] == 0.1
    assert config["test"]["accuracy"] >= 0.97
    history = (digits_run / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,loss,accuracy") and len(history) == 31
    model = lw.load(digits_run / "model.safetensors")
    X_tr, X_te, y_tr, y_te = lw.data.digits(test_size=0.2, seed=0)
    assert lw.metrics.accuracy(y_te, model.predict(X_te)) == pytest.approx(
        config["test"]["accuracy"]
    )


def test_train_prints_the_test_accuracy(tmp_path):
    result = layerwise(
        "train", "--data", "xor", "--epochs", "50", "--out", tmp_path / "run", "--no-progress"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "test accuracy" in result.stdout and f"saved the run in {tmp_path / 'run'}" in result.stdout
    )


def test_train_moons_with_an_animation(tmp_path):
    out = tmp_path / "moons"
    result = layerwise(
        "train", "--data", "moons", "--epochs", "200", "--animate", "--out", out, "--no-progress"
    )
    assert result.returncode == 0, result.stderr
    assert (out / "decision_boundary.png").exists()
    with Image.open(out / "training.gif") as gif:
        assert gif.n_frames == 200 // 50 + 1  # the start, then every 50 steps (the default)


@pytest.mark.parametrize("task", ["classes", "values"])
def test_train_on_a_csv_file(tmp_path, task):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    target = (X[:, 0] > 0).astype(int) * 2 + (X[:, 1] > 0) if task == "classes" else X @ [1, 2, 3]
    table = np.column_stack([target, X])
    np.savetxt(tmp_path / "data.csv", table, delimiter=",", header="target,a,b,c", comments="")
    out = tmp_path / "run"
    result = layerwise(
        "train",
        "--data",
        f"csv:{tmp_path / 'data.csv'}",
        "--epochs",
        "200",
        "--out",
        out,
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["layers"] == ([3, 64, 4] if task == "classes" else [3, 64, 1])
    if task == "classes":
        assert config["task"] == "multiclass" and config["test"]["accuracy"] > 0.9
    else:
        assert config["task"] == "regression" and config["test"]["loss"] < 0.5


def test_a_csv_file_with_a_bad_cell(tmp_path):
    (tmp_path / "bad.csv").write_text("y,a\n1,2\n0,x\n1,3\n")
    assert_usage_error(
        layerwise("train", "--data", f"csv:{tmp_path / 'bad.csv'}", "--out", tmp_path / "r"),
        "data row 2, column 2: 'x' is not a number",
    )


def test_evaluate_a_run_folder(digits_run):
    result = layerwise("evaluate", digits_run)
    assert result.returncode == 0, result.stderr
    accuracy = json.loads((digits_run / "config.json").read_text())["test"]["accuracy"]
    assert f"accuracy {accuracy:.4f}" in result.stdout


def test_predict_npy_and_csv(digits_run, tmp_path):
    X = lw.data.digits(test_size=0.2, seed=0)[1][:25]
    np.save(tmp_path / "x.npy", X)
    model_file = digits_run / "model.safetensors"
    result = layerwise("predict", model_file, tmp_path / "x.npy")
    assert result.returncode == 0, result.stderr
    expected = lw.load(model_file).predict(X).argmax(axis=1)
    np.testing.assert_array_equal(np.load(tmp_path / "x.predictions.npy"), expected)

    np.savetxt(
        tmp_path / "x.csv",
        X,
        delimiter=",",
        header=",".join(f"px{i}" for i in range(64)),
        comments="",
    )
    result = layerwise("predict", model_file, tmp_path / "x.csv", "-o", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["class", "p_0", "p_1"] and len(rows) == 26
    assert [int(r.split(",")[0]) for r in rows[1:]] == expected.tolist()


def test_info_describes_the_model(digits_run):
    result = layerwise("info", digits_run / "model.safetensors")
    assert result.returncode == 0, result.stderr
    assert "Linear(64 -> 1024)" in result.stdout and "Total parameters: 76,810" in result.stdout
    assert (
        "trained with: data=digits, loss=cross_entropy, label_smoothing=0.1, optimizer=adam"
        in result.stdout
    )


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "info"])
def test_every_command_has_help_with_an_example(command):
    result = layerwise(command, "--help")
    assert result.returncode == 0 and "Example" in result.stdout


def assert_usage_error(result, message):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("layerwise: error: ") and message in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--colour", "red"], "unrecognized arguments: --colour red"),
        (["train", "--data", "cifar"], "unknown data set 'cifar'"),
        (["train", "--layers", "64,32,5"], "--layers ends with 5 outputs, but digits needs 10"),
        (
            ["train", "--layers", "3,10"],
            "--layers starts with 3 inputs, but digits has 64 features",
        ),
        (["train", "--layers", "64,x,10"], "is not a comma-separated list of sizes"),
        (["train", "--batch-size", "0"], "'0' must be at least 1"),
        (["train", "--lr", "-1"], "must be a finite number >= 0"),
        (["train", "--activation", "swish"], "invalid choice: 'swish'"),
        (["train", "--data", "csv:/no/such.csv"], "CSV file '/no/such.csv' does not exist"),
        (["evaluate", "/no/such/model.safetensors"], "no such model file or run folder"),
        (["info", "/no/such/model.safetensors"], "no such model file or run folder"),
        ([], "missing command"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args, message, tmp_path):
    assert_usage_error(
        layerwise(*args, "--out", tmp_path / "r") if args[:1] == ["train"] else layerwise(*args),
        message,
    )


def test_a_model_that_does_not_fit_the_data(digits_run):
    assert_usage_error(
        layerwise("evaluate", digits_run, "--data", "moons"),
        "the model maps 64 inputs to 10 outputs, but moons has 2 features and needs 1 output",
    )


def test_predict_input_of_the_wrong_width(digits_run, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 5)))
    assert_usage_error(
        layerwise("predict", digits_run / "model.safetensors", tmp_path / "x.npy"),
        "holds rows of 5 values (shape (3, 5)); the model takes 64 features per row",
    )


def test_a_corrupted_model_file(digits_run, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes((digits_run / "model.safetensors").read_bytes()[:-10])
    assert_usage_error(layerwise("info", broken), "truncated or corrupted")


def test_mnist_missing_says_where_it_looked(tmp_path):
    result = subprocess.run(
        [
            str(SCRIPT),
            "train",
            "--data",
            "mnist",
            "--data-path",
            str(tmp_path),
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert_usage_error(result, f"mnist files not found in {str(tmp_path)!r}: pass --data-path")
    assert "--download" in result.stderr and "download=True" not in result.stderr


def test_debug_shows_the_traceback():
    result = layerwise("info", "/no/such/model.safetensors", "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.parametrize(
    ("data", "test_size", "counts"),
    [
        ("digits", "0.001", "puts 2 of the 1797 samples in the test split"),
        ("digits", "0.999", "puts 1796 of the 1797 samples in the test split and 1 in"),
        ("moons", "0.0001", "puts 1 of the 1000 samples in the test split"),
    ],
)
def test_a_test_size_that_leaves_a_split_too_small(tmp_path, data, test_size, counts):
    result = layerwise(
        "train", "--data", data, "--test-size", test_size, "--no-progress", "--out", tmp_path / "r"
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("layerwise: error: ") and counts in line
    assert "Choose a test_size between" in line and "Traceback" not in result.stderr


def test_a_diverging_run_says_so_keeps_its_last_good_weights_and_fails(tmp_path):
    run = tmp_path / "run"
    result = layerwise(
        "train", "--data", "moons", "--lr", "1e6", "--epochs", "5", "--no-progress", "--out", run
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()  # one plain line, no Python warning
    assert line.startswith("layerwise: error: Training diverged at epoch ")
    assert "lower learning rate than 1e+06" in line and "--lr" in line
    assert "with the weights from before the divergence" in result.stdout
    config = json.loads((run / "config.json").read_text())
    assert config["diverged"].startswith("Training diverged")
    weights = lw.load(run / "model.safetensors").state_dict()
    assert all(np.isfinite(w).all() for w in weights.values())


def test_one_epoch_and_one_prediction_are_singular(tmp_path):
    result = layerwise("train", "--data", "xor", "--epochs", "1", "--no-progress", "--out",
                       tmp_path / "run")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "after 1 epoch in" in result.stdout
    rows = tmp_path / "one.csv"
    rows.write_text("0.1,0.9\n")
    result = layerwise("predict", tmp_path / "run", rows)
    assert result.returncode == 0, result.stderr
    assert "wrote 1 prediction to" in result.stdout


def test_another_optimizer_gets_its_own_learning_rate(tmp_path):
    # digits' default rate (3e-3) is Adam's; SGD at that rate reached only 85 %.
    result = layerwise("train", "--optimizer", "sgd", "--no-progress", "--out", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["optimizer"] == "sgd" and config["lr"] == 0.1
    assert config["test"]["accuracy"] >= 0.95
    given = layerwise(
        "train", "--optimizer", "sgd", "--lr", "0.05", "--epochs", "1", "--no-progress",
        "--out", tmp_path / "given",
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert json.loads((tmp_path / "given" / "config.json").read_text())["lr"] == 0.05


def test_a_regression_run_reports_r2_and_mae_equal_to_scikit_learns(tmp_path):
    from sklearn.metrics import mean_absolute_error, r2_score

    result = layerwise("train", "--data", "function2d", "--epochs", "4", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "config.json").read_text())
    model = lw.load(tmp_path / "model.safetensors")
    data = load_data("function2d", seed=config["seed"], test_size=config["test_size"],
                     data_path=None, download=False)  # fmt: skip
    pred = model.predict(data.X_test).ravel()
    assert config["test"]["r2"] == pytest.approx(r2_score(data.y_test, pred), abs=1e-6)
    assert config["test"]["mae"] == pytest.approx(mean_absolute_error(data.y_test, pred), abs=1e-6)
    assert f"test R^2 {config['test']['r2']:.4f}, MAE" in result.stdout
    history = (tmp_path / "history.csv").read_text().splitlines()[0].split(",")
    assert {"r2", "mae", "val_r2", "val_mae"} <= set(history)


def test_the_pictures_name_their_data_set_split_and_classes(tmp_path, monkeypatch):
    from layerwise import cli

    drawn = {}
    for name in ("history", "confusion_matrix", "decision_boundary"):
        real = getattr(lw.plot, name)
        monkeypatch.setattr(
            lw.plot,
            name,
            lambda *a, _real=real, _name=name, **k: drawn.setdefault(_name, _real(*a, **k)),
        )
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 784)).astype(np.float32), rng.integers(0, 10, 40)
    data = cli.Data("fashion-mnist", X[:30], X[30:], y[:30], y[30:], "multiclass", 10)
    model = lw.Sequential([lw.Linear(784, 10)], seed=0)
    history = model.fit(data.X_train, data.y_train, loss=lw.CrossEntropy(), optimizer=lw.SGD(0.1),
                        validation_data=(data.X_test, data.y_test), progress=False)  # fmt: skip
    cli._save_pictures(tmp_path, model, data, history, None)
    matrix = drawn["confusion_matrix"].axes[0]
    assert [t.get_text() for t in matrix.get_yticklabels()] == list(lw.data.FASHION_CLASSES)
    assert matrix.get_title() == "fashion-mnist: the 10 test samples"
    losses = drawn["history"]
    assert losses._suptitle.get_text().startswith("fashion-mnist: 1-epoch run")
    assert [line.get_label() for line in losses.axes[0].lines] == ["train", "test"]
    moons = lw.data.moons(60, seed=0)
    split = moons[0][:40], moons[0][40:], moons[1][:40], moons[1][40:]
    data = cli.Data("moons", *split, "binary", 1)
    model = lw.Sequential([lw.Linear(2, 1), lw.Sigmoid()], seed=0)
    cli._save_pictures(tmp_path, model, data, history, None)
    assert drawn["decision_boundary"].axes[0].get_title() == "moons: the 20 test points"
    assert {p.name for p in tmp_path.iterdir()} >= {"confusion_matrix.png", "decision_boundary.png"}
