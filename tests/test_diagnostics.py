"""lw.Diagnostics: per-layer statistics that match NumPy, exact dead and saturated shares,
the warnings of notebook 000's deep sigmoid net, and the figure that shows them."""

from __future__ import annotations

import functools
import json
import warnings

import matplotlib
import numpy as np
import pytest

import layerwise as lw

matplotlib.use("Agg")  # lw.plot never uses pyplot; nothing here may open a window


def stream(rng, n):
    """Notebook 000's make_batch(): n fresh points of the 2-D function."""
    return lw.data.function2d(n=n, seed=rng)


def notebook_000_net(seed=1):
    """Notebook 000's deep net: 2 -> 100, 20 hidden layers 100 -> 100 with weights
    uniform(-3, 3), 100 -> 1, a sigmoid after every layer, biases uniform(-1, 1)."""
    wide = functools.partial(lw.init.uniform, low=-3.0, high=3.0)
    unit = functools.partial(lw.init.uniform, low=-1.0, high=1.0)
    layers = [lw.Linear(2, 100, init=unit, bias_init=unit), lw.Sigmoid()]
    for _ in range(20):
        layers += [lw.Linear(100, 100, init=wide, bias_init=unit), lw.Sigmoid()]
    layers += [lw.Linear(100, 1, init=unit, bias_init=unit), lw.Sigmoid()]
    return lw.Sequential(layers, seed=seed)


def deep_net(activation, *, seed=0):
    """The same depth and widths with the library's default init (He uniform, zero bias)."""
    layers = [lw.Linear(2, 100), activation()]
    for _ in range(20):
        layers += [lw.Linear(100, 100), activation()]
    return lw.Sequential([*layers, lw.Linear(100, 1)], seed=seed)


def grad_norms(diag):
    """``(layers with weights, records)`` gradient norms, in network order."""
    return np.array([s["grad_norm"] for s in diag.history.values() if "grad_norm" in s])


def train(model, diag, steps, *, lr=0.01, batch_size=1000, optimizer=None):
    session = lw.Session(
        model,
        lw.MSE(),
        optimizer or lw.SGD(lr=lr),
        stream,
        batch_size=batch_size,
        seed=0,
        callbacks=[diag],
    )
    session.step(steps)
    return session


# -- the statistics -------------------------------------------------------------------


def test_dead_relu_share_is_exact():
    """Units 0-2 never fire, unit 3 fires on one sample only (alive), 4-9 always fire."""
    X = np.random.default_rng(0).uniform(-1, 1, (64, 3))
    model = lw.Sequential([lw.Linear(3, 10), lw.ReLU(), lw.Linear(10, 1)], dtype=np.float64)
    W, b = model.layers[0].params["W"], model.layers[0].params["b"]
    W[...] = 0.0
    b[:3] = -1.0  # output 0 on every sample: dead
    b[4:] = 1.0  # positive on every sample
    W[0, 3] = 1.0  # x0 - (the second largest x0): positive on one sample only
    b[3] = -np.sort(X[:, 0])[-2]
    assert np.count_nonzero(X @ W[:, 3] + b[3] > 0) == 1
    diag = lw.Diagnostics(every=1)
    model.fit(
        X,
        X[:, :1],
        loss=lw.MSE(),
        optimizer=lw.SGD(lr=0.0),
        epochs=3,
        batch_size=None,
        callbacks=[diag],
        progress=False,
    )
    assert diag.history["1: ReLU()"]["dead"] == [0.3, 0.3, 0.3]


def test_statistics_of_a_tiny_net_match_numpy():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(8, 3)), rng.uniform(size=(8, 2))
    model = lw.Sequential(
        [lw.Linear(3, 5), lw.ReLU(), lw.Linear(5, 4), lw.Tanh(), lw.Linear(4, 2), lw.Sigmoid()],
        seed=0,
        dtype=np.float64,
    )
    model.layers[2].params["W"][...] *= 6.0  # some tanh outputs saturate
    W0, b0, W2, b2, W4, b4 = (p.copy() for p, _ in model.parameters().values())
    lr = 0.1
    diag = lw.Diagnostics(every=1)
    with pytest.warns(lw.LayerwiseWarning, match=r"Layer 3 \(Tanh\(\)\) is saturated"):
        model.fit(
            X,
            y,
            loss=lw.MSE(),
            optimizer=lw.SGD(lr=lr),
            batch_size=None,
            callbacks=[diag],
            progress=False,
        )

    # The forward pass and the backward pass written out (MSE over all 16 outputs).
    a1 = np.maximum(X @ W0 + b0, 0)
    t = np.tanh(a1 @ W2 + b2)
    s = 1 / (1 + np.exp(-(t @ W4 + b4)))
    g5 = 2 * (s - y) / s.size * s * (1 - s)
    g3 = (g5 @ W4.T) * (1 - t**2)
    g1 = (g3 @ W2.T) * (a1 > 0)
    dW = {0: X.T @ g1, 2: a1.T @ g3, 4: t.T @ g5}
    before = {0: W0, 2: W2, 4: W4}
    h = diag.history
    assert 0 < np.mean(np.abs(t) > 0.97) < 1
    for name, out in (("1: ReLU()", a1), ("3: Tanh()", t), ("5: Sigmoid()", s)):
        assert h[name]["mean"] == [pytest.approx(out.mean(), rel=1e-12)]
        assert h[name]["std"] == [pytest.approx(out.std(), rel=1e-12)]
    assert h["1: ReLU()"]["dead"] == [np.mean(~(a1 > 0).any(axis=0))]
    assert h["3: Tanh()"]["saturated"] == [np.mean(np.abs(t) > 0.97)]
    assert h["5: Sigmoid()"]["saturated"] == [np.mean(np.abs(2 * s - 1) > 0.97)]
    for i in (0, 2, 4):
        name = f"{i}: {model.layers[i]!r}"
        assert h[name]["grad_norm"] == [pytest.approx(np.linalg.norm(dW[i]), rel=1e-10)]
        after = before[i] - lr * dW[i]
        assert h[name]["weight_norm"] == [pytest.approx(np.linalg.norm(after), rel=1e-10)]
        ratio = lr * np.linalg.norm(dW[i]) / np.linalg.norm(after)
        assert h[name]["update_ratio"] == [pytest.approx(ratio, rel=1e-8)]
    assert set(h) == {f"{i}: {layer!r}" for i, layer in enumerate(model.layers)}


def test_saturated_share_counts_outputs_beyond_the_threshold():
    """Sigmoid outputs placed on either side of 0.015 and 0.985: exactly 6 of 12 count."""
    p = np.array([0.010, 0.014, 0.016, 0.5, 0.984, 0.986, 0.99, 0.999, 0.3, 0.7, 0.02, 0.005])
    logits = np.log(p / (1 - p))  # the pre-activations that give these outputs
    model = lw.Sequential([lw.Linear(1, 12), lw.Sigmoid(), lw.Linear(12, 1)], dtype=np.float64)
    model.layers[0].params["W"][...] = 0.0  # the same outputs for any input
    model.layers[0].params["b"][...] = logits
    diag = lw.Diagnostics(every=1)
    model.fit(
        np.ones((4, 1)),
        np.zeros((4, 1)),
        loss=lw.MSE(),
        optimizer=lw.SGD(lr=0.0),
        batch_size=None,
        callbacks=[diag],
        progress=False,
    )
    # 0.010, 0.014, 0.986, 0.99, 0.999 and 0.005 are beyond; 0.016, 0.984 are not.
    assert diag.history["1: Sigmoid()"]["saturated"] == [6 / 12]


@pytest.mark.parametrize(
    "optimizer",
    [lw.SGD(lr=0.05), lw.SGD(lr=0.05, momentum=0.9), lw.Adam(lr=0.01)],
    ids=["sgd", "momentum", "adam"],
)
def test_update_ratio_is_the_relative_change_of_the_weights(optimizer):
    model = lw.Sequential([lw.Linear(2, 8), lw.Tanh(), lw.Linear(8, 1)], seed=0, dtype=np.float64)
    diag = lw.Diagnostics(every=3)
    session = lw.Session(
        model, lw.MSE(), optimizer, stream, batch_size=16, seed=0, callbacks=[diag]
    )
    W = model.layers[0].params["W"]
    expected, plain_sgd = [], []
    for step in range(1, 13):
        before = W.copy()
        session.step(1)
        if step % 3 == 0:
            expected.append(np.linalg.norm(W - before) / np.linalg.norm(W))
            grad = model.layers[0].grads["W"]
            plain_sgd.append(0.05 * np.linalg.norm(grad) / np.linalg.norm(W))
    assert diag.steps == [3, 6, 9, 12]
    got = diag.history["0: Linear(2 -> 8)"]["update_ratio"]
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    if optimizer.config() == lw.SGD(lr=0.05).config():  # plain SGD: delta W = -lr dW
        np.testing.assert_allclose(got, plain_sgd, rtol=1e-9)


# -- when records are made -------------------------------------------------------------


def test_per_step_records_every_nth_step():
    model = lw.Sequential([lw.Linear(2, 4), lw.ReLU(), lw.Linear(4, 1)], seed=0)
    diag = lw.Diagnostics(every=7)
    train(model, diag, 50, batch_size=8)
    assert diag.steps == [7, 14, 21, 28, 35, 42, 49]
    assert len(diag) == 7 and all(len(v) == 7 for s in diag.history.values() for v in s.values())
    assert not np.isnan(diag.history["0: Linear(2 -> 4)"]["update_ratio"]).any()


def test_per_epoch_records_the_last_batch_of_every_nth_epoch():
    X, y = lw.data.function2d(n=100, seed=0)  # batch 32: 4 steps per epoch
    model = lw.Sequential([lw.Linear(2, 4), lw.ReLU(), lw.Linear(4, 1)], seed=0)
    diag = lw.Diagnostics(every=2, per="epoch")
    model.fit(
        X,
        y,
        loss=lw.MSE(),
        optimizer=lw.SGD(lr=0.01),
        epochs=7,
        batch_size=32,
        callbacks=[diag],
        progress=False,
    )
    assert (diag.steps, diag.epochs) == ([8, 16, 24], [2, 4, 6])
    assert not np.isnan(diag.history["2: Linear(4 -> 1)"]["update_ratio"]).any()


def test_defaults_and_a_full_batch_run_per_epoch():
    assert (lw.Diagnostics().every, lw.Diagnostics().per) == (50, "step")
    assert lw.Diagnostics(per="epoch").every == 1
    X, y = lw.data.function2d(n=50, seed=0)
    model = lw.Sequential([lw.Linear(2, 4), lw.ReLU(), lw.Linear(4, 1)], seed=0)
    step, epoch = lw.Diagnostics(), lw.Diagnostics(per="epoch")
    model.fit(
        X,
        y,
        loss=lw.MSE(),
        optimizer=lw.SGD(lr=0.01),
        epochs=110,
        batch_size=None,
        callbacks=[step, epoch],
        progress=False,
    )
    assert step.steps == [50, 100]
    assert epoch.steps == epoch.epochs == list(range(1, 111))  # an epoch is one step here
    assert not np.isnan(epoch.history["0: Linear(2 -> 4)"]["update_ratio"]).any()


def test_a_new_fit_starts_afresh_and_a_rollback_drops_undone_steps():
    X, y = lw.data.function2d(n=64, seed=0)
    model = lw.Sequential([lw.Linear(2, 4), lw.ReLU(), lw.Linear(4, 1)], seed=0)
    diag = lw.Diagnostics(every=2, per="epoch")
    fit = functools.partial(
        model.fit,
        X,
        y,
        loss=lw.MSE(),
        optimizer=lw.SGD(lr=0.01),
        batch_size=16,
        callbacks=[diag],
        progress=False,
    )
    fit(epochs=6)
    assert diag.epochs == [2, 4, 6]
    fit(epochs=2)
    assert (diag.steps, diag.epochs) == ([8], [2])

    session = lw.Session(
        model, lw.MSE(), lw.SGD(lr=0.01), (X, y), batch_size=16, seed=0, callbacks=[diag]
    )
    session.run(2)
    session.checkpoint()
    session.run(4)
    assert diag.epochs == [2, 4, 6]
    session.rollback()
    session.run(2)  # epochs 3 and 4 again: the record of epoch 4 is replaced
    assert (diag.steps, diag.epochs) == ([8, 16], [2, 4])
    assert all(len(v) == 2 for s in diag.history.values() for v in s.values())


def test_dropout_is_left_out_and_a_relu_before_it_has_no_mean():
    model = lw.Sequential(
        [
            lw.Linear(2, 16),
            lw.ReLU(),
            lw.Dropout(0.5),
            lw.Linear(16, 8),
            lw.ReLU(),
            lw.Linear(8, 1),
        ],
        seed=0,
    )
    diag = lw.Diagnostics(every=5)
    train(model, diag, 10, batch_size=64)
    assert list(diag.history) == [
        "0: Linear(2 -> 16)",
        "1: ReLU()",
        "3: Linear(16 -> 8)",
        "4: ReLU()",
        "5: Linear(8 -> 1)",
    ]
    before_dropout, before_linear = diag.history["1: ReLU()"], diag.history["4: ReLU()"]
    assert np.isnan(before_dropout["mean"]).all() and np.isnan(before_dropout["std"]).all()
    assert 0 <= before_dropout["dead"][-1] < 1
    assert before_linear["mean"][-1] == pytest.approx(float(model.layers[5]._x.mean()))


def test_bad_options_and_models_without_layers():
    with pytest.raises(lw.LayerwiseError, match="per must be 'step' or 'epoch'; got 'batch'"):
        lw.Diagnostics(per="batch")
    with pytest.raises(lw.LayerwiseError, match="every must be a positive integer; got 0"):
        lw.Diagnostics(every=0)

    class Wrapped:  # a model with forward, backward and parameters, but no layers
        def __init__(self):
            self.net = lw.Sequential([lw.Linear(2, 1)], seed=0)

        def forward(self, x, training=False):
            return self.net.forward(x, training)

        def backward(self, grad, input_grad=True):
            return self.net.backward(grad, input_grad=input_grad)

        def parameters(self):
            return self.net.parameters()

    X, y = lw.data.function2d(n=8, seed=0)
    session = lw.Session(Wrapped(), lw.MSE(), lw.SGD(lr=0.1), (X, y), callbacks=[lw.Diagnostics()])
    with pytest.raises(lw.LayerwiseError, match="Wrapped has no 'layers' list"):
        session.step(1)
    model = lw.Sequential([lw.Linear(2, 1)], seed=0)
    session = lw.Session(
        model,
        lw.MSE(),
        lw.SGD(lr=0.1),
        stream,
        batch_size=4,
        callbacks=[lw.Diagnostics(per="epoch")],
    )
    with pytest.raises(lw.LayerwiseError, match="per='epoch'.* needs epochs.*Use per='step'"):
        session.step(1)


# -- the warnings ------------------------------------------------------------------------


def test_notebook_000_deep_sigmoid_net_saturates_and_warns_once():
    """The 20-layer sigmoid net with weights U(-3, 3): most hidden outputs sit at 0 or 1,
    and the gradient norm falls layer by layer from the input side to the output side.
    (Its big weights more than make up for the small derivatives on the way back, so
    the gradient does not vanish towards the input: see the next test for that.)"""
    diag = lw.Diagnostics(every=2)
    with pytest.warns(lw.LayerwiseWarning) as caught:
        train(notebook_000_net(), diag, 20, batch_size=500)
    assert len(diag) == 10
    assert [str(w.message) for w in caught] == diag.warnings
    (message,) = diag.warnings  # once, although every one of the 10 records saturates
    assert message.startswith("Layer 3 (Sigmoid()) is saturated at step 2: ")
    assert "init='glorot_uniform'" in message and "init='he_uniform'" in message
    hidden = [s["saturated"] for n, s in diag.history.items() if "Sigmoid" in n][1:-1]
    assert np.min(hidden) > 0.5
    norms = grad_norms(diag)[1:-1].mean(axis=1)  # the 20 hidden layers, mean over records
    assert norms[0] / norms[-1] > 3
    assert np.corrcoef(np.arange(20), np.log(norms))[0, 1] < -0.9  # falling layer by layer


def test_deep_sigmoid_net_with_default_init_has_vanishing_gradients():
    diag = lw.Diagnostics(every=2)
    with pytest.warns(lw.LayerwiseWarning, match="Vanishing gradients") as caught:
        train(deep_net(lw.Sigmoid), diag, 10, batch_size=256)
    assert len(diag) == 5 and len([w for w in caught if "Vanishing" in str(w.message)]) == 1
    assert "layer 0 (Linear(2 -> 100)) is " in diag.warnings[0]
    assert "Use ReLU activations with He initialisation" in diag.warnings[0]
    norms = grad_norms(diag)[:, -1]
    assert norms[0] / norms[-1] < 1e-6
    assert (np.diff(np.log(norms[1:-1])) > 0).mean() > 0.9  # rising towards the output


def test_he_relu_net_of_the_same_depth_warns_nothing():
    diag = lw.Diagnostics(every=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(deep_net(lw.ReLU), diag, 40)
    assert len(diag) == 10 and diag.warnings == []
    norms = grad_norms(diag).mean(axis=1)
    assert 1e-3 < norms[0] / norms[-1] < 1e3


def test_exploding_gradients_warn():
    """sin(z) keeps the activations bounded, while weights of standard deviation 2 on 16
    inputs make the gradient grow about fourfold per layer on the way back."""
    wide = functools.partial(lw.init.normal, std=2.0)
    layers = [lw.Linear(2, 16, init=wide)]
    for _ in range(10):
        layers += [
            lw.Elementwise(np.sin, np.cos, name="sin"),
            lw.Linear(16, 16, init=wide),
        ]
    model = lw.Sequential([*layers, lw.Linear(16, 1)], seed=0)
    diag = lw.Diagnostics(every=1)
    with pytest.warns(
        lw.LayerwiseWarning,
        match="Exploding gradients at step 1: the gradient "
        r"of layer 0 \(Linear\(2 -> 16\)\) is .* lower learning rate",
    ):
        train(model, diag, 3, lr=1e-6, batch_size=64)
    assert len(diag.warnings) == 1


def test_a_dead_relu_layer_warns_once_on_a_large_enough_batch():
    def model():
        net = lw.Sequential([lw.Linear(2, 16), lw.ReLU(), lw.Linear(16, 1)], seed=0)
        net.layers[0].params["b"][:15] = -10.0  # 15 of 16 units never fire on [-0.5, 0.5]^2
        return net

    diag = lw.Diagnostics(every=1)
    with pytest.warns(
        lw.LayerwiseWarning,
        match=r"Layer 1 \(ReLU\(\)\) has gone dead at step 1: "
        "94% of its units output 0 for all 64 samples",
    ):
        train(model(), diag, 5, batch_size=64)
    assert len(diag.warnings) == 1 and diag.history["1: ReLU()"]["dead"] == [15 / 16] * 5
    with warnings.catch_warnings():  # one sample is too few to call a unit dead
        warnings.simplefilter("error")
        train(model(), lw.Diagnostics(every=1), 5, batch_size=1)


def test_a_saturated_output_layer_is_no_fault():
    """A confident output sigmoid saturates; only hidden layers are warned about."""
    model = lw.Sequential([lw.Linear(2, 8), lw.Tanh(), lw.Linear(8, 1), lw.Sigmoid()], seed=0)
    model.layers[2].params["b"][...] = 10.0
    diag = lw.Diagnostics(every=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(model, diag, 3, batch_size=64)
    assert diag.history["3: Sigmoid()"]["saturated"] == [1.0, 1.0, 1.0]


def test_warning_points_at_the_callers_line():
    diag = lw.Diagnostics(every=1)
    with pytest.warns(lw.LayerwiseWarning) as caught:
        train(deep_net(lw.Sigmoid), diag, 1, batch_size=64)
    assert caught[0].filename == __file__


# -- reading the records ----------------------------------------------------------------


def test_report_to_dict_and_state_dict():
    model = lw.Sequential([lw.Linear(2, 4), lw.Tanh(), lw.Linear(4, 1)], seed=0)
    diag = lw.Diagnostics(every=5)
    assert "no records yet" in str(diag)
    train(model, diag, 10, batch_size=32)
    assert repr(diag) == "Diagnostics(every=5, per='step', records=2, layers=3)"
    lines = str(diag).splitlines()
    assert lines[0] == "Diagnostics at step 10 (2 records)"
    assert lines[1].split() == [
        "layer",
        "mean",
        "std",
        "saturated",
        "dead",
        "|grad|",
        "|W|",
        "update/W",
    ]
    tanh = diag.history["1: Tanh()"]
    assert lines[4].split() == [
        "1:",
        "Tanh()",
        f"{tanh['mean'][-1]:.3f}",
        f"{tanh['std'][-1]:.3f}",
        f"{tanh['saturated'][-1]:.0%}",
    ]
    assert f"{diag.history['0: Linear(2 -> 4)']['grad_norm'][-1]:.2e}" in lines[3]

    first = lw.Diagnostics(every=1)
    dropout = lw.Sequential([lw.Linear(2, 4), lw.ReLU(), lw.Dropout(0.5), lw.Linear(4, 1)])
    train(dropout, first, 1, batch_size=1)  # a ReLU without a mean (NaN)...
    text = json.dumps(first.to_dict(), allow_nan=False)  # ...written as null
    restored = lw.Diagnostics(every=1)
    restored.load_state_dict(json.loads(text))
    assert restored.steps == first.steps and restored.warnings == first.warnings
    np.testing.assert_equal(restored.history, first.history)


# -- the figure ----------------------------------------------------------------------------


def labelled(panel):
    return [line for line in panel.lines if not line.get_label().startswith("_")]


def test_plot_draws_one_line_per_layer():
    diag = lw.Diagnostics(every=2)
    model = lw.Sequential(
        [lw.Linear(2, 8), lw.Tanh(), lw.Linear(8, 8), lw.ReLU(), lw.Linear(8, 1)], seed=0
    )
    train(model, diag, 12, batch_size=64, lr=0.1)
    fig = lw.plot.diagnostics(diag)
    grads, profile, updates, units, activations, weights, bar = fig.axes
    linears = ["0: Linear(2 -> 8)", "2: Linear(8 -> 8)", "4: Linear(8 -> 1)"]
    for panel, key in ((grads, "grad_norm"), (updates, "update_ratio"), (weights, "weight_norm")):
        assert [line.get_label() for line in labelled(panel)] == linears
        for line, name in zip(labelled(panel), linears):
            np.testing.assert_array_equal(line.get_xdata(), [2, 4, 6, 8, 10, 12])
            np.testing.assert_allclose(line.get_ydata(), diag.history[name][key])
        assert panel.get_xlabel() == "step" and panel.get_yscale() == "log"
        assert [t.get_text() for t in panel.get_legend().get_texts()] == linears
    assert [line.get_label() for line in units.lines] == ["1: Tanh()", "3: ReLU()"]
    np.testing.assert_allclose(units.lines[0].get_ydata(), diag.history["1: Tanh()"]["saturated"])
    np.testing.assert_allclose(units.lines[1].get_ydata(), diag.history["3: ReLU()"]["dead"])
    assert units.lines[1].get_linestyle() == "--"
    # The by-layer panels: the first and the last record, against the layer index.
    assert [line.get_label() for line in profile.lines] == ["step 2", "step 12"]
    np.testing.assert_array_equal(profile.lines[1].get_xdata(), [0, 2, 4])
    np.testing.assert_allclose(
        profile.lines[1].get_ydata(), [diag.history[n]["grad_norm"][-1] for n in linears]
    )
    first, last = activations.containers
    assert (first.get_label(), last.get_label()) == ("step 2", "step 12")
    np.testing.assert_allclose(last.lines[0].get_xdata(), [1.2, 3.2])
    means = [diag.history[n]["mean"][-1] for n in ("1: Tanh()", "3: ReLU()")]
    np.testing.assert_allclose(last.lines[0].get_ydata(), means)
    stds = [diag.history[n]["std"][-1] for n in ("1: Tanh()", "3: ReLU()")]
    tops = [segment[1, 1] for segment in last.lines[2][0].get_segments()]
    np.testing.assert_allclose(tops, np.add(means, stds))
    colors = [line.get_color() for line in labelled(grads)]
    assert len({tuple(c) for c in colors}) == 3  # coloured by depth
    assert bar.get_ylabel() == "layer (index in model.layers)"


def test_plot_per_epoch_from_a_dict_and_into_given_axes():
    from matplotlib.figure import Figure

    X, y = lw.data.function2d(n=64, seed=0)
    model = deep_net(lw.ReLU)
    diag = lw.Diagnostics(per="epoch")
    model.fit(
        X,
        y,
        loss=lw.MSE(),
        optimizer=lw.SGD(lr=0.001),
        epochs=3,
        batch_size=None,
        callbacks=[diag],
        progress=False,
    )
    axes = Figure().subplots(2, 3).ravel()
    assert lw.plot.diagnostics(json.loads(json.dumps(diag.to_dict())), ax=axes) is axes
    assert len(labelled(axes[0])) == 22 and axes[0].get_legend() is None  # 22 Linear layers
    np.testing.assert_array_equal(axes[0].lines[0].get_xdata(), [1, 2, 3])
    assert axes[0].get_xlabel() == "epoch"
    with pytest.raises(lw.LayerwiseError, match="no records yet"):
        lw.plot.diagnostics(lw.Diagnostics())
    with pytest.raises(lw.LayerwiseError, match="draws an lw.Diagnostics"):
        lw.plot.diagnostics({"loss": [1.0]})
    with pytest.raises(lw.LayerwiseError, match="pass ax= as a sequence of 6 Axes"):
        lw.plot.diagnostics(diag, ax=axes[:2])
