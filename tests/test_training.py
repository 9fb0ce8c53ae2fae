"""fit, train_step, History, callbacks and the divergence guard."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import layerwise as lw


def blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)) + np.eye(3, 4)[y] * 5
    return X.astype(np.float32), y


def classifier(seed=0, dtype=np.float32, dropout=0.0):
    layers = [lw.Linear(4, 16), lw.ReLU()]
    if dropout:
        layers.append(lw.Dropout(dropout))
    return lw.Sequential([*layers, lw.Linear(16, 3)], seed=seed, dtype=dtype)


def quiet_fit(model, X, y, **kwargs):
    kwargs.setdefault("loss", lw.CrossEntropy())
    kwargs.setdefault("optimizer", lw.Adam(lr=1e-2))
    return model.fit(X, y, progress=False, **kwargs)


class Recorder(lw.Callback):
    """Records every hook call, and the weights at each epoch's end."""

    def __init__(self):
        self.events, self.weights = [], []

    def on_train_begin(self, run):
        self.events.append("train_begin")

    def on_epoch_begin(self, run, epoch):
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, run, step, loss):
        self.events.append(f"batch {step}")

    def on_epoch_end(self, run, epoch, logs):
        self.events.append(f"epoch_end {epoch}")
        self.weights.append(run.model.state_dict())

    def on_train_end(self, run):
        self.events.append("train_end")


# -- the loop --------------------------------------------------------------------------


def test_history_records_every_epoch():
    X, y = blobs()
    hist = quiet_fit(classifier(), X[:90], y[:90], epochs=10, validation_data=(X[90:], y[90:]))
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert all(len(v) == 10 for v in hist.history.values()) and len(hist) == 10
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert hist.history["accuracy"][-1] > 0.9 and hist.history["val_accuracy"][-1] > 0.9
    assert hist.history["lr"] == [1e-2] * 10


def test_regression_history_has_no_accuracy():
    X, _ = blobs()
    model = lw.Sequential([lw.Linear(4, 1)], seed=0)
    hist = quiet_fit(model, X, X[:, :1] * 2, loss=lw.MSE(), epochs=2)
    assert "accuracy" not in hist.history


def test_training_accuracy_is_the_running_epoch_accuracy():
    X, y = blobs()
    model = classifier()
    hist = quiet_fit(model, X, y, epochs=1, batch_size=None, optimizer=lw.SGD(lr=0.0))
    expected = lw.metrics.accuracy(y, model.predict(X))
    assert hist.history["accuracy"][0] == pytest.approx(expected)
    assert hist.history["loss"][0] == pytest.approx(
        lw.CrossEntropy()(model.predict(X), y), rel=1e-6
    )


def test_same_seed_same_run_bit_for_bit():
    X, y = blobs()
    runs = []
    for seed in (3, 3, 4):
        model = classifier(dropout=0.2)
        hist = quiet_fit(model, X, y, epochs=3, batch_size=16, seed=seed)
        runs.append((model.state_dict(), hist.history["loss"]))
    for name, value in runs[0][0].items():
        np.testing.assert_array_equal(runs[1][0][name], value)
    assert runs[0][1] == runs[1][1]
    assert runs[0][1] != runs[2][1]


def test_full_batch_is_plain_gradient_descent():
    X, y = blobs(40)
    model, manual = classifier(), classifier()
    quiet_fit(model, X, y, epochs=3, batch_size=None, optimizer=lw.SGD(lr=0.5))
    opt = lw.SGD(lr=0.5)
    for _ in range(3):
        lw.train_step(manual, lw.CrossEntropy(), opt, X, y)
    for name, value in manual.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], value)


@pytest.mark.parametrize(("batch_size", "steps"), [(1, 30), (7, 5), (None, 1), (100, 1)])
def test_steps_per_epoch(batch_size, steps):
    X, y = blobs(30)
    recorder = Recorder()
    quiet_fit(classifier(), X, y, epochs=2, batch_size=batch_size, callbacks=[recorder])
    batches = [e for e in recorder.events if e.startswith("batch")]
    assert batches == [f"batch {i}" for i in range(1, 2 * steps + 1)]


def test_callback_hooks_in_order():
    X, y = blobs(20)
    recorder = Recorder()
    quiet_fit(classifier(), X, y, epochs=2, batch_size=10, callbacks=[recorder])
    assert recorder.events == [
        "train_begin",
        "epoch_begin 0",
        "batch 1",
        "batch 2",
        "epoch_end 0",
        "epoch_begin 1",
        "batch 3",
        "batch 4",
        "epoch_end 1",
        "train_end",
    ]


def test_validation_split_holds_out_the_end():
    X, y = blobs(100)
    hist = quiet_fit(classifier(), X, y, epochs=1, validation_split=0.2, seed=0)
    hist2 = quiet_fit(
        classifier(), X[:80], y[:80], epochs=1, validation_data=(X[80:], y[80:]), seed=0
    )
    assert hist.history["val_loss"] == hist2.history["val_loss"]


def test_train_step_updates_and_returns_the_loss():
    X, y = blobs(10)
    model = classifier()
    before = model.state_dict()["0.W"]
    value = lw.train_step(model, lw.CrossEntropy(), lw.SGD(lr=0.1), X, y)
    assert isinstance(value, float) and value > 0
    assert not np.array_equal(model.state_dict()["0.W"], before)


def test_evaluate_matches_the_loss_and_accuracy():
    X, y = blobs()
    model = classifier()
    result = model.evaluate(X, y, loss=lw.CrossEntropy(), batch_size=7)
    pred = model.predict(X)
    assert result["loss"] == pytest.approx(lw.CrossEntropy()(pred, y), rel=1e-5)
    assert result["accuracy"] == pytest.approx(lw.metrics.accuracy(y, pred))


def test_binary_accuracy_from_logits_and_probabilities():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    for last, loss in [
        ([lw.Sigmoid()], lw.BinaryCrossEntropy()),
        ([], lw.BinaryCrossEntropy(from_logits=True)),
    ]:
        model = lw.Sequential([lw.Linear(2, 1), *last], seed=0)
        hist = quiet_fit(
            model, X, y, loss=loss, optimizer=lw.Adam(lr=0.1), epochs=30, batch_size=None
        )
        assert hist.history["accuracy"][-1] > 0.95


# -- callbacks ----------------------------------------------------------------------


def test_early_stopping_stops_and_restores_the_best_weights():
    X, y = blobs(60)
    noise = np.random.default_rng(1).integers(0, 3, 60)  # unlearnable validation labels
    stopper, recorder = lw.EarlyStopping(patience=2), Recorder()
    hist = quiet_fit(
        classifier(),
        X,
        y,
        epochs=50,
        validation_data=(X, noise),
        callbacks=[recorder, stopper],
        optimizer=lw.Adam(lr=0.05),
    )
    assert stopper.stopped_epoch is not None and len(hist) == stopper.stopped_epoch + 1 < 50
    best = int(np.argmin(hist.history["val_loss"]))
    assert stopper.best_epoch == best
    final = recorder.weights[-1]
    restored = recorder.weights[best]
    model_now = {k: v for k, v in restored.items()}
    assert not all(np.array_equal(final[k], model_now[k]) for k in final)


def test_early_stopping_restores_into_the_model():
    X, y = blobs(60)
    noise = np.random.default_rng(1).integers(0, 3, 60)
    model, recorder = classifier(), Recorder()
    stopper = lw.EarlyStopping(patience=2)
    quiet_fit(
        model,
        X,
        y,
        epochs=50,
        validation_data=(X, noise),
        callbacks=[recorder, stopper],
        optimizer=lw.Adam(lr=0.05),
    )
    for name, value in recorder.weights[stopper.best_epoch].items():
        np.testing.assert_array_equal(model.state_dict()[name], value)


def test_early_stopping_never_keeps_overflowed_weights_as_the_best():
    # Full batch, monitoring the training loss: epoch 3's loss is the best so far, but
    # its update overflowed the weights; they must not be what fit leaves behind (the
    # guard stops at that step, before EarlyStopping sees the epoch's end).
    model = lw.Sequential([lw.Linear(1, 1)], seed=0)
    model.load_state_dict({"0.W": np.ones((1, 1)), "0.b": np.zeros(1)})
    X, y = np.ones((2, 1)), -np.ones(2)
    callbacks = [
        lw.LearningRateScheduler(lambda epoch, base: 1e38 if epoch == 2 else 0.01),
        lw.EarlyStopping(monitor="loss", patience=10),
    ]
    with pytest.raises(lw.DivergenceError):
        model.fit(X, y, loss=lw.MSE(), optimizer=lw.SGD(lr=0.01), epochs=6,
                  batch_size=None, progress=False, callbacks=callbacks)  # fmt: skip
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


def test_early_stopping_needs_the_monitored_key():
    X, y = blobs(20)
    with pytest.raises(
        lw.LayerwiseError, match="monitors 'val_loss', but the epoch logs have only"
    ):
        quiet_fit(classifier(), X, y, epochs=2, callbacks=[lw.EarlyStopping()])


def test_learning_rate_scheduler_per_epoch_and_per_step():
    X, y = blobs(40)
    hist = quiet_fit(
        classifier(),
        X,
        y,
        epochs=4,
        optimizer=lw.SGD(lr=0.1),
        callbacks=[lw.LearningRateScheduler(lw.optim.StepDecay(2, gamma=0.5))],
    )
    assert hist.history["lr"] == [0.1, 0.1, 0.05, 0.05]
    opt = lw.SGD(lr=0.1)
    quiet_fit(
        classifier(),
        X,
        y,
        epochs=1,
        batch_size=10,
        optimizer=opt,
        callbacks=[lw.LearningRateScheduler(lw.optim.ExponentialDecay(0.5), per="step")],
    )
    assert opt.lr == pytest.approx(0.1 * 0.5**4) and opt.initial_lr == 0.1


# -- divergence ---------------------------------------------------------------------


def diverging():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32) * 10
    return X, X @ np.ones((4, 1), np.float32) * 100


def test_divergence_raises_and_keeps_finite_weights():
    X, y = diverging()
    model = lw.Sequential([lw.Linear(4, 8), lw.ReLU(), lw.Linear(8, 1)], seed=0)
    with pytest.raises(
        lw.DivergenceError,
        match=r"Training diverged at epoch \d+/50, batch \d+ .*Try a lower learning rate than 10",
    ) as info:
        model.fit(X, y, loss=lw.MSE(), optimizer=lw.SGD(lr=10.0), epochs=50, progress=False)
    assert all(np.isfinite(v).all() for v in model.state_dict().values())
    assert isinstance(info.value.history, lw.History)


def test_divergence_can_warn_instead():
    X, y = diverging()
    model = lw.Sequential([lw.Linear(4, 8), lw.ReLU(), lw.Linear(8, 1)], seed=0)
    with pytest.warns(lw.LayerwiseWarning, match="Training diverged"):
        hist = model.fit(
            X,
            y,
            loss=lw.MSE(),
            optimizer=lw.SGD(lr=10.0),
            epochs=50,
            progress=False,
            on_divergence="warn",
        )
    assert len(hist) < 50
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


def test_an_update_that_overflows_is_rolled_back():
    # Finite loss and gradient (4.0), but lr * gradient overflows float32 to -inf.
    model = lw.Sequential([lw.Linear(1, 1)], seed=0)
    model.load_state_dict({"0.W": np.ones((1, 1)), "0.b": np.zeros(1)})
    X, y = np.ones((2, 1)), -np.ones(2)
    with pytest.raises(lw.DivergenceError, match="overflowed.*start of this epoch"):
        model.fit(
            X,
            y,
            loss=lw.MSE(),
            optimizer=lw.SGD(lr=1e38),
            epochs=1,
            batch_size=1,
            shuffle=False,
            progress=False,
        )
    np.testing.assert_array_equal(model.state_dict()["0.W"], [[1.0]])


@pytest.mark.parametrize("on_divergence", ["raise", "warn"])
def test_an_overflow_in_the_last_step_of_an_epoch_is_rolled_back(on_divergence):
    # Full batch: the step of epoch 3 overflows the weights. It is caught at that step,
    # not one epoch later, and the weights go back to the start of epoch 3.
    model = lw.Sequential([lw.Linear(1, 1)], seed=0)
    model.load_state_dict({"0.W": np.ones((1, 1)), "0.b": np.zeros(1)})
    X, y = np.ones((2, 1)), -np.ones(2)
    lrs = lambda epoch, base: 1e38 if epoch == 2 else 0.01  # noqa: E731
    fit = dict(loss=lw.MSE(), epochs=6, batch_size=None, optimizer=lw.SGD(lr=0.01))
    callbacks = [lw.LearningRateScheduler(lrs)]
    expected = model.copy()  # epochs 1 and 2 only, with an optimizer of its own
    expected.fit(X, y, **{**fit, "epochs": 2, "optimizer": lw.SGD(lr=0.01)}, progress=False)
    match = "diverged at epoch 3/6.*overflowed the weights.*start of this epoch"
    if on_divergence == "raise":
        with pytest.raises(lw.DivergenceError, match=match):
            model.fit(X, y, **fit, callbacks=callbacks, progress=False)
    else:
        with pytest.warns(lw.LayerwiseWarning, match=match):
            model.fit(X, y, **fit, callbacks=callbacks, progress=False, on_divergence="warn")
    for name, value in expected.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], value)


# -- progress -------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_shows_live_loss_in_a_terminal(monkeypatch):
    X, y = blobs(40)
    screen = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", screen)
    classifier().fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.Adam(), epochs=2, batch_size=10)
    text = screen.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "loss=" in text and "acc=" in text


def test_progress_is_one_line_per_epoch_when_not_a_terminal(capsys):
    X, y = blobs(40)
    classifier().fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.Adam(), epochs=2)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [line[:9] for line in captured.err.splitlines()] == ["Epoch 1/2", "Epoch 2/2"]


def test_progress_false_is_silent(capsys):
    X, y = blobs(40)
    classifier().fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.Adam(), epochs=2, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer; got 0"),
        ({"batch_size": 0}, "batch_size must be a positive integer; got 0"),
        ({"on_divergence": "ignore"}, "on_divergence must be 'raise' or 'warn'; got 'ignore'"),
        ({"optimizer": "adamax"}, "Unknown optimizer 'adamax'"),
        ({"loss": "hinge"}, "Unknown loss 'hinge'"),
        ({"validation_split": 1.5}, r"validation_split must be in \(0, 1\); got 1.5"),
        (
            {"validation_data": (np.zeros((3, 5)), np.zeros(3, int))},
            "validation X has 5 features but X has 4",
        ),
        (
            {"validation_data": (np.zeros((3, 4)), np.zeros(3, int)), "validation_split": 0.1},
            "not both",
        ),
    ],
)
def test_bad_fit_arguments(kwargs, message):
    X, y = blobs(20)
    with pytest.raises(lw.LayerwiseError, match=message):
        quiet_fit(classifier(), X, y, **kwargs)


def test_targets_that_do_not_fit():
    X, y = blobs(20)
    with pytest.raises(
        lw.LayerwiseError,
        match=r"y has shape \(19,\); expected \(n,\) or \(n, outputs\) with n = 20",
    ):
        quiet_fit(classifier(), X, y[:19])
    with pytest.raises(
        lw.LayerwiseError,
        match=r"y does not fit CrossEntropy\(\): .*class label 7 is out of range for 3 outputs",
    ):
        quiet_fit(classifier(), X, np.where(y == 2, 7, y))
    with pytest.raises(lw.LayerwiseError, match=r"validation y does not fit .* label -1"):
        quiet_fit(classifier(), X, y, validation_data=(X, y - 1))
    bad = y.astype(float)
    bad[3] = np.nan
    with pytest.raises(lw.LayerwiseError, match=r"y contains nan at index \(3,\)"):
        quiet_fit(classifier(), X, bad)
    with pytest.raises(
        lw.LayerwiseError, match=r"target shape \(20, 2\) does not match prediction shape \(20, 3\)"
    ):
        quiet_fit(classifier(), X, np.zeros((20, 2)), loss=lw.MSE())


def test_inputs_that_do_not_fit():
    X, y = blobs(20)
    with pytest.raises(
        lw.LayerwiseError,
        match=r"The model takes 4 features per row; X has shape \(20, 3\)\.",
    ):
        quiet_fit(classifier(), X[:, :3], y)
    X = X.copy()
    X[5, 2] = np.inf
    with pytest.raises(lw.LayerwiseError, match=r"X contains inf at index \(5, 2\)"):
        quiet_fit(classifier(), X, y)


def test_training_skips_the_sigmoid_backward_with_bce(monkeypatch):
    def refuse(self, grad_out):
        raise AssertionError("Sigmoid.backward should be fused into the loss")

    monkeypatch.setattr(lw.Sigmoid, "backward", refuse)
    X, y = blobs()
    model = lw.Sequential([lw.Linear(4, 8), lw.ReLU(), lw.Linear(8, 1), lw.Sigmoid()], seed=0)
    history = quiet_fit(model, X, (y == 1).astype(np.float32), loss=lw.BinaryCrossEntropy())
    assert history.history["loss"][0] > 0
    # A Sigmoid that is not last is still back-propagated.
    hidden = lw.Sequential([lw.Linear(4, 8), lw.Sigmoid(), lw.Linear(8, 1)], seed=0)
    with pytest.raises(AssertionError, match="fused"):
        quiet_fit(hidden, X, (y == 1).astype(np.float32), loss=lw.MSE())


def test_a_model_without_skip_last_is_trained_unfused():
    class Plain:
        """A duck-typed model: a Sequential whose backward knows nothing of fusing."""

        def __init__(self):
            self.net = lw.Sequential([lw.Linear(4, 1), lw.Sigmoid()], seed=0)
            self.layers = self.net.layers

        def forward(self, x, training=False):
            return self.net.forward(x, training)

        def backward(self, grad_out, *, input_grad=True):
            return self.net.backward(grad_out, input_grad=input_grad)

        def parameters(self):
            return self.net.parameters()

    X, y = blobs()
    model = Plain()
    before = model.net.state_dict()["0.W"].copy()
    y = (y == 1).astype(np.float32)
    lw.fit(model, X, y, loss=lw.BinaryCrossEntropy(), optimizer=lw.SGD(), progress=False)
    assert not np.array_equal(before, model.net.state_dict()["0.W"])


def test_divergence_restores_weights_that_are_separate_arrays():
    class OneLayer:
        """A duck-typed model whose parameters do not tile one buffer."""

        def __init__(self):
            self.layer = lw.Linear(4, 1, rng=0)

        def forward(self, x, training=False):
            return self.layer.forward(x, training)

        def backward(self, grad_out, *, input_grad=True):
            return self.layer.backward(grad_out)

        def parameters(self):
            return {k: (p, self.layer.grads[k]) for k, p in self.layer.params.items()}

    X, y = diverging()
    model = OneLayer()
    start = {k: p.copy() for k, p in model.layer.params.items()}
    with pytest.raises(lw.DivergenceError):
        lw.fit(model, X, y, loss=lw.MSE(), optimizer=lw.SGD(lr=1e30), epochs=5, progress=False)
    # It diverged in the first epoch: back to the initial weights.
    for name, value in start.items():
        np.testing.assert_array_equal(model.layer.params[name], value)
