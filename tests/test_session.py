"""The Session: steps, epochs, data callables, checkpoints, reset and the guard; and fit
as a Session run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import layerwise as lw


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)).astype(np.float32) + y[:, None]
    return X, y


def classifier(seed=0, dropout=0.0):
    layers = [lw.Linear(4, 8), lw.ReLU()]
    if dropout:
        layers.append(lw.Dropout(dropout))
    return lw.Sequential([*layers, lw.Linear(8, 3)], seed=seed)


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def optimizer_state(opt):
    state = opt.state_dict()
    return state["step"], state["lr"], {k: v.copy() for k, v in state["buffers"].items()}


def assert_same_optimizer(a, b):
    assert a[:2] == b[:2]
    assert_same(a[2], b[2])


# -- steps and fit ----------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [None, 1, 7, 32])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_stepping_equals_fit_bit_for_bit(batch_size, dropout):
    X, y = blobs()
    fitted = classifier(dropout=dropout)
    hist = fitted.fit(
        X, y, loss=lw.CrossEntropy(), optimizer=lw.Adam(lr=0.01), epochs=4,
        batch_size=batch_size, seed=5, progress=False,
    )  # fmt: skip
    stepped = classifier(dropout=dropout)
    session = lw.Session(
        stepped, lw.CrossEntropy(), lw.Adam(lr=0.01), (X, y), batch_size=batch_size, seed=5
    )
    total = 4 * session.steps_per_epoch
    # Uneven chunks that cross epoch boundaries.
    chunks = (1, 2, total - 4, 1) if total > 4 else (1, 2, 1)
    losses = np.concatenate([session.step(k) for k in chunks])
    assert losses.shape == (total,) and session.steps == total and session.epoch == 4
    assert_same(weights(stepped), weights(fitted))
    for key in ("loss", "accuracy"):
        assert session.history.history[key] == hist.history[key]
    np.testing.assert_array_equal(session.losses, losses)


def test_step_losses_are_the_batch_losses():
    X, y = blobs()
    model = classifier()
    session = lw.Session(model, lw.CrossEntropy(), lw.SGD(lr=0.0), (X, y), batch_size=None)
    before = lw.evaluate(model, X, y, loss=lw.CrossEntropy())["loss"]
    (loss,) = session.step()
    assert loss == pytest.approx(before, rel=1e-6)  # lr 0: the weights did not move


def test_run_finishes_a_partial_epoch_first():
    X, y = blobs()
    session = lw.Session(classifier(), lw.CrossEntropy(), lw.SGD(lr=0.1), (X, y), batch_size=10)
    session.step(3)
    history = session.run(2)
    assert session.epoch == 2 and session.steps == 12 and len(history) == 2


def test_history_has_validation_and_epoch_records():
    X, y = blobs()
    session = lw.Session(
        classifier(), "cross_entropy", "adam", (X, y), batch_size=16, validation_data=(X, y)
    )
    session.run(3)
    h = session.history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert all(len(v) == 3 for v in h.values())


def test_callbacks_get_the_session_and_can_stop_a_step_call():
    X, y = blobs()
    seen = []

    class StopAfterTwo(lw.Callback):
        def on_train_begin(self, run):
            seen.append(("begin", run))

        def on_epoch_end(self, run, epoch, logs):
            seen.append(("epoch", epoch, run.epoch, run.steps))
            run.stop_training = epoch == 1

    session = lw.Session(
        classifier(), lw.CrossEntropy(), lw.SGD(lr=0.1), (X, y), batch_size=20,
        callbacks=[StopAfterTwo()],
    )  # fmt: skip
    losses = session.step(100)
    assert len(losses) == 6 and session.epoch == 2
    assert seen == [("begin", session), ("epoch", 0, 1, 3), ("epoch", 1, 2, 6)]


# -- data callables -----------------------------------------------------------------------


def line_samples(rng, n):
    x = rng.uniform(-1, 1, size=(n, 1))
    return x, 3 * x - 1


def test_a_data_callable_draws_fresh_samples_reproducibly():
    def session(seed):
        model = lw.Sequential([lw.Linear(1, 1)], seed=0)
        return lw.Session(model, lw.MSE(), lw.SGD(lr=0.1), line_samples, batch_size=4, seed=seed)

    a, b = session(1), session(1)
    losses_a = a.step(300)
    losses_b = np.concatenate([b.step(100), b.step(1), b.step(199)])
    np.testing.assert_array_equal(losses_a, losses_b)
    assert losses_a[-1] < 1e-6 * losses_a[0]  # learned y = 3x - 1 from fresh samples
    assert not np.array_equal(session(2).step(5), losses_a[:5])
    assert len(a.history) == 0  # no steps_per_epoch: no epochs


def test_a_data_callable_with_epochs_runs_them():
    model = lw.Sequential([lw.Linear(1, 1)], seed=0)
    session = lw.Session(
        model, lw.MSE(), lw.SGD(lr=0.1), line_samples, batch_size=8, steps_per_epoch=25
    )
    history = session.run(4)
    assert session.steps == 100 and len(history) == 4
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_a_data_callable_that_returns_bad_batches_is_named():
    model = lw.Sequential([lw.Linear(1, 1)], seed=0)
    short = lw.Session(model, "mse", "sgd", lambda rng, n: line_samples(rng, n - 1), batch_size=4)
    with pytest.raises(lw.LayerwiseError, match="asked for 4 samples and returned 3"):
        short.step()
    two = lambda rng, n: (np.ones((n, 2)), np.ones(n))  # noqa: E731
    wide = lw.Session(model, "mse", "sgd", two, batch_size=4)
    with pytest.raises(lw.LayerwiseError, match="expects input with 1 features; got shape"):
        wide.step()
    three = lambda rng, n: (np.ones((n, 1)), np.ones((n, 3)))  # noqa: E731
    targets = lw.Session(model, "mse", "sgd", three, batch_size=4)
    with pytest.raises(lw.LayerwiseError, match=r"y drawn by the data callable does not fit MSE"):
        targets.step()
    nans = lambda rng, n: (np.full((n, 1), np.nan), np.ones(n))  # noqa: E731
    nan = lw.Session(model, "mse", "sgd", nans, batch_size=4)
    with pytest.raises(lw.LayerwiseError, match="X drawn by the data callable.*nan"):
        nan.step()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": line_samples, "batch_size": None}, "A data callable needs a batch_size"),
        ({"steps_per_epoch": 3}, "steps_per_epoch is for a data callable"),
        ({"data": (np.ones((3, 1)),)}, r"data must be a pair \(X, y\)"),
        ({"on_divergence": "ignore"}, "on_divergence must be 'raise' or 'warn'"),
        ({"batch_size": 0}, "batch_size must be a positive integer; got 0"),
        ({"validation_data": (np.ones((3, 2)), np.ones(3))}, "validation X has 2 features"),
    ],
)
def test_bad_session_arguments(kwargs, message):
    model = lw.Sequential([lw.Linear(1, 1)], seed=0)
    args = {"data": (np.ones((3, 1)), np.ones(3)), **kwargs}
    with pytest.raises(lw.LayerwiseError, match=message):
        lw.Session(model, lw.MSE(), lw.SGD(lr=0.1), **args)


def test_run_needs_epochs_and_step_a_count():
    model = lw.Sequential([lw.Linear(1, 1)], seed=0)
    session = lw.Session(model, lw.MSE(), lw.SGD(lr=0.1), line_samples, batch_size=2)
    with pytest.raises(lw.LayerwiseError, match="run\\(\\) needs epochs: pass steps_per_epoch"):
        session.run(1)
    with pytest.raises(lw.LayerwiseError, match="n must be a positive integer; got 0"):
        session.step(0)


# -- checkpoints, rollback, reset -----------------------------------------------------------


@pytest.mark.parametrize("batch_size", [None, 7])
def test_rollback_restores_the_run_bit_for_bit(batch_size):
    X, y = blobs()
    model = classifier(dropout=0.3)
    opt = lw.Adam(lr=0.01)
    session = lw.Session(model, lw.CrossEntropy(), opt, (X, y), batch_size=batch_size, seed=3)
    session.step(5)  # mid-epoch for batch_size 7
    session.checkpoint()
    saved_w, saved_opt, saved_steps = weights(model), optimizer_state(opt), session.steps
    first = session.step(20)
    session.rollback()
    assert_same(weights(model), saved_w)
    assert_same_optimizer(optimizer_state(opt), saved_opt)
    assert session.steps == saved_steps and len(session.losses) == saved_steps
    again = session.step(20)  # same batches, same dropout masks
    np.testing.assert_array_equal(again, first)


def test_named_checkpoints_and_an_unknown_name():
    X, y = blobs()
    model = classifier()
    session = lw.Session(model, lw.CrossEntropy(), lw.SGD(lr=0.1), (X, y), batch_size=None)
    session.checkpoint("start")
    start = weights(model)
    session.step(3)
    session.checkpoint("three")
    session.step(3)
    session.rollback("start")
    assert_same(weights(model), start)
    session.rollback("three")
    assert session.steps == 3 and len(session.history) == 3
    with pytest.raises(lw.LayerwiseError, match="No checkpoint named 'later'.*'start', 'three'"):
        session.rollback("later")


def test_reset_redraws_the_weights_and_clears_the_run():
    X, y = blobs()
    model = classifier(seed=4)
    initial = weights(model)
    opt = lw.Adam(lr=0.01)
    session = lw.Session(model, lw.CrossEntropy(), opt, (X, y), batch_size=8, seed=1)
    first = session.step(10)
    session.reset()
    assert_same(weights(model), initial)
    assert session.steps == 0 and len(session.losses) == 0 and len(session.history) == 0
    assert opt.step_count == 0
    np.testing.assert_array_equal(session.step(10), first)  # same seeds: the same run
    session.reset(seed=9)
    assert_same(weights(model), weights(classifier(seed=9)))
    assert not np.array_equal(session.step(10), first)


# -- the guard ------------------------------------------------------------------------------


def test_divergence_in_a_step_call_goes_back_to_the_epoch_start():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32) * 10
    y = X @ np.ones((4, 1), np.float32) * 100
    model = lw.Sequential([lw.Linear(4, 8), lw.ReLU(), lw.Linear(8, 1)], seed=0)
    session = lw.Session(
        model, lw.MSE(), lw.SGD(lr=10.0), (X, y), batch_size=8, on_divergence="warn"
    )
    with pytest.warns(lw.LayerwiseWarning, match=r"diverged at epoch 1, batch \d+ \(step \d+\)"):
        losses = session.step(50)
    assert len(losses) == session.steps == 0  # rolled back to the start of epoch 1
    assert all(np.isfinite(v).all() for v in model.state_dict().values())
    session.optimizer.lr = 1e-6  # a slider moved: the session goes on from there
    assert np.isfinite(session.step(16)).all()


def test_divergence_of_a_stream_restores_the_start_of_the_call():
    model = lw.Sequential([lw.Linear(1, 1)], seed=0)
    session = lw.Session(model, lw.MSE(), lw.SGD(lr=0.1), line_samples, batch_size=4)
    session.step(10)
    before = weights(model)
    session.optimizer.lr = 1e30
    with pytest.raises(lw.DivergenceError, match="step 1[1-9].*before this call to step"):
        session.step(10)
    assert_same(weights(model), before)
    assert session.steps == 10


# -- fit's output -------------------------------------------------------------------------


def test_fit_under_a_pipe_prints_one_line_per_epoch(tmp_path):
    script = textwrap.dedent(
        """
        import numpy as np, layerwise as lw
        rng = np.random.default_rng(0)
        X = rng.normal(size=(50, 4)); y = rng.integers(0, 3, 50)
        model = lw.Sequential([lw.Linear(4, 3)], seed=0)
        model.fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(lr=0.1), epochs=3,
                  batch_size=10, validation_data=(X, y))
        model.fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(lr=0.1), epochs=2,
                  progress=False)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    for line in lines:
        assert "s - loss: " in line and "- accuracy: " in line and "- val_accuracy: " in line


def test_a_full_batch_fit_in_a_terminal_has_one_bar(monkeypatch):
    class Terminal:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    X, y = blobs()
    classifier().fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(lr=0.1), epochs=300,
                     batch_size=None)  # fmt: skip
    final = screen.text.split("\r")[-1]
    assert "Epoch 300/300" in final and "300/300" in final and "loss=" in final
    assert screen.text.count("\n") == 1  # one bar, left in place at the end


def test_adam_diverging_at_its_first_step_is_rolled_back():
    # The state did not exist before the first step: the guard restores it as zeros
    # (the former fit failed here with a confusing optimizer-state error).
    model = lw.Sequential([lw.Linear(1, 1)], seed=0)
    model.load_state_dict({"0.W": np.ones((1, 1)), "0.b": np.zeros(1)})
    opt = lw.Adam(lr=1e38)
    with pytest.raises(lw.DivergenceError, match="epoch 1/2, batch 1 .*overflowed"):
        model.fit(np.ones((2, 1)), -np.ones(2), loss=lw.MSE(), optimizer=opt, epochs=2,
                  batch_size=1, shuffle=False, progress=False)  # fmt: skip
    np.testing.assert_array_equal(model.state_dict()["0.W"], [[1.0]])
    assert opt.step_count == 0
    assert all(not b.any() for b in opt.state_dict()["buffers"].values())


def test_rollback_to_before_the_first_step_of_adam():
    X, y = blobs()
    model, opt = classifier(), lw.Adam(lr=0.01)
    session = lw.Session(model, lw.CrossEntropy(), opt, (X, y), batch_size=8, seed=0)
    session.checkpoint()  # the optimizer has no state yet
    first = session.step(10)
    session.rollback()
    assert opt.step_count == 0
    assert all(not b.any() for b in opt.state_dict()["buffers"].values())
    np.testing.assert_array_equal(session.step(10), first)
