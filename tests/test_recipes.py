"""The pieces of the MNIST recipes: label smoothing, max-norm, RandomShift, and the
recipes' code path (``layerwise train --recipe ...`` in its quick mode)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import layerwise as lw
from layerwise import cli
from layerwise.layers import RandomShift

# -- label smoothing ------------------------------------------------------------------


def _torch_cross_entropy(z, target, smoothing, sample_weight=None):
    """torch's value and gradient for the same logits (float64)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    zt = torch.tensor(z, requires_grad=True)
    tt = torch.tensor(target)
    if sample_weight is None:
        value = F.cross_entropy(zt, tt, label_smoothing=smoothing)
    else:
        rows = F.cross_entropy(zt, tt, label_smoothing=smoothing, reduction="none")
        w = torch.tensor(sample_weight)
        value = (rows * w).sum() / w.sum()
    value.backward()
    return value.item(), zt.grad.numpy()


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3, 1.0])
@pytest.mark.parametrize("targets", ["labels", "rows"])
@pytest.mark.parametrize("weighted", [False, True], ids=["mean", "sample_weight"])
def test_label_smoothing_matches_torch(rng, smoothing, targets, weighted):
    n, k = 7, 5
    z = rng.normal(size=(n, k)) * 3
    labels = rng.integers(0, k, n)
    target = labels if targets == "labels" else rng.dirichlet(np.ones(k), n)
    weights = rng.random(n) + 0.1 if weighted else None
    loss = lw.CrossEntropy(label_smoothing=smoothing)
    value = loss.forward(z, target, sample_weight=weights)
    grad = loss.backward()
    expected_value, expected_grad = _torch_cross_entropy(z, target, smoothing, weights)
    assert value == pytest.approx(expected_value, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)


def test_label_smoothing_equals_smoothed_one_hot_rows(rng, dtype):
    """Labels with smoothing are the rows (1 - eps) onehot + eps / k, in either dtype."""
    z = rng.normal(size=(6, 4)).astype(dtype)
    labels = rng.integers(0, 4, 6)
    smoothed = (np.eye(4)[labels] * 0.8 + 0.05).astype(dtype)
    a, b = lw.CrossEntropy(label_smoothing=0.2), lw.CrossEntropy()
    assert a.forward(z, labels) == pytest.approx(b.forward(z, smoothed), rel=1e-5)
    grad = a.backward()
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, b.backward(), rtol=1e-5, atol=1e-7)


def test_label_smoothing_trains_through_session_and_fit(rng):
    """The training loop (Session's step) uses the smoothed gradient: with eps = 1 the
    target is uniform, so the net learns to output equal logits whatever the labels."""
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    model = lw.Sequential([lw.Linear(3, 8), lw.ReLU(), lw.Linear(8, 2)], seed=0)
    model.fit(
        X,
        y,
        loss=lw.CrossEntropy(label_smoothing=1.0),
        optimizer=lw.Adam(3e-2),
        epochs=300,
        batch_size=None,
        progress=False,
    )
    probs = lw.activations.softmax(model.predict(X))
    np.testing.assert_allclose(probs, 0.5, atol=0.02)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.1", True, None])
def test_label_smoothing_refuses_bad_values(bad):
    with pytest.raises(lw.LayerwiseError, match="label_smoothing"):
        lw.CrossEntropy(label_smoothing=bad)


def test_label_smoothing_survives_a_checkpoint(tmp_path, rng):
    X = rng.normal(size=(32, 4)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    model = lw.Sequential([lw.Linear(4, 3)], seed=0)
    path = tmp_path / "ckpt.safetensors"
    loss = lw.CrossEntropy(label_smoothing=0.1)
    model.fit(
        X,
        y,
        loss=loss,
        optimizer="sgd",
        epochs=1,
        progress=False,
        callbacks=[lw.ModelCheckpoint(path)],
    )
    assert repr(lw.load_checkpoint(path).loss) == "CrossEntropy(label_smoothing=0.1)"
    assert repr(lw.CrossEntropy()) == "CrossEntropy()"  # unchanged without smoothing


# -- max-norm -------------------------------------------------------------------------


def _column_norms(w):
    return np.sqrt((w.astype(np.float64) ** 2).sum(axis=0))


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_max_norm_keeps_every_column_at_most_c(rng, name):
    model = lw.Sequential([lw.Linear(20, 30), lw.ReLU(), lw.Linear(30, 4)], seed=0)
    X, y = rng.normal(size=(50, 20)).astype(np.float32), rng.integers(0, 4, 50)
    c = 0.5
    opt = lw.optim.get(name, lr=0.5 if name == "sgd" else 0.05, max_norm=c)
    loss = lw.CrossEntropy()
    for _ in range(20):
        loss.forward(model.forward(X, training=True), y)
        model.backward(loss.backward(), input_grad=False)
        opt.step(model.parameters())
        for layer in (model.layers[0], model.layers[2]):
            assert _column_norms(layer.params["W"]).max() <= c * (1 + 1e-6)
    # the constraint binds (the initial 30 columns are above c), and biases are free
    assert np.isclose(_column_norms(model.layers[0].params["W"]), c, rtol=1e-5).any()
    assert np.abs(model.layers[2].params["b"]).max() > 0


def test_max_norm_leaves_columns_under_c_untouched():
    w = np.array([[3.0, 0.1, 4.0], [4.0, 0.2, 0.0]], np.float32)  # norms 5, ~0.22, 4
    b = np.zeros(3, np.float32)
    before = w.copy()
    opt = lw.SGD(lr=0.0, max_norm=1.0)  # lr 0: only the constraint moves the weights
    opt.step({"W": (w, np.zeros_like(w)), "b": (b, np.zeros_like(b))})
    np.testing.assert_allclose(_column_norms(w), [1.0, np.sqrt(0.05), 1.0], rtol=1e-6)
    np.testing.assert_array_equal(w[:, 1], before[:, 1])  # bit for bit
    np.testing.assert_allclose(w[:, 0], before[:, 0] / 5, rtol=1e-6)  # direction kept


def test_max_norm_survives_config_state_dict_and_checkpoint(tmp_path, rng):
    opt = lw.Adam(1e-3, max_norm=3.5)
    assert opt.config()["max_norm"] == 3.5
    assert lw.optim.from_config(opt.config()).max_norm == 3.5
    assert "max_norm" not in lw.Adam().config()  # old configs read the same
    X, y = rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 3, 32)
    model = lw.Sequential([lw.Linear(4, 3)], seed=0)
    path = tmp_path / "ckpt.safetensors"
    model.fit(
        X,
        y,
        loss="cross_entropy",
        optimizer=opt,
        epochs=1,
        progress=False,
        callbacks=[lw.ModelCheckpoint(path)],
    )
    again = lw.load_checkpoint(path).optimizer
    assert again.max_norm == 3.5
    state = again.state_dict()
    fresh = lw.Adam(1e-3, max_norm=3.5)
    fresh.load_state_dict(state)
    assert fresh.state_dict()["step"] == opt.state_dict()["step"]


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "3"])
def test_max_norm_refuses_bad_values(bad):
    with pytest.raises(lw.LayerwiseError, match="max_norm"):
        lw.SGD(0.1, max_norm=bad)


# -- RandomShift ----------------------------------------------------------------------


def _images(n, h, w, dtype=np.float32):
    return (np.arange(n * h * w, dtype=dtype).reshape(n, h * w) + 1) / (n * h * w)


def test_shift_moves_pixels_by_the_drawn_offsets(dtype):
    n, h, w, k = 40, 6, 7, 2
    x = _images(n, h, w, dtype)
    shift = RandomShift((h, w), max_shift=k, rng=3)
    out = shift.forward(x, training=True)
    assert out.shape == x.shape and out.dtype == dtype
    assert shift.shifts.shape == (n, 2) and np.abs(shift.shifts).max() <= k
    assert len({tuple(s) for s in shift.shifts}) > 10  # offsets differ across the batch
    for row in range(n):
        dy, dx = shift.shifts[row]
        expected = np.zeros((h, w), dtype)
        image = x[row].reshape(h, w)
        # y[i, j] = x[i - dy, j - dx] where that is inside the image, else 0
        for i in range(h):
            for j in range(w):
                if 0 <= i - dy < h and 0 <= j - dx < w:
                    expected[i, j] = image[i - dy, j - dx]
        np.testing.assert_array_equal(out[row].reshape(h, w), expected)


def test_shift_keeps_labels_and_trains_in_fit(rng):
    """In a training step the shift changes the images, never which label a row has:
    a net that must tell the rows apart by a pixel far from the border still learns."""
    n, h, w = 200, 8, 8
    X = rng.random((n, h * w)).astype(np.float32) * 0.1
    y = rng.integers(0, 2, n)
    X.reshape(n, h, w)[:, 2:6, 2:6] += y[:, None, None]  # the label, as a bright centre
    model = lw.Sequential(
        [RandomShift((h, w), 1), lw.Linear(h * w, 16), lw.ReLU(), lw.Linear(16, 2)], seed=0
    )
    hist = model.fit(
        X,
        y,
        loss="cross_entropy",
        optimizer=lw.Adam(1e-2),
        epochs=15,
        batch_size=32,
        progress=False,
    )
    assert hist.history["accuracy"][-1] > 0.95


def test_shift_is_seeded_and_identity_when_not_training():
    x = _images(16, 5, 5)
    a, b = RandomShift((5, 5), 1, rng=7), RandomShift((5, 5), 1, rng=7)
    np.testing.assert_array_equal(a.forward(x, training=True), b.forward(x, training=True))
    c = RandomShift((5, 5), 1, rng=8)
    assert not np.array_equal(c.forward(x, training=True), a.forward(x, training=True))
    assert a.forward(x) is x and a.backward(x) is x  # evaluation: identity, as Dropout
    assert RandomShift((5, 5), 0, rng=0).forward(x, training=True) is x
    # in a Sequential, the shifts come from the network's seed
    nets = [lw.Sequential([RandomShift((5, 5), 1), lw.Linear(25, 2)], seed=1) for _ in "ab"]
    outs = [net.forward(x, training=True) for net in nets]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(nets[0].predict(x), nets[0].layers[1].forward(x))


def test_shift_backward_is_the_transpose_of_forward(rng, dtype):
    """<shift(x), g> = <x, shift^T(g)> for any g: the backward pass is the adjoint."""
    h, w = 5, 6
    x = rng.normal(size=(9, h * w)).astype(dtype)
    g = rng.normal(size=(9, h * w)).astype(dtype)
    shift = RandomShift((h, w), 2, rng=0)
    out = shift.forward(x, training=True)
    grad_in = shift.backward(g)
    assert grad_in.shape == x.shape and grad_in.dtype == dtype
    assert np.vdot(out, g) == pytest.approx(np.vdot(x, grad_in), rel=1e-5)
    # a pixel shifted out of the image gets no gradient
    dy, dx = shift.shifts[0]
    lost = np.ones((h, w), bool)
    lost[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = False
    assert (grad_in[0].reshape(h, w)[lost] == 0).all()


def test_shift_gradient_check():
    model = lw.Sequential(
        [lw.Linear(16, 16), RandomShift((4, 4), 1), lw.Tanh(), lw.Linear(16, 3)],
        seed=0,
        dtype=np.float64,
    )
    x = np.random.default_rng(0).normal(size=(5, 16))
    y = np.array([0, 1, 2, 1, 0])
    loss = lw.CrossEntropy(label_smoothing=0.1)
    # a fixed set of shifts: the same generator state for every evaluation
    state = model.layers[1].rng.bit_generator.state

    def value(params_vector=None):
        model.layers[1].rng.bit_generator.state = state
        return loss.forward(model.forward(x, training=True), y)

    value()
    model.backward(loss.backward())
    analytic = model.layers[0].grads["W"].copy()
    W = model.layers[0].params["W"]
    numeric = np.zeros_like(W)
    for index in np.ndindex(W.shape):
        old = W[index]
        W[index] = old + 1e-6
        up = value()
        W[index] = old - 1e-6
        down = value()
        W[index] = old
        numeric[index] = (up - down) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_shift_resumes_bit_for_bit_and_saves(tmp_path, rng):
    X = rng.random((64, 36)).astype(np.float32)
    y = rng.integers(0, 3, 64)

    def net():
        return lw.Sequential([RandomShift((6, 6), 1), lw.Dropout(0.2), lw.Linear(36, 3)], seed=4)

    kwargs = dict(loss="cross_entropy", batch_size=16, seed=2, progress=False)
    whole = net()
    whole.fit(X, y, optimizer=lw.SGD(0.1, momentum=0.9, max_norm=1.0), epochs=4, **kwargs)
    path = tmp_path / "ckpt-{epoch}.safetensors"
    half = net()
    half.fit(
        X,
        y,
        optimizer=lw.SGD(0.1, momentum=0.9, max_norm=1.0),
        epochs=2,
        callbacks=[lw.ModelCheckpoint(path)],
        **kwargs,
    )
    resumed, _ = lw.io.resume(tmp_path / "ckpt-2.safetensors", X, y, epochs=4, progress=False)
    for name, value in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value)
    lw.save(whole, tmp_path / "model.safetensors")
    loaded = lw.load(tmp_path / "model.safetensors")
    assert repr(loaded.layers[0]) == "RandomShift(image_shape=(6, 6), max_shift=1)"
    np.testing.assert_array_equal(loaded.predict(X), whole.predict(X))


@pytest.mark.parametrize(
    "args",
    [((28,), 2), ((28, 0), 2), ((4, 4), 4), ((4, 4), -1), ((4, 4), 1.5), ("28x28", 2)],
)
def test_shift_refuses_bad_arguments(args):
    with pytest.raises(lw.LayerwiseError, match="RandomShift"):
        RandomShift(*args)


def test_shift_refuses_rows_of_another_width():
    with pytest.raises(lw.LayerwiseError, match="input features"):
        lw.Sequential([lw.Linear(10, 16), RandomShift((5, 5), 1)])
    with pytest.raises(lw.LayerwiseError, match="expects rows of 25 pixels"):
        RandomShift((5, 5), 1).forward(np.zeros((3, 24), np.float32), training=True)


def test_leading_layers_without_parameters_skip_the_input_gradient(rng):
    """Training needs no gradient for the data: after a leading RandomShift and Dropout
    the first Linear skips g W^T, and the parameter gradients are the same."""
    x = rng.random((8, 16)).astype(np.float32)
    model = lw.Sequential(
        [RandomShift((4, 4), 1), lw.Dropout(0.3), lw.Linear(16, 5), lw.ReLU(), lw.Linear(5, 2)],
        seed=0,
    )
    g = rng.normal(size=(8, 2)).astype(np.float32)
    state = [layer.rng.bit_generator.state for layer in model.layers[:2]]
    model.forward(x, training=True)
    full = model.backward(g)  # with the input's gradient
    grads = {k: model.parameters()[k][1].copy() for k in model.parameters()}
    assert full.shape == x.shape and np.abs(full).sum() > 0
    for layer, st in zip(model.layers[:2], state):
        layer.rng.bit_generator.state = st
    model.forward(x, training=True)
    assert model.backward(g, input_grad=False) is None
    assert model.layers[2].input_grad is False
    for name, (_, grad) in model.parameters().items():
        np.testing.assert_array_equal(grad, grads[name])
    model.forward(x, training=True)
    assert model.backward(g).shape == x.shape  # and back on when asked for


# -- the recipes ----------------------------------------------------------------------


def test_recipes_are_documented_configurations():
    for name, recipe in cli.RECIPES.items():
        assert recipe.data in ("mnist", "fashion-mnist", "digits"), name
        assert recipe.epochs > 0 and recipe.batch_size > 0 and recipe.note, name
    assert {"mnist", "mnist-shift", "fashion-mnist"} <= cli.RECIPES.keys()


@pytest.mark.parametrize("name", ["mnist-shift", "mnist"])
def test_recipe_quick_mode_runs_and_the_loss_falls(name, tmp_path, shared_data, capsys):
    """The recipe's code path through the real command, in a few hundred steps: with a
    validation split (mnist-shift) and on every training row (mnist)."""
    out = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--recipe",
            name,
            "--quick",
            "--data-path",
            str(shared_data / "mnist"),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"] == name and config["quick"] is True
    held = cli.RECIPES[name].validation and 1000  # --quick holds out at most 1,000
    assert config["validation_samples"] == held
    assert config["train_samples"] == cli.QUICK_SAMPLES
    losses = [float(row.split(",")[1]) for row in (out / "history.csv").read_text().split()[1:]]
    # every epoch lower; smoothing by 0.1 keeps the loss above ~0.5, so not near 0
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.75 * losses[0]
    assert config["test"]["accuracy"] > 0.8
    model = lw.load(out / "model.safetensors")
    assert (type(model.layers[0]) is RandomShift) == (name == "mnist-shift")


def test_recipe_options_override_and_errors(capsys):
    assert cli.main(["train", "--recipe", "cifar"]) == 2
    assert "invalid choice: 'cifar'" in capsys.readouterr().err
    assert cli.main(["train", "--recipe", "mnist", "--layers", "784,10"]) == 2
    assert "--recipe mnist sets the network" in capsys.readouterr().err
    assert cli.main(["train", "--recipe", "mnist", "--label-smoothing", "0.2"]) == 2
    assert "--recipe mnist sets the network" in capsys.readouterr().err
    assert cli.main(["train", "--recipe", "mnist", "--data", "moons"]) == 2
    assert "trains on mnist, not moons" in capsys.readouterr().err


def test_recipe_epochs_and_seed_override(tmp_path, capsys):
    """--epochs and --seed given on the command line win over the recipe's (digits: fast)."""
    out = tmp_path / "run"
    args = ["train", "--recipe", "digits", "--epochs", "2", "--seed", "3", "--lr", "0.01"]
    assert cli.main([*args, "--out", str(out), "--no-progress"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["epochs_run"], config["seed"], config["lr"]) == (2, 3, 0.01)
    assert config["validation_samples"] == 0 and config["hidden"] == [256]
