"""lw.plot: every figure draws what it claims, headless, without pyplot."""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure
from PIL import Image

import layerwise as lw

# lw.plot never touches pyplot (checked below), so no backend is ever chosen; Agg is
# set anyway so that nothing in this file could open a window.
matplotlib.use("Agg")


@pytest.fixture(scope="module")
def moons():
    return lw.data.moons(200, seed=0)


def binary_model(last=lw.Sigmoid):
    layers = [lw.Linear(2, 8), lw.Tanh(), lw.Linear(8, 1)]
    return lw.Sequential(layers + ([last()] if last else []), seed=0)


def three_class_model():
    return lw.Sequential([lw.Linear(2, 8), lw.Tanh(), lw.Linear(8, 3)], seed=0)


def filled_contour(ax) -> ContourSet:
    (cs,) = [c for c in ax.collections if isinstance(c, ContourSet) and c.filled]
    return cs


def same_contours(cs: ContourSet, xx, yy, Z) -> bool:
    """Whether ``cs`` is the filled contour of ``Z`` on its levels (compared path by path)."""
    ref = Figure().subplots().contourf(xx, yy, Z, levels=cs.levels, extend=cs.extend)
    mine, theirs = cs.get_paths(), ref.get_paths()
    return len(mine) == len(theirs) and all(
        a.vertices.shape == b.vertices.shape and np.allclose(a.vertices, b.vertices, atol=1e-9)
        for a, b in zip(mine, theirs)
    )


def axes_grid(ax, resolution):
    """The grid ``(points, xx, yy)`` spanning the axes' limits, x0 running fastest."""
    x0, x1 = np.linspace(*ax.get_xlim(), resolution), np.linspace(*ax.get_ylim(), resolution)
    xx, yy = np.meshgrid(x0, x1)
    return np.column_stack([xx.ravel(), yy.ravel()]), xx, yy


# -- history ------------------------------------------------------------------------------


def test_history_draws_train_and_validation_per_metric_with_log_loss():
    hist = lw.History(
        {
            "loss": [1.0, 0.5, 0.25],
            "val_loss": [1.1, 0.6, 0.4],
            "accuracy": [0.5, 0.7, 0.9],
            "val_accuracy": [0.4, 0.6, 0.8],
            "lr": [0.1, 0.1, 0.1],
        }
    )
    fig = lw.plot.history(hist, log=True)
    assert isinstance(fig, Figure)
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train", "validation"]
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(loss_ax.lines[0].get_ydata(), hist.history["loss"])
    np.testing.assert_array_equal(loss_ax.lines[1].get_ydata(), hist.history["val_loss"])
    np.testing.assert_array_equal(acc_ax.lines[1].get_ydata(), hist.history["val_accuracy"])
    assert loss_ax.get_yscale() == "log" and acc_ax.get_yscale() == "linear"
    assert lw.plot.history(hist).axes[0].get_yscale() == "linear"


def test_history_of_a_fit_without_accuracy_has_one_panel():
    X, y = lw.data.function2d(n=64, seed=0)
    model = lw.Sequential([lw.Linear(2, 4), lw.Tanh(), lw.Linear(4, 1)], seed=0)
    hist = model.fit(X, y, loss="mse", optimizer="sgd", epochs=3, progress=False)
    (ax,) = lw.plot.history(hist).axes
    (line,) = ax.lines
    np.testing.assert_array_equal(line.get_ydata(), hist.history["loss"])


def test_history_compares_runs_on_shared_axes():
    runs = {"lr=1": {"loss": [0.7, 0.3]}, "lr=0.1": lw.History({"loss": [0.7, 0.6, 0.5]})}
    (ax,) = lw.plot.history(runs).axes
    assert [line.get_label() for line in ax.lines] == ["lr=1", "lr=0.1"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [0.7, 0.6, 0.5])
    assert ax.lines[0].get_color() != ax.lines[1].get_color()
    assert ax.get_legend() is not None
    # A list of runs with labels, and any recorded key.
    pair = [{"loss": [1.0], "lr": [0.5]}, {"loss": [2.0], "lr": [0.25]}]
    (ax,) = lw.plot.history(pair, keys="lr", label=["a", "b"]).axes
    assert [(line.get_label(), line.get_ydata()[0]) for line in ax.lines] == [
        ("a", 0.5),
        ("b", 0.25),
    ]


@pytest.mark.parametrize(
    ("hist", "kwargs", "match"),
    [
        ({"loss": [1.0]}, {"keys": ["accuracy"]}, r"no 'accuracy' \(nor 'val_accuracy'\)"),
        ({"lr": [1.0]}, {}, "no 'loss' or 'accuracy'"),
        ([], {}, "expects a History"),
        ([{"loss": [1.0]}] * 2, {"label": ["only one"]}, "one name per run"),
        ({"a": {"loss": [1.0]}}, {"label": "x"}, "keys already label"),
        ({"loss": [[1.0, 2.0]]}, {}, "list of numbers"),
    ],
)
def test_history_rejects_bad_input(hist, kwargs, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        lw.plot.history(hist, **kwargs)


def test_axes_can_be_passed_in_and_are_checked():
    fig = Figure()
    ax = fig.subplots()
    assert lw.plot.history({"loss": [1.0, 0.5]}, ax=ax) is ax  # the caller's axes come back
    assert len(ax.lines) == 1
    two = Figure().subplots(1, 2)
    with pytest.raises(lw.LayerwiseError, match="draws 2 panel"):
        lw.plot.history({"loss": [1.0], "accuracy": [0.5]}, ax=two[0])
    assert lw.plot.history({"loss": [1.0], "accuracy": [0.5]}, ax=two) is two


# -- decision boundary ------------------------------------------------------------------


def test_decision_boundary_contours_the_outputs_on_the_grid(moons):
    X, y = moons
    model = binary_model()
    fig = lw.plot.decision_boundary(model, X, y, resolution=30, margin=0.25)
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((X[:, 0].min() - 0.25, X[:, 0].max() + 0.25))
    assert ax.get_ylim() == pytest.approx((X[:, 1].min() - 0.25, X[:, 1].max() + 0.25))
    points, xx, yy = axes_grid(ax, 30)
    Z = model.predict(points)[:, 0].reshape(30, 30)
    cs = filled_contour(ax)
    assert (cs.zmin, cs.zmax) == (Z.min(), Z.max())
    np.testing.assert_allclose(cs.levels, np.linspace(0, 1, 11))  # probabilities
    assert same_contours(cs, xx, yy, Z)
    assert not same_contours(cs, xx, yy, Z.T)  # the comparison can tell a wrong Z
    (points_drawn,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(points_drawn.get_offsets(), X)
    face = points_drawn.get_facecolor()
    assert (face[y == 1, 0] > face[y == 1, 2]).all() and (face[y == 0, 0] < face[y == 0, 2]).all()


def test_decision_boundary_of_logits_centres_the_scale_on_zero(moons):
    X, y = moons
    model = binary_model(last=None)
    ax = lw.plot.decision_boundary(model, X, y, resolution=20).axes[0]
    points, xx, yy = axes_grid(ax, 20)
    Z = model.predict(points)[:, 0].reshape(20, 20)
    cs = filled_contour(ax)
    m = np.abs(Z).max()
    np.testing.assert_allclose(cs.levels, np.linspace(-m, m, 11), rtol=1e-6)
    assert same_contours(cs, xx, yy, Z)


def test_decision_boundary_of_several_classes_shows_the_argmax_and_confidence():
    X, y = lw.data.blobs(90, centers=3, seed=0)
    model = three_class_model()
    ax = lw.plot.decision_boundary(model, X, y, resolution=25).axes[0]
    points, xx, yy = axes_grid(ax, 25)
    logits = model.predict(points).astype(np.float64).reshape(25, 25, 3)
    cs = filled_contour(ax)
    np.testing.assert_array_equal(cs.levels, [-0.5, 0.5, 1.5, 2.5])
    assert same_contours(cs, xx, yy, logits.argmax(axis=-1))
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    (shade,) = ax.images
    expected_alpha = 0.75 * (1 - probs.max(-1)) / (1 - 1 / 3)
    np.testing.assert_allclose(shade.get_array()[..., 3], expected_alpha, atol=1e-6)
    assert shade.get_zorder() > cs.get_zorder()  # drawn over the contour, not hidden by it


@pytest.mark.parametrize(
    ("X", "model", "y", "match"),
    [
        (np.zeros((5, 3)), binary_model(), None, r"2-D inputs; X has shape \(5, 3\)"),
        (np.zeros(5), binary_model(), None, "must be 2-D"),
        (
            np.zeros((5, 2)),
            lw.Sequential([lw.Linear(3, 1)]),
            None,
            "model with 2 input",
        ),
        (np.zeros((5, 2)), binary_model(), np.array([0, 1, 2, 0, 1]), "classes 0 to 1"),
        (np.zeros((5, 2)), binary_model(), np.zeros(4), r"y has shape \(4,\)"),
        (np.zeros((5, 2)), binary_model(), np.full(5, 0.5), "whole numbers"),
    ],
)
def test_decision_boundary_rejects_bad_input(X, model, y, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        lw.plot.decision_boundary(model, X, y, resolution=5)


# -- function map and 1-D fit -----------------------------------------------------------------


def test_function_map_shows_the_network_and_the_target_on_one_scale():
    model = lw.Sequential([lw.Linear(2, 16), lw.ReLU(), lw.Linear(16, 1)], seed=0)
    target = lw.data.default_function2d
    fig = lw.plot.function_map(model, -1.0, 1.0, target=target, resolution=20)
    net_ax, target_ax = fig.axes[:2]
    points, xx, yy = lw.data.grid2d(-1.0, 1.0, resolution=20)
    (net_image,) = net_ax.images
    (target_image,) = target_ax.images
    np.testing.assert_allclose(
        net_image.get_array(), model.predict(points).reshape(20, 20), rtol=1e-6
    )
    # The target sees the grid in float64 (the network casts it to its own dtype).
    xx, yy = np.meshgrid(np.linspace(-1.0, 1.0, 20), np.linspace(-1.0, 1.0, 20))
    np.testing.assert_allclose(target_image.get_array(), target(xx, yy), rtol=1e-12)
    assert net_image.origin == "lower" and net_image.get_extent() == [-1.0, 1.0, -1.0, 1.0]
    assert net_image.get_clim() == target_image.get_clim()
    assert len(fig.axes) == 3  # one shared colour bar
    assert len(lw.plot.function_map(model, resolution=10).axes) == 2


@pytest.mark.parametrize(
    ("model", "kwargs", "match"),
    [
        (lw.Sequential([lw.Linear(2, 2)]), {}, "draws one output; the model has 2"),
        (lw.Sequential([lw.Linear(1, 1)]), {}, "model with 2 input"),
        (lw.Sequential([lw.Linear(2, 1)]), {"low": 1.0, "high": 0.0}, "low must be below high"),
        (lw.Sequential([lw.Linear(2, 1)]), {"target": lambda a, b: a[0]}, "target.*shape"),
        (lw.Sequential([lw.Linear(2, 1)]), {"target": 3}, "must be callable"),
        (
            lw.Sequential([lw.Linear(2, 1)]),
            {"target": np.add, "ax": Figure().subplots()},
            "draws 2 panel",
        ),
    ],
)
def test_function_map_rejects_bad_input(model, kwargs, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        lw.plot.function_map(model, resolution=5, **kwargs)


def curve_model(outputs=2):
    return lw.Sequential([lw.Linear(1, 6), lw.Sigmoid(), lw.Linear(6, outputs)], seed=0)


def test_fit_1d_draws_the_curve_in_the_output_plane():
    x, y = lw.data.curve1d(50, seed=0)
    model = curve_model()
    ax = lw.plot.fit_1d(model, x, y, resolution=40).axes[0]
    t = np.linspace(x.min(), x.max(), 40).reshape(-1, 1)
    pred = model.predict(t)
    (line,) = ax.lines
    np.testing.assert_allclose(line.get_xdata(), pred[:, 0], rtol=1e-6)
    np.testing.assert_allclose(line.get_ydata(), pred[:, 1], rtol=1e-6)
    (data,) = ax.collections
    np.testing.assert_allclose(data.get_offsets(), y)


def test_fit_1d_draws_each_output_against_x():
    x, y = lw.data.curve1d(30, seed=0)
    model = curve_model()
    ax = lw.plot.fit_1d(model, x[:, 0], y, view="outputs", resolution=25).axes[0]
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    for j, line in enumerate(ax.lines):
        pred = model.predict(line.get_xdata().reshape(-1, 1))
        np.testing.assert_allclose(line.get_ydata(), pred[:, j], rtol=1e-6)
        np.testing.assert_allclose(ax.collections[j].get_offsets(), np.column_stack([x, y[:, j]]))
    # One output: y against x, without data points when y is None.
    ax = lw.plot.fit_1d(curve_model(1), x, None).axes[0]
    assert [line.get_label() for line in ax.lines] == ["network"] and not ax.collections


@pytest.mark.parametrize(
    ("model", "y", "kwargs", "match"),
    [
        (curve_model(1), None, {"view": "plane"}, "needs 2 outputs; the model has 1"),
        (curve_model(), None, {"view": "side"}, "view must be"),
        (lw.Sequential([lw.Linear(2, 2)]), None, {}, "model with 1 input"),
        (curve_model(), np.zeros((10, 3)), {}, r"expected \(10, 2\)"),
    ],
)
def test_fit_1d_rejects_bad_input(model, y, kwargs, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        lw.plot.fit_1d(model, np.linspace(0, 1, 10).reshape(-1, 1), y, **kwargs)


# -- weights, images, confusion matrix ---------------------------------------------------------


def test_weights_shows_each_linear_layer_with_its_bias_row():
    model = lw.Sequential([lw.Linear(3, 4), lw.ReLU(), lw.Linear(4, 2)], seed=0)
    model.layers[2].params["b"][:] = [0.5, -0.25]
    fig = lw.plot.weights(model)
    assert len(fig.axes) == 3  # two panels and one colour bar
    for ax, layer in zip(fig.axes, (model.layers[0], model.layers[2])):
        (image,) = ax.images
        W, b = layer.params["W"], layer.params["b"]
        np.testing.assert_array_equal(image.get_array(), np.vstack([W, b[None]]))
    limit = max(np.abs(p).max() for p, _ in model.parameters().values())
    for ax in fig.axes[:2]:
        assert ax.images[0].get_clim() == pytest.approx((-limit, limit))
    with pytest.raises(lw.LayerwiseError, match="has none"):
        lw.plot.weights(lw.Sequential([lw.ReLU()]))


def tile(mosaic, i, cols, h, w):
    r, c = (i // cols) * (h + 1), (i % cols) * (w + 1)
    return mosaic[r : r + h, c : c + w]


def test_image_grid_tiles_the_images_with_their_labels():
    rng = np.random.default_rng(0)
    X = rng.random((12, 64))
    fig = lw.plot.image_grid(X, labels=np.arange(12) % 10, n=10)
    ax = fig.axes[0]
    mosaic = np.ma.getdata(ax.images[0].get_array())
    assert mosaic.shape == (3 * 9 - 1, 4 * 9 - 1)  # 10 images: 4 columns, 3 rows
    for i in range(10):
        np.testing.assert_array_equal(tile(mosaic, i, 4, 8, 8), X[i].reshape(8, 8))
    assert [t.get_text() for t in ax.texts] == [str(i) for i in range(10)]
    # 28x28 from a 3-D array, and a non-square shape given explicitly.
    images = rng.random((3, 28, 28))
    mosaic = np.ma.getdata(lw.plot.image_grid(images).axes[0].images[0].get_array())
    np.testing.assert_array_equal(tile(mosaic, 2, 2, 28, 28), images[2])
    mosaic = np.ma.getdata(lw.plot.image_grid(X[:1, :24], (4, 6)).axes[0].images[0].get_array())
    np.testing.assert_array_equal(mosaic, X[0, :24].reshape(4, 6))


@pytest.mark.parametrize(
    ("X", "shape", "kwargs", "match"),
    [
        (np.zeros((4, 10)), None, {}, "10 features of each image are not a perfect square"),
        (np.zeros((4, 16)), (3, 5), {}, r"shape \(3, 5\) holds 15 pixels but each image has 16"),
        (np.zeros((4, 16)), None, {"labels": [1, 2]}, "2 labels for 4 images"),
        (np.zeros((4, 16)), None, {"n": 0}, "n must be a positive integer"),
    ],
)
def test_image_grid_rejects_bad_input(X, shape, kwargs, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        lw.plot.image_grid(X, shape, **kwargs)


def test_confusion_matrix_shows_and_writes_the_counts():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    ax = lw.plot.confusion_matrix(y_true, y_pred, labels=["a", "b", "c", "d"]).axes[0]
    expected = np.array([[1, 1, 0, 0], [0, 2, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert [t.get_text() for t in ax.texts] == [str(v) for v in expected.ravel()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
    # Normalized by true class: rows sum to one (or stay zero); scores give their argmax.
    scores = np.eye(3)[y_pred]
    ax = lw.plot.confusion_matrix(y_true, scores, normalize=True).axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), expected[:3, :3] / [[2], [3], [1]])
    assert ax.texts[1].get_text() == "0.50"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"labels": ["a", "b"]}, "2 labels for 3 classes"), ({"normalize": "rows"}, "normalize")],
)
def test_confusion_matrix_rejects_bad_input(kwargs, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        lw.plot.confusion_matrix([0, 1, 2], [0, 1, 1], **kwargs)


# -- recording and animation ---------------------------------------------------------------


def quiet_fit(model, X, y, **kwargs):
    kwargs.setdefault("optimizer", lw.Adam(lr=1e-2))
    return model.fit(X, y, progress=False, **kwargs)


def test_recorder_keeps_the_loss_and_predictions_every_k_steps(moons):
    X, y = moons
    model = binary_model()
    before = model.copy()
    recorder = lw.plot.Recorder(X, y=y, every=6, resolution=12)
    quiet_fit(model, X, y[:, None], loss="bce", epochs=5, batch_size=50, callbacks=[recorder])
    assert recorder.view == "decision_boundary"
    assert recorder.steps == list(range(1, 21)) and len(recorder.losses) == 20
    assert [f.step for f in recorder.frames] == [0, 6, 12, 18, 20]  # start, every 6, end
    assert recorder.points.shape == (144, 2)
    np.testing.assert_array_equal(recorder.frames[0].output, before.predict(recorder.points))
    np.testing.assert_array_equal(recorder.frames[-1].output, model.predict(recorder.points))
    # A second fit carries on the step count instead of starting again at 0.
    quiet_fit(model, X, y[:, None], loss="bce", epochs=1, batch_size=50, callbacks=[recorder])
    assert recorder.steps[-4:] == [21, 22, 23, 24]
    assert [f.step for f in recorder.frames][-2:] == [20, 24]


@pytest.mark.parametrize(
    ("model", "data", "loss", "view"),
    [
        (three_class_model(), lw.data.blobs(30, seed=0), "cross_entropy", "decision_boundary"),
        (binary_model(last=None), lw.data.function2d(n=30, seed=0), "mse", "function_map"),
        (curve_model(), lw.data.curve1d(30, seed=0), "mse", "fit_1d"),
        (lw.Sequential([lw.Linear(2, 2)]), lw.data.facts("swap", 30, seed=0), "mse", "loss"),
    ],
)
def test_recorder_picks_the_view_from_the_model_and_loss(model, data, loss, view):
    recorder = lw.plot.Recorder(data[0], y=data[1], every=1000)
    quiet_fit(model, *data, loss=loss, epochs=1, callbacks=[recorder])
    assert recorder.view == view
    assert len(recorder.frames) == 2  # before and after


def gif_frames(path) -> int:
    with Image.open(path) as image:
        return image.n_frames


@pytest.mark.parametrize("outputs", [1, 3])
def test_animate_writes_one_gif_frame_per_recorded_frame(tmp_path, outputs):
    X, y = lw.data.blobs(60, centers=max(outputs, 2), seed=0)
    model = binary_model() if outputs == 1 else three_class_model()
    loss = "bce" if outputs == 1 else "cross_entropy"
    recorder = lw.plot.Recorder(X, y=y, every=2, resolution=15)
    target = y[:, None] if outputs == 1 else y
    quiet_fit(model, X, target, loss=loss, epochs=3, batch_size=30, callbacks=[recorder])
    assert len(recorder.frames) == 4  # steps 0, 2, 4, 6
    gif = lw.plot.animate(recorder, tmp_path / "train.gif", fps=5, dpi=30, log=True)
    assert gif.path == tmp_path / "train.gif"
    assert gif_frames(gif.path) == gif.n_frames == 4


@pytest.mark.parametrize(
    ("make", "data"),
    [
        (lambda: binary_model(last=None), lw.data.function2d(n=40, seed=0)),
        (curve_model, lw.data.curve1d(40, seed=0)),
        (lambda: lw.Sequential([lw.Linear(2, 2)]), lw.data.facts("swap", 40, seed=0)),
    ],
)
def test_animate_regression_views(tmp_path, make, data):
    recorder = lw.plot.Recorder(data[0], y=data[1], every=3)
    quiet_fit(make(), *data, loss="mse", epochs=2, batch_size=8, callbacks=[recorder])
    gif = lw.plot.animate(recorder, tmp_path / "fit.gif", dpi=30)
    assert gif_frames(gif.path) == len(recorder.frames) == 5  # steps 0, 3, 6, 9, 10


def test_animate_a_list_of_figures(tmp_path):
    figures = [lw.plot.history({"loss": [1.0, 0.5, v]}) for v in (0.1, 0.2, 0.4)]
    assert gif_frames(lw.plot.animate(figures, tmp_path / "figs.gif", dpi=20).path) == 3


@pytest.mark.parametrize(
    ("make", "kwargs", "match"),
    [
        (lambda: lw.plot.Recorder(), {}, "holds no frames"),
        (lambda: [Figure(figsize=(2, 2)), Figure(figsize=(3, 2))], {}, "one size"),
        (lambda: [], {}, "non-empty sequence of Figures"),
        (lambda: [Figure()], {"fps": 0}, "fps and dpi must be positive"),
        (lambda: [Figure()], {"path": "no/such/folder/x.gif"}, "does not exist"),
        (lambda: [Figure()], {"path": "x.png"}, r"must end in \.gif; got 'x.png'"),
    ],
)
def test_animate_rejects_bad_input(tmp_path, make, kwargs, match):
    path = kwargs.pop("path", tmp_path / "x.gif")
    with pytest.raises(lw.LayerwiseError, match=match):
        lw.plot.animate(make(), path, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "fit_with", "match"),
    [
        ({"view": "movie"}, None, "view must be one of"),
        ({"every": 0}, None, "every must be a positive integer"),
        ({"view": "decision_boundary"}, "2d", "needs X to place"),
        ({"view": "fit_1d"}, "2d", "view 'fit_1d' needs a model with 1 input"),
    ],
)
def test_recorder_rejects_bad_input(moons, kwargs, fit_with, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        recorder = lw.plot.Recorder(**kwargs)
        X, y = moons
        quiet_fit(binary_model(), X, y[:, None], loss="bce", callbacks=[recorder])


def test_recorder_checks_its_targets_when_training_starts(moons):
    X, y = moons
    with pytest.raises(lw.LayerwiseError, match="classes 0 to 1"):
        recorder = lw.plot.Recorder(X, y=np.full(len(X), 3))
        quiet_fit(binary_model(), X, y[:, None], loss="bce", callbacks=[recorder])
    x, targets = lw.data.curve1d(20, seed=0)
    with pytest.raises(lw.LayerwiseError, match=r"expected \(20, 2\)"):
        recorder = lw.plot.Recorder(x, y=targets[:, :1])
        quiet_fit(curve_model(), x, targets, loss="mse", callbacks=[recorder])
    with pytest.raises(lw.LayerwiseError, match="20 points in X but 19 targets"):
        lw.plot.Recorder(x, y=targets[:19])


def test_plotting_never_imports_pyplot():
    # dict.items reads the raw settings: RcParams' own lookup of "backend" would pick one.
    code = (
        "import sys, matplotlib\n"
        "settings = dict(dict.items(matplotlib.rcParams))\n"
        "import layerwise as lw\n"
        "fig = lw.plot.history({'loss': [1.0, 0.5]})\n"
        "fig.savefig(sys.argv[1])\n"
        "fig._repr_png_()\n"
        "lw.plot.animate([fig], dpi=10)._repr_mimebundle_()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert dict(dict.items(matplotlib.rcParams)) == settings\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "/dev/null"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# -- how the figures and animations show themselves ---------------------------------------


def diagnostics_record():
    """A small lw.Diagnostics record: a 2-8-1 tanh net, full batch, 6 records."""
    diag = lw.Diagnostics(every=2)
    X, y = lw.data.function2d(n=64, seed=0)
    model = lw.Sequential([lw.Linear(2, 8), lw.Tanh(), lw.Linear(8, 1)], seed=0)
    model.fit(X, y, loss=lw.MSE(), optimizer=lw.SGD(lr=0.1), epochs=12, batch_size=None,
              callbacks=[diag], progress=False)  # fmt: skip
    return diag


def tiny_sweep() -> lw.SweepResults:
    """Four runs of a few epochs, in this process."""
    X, y = lw.data.moons(40, seed=0)
    grid = {"lr": [0.1, 1.0], "seed": [0, 1]}
    return lw.sweep(grid, data=(X, y), layers=[4], epochs=3, n_jobs=1, progress=False)


# Every lw.plot function, as ``make(ax=None)``, with the number of panels it draws.
FIGURES = {
    "history": (
        lambda ax=None: lw.plot.history({"loss": [1.0, 0.5], "accuracy": [0.5, 0.7]}, ax=ax),
        2,
    ),
    "decision_boundary": (
        lambda ax=None: lw.plot.decision_boundary(
            binary_model(), *lw.data.moons(40, seed=0), resolution=10, ax=ax
        ),
        1,
    ),
    "function_map": (
        lambda ax=None: lw.plot.function_map(
            binary_model(last=None), target=lw.data.default_function2d, resolution=10, ax=ax
        ),
        2,
    ),
    "fit_1d": (
        lambda ax=None: lw.plot.fit_1d(curve_model(), *lw.data.curve1d(20, seed=0), ax=ax),
        1,
    ),
    "weights": (lambda ax=None: lw.plot.weights(binary_model(), ax=ax), 2),
    "image_grid": (
        lambda ax=None: lw.plot.image_grid(np.random.default_rng(0).random((4, 16)), ax=ax),
        1,
    ),
    "confusion_matrix": (lambda ax=None: lw.plot.confusion_matrix([0, 1, 1], [0, 1, 0], ax=ax), 1),
    "diagnostics": (lambda ax=None: lw.plot.diagnostics(diagnostics_record(), ax=ax), 6),
    "sweep": (lambda ax=None: lw.plot.sweep(tiny_sweep(), ax=ax), 2),
}


def test_every_plot_function_is_checked_for_display():
    functions = {name for name in lw.plot.__all__ if name not in ("GIF", "Frame", "Recorder")}
    assert functions - {"animate"} == set(FIGURES)


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGBA"))


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figures_render_themselves_as_png_of_their_size(name):
    fig = FIGURES[name][0]()
    assert isinstance(fig, Figure)
    pixels = decode(fig._repr_png_())
    width, height = np.round(fig.get_size_inches() * fig.dpi).astype(int)
    assert pixels.shape == (height, width, 4)
    # The picture of the figure: what savefig draws of its twin, pixel for pixel (a
    # twin, since constrained layout can shift a pixel at a second draw), and not blank.
    saved = io.BytesIO()
    FIGURES[name][0]().savefig(saved, format="png")
    np.testing.assert_array_equal(pixels, decode(saved.getvalue()))
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 10


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figures_drawn_on_the_callers_axes_return_those_axes(name):
    make, panels = FIGURES[name]
    caller = Figure()
    if panels == 1:
        ax = caller.subplots()
        assert make(ax=ax) is ax
    else:
        axes = caller.subplots(1, panels)  # an array of Axes, as plt.subplots gives
        assert make(ax=axes) is axes
        as_list = list(Figure().subplots(1, panels))
        assert make(ax=as_list) is as_list
    assert not hasattr(caller, "_repr_png_")  # the caller's figure is left as it is


def in_kernel(monkeypatch) -> list:
    """Pretend to run in a kernel; return the list of objects displayed."""
    from layerwise import _display

    shown = []
    monkeypatch.setattr(_display, "in_kernel", lambda: True)
    monkeypatch.setattr(_display, "display", shown.append)
    return shown


def test_show_in_a_kernel_displays_the_figure(monkeypatch):
    shown = in_kernel(monkeypatch)
    fig = lw.plot.history({"loss": [1.0, 0.5]})
    assert fig.show() is None
    assert shown == [fig]


def test_show_without_a_window_says_to_save_and_leaves_pyplot_alone():
    import matplotlib.pyplot as plt

    fig = lw.plot.history({"loss": [1.0, 0.5]})
    with pytest.raises(lw.LayerwiseError, match=r"(?i)backend 'agg' draws no windows.*savefig"):
        fig.show()
    assert plt.get_fignums() == [] and fig.canvas.manager is None
    assert fig.show(warn=False) is None  # as matplotlib's warn=False: quietly nothing
    assert plt.get_fignums() == []
    assert decode(fig._repr_png_()).shape == (360, 450, 4)  # still draws


@pytest.mark.skipif(
    matplotlib.__version_info__ < (3, 11), reason="pyplot adopts figures from matplotlib 3.11"
)
def test_show_with_an_interactive_backend_opens_pyplots_window(monkeypatch):
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    # Agg posing as a GUI canvas: enough to follow the path to plt.show.
    monkeypatch.setattr(FigureCanvasAgg, "required_interactive_framework", "qt")
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.get_fignums()))
    fig = lw.plot.history({"loss": [1.0, 0.5]})
    try:
        fig.show()
        assert len(shown) == 1 and len(shown[0]) == 1  # pyplot held this one figure
        assert fig.canvas.manager is not None
    finally:
        plt.close(fig)


def test_show_explains_when_pyplot_cannot_adopt_the_figure(monkeypatch):
    import matplotlib.pyplot as plt

    def old_figure(num=None, **kwargs):  # matplotlib < 3.11 refuses figures made without it
        raise ValueError("The passed figure is not managed by pyplot")

    monkeypatch.setattr(plt, "figure", old_figure)
    fig = lw.plot.history({"loss": [1.0, 0.5]})
    with pytest.raises(lw.LayerwiseError, match=r"from matplotlib 3\.11 on.*savefig"):
        fig.show()
    assert fig.show(warn=False) is None


def test_animate_returns_a_gif_that_displays_inline_and_saves_later(tmp_path, moons):
    X, y = moons
    recorder = lw.plot.Recorder(X, y=y, every=5, resolution=10)
    quiet_fit(
        binary_model(), X, y[:, None], loss="bce", epochs=2, batch_size=50, callbacks=[recorder]
    )
    gif = lw.plot.animate(recorder, dpi=20)
    assert isinstance(gif, lw.plot.GIF) and gif.path is None
    assert gif.data.startswith(b"GIF89a")
    assert gif.n_frames == len(recorder.frames) == 3  # steps 0, 5, 8
    assert gif.size == (180, 76)  # 9 x 3.8 inches at 20 dpi
    bundle = gif._repr_mimebundle_()
    assert list(bundle) == ["image/gif"] and base64.b64decode(bundle["image/gif"]) == gif.data
    assert repr(gif).startswith("<GIF 180x76 px, 3 frames, ")
    path = gif.save(tmp_path / "later.gif")
    assert path == gif.path and path.read_bytes() == gif.data and gif_frames(path) == 3
    assert repr(gif).endswith(f"saved to {str(path)!r}>")
    # An existing file displays too.
    again = lw.plot.GIF(path.read_bytes())
    assert (again.size, again.n_frames, again.path) == (gif.size, 3, None)


def test_gif_rejects_bad_input(tmp_path):
    png = lw.plot.history({"loss": [1.0]})._repr_png_()
    with pytest.raises(lw.LayerwiseError, match=r"bytes of a GIF file .*got b'\\x89PNG"):
        lw.plot.GIF(png)
    gif = lw.plot.animate([Figure(figsize=(1, 1))], dpi=10)
    with pytest.raises(lw.LayerwiseError, match=r"GIF.save writes a GIF.*must end in \.gif"):
        gif.save(tmp_path / "x.png")
    with pytest.raises(lw.LayerwiseError, match="GIF.save: the folder .* does not exist"):
        gif.save(tmp_path / "missing" / "x.gif")
    assert gif.path is None


# -- ticks: whole numbers, as many as fit, never on top of each other --------------------


def tick_label_boxes(fig, ax, axis="x"):
    """The drawn tick labels of ``ax`` along ``axis``, in pixels, in axis order."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    which = ax.xaxis if axis == "x" else ax.yaxis
    low, high = sorted(which.get_view_interval())
    boxes = [
        label.get_window_extent(renderer)
        for tick in which.get_major_ticks()
        for label in (tick.label1, tick.label2)  # label2: right of a colour bar
        if low <= tick.get_loc() <= high and label.get_visible() and label.get_text()
    ]
    return sorted(boxes, key=(lambda b: b.x0) if axis == "x" else (lambda b: b.y0))


def assert_apart(boxes, axis="x"):
    assert len(boxes) >= 2
    if axis == "x":
        assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), [(b.x0, b.x1) for b in boxes]
    else:
        assert all(a.y1 < b.y0 for a, b in zip(boxes, boxes[1:])), [(b.y0, b.y1) for b in boxes]


def test_weights_of_a_single_output_layer_have_integer_ticks():
    fig = lw.plot.weights(lw.Sequential([lw.Linear(4, 1)], seed=0))
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticks()
    visible = [t for t in ticks if -0.5 <= t <= 0.5]
    assert visible == [0.0]


@pytest.mark.parametrize(("inputs", "outputs"), [(64, 1000), (784, 128), (2, 300), (1000, 10)])
def test_weights_tick_labels_of_wide_layers_do_not_overlap(inputs, outputs):
    # Up to 0.3 the ticks fell one per three font sizes, which 4-digit labels overrun.
    fig = lw.plot.weights(lw.Sequential([lw.Linear(inputs, outputs)], seed=0))
    ax = fig.axes[0]
    assert_apart(tick_label_boxes(fig, ax, "x"), "x")
    assert_apart(tick_label_boxes(fig, ax, "y"), "y")
    assert all(float(t).is_integer() for t in ax.get_xticks())


@pytest.mark.parametrize("epochs", [3, 12, 50_000, 1_000_000])
def test_history_epoch_labels_do_not_overlap_on_long_runs(epochs):
    long_run = {"loss": list(np.exp(-np.arange(epochs) / (epochs / 5)))}
    fig = lw.plot.history(long_run)
    assert_apart(tick_label_boxes(fig, fig.axes[0]))
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())
    # On a small panel of the caller's too.
    caller = Figure(figsize=(3.0, 2.5), layout="constrained")
    ax = lw.plot.history(long_run, ax=caller.subplots(), log=True)
    assert_apart(tick_label_boxes(caller, ax))


def test_history_of_per_step_losses_counts_steps():
    steps = np.exp(-np.arange(300) / 100)
    for losses in (steps, list(steps), tuple(steps)):
        (ax,) = lw.plot.history(losses).axes
        assert ax.get_xlabel() == "step"
        np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(1, 301))
        np.testing.assert_array_equal(ax.lines[0].get_ydata(), steps)
    (ax,) = lw.plot.history([steps, steps / 2], label=["SGD", "Adam"]).axes
    assert ax.get_xlabel() == "step"
    assert [line.get_label() for line in ax.lines] == ["SGD", "Adam"]
    # Records of epochs keep their epochs.
    assert lw.plot.history({"loss": list(steps)}).axes[0].get_xlabel() == "epoch"
    assert lw.plot.history(lw.History({"loss": [1.0, 0.5]})).axes[0].get_xlabel() == "epoch"
    assert lw.plot.history([{"loss": [1.0]}, lw.History({"loss": [2.0]})]).axes[0].get_xlabel() == (
        "epoch"
    )
    with pytest.raises(lw.LayerwiseError, match="some runs are per-step losses and others"):
        lw.plot.history([steps, {"loss": [1.0, 0.5]}])
    with pytest.raises(lw.LayerwiseError, match=r"per-step losses \(a list or 1-D array"):
        lw.plot.history(np.ones((3, 2)))


@pytest.mark.parametrize("classes", [10, 30, 60])
def test_confusion_matrix_labels_every_class_that_fits(classes):
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, classes, 2000), rng.integers(0, classes, 2000)
    fig = lw.plot.confusion_matrix(t, p)
    ax = fig.axes[0]
    assert_apart(tick_label_boxes(fig, ax, "x"), "x")
    assert_apart(tick_label_boxes(fig, ax, "y"), "y")
    if classes == 10:
        assert [label.get_text() for label in ax.get_xticklabels()] == [str(i) for i in range(10)]
    # Class names, rotated: as many as fit, each at its own class.
    names = [f"class {i}" for i in range(classes)]
    fig = lw.plot.confusion_matrix(t, p, labels=names)
    ax = fig.axes[0]
    assert_apart(tick_label_boxes(fig, ax, "y"), "y")
    shown = [(tick, label.get_text()) for tick, label in zip(ax.get_xticks(), ax.get_xticklabels())]
    assert all(text == names[int(tick)] for tick, text in shown)
    assert len(shown) == classes if classes == 10 else 2 < len(shown) < classes


def test_decision_boundary_colour_bar_of_many_classes_is_readable():
    X = np.random.default_rng(0).normal(size=(50, 2))
    fig = lw.plot.decision_boundary(lw.Sequential([lw.Linear(2, 40)], seed=0), X, None)
    colorbar = fig.axes[1]
    assert_apart(tick_label_boxes(fig, colorbar, "y"), "y")
    fig = lw.plot.decision_boundary(lw.Sequential([lw.Linear(2, 3)], seed=0), X, None)
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["0", "1", "2"]


# -- what a reader needs: points that show their class, names, titles ------------------


@pytest.mark.parametrize("classes", [2, 3])
def test_points_keep_their_class_colour_on_pale_regions_with_a_legend(moons, classes):
    if classes == 2:
        (X, y), model = moons, binary_model()
    else:
        X, y = lw.data.blobs(90, centers=3, seed=0)
        model = three_class_model()
    ax = lw.plot.decision_boundary(model, X, y, resolution=20, title="moons: test points").axes[0]
    assert ax.get_title() == "moons: test points"
    cs = filled_contour(ax)
    assert cs.get_alpha() is not None and cs.get_alpha() <= 0.5  # pale regions
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    face = points.get_facecolor()
    assert (face[:, 3] == 1).all()  # opaque points, black edges
    np.testing.assert_allclose(points.get_edgecolor()[:, :3], 0)
    # One colour per class, the same for every point of it, and the classes differ.
    per_class = [np.unique(face[y == c], axis=0) for c in range(classes)]
    assert all(len(colours) == 1 for colours in per_class)
    assert len({tuple(c[0]) for c in per_class}) == classes
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [f"class {c}" for c in range(classes)]
    for handle, colours in zip(legend.legend_handles, per_class):
        np.testing.assert_allclose(matplotlib.colors.to_rgba(handle.get_markerfacecolor()),
                                   colours[0])  # fmt: skip
    assert cs.extend == "neither"  # the scale covers every output: no arrows on the bar


def test_decision_boundary_names_the_classes_and_checks_their_number(moons):
    X, y = moons
    ax = lw.plot.decision_boundary(binary_model(), X, y, resolution=10, names=["top", "bottom"])
    texts = [t.get_text() for t in ax.axes[0].get_legend().get_texts()]
    assert texts == ["top", "bottom"]
    with pytest.raises(lw.LayerwiseError, match="1 names for the 2 classes"):
        lw.plot.decision_boundary(binary_model(), X, y, resolution=10, names=["top"])


def test_history_names_its_validation_lines_and_takes_a_title():
    record = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "r2": [-0.2, 0.4], "val_r2": [0.0, 0.3]}
    fig = lw.plot.history(record, keys=["loss", "r2"], val_label="test", title="run 3", log=True)
    loss, r2 = fig.axes
    assert [line.get_label() for line in loss.lines] == ["train", "test"]
    assert fig._suptitle.get_text() == "run 3"
    assert loss.get_yscale() == "log" and r2.get_yscale() == "linear"  # R^2 may be negative


def _table_recording(make, X, y, loss):
    recorder = lw.plot.Recorder(X, y=y, every=5)
    quiet_fit(make(), X, y, loss=loss, epochs=2, batch_size=20, callbacks=[recorder])
    return recorder


@pytest.mark.parametrize(
    ("features", "classes", "loss", "view"),
    [
        (64, 10, "cross_entropy", "images"),
        (5, 3, "cross_entropy", "confusion"),
        (5, 0, "mse", "scatter"),
        (16, 2, "bce", "images"),
    ],
)
def test_recorder_shows_what_a_wide_model_learns(tmp_path, features, classes, loss, view):
    rng = np.random.default_rng(0)
    X = rng.random((60, features))
    outputs = 1 if classes in (0, 2) else classes
    y = rng.integers(0, max(classes, 1), 60) if classes else rng.normal(size=(60, 1))
    if classes == 2:
        y = y[:, None].astype(float)
    layers = [lw.Linear(features, 8), lw.ReLU(), lw.Linear(8, outputs)]
    if classes == 2:
        layers.append(lw.Sigmoid())
    recorder = _table_recording(lambda: lw.Sequential(layers, seed=0), X, y, loss)
    assert recorder.view == view
    assert len(recorder.points) == (16 if view == "images" else 60)
    gif = lw.plot.animate(recorder, tmp_path / "run.gif", dpi=30)
    assert gif_frames(gif.path) == len(recorder.frames)


def test_images_view_colours_each_prediction_by_whether_it_is_right():
    from matplotlib.figure import Figure

    from layerwise.plot.animation import _painter

    X_tr, X_te, y_tr, y_te = lw.data.digits(seed=0)
    model = lw.Sequential([lw.Linear(64, 10)], seed=0)
    recorder = _table_recording(lambda: model, X_te, y_te, "cross_entropy")
    paint, colors = _painter(recorder)
    ax = Figure().subplots()
    caption = paint(ax, recorder.frames[-1].output)
    predicted = recorder.frames[-1].output.argmax(axis=1)
    texts = ax.texts
    assert [int(t.get_text()) for t in texts] == list(predicted)
    right = predicted == y_te[:16]
    assert [t.get_color() == "limegreen" for t in texts] == list(right)
    assert caption == f"{right.sum()} of 16 right (green)"
    assert colors is None


def test_confusion_and_scatter_views_draw_the_frame_predictions():
    from matplotlib.figure import Figure

    from layerwise.plot.animation import _painter

    rng = np.random.default_rng(1)
    X, y = rng.random((50, 4)), rng.integers(0, 3, 50)
    model = lw.Sequential([lw.Linear(4, 3)], seed=0)
    recorder = _table_recording(lambda: model, X, y, "cross_entropy")
    paint, _ = _painter(recorder)
    ax = Figure().subplots()
    output = recorder.frames[-1].output
    caption = paint(ax, output)
    counts = ax.images[0].get_array()
    predicted = output.argmax(axis=1)
    for i in range(3):
        for j in range(3):
            assert counts[i, j] == np.sum((y == i) & (predicted == j))
    assert caption == f"accuracy {np.mean(predicted == y):.3f} on 50 samples"

    t = rng.normal(size=(50, 1))
    model = lw.Sequential([lw.Linear(4, 1)], seed=0)
    recorder = _table_recording(lambda: model, X, t, "mse")
    paint, _ = _painter(recorder)
    ax = Figure().subplots()
    output = recorder.frames[-1].output
    caption = paint(ax, output)
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), np.c_[t[:, 0], output[:, 0]])
    assert caption.startswith(f"R² {lw.metrics.r2(t[:, 0], output[:, 0]):.3f}")


def test_recorder_view_for_images_needs_square_inputs():
    X, y = np.zeros((10, 5)), np.zeros(10, dtype=int)
    recorder = lw.plot.Recorder(X, y=y, view="images")
    model = lw.Sequential([lw.Linear(5, 2)], seed=0)
    with pytest.raises(lw.LayerwiseError, match="square images"):
        quiet_fit(model, X, y, loss="cross_entropy", epochs=1, callbacks=[recorder])


def test_animation_colour_bar_sits_below_its_map_and_the_loss_axis_is_labelled(tmp_path):
    import matplotlib.figure

    X, y = lw.data.blobs(40, centers=2, seed=0)
    recorder = lw.plot.Recorder(X, y=y, every=5, resolution=10)
    quiet_fit(
        binary_model(), X, y[:, None], loss="bce", epochs=2, batch_size=20, callbacks=[recorder]
    )
    seen = []
    original = matplotlib.figure.Figure.colorbar

    def spy(self, mappable, **kwargs):
        seen.append(kwargs)
        bar = original(self, mappable, **kwargs)
        seen.append(self)
        return bar

    matplotlib.figure.Figure.colorbar = spy
    try:
        lw.plot.animate(recorder, tmp_path / "b.gif", dpi=30)
    finally:
        matplotlib.figure.Figure.colorbar = original
    kwargs, fig = seen
    assert kwargs["location"] == "bottom" and kwargs["label"] == "network output"
    loss_axes = [ax for ax in fig.axes if ax.get_title() == "training loss"]
    assert loss_axes and loss_axes[0].get_ylabel() == "batch loss"
