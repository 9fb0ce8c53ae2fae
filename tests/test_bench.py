"""Bench: notebook 003's NNBench on a Session; its widget driven headlessly."""

from __future__ import annotations

import math
import sys
import threading

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

import layerwise as lw
from layerwise.bench import Bench, BenchView, low_pass

matplotlib.use("Agg")  # nothing here may open a window


def swap(X):
    return X[:, ::-1]


def linear(seed=0, dtype=np.float64):
    return lw.Sequential([lw.Linear(2, 2)], seed=seed, dtype=dtype)


def snapshot(bench: Bench) -> dict:
    """Every bit of the bench's state that a measurement must leave alone."""
    opt = bench.session.optimizer.state_dict()
    return {
        "params": {k: v.tobytes() for k, v in bench.model.state_dict().items()},
        "opt": (opt["step"], opt["lr"], {k: v.tobytes() for k, v in opt["buffers"].items()}),
        "rng": bench.session.rng.bit_generator.state,
        "steps": bench.session.steps,
        "losses": bench.session.losses.tobytes(),
        "lr": bench.lr,
        "seed": bench.seed,
    }


@pytest.fixture
def widgets():
    pytest.importorskip("ipywidgets", reason="the widget needs ipywidgets (notebook extra)")
    pytest.importorskip("scipy.signal", reason="the widget needs SciPy (notebook extra)")


@pytest.fixture
def scipy():
    pytest.importorskip("scipy.signal", reason="the low-pass filter needs SciPy (notebook extra)")


# -- learning -------------------------------------------------------------------------


@pytest.mark.parametrize("ideal", [lambda X: X, swap], ids=["identity", "swap"])
def test_learn_returns_a_loss_per_sample_and_the_loss_falls(ideal):
    bench = Bench(linear(), ideal, lr=0.1)
    losses = bench.learn(300)
    assert losses.shape == (300,) and losses.dtype == np.float64
    assert np.isfinite(losses).all() and bench.session.steps == 300
    assert losses[-50:].mean() < 1e-6 * losses[:50].mean()
    assert bench.learning_potential() > 20  # -log(loss) of a learned identity / swap


def test_the_inputs_are_standard_normal_from_the_seeded_session_generator():
    seen = []

    def ideal(X):
        seen.append(X.copy())
        return X

    bench = Bench(linear(), ideal, seed=11)
    seen.clear()  # the construction checked ideal (and drew the evaluation set)
    bench.learn(4)
    expected = np.random.default_rng(11).standard_normal((4, 2))
    np.testing.assert_array_equal(np.concatenate(seen), expected)


def test_bench_drives_a_session_with_batch_size_one():
    def data(rng, n):
        X = rng.uniform(-1, 1, (n, 2))
        return X, X.sum(axis=1, keepdims=True)

    model = lw.Sequential([lw.Linear(2, 1)], seed=0, dtype=np.float64)
    twin = model.copy()
    bench = Bench(model, data=data, lr=0.05, seed=7)
    session = lw.Session(twin, lw.MSE(), lw.SGD(lr=0.05), data, batch_size=1, seed=7)
    np.testing.assert_array_equal(bench.learn(50), session.step(50))
    np.testing.assert_array_equal(model.layers[0].params["W"], twin.layers[0].params["W"])


def test_learn_raises_on_a_diverging_rate():
    bench = Bench(linear(), swap, lr=50.0)
    with pytest.raises(lw.DivergenceError, match="lower learning rate"):
        bench.learn(200)


# -- measuring without a trace ----------------------------------------------------


def test_learning_potential_leaves_every_bit_as_it_was_and_is_deterministic():
    bench = Bench(linear(dtype=np.float32), swap, lr=0.05)
    bench.learn(20)
    before = snapshot(bench)
    first = bench.learning_potential(80, lr=0.3)
    assert snapshot(bench) == before
    assert bench.learning_potential(80, lr=0.3) == first
    assert snapshot(bench) == before

    # The generator is back too: the next samples are those of a twin that never measured.
    twin = Bench(linear(dtype=np.float32), swap, lr=0.05)
    twin.learn(20)
    np.testing.assert_array_equal(bench.learn(30), twin.learn(30))


def test_learning_potential_is_minus_log_of_the_evaluation_loss_after_n_samples():
    bench = Bench(linear(), swap, lr=0.02)
    twin = Bench(linear(), swap, lr=0.02)
    potential = bench.learning_potential(60, lr=0.1)
    twin.lr = 0.1
    twin.learn(60)
    assert potential == -math.log(twin.evaluation_loss())
    # The evaluation set is fixed per seed and apart from the training samples.
    X, y = bench.evaluation_set
    assert X.shape == (256, 2) and not X.flags.writeable
    np.testing.assert_array_equal(y, X[:, ::-1])
    np.testing.assert_array_equal(X, twin.evaluation_set[0])
    # A better rate has a higher potential; a diverging one has -inf, not NaN.
    assert bench.learning_potential(60, lr=0.1) > bench.learning_potential(60, lr=1e-3)
    assert bench.learning_potential(200, lr=50.0) == -math.inf


def test_rollback_restores_parameters_optimizer_and_generator_bit_for_bit():
    bench = Bench(linear(dtype=np.float32), swap, lr=0.1)
    bench.learn(10)
    bench.checkpoint()
    saved = snapshot(bench)
    after = bench.learn(40)
    bench.lr = 0.5
    bench.learn(5)
    assert snapshot(bench) != saved
    bench.rollback()
    assert snapshot(bench) == saved  # the learning rate too
    np.testing.assert_array_equal(bench.learn(40), after)


def test_rollback_restores_an_optimizer_with_state():
    # Plain SGD keeps only its step count and rate; a momentum buffer must come back too.
    bench = Bench(linear(), swap)
    bench.session.optimizer = lw.SGD(lr=0.05, momentum=0.9)
    bench.learn(5)
    bench.checkpoint()
    saved = snapshot(bench)
    assert saved["opt"][2]  # there is a buffer
    bench.learn(25)
    bench.rollback()
    assert snapshot(bench) == saved


def test_reset_reseeds_redraws_and_is_reproducible():
    bench, twin = Bench(linear(), swap, lr=0.2), Bench(linear(), swap, lr=0.2)
    initial = bench.model.state_dict()["0.W"]
    bench.learn(10)
    bench.reset()
    assert bench.seed == 4 and bench.session.steps == 0 and bench.lr == 0.2
    W = bench.model.state_dict()["0.W"]
    assert not np.array_equal(W, initial)
    twin.reset()
    np.testing.assert_array_equal(twin.model.state_dict()["0.W"], W)
    np.testing.assert_array_equal(bench.learn(20), twin.learn(20))
    # The checkpoint moved to the new network; an explicit seed is used as given.
    bench.rollback()
    np.testing.assert_array_equal(bench.model.state_dict()["0.W"], W)
    bench.reset(seed=10)
    twin.reset(seed=10)
    assert bench.seed == 10
    np.testing.assert_array_equal(bench.model.state_dict()["0.W"], twin.model.state_dict()["0.W"])
    assert not np.array_equal(bench.model.state_dict()["0.W"], W)


def test_a_new_ideal_is_learned_from_then_on():
    # 003 sets bench.ideal between experiments.
    bench = Bench(linear(), lambda X: X, lr=0.1)
    bench.ideal = swap
    bench.learn(300)
    W = bench.model.state_dict()["0.W"]
    np.testing.assert_allclose(W, [[0, 1], [1, 0]], atol=1e-6)
    np.testing.assert_array_equal(bench.evaluation_set[1], swap(bench.evaluation_set[0]))


# -- the figure ---------------------------------------------------------------------


def test_learning_curve_starts_from_the_checkpoint_and_leaves_the_bench():
    bench = Bench(linear(), swap, lr=0.1)
    curve = bench.learning_curve(50, lr=0.2)
    bench.learn(7)
    before = snapshot(bench)
    np.testing.assert_array_equal(bench.learning_curve(50, lr=0.2), curve)
    assert snapshot(bench) == before
    bench.rollback()
    bench.lr = 0.2
    np.testing.assert_array_equal(bench.learn(50), curve)
    with pytest.raises(lw.DivergenceError):
        bench.learning_curve(200, lr=50.0)


def test_plot_learning_draws_the_curve_on_a_log_scale(scipy, tmp_path):
    bench = Bench(linear(), swap, lr=0.1)
    bench.learn(5)
    before = snapshot(bench)
    fig = bench.plot_learning(120)
    assert snapshot(bench) == before
    ax = fig.axes[0]
    curve = bench.learning_curve(120)
    (raw,) = [line for line in ax.lines if line.get_label() == "raw"]
    np.testing.assert_array_equal(raw.get_xdata(), np.arange(1, 121))
    np.testing.assert_array_equal(raw.get_ydata(), curve)
    assert ax.get_yscale() == "log"
    assert f"max loss {curve.max():.3g}" in ax.get_title() and "lr 0.1" in ax.get_title()
    fig.savefig(tmp_path / "learning.png")

    fig = bench.plot_learning(120, lr=0.3, low_pass=True)
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].lines}
    np.testing.assert_array_equal(lines["raw"], bench.learning_curve(120, lr=0.3))
    np.testing.assert_array_equal(lines["low pass"], low_pass(lines["raw"]))

    # Into the caller's axes, as lw.plot does: it returns them.
    own = Figure()
    ax = own.subplots()
    assert bench.plot_learning(30, ax=ax) is ax
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), bench.learning_curve(30))
    with pytest.raises(lw.LayerwiseError, match="pass ax= as one Axes"):
        bench.plot_learning(30, ax=[ax, ax])


def test_plot_learning_shows_where_a_rate_diverged():
    bench = Bench(linear(), swap)
    fig = bench.plot_learning(300, lr=50.0)
    title = fig.axes[0].get_title()
    (raw,) = fig.axes[0].lines
    assert f"diverged at sample {len(raw.get_ydata()) + 1}" in title
    assert np.isfinite(raw.get_ydata()).all()


def test_low_pass_smooths_in_logs_and_passes_a_geometric_decay(scipy):
    decay = 10.0 ** -np.linspace(0, 12, 500)
    np.testing.assert_allclose(np.log(low_pass(decay)), np.log(decay), atol=1e-6)
    noisy = decay * np.random.default_rng(0).exponential(size=500)
    smooth = low_pass(noisy)
    assert smooth.shape == (500,) and (smooth > 0).all()
    residual = np.log(smooth) - np.log(decay)
    assert residual.std() < 0.3 * (np.log(noisy) - np.log(decay)).std()
    # It runs through the geometric mean: E[log(exponential noise)] = -Euler's gamma.
    assert abs(residual.mean() + np.euler_gamma) < 0.15
    # Zeros count as the smallest loss; short curves are left as they are.
    assert (low_pass(np.r_[noisy[:50], 0.0, noisy[50:100]]) > 0).all()
    np.testing.assert_array_equal(low_pass([3.0, 2.0, 1.0]), [3.0, 2.0, 1.0])
    with pytest.raises(lw.LayerwiseError, match="finite, non-negative"):
        low_pass([1.0, -1.0, 2.0, 3.0])


# -- the widget, headless --------------------------------------------------------------


def weight_images(model) -> list[np.ndarray]:
    return [np.vstack([layer.params["W"], layer.params["b"][None]]) for layer in model.layers]


def test_the_widget_follows_its_controls(widgets):
    bench = Bench(linear(), swap, lr=0.1)
    start = snapshot(bench)
    view = bench.widget(n=60)
    assert isinstance(view, BenchView)
    view.wait()
    assert view.lr_slider.value == 0.1 and view.n_slider.value == 60
    np.testing.assert_array_equal(view.lines["raw"], bench.learning_curve(60, lr=0.1))
    assert view.title == f"lr 0.1: max loss {view.losses.max():.3g}"
    assert bench.session.steps == start["steps"] + 60  # left as trained ...
    for shown, actual in zip(view.weights, weight_images(bench.model), strict=True):
        np.testing.assert_array_equal(shown, actual)  # ... and the image is the network
    assert view.loss_image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert view.weights_image.value[:8] == b"\x89PNG\r\n\x1a\n"

    view.lr_slider.value = 0.03
    view.wait()
    assert bench.lr == 0.03
    np.testing.assert_array_equal(view.lines["raw"], bench.learning_curve(60, lr=0.03))
    assert view.title.startswith("lr 0.03: max loss")

    view.n_slider.value = 150
    view.wait()
    np.testing.assert_array_equal(view.lines["raw"], bench.learning_curve(150, lr=0.03))
    assert bench.session.steps == start["steps"] + 150
    trained = snapshot(bench)

    view.mode_toggle.value = "low pass"
    view.wait()
    assert snapshot(bench) == trained  # a new drawing, not a new run
    np.testing.assert_array_equal(view.lines["raw"], view.losses)
    np.testing.assert_array_equal(view.lines["low pass"], low_pass(view.losses))
    view.mode_toggle.value = "raw"
    view.wait()
    assert list(view.lines) == ["raw"]

    view.reset_button.click()
    view.wait()
    assert bench.seed == 4 and bench.lr == 0.03
    assert snapshot(bench)["params"] != trained["params"]
    np.testing.assert_array_equal(view.lines["raw"], bench.learning_curve(150, lr=0.03))
    for shown, actual in zip(view.weights, weight_images(bench.model), strict=True):
        np.testing.assert_array_equal(shown, actual)
    assert "seed 4" in view.status.value and not view.busy


class Gate:
    """Holds the bench's session steps in the worker thread until released."""

    def __init__(self, session, monkeypatch):
        self.open, self.entered = threading.Event(), threading.Event()
        self.steps, self.threads = [], set()
        step = session.step

        def gated(n=1):
            self.threads.add(threading.current_thread())
            self.entered.set()
            assert self.open.wait(10), "the gate was never opened"
            self.steps.append(n)
            return step(n)

        monkeypatch.setattr(session, "step", gated)


def test_a_large_n_trains_in_the_background_in_chunks(widgets, monkeypatch):
    bench = Bench(linear(), swap, lr=0.1)
    view = bench.widget(n=10).wait()
    gate = Gate(bench.session, monkeypatch)
    view.n_slider.value = 3000  # returns while the worker waits at the gate
    assert view.busy and not gate.steps
    with pytest.raises(TimeoutError, match="still busy"):
        view.wait(timeout=0.05)
    gate.open.set()
    view.wait()
    assert sum(gate.steps) == 3000 and len(gate.steps) > 1  # chunks
    assert threading.main_thread() not in gate.threads
    np.testing.assert_array_equal(view.losses, bench.learning_curve(3000))


def test_a_newer_change_cancels_the_running_one(widgets, monkeypatch):
    bench = Bench(linear(), swap, lr=0.1)
    view = bench.widget(n=10).wait()
    gate = Gate(bench.session, monkeypatch)
    view.n_slider.value = 5000  # held in its first chunk
    view.lr_slider.value = 0.02  # supersedes it
    view.n_slider.value = 40
    gate.open.set()
    view.wait()
    assert sum(gate.steps) < 5000 + 40  # the first run stopped after a chunk
    assert bench.lr == 0.02 and len(view.losses) == 40
    np.testing.assert_array_equal(view.losses, bench.learning_curve(40, lr=0.02))


def test_the_widget_shows_a_divergence_and_goes_back_to_the_checkpoint(widgets):
    bench = Bench(linear(), swap, lr=50.0)
    start = snapshot(bench)
    view = bench.widget(n=400).wait()
    assert view.lr_slider.max == 2  # the slider's range grew to hold the bench's rate
    assert "diverged at sample" in view.title and "diverged" in view.status.value
    assert np.isfinite(view.lines["raw"]).all() and len(view.losses) < 400
    assert snapshot(bench) == start
    for shown, actual in zip(view.weights, weight_images(bench.model), strict=True):
        np.testing.assert_array_equal(shown, actual)


def test_an_error_in_the_update_reaches_wait_and_the_status(widgets):
    def ideal(X):
        if len(X) == 1:
            raise RuntimeError("no single samples here")
        return X

    bench = Bench(linear(), ideal)
    view = bench.widget(n=20)
    with pytest.raises(RuntimeError, match="no single samples"):
        view.wait()
    assert view.status.value.startswith("error: RuntimeError")


def test_the_view_displays_as_its_box(widgets):
    view = Bench(linear(), swap).widget(n=5).wait()
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.box.model_id
    view.close()
    assert view.box.comm is None


# -- errors -------------------------------------------------------------------------


def per_sample_swap(v):  # 003's form: one sample at a time
    return np.array([v[1], v[0]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "exactly one source of samples.*got neither"),
        ({"ideal": swap, "data": lambda rng, n: None}, "exactly one.*got both"),
        ({"ideal": 3}, "ideal must be a function"),
        ({"data": "moons"}, "data must be a function data\\(rng, n\\)"),
        ({"ideal": per_sample_swap}, "ideal .* whole batch .*X\\[:, ::-1\\]"),
        ({"ideal": lambda X: X[:, :1]}, "targets of shape \\(5, 1\\).*expected \\(5, 2\\)"),
        ({"data": lambda rng, n: rng.normal(size=(n, 2))}, "data returned ndarray"),
        ({"data": lambda rng, n: (np.zeros((n, 3)), np.zeros((n, 2)))}, "X of shape \\(5, 3\\)"),
        ({"ideal": swap, "lr": 0}, "lr must be a finite number > 0"),
        ({"ideal": swap, "lr": float("nan")}, "lr must be a finite number"),
        ({"ideal": swap, "lr": "fast"}, "lr must be a real number"),
        ({"ideal": swap, "seed": None}, "seed must be a non-negative integer"),
        ({"ideal": swap, "seed": -1}, "seed must be a non-negative integer"),
        ({"ideal": swap, "eval_size": 0}, "eval_size must be a positive integer"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        Bench(linear(), **kwargs)


def test_an_ideal_needs_a_model_of_known_width():
    with pytest.raises(lw.LayerwiseError, match="in_features is None.*data="):
        Bench(lw.Sequential([lw.Identity()]), swap)


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "10"])
def test_bad_sample_counts(n):
    bench = Bench(linear(), swap)
    for call, where in [
        (bench.learn, "Bench.learn: n"),
        (bench.learning_potential, "Bench.learning_potential: n"),
        (bench.learning_curve, "Bench.learning_curve: n"),
        (bench.plot_learning, "Bench.plot_learning: n"),
        (bench.widget, "Bench.widget: n"),
    ]:
        with pytest.raises(lw.LayerwiseError, match=f"{where} must be a positive integer"):
            call(n)


def test_bad_rates_and_seeds_after_construction():
    bench = Bench(linear(), swap)
    with pytest.raises(lw.LayerwiseError, match="Bench.learning_potential: lr must be"):
        bench.learning_potential(10, lr=-0.1)
    with pytest.raises(lw.LayerwiseError, match="Bench: lr must be"):
        bench.lr = 0.0
    with pytest.raises(lw.LayerwiseError, match="seed must be a non-negative integer"):
        bench.reset(seed=1.5)
    with pytest.raises(lw.LayerwiseError, match="ideal must be a function.*None"):
        bench.ideal = None
    assert bench.lr == 0.1 and bench.seed == 3 and bench.ideal is swap


def test_a_missing_notebook_extra_is_named(monkeypatch):
    bench = Bench(linear(), swap)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(lw.LayerwiseError, match=r'needs ipywidgets.*"layerwise\[notebook\]"'):
        bench.widget()
    monkeypatch.setitem(sys.modules, "scipy.signal", None)
    with pytest.raises(lw.LayerwiseError, match=r'needs scipy.*"layerwise\[notebook\]"'):
        bench.plot_learning(10, low_pass=True)
    with pytest.raises(lw.LayerwiseError, match=r"needs scipy"):
        low_pass(np.ones(10))


def test_closing_mid_run_stops_the_work_and_leaves_the_bench_at_its_checkpoint(
    widgets, monkeypatch
):
    bench = Bench(linear(), swap, lr=0.1)
    view = bench.widget(n=10).wait()
    gate = Gate(bench.session, monkeypatch)
    view.n_slider.value = 5000
    assert gate.entered.wait(10)  # the run has begun
    view.close()
    assert not view.busy
    gate.open.set()
    with bench._lock:  # taken once the worker has let go of the bench
        assert bench.session.steps == 0 and sum(gate.steps) < 5000
    view.n_slider.value = 20  # a closed view does nothing more
    assert not view.busy
