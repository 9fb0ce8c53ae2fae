"""Issue 16: the command line as a new user meets it (CSV layouts, predictions that say
what they are, run folders that survive mistakes and Ctrl-C, options with defaults)."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import layerwise as lw
from layerwise.cli import load_data

SCRIPT = Path(sys.executable).parent / "layerwise"
SPECIES = ("setosa", "versicolor", "virginica")


def layerwise(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def usage_error(result, message):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("layerwise: error: "), result.stderr
    assert message in lines[0], lines[0]


def iris_table(sep=",", decimal="."):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    head = sep.join(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
    rows = [
        sep.join([f"{v:.1f}".replace(".", decimal) for v in x] + [SPECIES[t]]) for x, t in zip(X, y)
    ]
    return "\n".join([head, *rows]) + "\n"


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("iris")
    (folder / "iris.csv").write_text(iris_table())
    result = layerwise(
        "train",
        "--data",
        "csv:iris.csv",
        "--epochs",
        "60",
        "--no-progress",
        "--out",
        "run",
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    return folder


# -- item 4: CSV layouts ----------------------------------------------------------------


def test_iris_with_its_label_last_trains_a_classifier_of_the_named_classes(iris_run):
    config = json.loads((iris_run / "run" / "config.json").read_text())
    assert config["task"] == "multiclass" and config["classes"] == list(SPECIES)
    assert config["target"] == "species" and config["layers"][0] == 4
    assert config["test"]["accuracy"] > 0.8


@pytest.mark.parametrize(("sep", "decimal"), [(";", ","), ("\t", "."), (";", ".")])
def test_other_separators_and_decimal_commas_read_the_same_table(tmp_path, sep, decimal):
    (tmp_path / "a.csv").write_text(iris_table())
    (tmp_path / "b.csv").write_text(iris_table(sep, decimal))
    a = load_data(f"csv:{tmp_path / 'a.csv'}", seed=0, test_size=0.2)
    b = load_data(f"csv:{tmp_path / 'b.csv'}", seed=0, test_size=0.2)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert b.classes == list(SPECIES)


def test_target_by_name_or_index_and_without_a_header(tmp_path):
    table = "a,b,c\n" + "".join(f"{i},{i % 3},{2 * i}.5\n" for i in range(40))
    (tmp_path / "t.csv").write_text(table)
    path = f"csv:{tmp_path / 't.csv'}"
    first = load_data(path, seed=0, test_size=0.25)  # no text, no known name: the first
    assert first.target == "a" and first.task == "multiclass"
    by_name = load_data(path, seed=0, test_size=0.25, target="b")
    by_index = load_data(path, seed=0, test_size=0.25, target="-2")
    assert by_name.task == "multiclass" and by_name.outputs == 3
    np.testing.assert_array_equal(by_name.y_train, by_index.y_train)
    last = load_data(path, seed=0, test_size=0.25, target="2")
    assert last.task == "regression"
    (tmp_path / "n.csv").write_text(table.split("\n", 1)[1])
    headless = load_data(f"csv:{tmp_path / 'n.csv'}", seed=0, test_size=0.25, target="1")
    np.testing.assert_array_equal(headless.X_train, by_name.X_train)
    (tmp_path / "named.csv").write_text(
        "x1,label,x2\n" + "".join(f"{i},{i % 2},{i}\n" for i in range(20))
    )
    assert load_data(f"csv:{tmp_path / 'named.csv'}", seed=0, test_size=0.25).target == "label"


@pytest.mark.parametrize(
    ("table", "args", "message"),
    [
        ("a,b\n1,2\n3,4\n", ["--target", "z"], "--target 'z' is not a column of"),
        ("1,2\n3,4\n", ["--target", "name"], "has no header row of names; give the column's"),
        ("a,b\n1,2\n3,4\n", ["--target", "5"], "--target 5:"),
        ("a,b,c\nx,y,1\nz,w,2\n", [], "the columns 'a', 'b' hold text; features must be numbers"),
        ("a,b,c\nx,1,1\nz,2,2\n", ["--target", "c"], "feature column 'a' holds text ('x')"),
        ("y,a\n1,2\n0,x\n1,3\n", [], "data row 2, column 2: 'x' is not a number"),
    ],
)
def test_csv_mistakes_get_one_line(tmp_path, table, args, message):
    (tmp_path / "d.csv").write_text(table)
    usage_error(
        layerwise("train", "--data", f"csv:{tmp_path / 'd.csv'}", *args, "--out", tmp_path / "r"),
        message,
    )
    assert not (tmp_path / "r").exists()  # a failed run leaves no folder


def test_target_is_only_for_csv_data(tmp_path):
    usage_error(layerwise("train", "--target", "y", "--out", tmp_path / "r"), "--target is for")


def test_standardize_folds_the_scaling_into_the_saved_model(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)) * [1000.0, 0.001, 50.0] + [5000.0, 0.0, -20.0]
    y = 300 + 80 * (X[:, 0] - 5000) / 1000 - 40 * X[:, 1] / 0.001 + rng.normal(size=400)
    np.savetxt(tmp_path / "d.csv", np.c_[X, y], delimiter=",", header="a,b,c,target", comments="")
    runs = {}
    for name, extra in (("plain", []), ("scaled", ["--standardize"])):
        result = layerwise(
            "train",
            "--data",
            f"csv:{tmp_path / 'd.csv'}",
            "--epochs",
            "40",
            "--no-progress",
            "--out",
            tmp_path / name,
            *extra,
        )
        assert result.returncode == 0, result.stderr
        runs[name] = json.loads((tmp_path / name / "config.json").read_text())["test"]
    assert runs["scaled"]["r2"] > 0.9 > runs["plain"]["r2"]
    # The saved model takes the raw features and gives the target in its own units.
    model = lw.load(tmp_path / "scaled" / "model.safetensors")
    data = load_data(f"csv:{tmp_path / 'd.csv'}", seed=0, test_size=0.2)
    score = lw.metrics.r2(data.y_test[:, 0], model.predict(data.X_test)[:, 0])
    assert score == pytest.approx(runs["scaled"]["r2"], abs=1e-4)
    again = layerwise("evaluate", tmp_path / "scaled")
    assert f"r2 {runs['scaled']['r2']:.4f}" in again.stdout, again.stderr


# -- item 7: predictions that say what they are ------------------------------------------


def test_predict_writes_class_names_and_probabilities(iris_run, tmp_path):
    rows = [r.split(",")[:4] for r in iris_table().splitlines()[1:]]
    (tmp_path / "x.csv").write_text("\n".join(",".join(r) for r in rows[:5]) + "\n")
    result = layerwise("predict", iris_run / "run", tmp_path / "x.csv", "-o", tmp_path / "p.csv")
    assert result.returncode == 0, result.stderr
    table = list(csv.reader((tmp_path / "p.csv").open()))
    assert table[0] == ["class", "p_setosa", "p_versicolor", "p_virginica"]
    for row in table[1:]:
        p = np.array(row[1:], dtype=float)
        assert abs(p.sum() - 1) < 1e-4 and row[0] == SPECIES[p.argmax()]
    result = layerwise("predict", iris_run / "run", tmp_path / "x.csv", "-o", tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as saved:
        assert list(saved["classes"]) == [r[0] for r in table[1:]]
        np.testing.assert_allclose(
            saved["probabilities"], np.array([r[1:] for r in table[1:]], dtype=float), rtol=1e-5
        )


def test_a_binary_model_writes_the_probability_of_class_1(tmp_path):
    result = layerwise(
        "train", "--data", "moons", "--epochs", "50", "--no-progress", "--out", tmp_path / "r"
    )
    assert result.returncode == 0, result.stderr
    X = np.array([[-1.0, 0.5], [2.0, -0.5]])
    np.save(tmp_path / "x.npy", X)
    layerwise("predict", tmp_path / "r", tmp_path / "x.npy", "-o", tmp_path / "p.csv")
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "class,p_1"
    p1 = lw.load(tmp_path / "r" / "model.safetensors").predict(X)[:, 0]
    assert [float(r.split(",")[1]) for r in rows[1:]] == pytest.approx(p1, rel=1e-5)
    layerwise(
        "predict", tmp_path / "r", tmp_path / "x.npy", "-o", tmp_path / "p.npy", "--probabilities"
    )
    np.testing.assert_allclose(np.load(tmp_path / "p.npy")[:, 0], p1, rtol=1e-6)


def test_a_model_saved_from_python_says_what_it_is(tmp_path):
    X_train, X_test, y_train, _ = lw.data.digits(seed=0)
    model = lw.Sequential([lw.Linear(64, 10)], seed=0)
    model.fit(X_train, y_train, loss="cross_entropy", optimizer="adam", epochs=2, progress=False)
    lw.save(model, tmp_path / "m.safetensors")  # the README's own example: no info
    np.save(tmp_path / "x.npy", X_test[:4])
    result = layerwise(
        "predict", tmp_path / "m.safetensors", tmp_path / "x.npy", "-o", tmp_path / "p.csv"
    )
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0].startswith("class,p_0,") and result.returncode == 0
    probabilities = np.array([r.split(",")[1:] for r in rows[1:]], dtype=float)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)  # not raw logits
    info = layerwise("info", tmp_path / "m.safetensors").stdout
    assert "trained for: multiclass, 10 classes; CrossEntropy, Adam, lr 0.001, 2 epochs" in info
    assert "on 1437 samples" in info
    usage_error(
        layerwise("evaluate", tmp_path / "m.safetensors"),
        "it was saved from Python, or its info has no 'data'); pass --data",
    )


# -- item 8: evaluate finds the data again -----------------------------------------------


def test_evaluate_from_another_folder_finds_a_relative_csv(iris_run, tmp_path):
    result = layerwise("evaluate", iris_run / "run", cwd=tmp_path)
    accuracy = json.loads((iris_run / "run" / "config.json").read_text())["test"]["accuracy"]
    assert result.returncode == 0 and f"accuracy {accuracy:.4f}" in result.stdout, result.stderr


def test_mnist_data_path_may_be_the_folder_or_its_parent(shared_data):
    inner = load_data("mnist", seed=0, test_size=0.2, data_path=shared_data / "mnist")
    parent = load_data("mnist", seed=0, test_size=0.2, data_path=shared_data)
    np.testing.assert_array_equal(inner.y_test, parent.y_test)


@pytest.mark.parametrize("option", [["--data-path", "/tmp"], ["--download"]])
def test_mnist_options_are_refused_for_other_data(tmp_path, option):
    usage_error(
        layerwise("train", "--data", "moons", *option, "--out", tmp_path / "r"),
        f"{option[0]} is for mnist and fashion-mnist; moons needs no files",
    )


# -- item 9: run folders ----------------------------------------------------------------


def test_reusing_out_is_refused_and_overwrite_replaces_the_run(tmp_path):
    out = tmp_path / "r"
    first = layerwise("train", "--data", "moons", "--epochs", "5", "--no-progress", "--out", out)
    assert first.returncode == 0, first.stderr
    (out / "notes.txt").write_text("mine")
    usage_error(
        layerwise("train", "--data", "xor", "--epochs", "5", "--out", out),
        "already holds a run (model.safetensors...); choose another folder, or pass",
    )
    assert json.loads((out / "config.json").read_text())["data"] == "moons"
    again = layerwise(
        "train", "--data", "xor", "--epochs", "5", "--no-progress", "--out", out, "--overwrite"
    )
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "config.json").read_text())["data"] == "xor"
    assert (out / "notes.txt").read_text() == "mine"  # only the run's own files go


def test_a_failed_run_leaves_no_empty_folder(tmp_path):
    usage_error(layerwise("train", "--layers", "64,10,3", cwd=tmp_path), "--layers ends with 3")
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_saves_the_finished_epochs_and_resume_ends_where_a_straight_run_does(tmp_path):
    # Enough epochs (~1 ms each) that the interrupt surely lands mid-run.
    args = ["train", "--data", "spiral", "--epochs", "3000"]
    process = subprocess.Popen(
        [str(SCRIPT), *args, "--out", str(tmp_path / "cut")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job ignores SIGINT and its children inherit that, and Python
        # then installs no KeyboardInterrupt: the child starts with the default, as in a
        # terminal (the CI failures of 2026-12-02 ran the tests so).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        # Not a terminal: fit writes a line per epoch to stderr. Interrupt mid-run.
        if process.stderr.readline().startswith("Epoch 10/3000"):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, (out, err)
    assert "go on with: layerwise train --resume" in err
    epochs = len((tmp_path / "cut" / "history.csv").read_text().splitlines()) - 1
    assert 10 <= epochs < 3000
    config = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert config["interrupted"] and config["epochs_run"] == epochs

    resumed = layerwise("train", "--resume", tmp_path / "cut", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    straight = layerwise(*args, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    losses = [
        [row["loss"] for row in csv.DictReader((tmp_path / name / "history.csv").open())]
        for name in ("cut", "straight")
    ]
    assert losses[0] == losses[1] and len(losses[0]) == 3000  # bit for bit, as printed
    usage_error(layerwise("train", "--resume", tmp_path / "cut"), "already has 3000 epochs")
    usage_error(layerwise("train", "--resume", tmp_path / "cut", "--lr", "1"), "drop --lr")
    for option in ("--label-smoothing", "--weight-decay"):  # a 0 given is given too
        usage_error(
            layerwise("train", "--resume", tmp_path / "cut", option, "0"),
            f"drop {option}",
        )
    usage_error(layerwise("train", "--resume", tmp_path), "is not a run folder")


# -- item 10: options ----------------------------------------------------------------------


def test_momentum_weight_decay_and_early_stopping(tmp_path):
    result = layerwise(
        "train",
        "--optimizer",
        "sgd",
        "--momentum",
        "0.9",
        "--weight-decay",
        "1e-4",
        "--epochs",
        "200",
        "--early-stopping",
        "3",
        "--no-progress",
        "--out",
        tmp_path / "r",
    )
    assert result.returncode == 0, result.stderr
    assert "SGD(" in result.stdout and "momentum=0.9" in result.stdout
    assert "weight_decay=0.0001" in result.stdout
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["momentum"] == 0.9 and config["early_stopping"] == 3
    assert config["epochs_run"] < 100  # stopped on the validation rows
    header = (tmp_path / "r" / "history.csv").read_text().splitlines()[0]
    assert "val_loss" in header and config["train_samples"] == 1437
    usage_error(
        layerwise("train", "--momentum", "0.9", "--out", tmp_path / "x"),
        "--momentum is for --optimizer sgd or rmsprop, not adam",
    )


def test_label_smoothing_can_be_set_or_turned_off(tmp_path):
    args = ("train", "--layers", "64,32,10", "--epochs", "2", "--no-progress", "--out")
    off = layerwise(*args, tmp_path / "off", "--label-smoothing", "0")
    assert off.returncode == 0, off.stderr
    assert "label_smoothing" not in json.loads((tmp_path / "off" / "config.json").read_text())
    assert "CrossEntropy()" in off.stdout
    on = layerwise(*args, tmp_path / "on", "--label-smoothing", "0.2")
    assert on.returncode == 0, on.stderr
    config = json.loads((tmp_path / "on" / "config.json").read_text())
    assert config["label_smoothing"] == 0.2 and "CrossEntropy(label_smoothing=0.2)" in on.stdout
    checkpoint = lw.load_checkpoint(tmp_path / "on" / "checkpoint.safetensors")
    assert checkpoint.loss.label_smoothing == 0.2  # what --resume trains on
    usage_error(
        layerwise("train", "--data", "moons", "--label-smoothing", "0.1", "--out", tmp_path / "m"),
        "--label-smoothing is for --loss cross_entropy, not bce",
    )
    usage_error(
        layerwise("train", "--label-smoothing", "1.5", "--out", tmp_path / "x"),
        "argument --label-smoothing: '1.5' must be between 0 and 1",
    )
    usage_error(
        layerwise("train", "--recipe", "digits", "--label-smoothing", "0", "--out", tmp_path / "r"),
        "--recipe digits sets the network and the training; drop --label-smoothing",
    )
    assert not any((tmp_path / name).exists() for name in "mxr")


def test_help_shows_the_defaults():
    text = layerwise("train", "--help").stdout
    assert (
        "digits: hidden 1024 relu, adam lr 0.003, 30 epochs, batch 32, label smoothing 0.1" in text
    )
    assert "(default 0.2)" in " ".join(text.split()) or "default 0.2" in text
    assert "sgd 0.1" in text and "target column" in text


# -- item 12: wording ----------------------------------------------------------------------


def test_a_network_without_hidden_layers_names_no_activation(tmp_path):
    result = layerwise(
        "train",
        "--data",
        "moons",
        "--layers",
        "2,1",
        "--epochs",
        "3",
        "--no-progress",
        "--out",
        tmp_path / "r",
    )
    assert result.returncode == 0, result.stderr
    assert "network 2-1, " in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--loss", "bce"], "--loss bce needs 2 classes; digits is a multiclass task: use --loss"),
        (["--loss", "mse"], "--loss mse is for regression; digits is a multiclass task"),
        (["--data", "moons", "--loss", "cross_entropy"], "moons is a binary task: use --loss bce"),
        (["--data", "function2d", "--loss", "bce"], "function2d is a regression task"),
    ],
)
def test_a_loss_that_does_not_fit_the_task_is_said_in_command_line_terms(args, message):
    usage_error(layerwise("train", *args), message)


def test_a_wrong_input_width_reports_the_whole_array():
    model = lw.Sequential([lw.Linear(64, 10)], seed=0)
    with pytest.raises(lw.LayerwiseError, match=r"X has shape \(1437, 10\)"):
        model.fit(
            np.zeros((1437, 10)),
            np.zeros(1437, int),
            loss="cross_entropy",
            optimizer="adam",
            epochs=1,
            progress=False,
        )
    with pytest.raises(lw.LayerwiseError, match=r"y does not fit MSE\(\): target shape") as e:
        model.fit(np.zeros((20, 64)), np.zeros(20), loss="mse", optimizer="adam", progress=False)
    assert str(e.value).count("MSE()") == 1


def test_evaluate_with_a_loss_that_does_not_fit(iris_run):
    usage_error(
        layerwise("evaluate", iris_run / "run", "--loss", "bce"), "--loss bce needs 2 classes;"
    )


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    command = f"{SCRIPT} train --data xor --epochs 3 --out {tmp_path / 'r'} | head -c 10"
    result = subprocess.run(
        ["bash", "-c", command + "; echo ${PIPESTATUS[0]} >&2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "error" not in result.stderr and result.stderr.strip().splitlines()[-1] in ("0", "141")
