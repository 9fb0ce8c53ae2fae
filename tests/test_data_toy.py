"""Toy generators, digits and the batching helpers of ``layerwise.data``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.preprocessing import StandardScaler

import layerwise as lw
from layerwise import data
from layerwise._checks import LayerwiseError

# name -> (call with a seed, expected X shape, expected y shape, y dtype, label set or None)
GENERATORS = {
    "moons": (lambda s: data.moons(100, seed=s), (100, 2), (100,), np.int64, {0, 1}),
    "circles": (lambda s: data.circles(100, seed=s), (100, 2), (100,), np.int64, {0, 1}),
    "xor": (lambda s: data.xor(100, seed=s), (100, 2), (100,), np.int64, {0, 1}),
    "spiral": (
        lambda s: data.spiral(100, classes=4, seed=s),
        (100, 2),
        (100,),
        np.int64,
        {0, 1, 2, 3},
    ),
    "blobs": (lambda s: data.blobs(90, centers=3, seed=s), (90, 2), (90,), np.int64, {0, 1, 2}),
    "function2d": (lambda s: data.function2d(n=50, seed=s), (50, 2), (50, 1), np.float32, None),
    "curve1d": (lambda s: data.curve1d(60, seed=s), (60, 1), (60, 2), np.float32, None),
    "facts-identity": (
        lambda s: data.facts("identity", 30, seed=s),
        (30, 2),
        (30, 2),
        np.float32,
        None,
    ),
    "facts-swap": (lambda s: data.facts("swap", 30, seed=s), (30, 2), (30, 2), np.float32, None),
    "facts-constant": (
        lambda s: data.facts("constant", 30, seed=s),
        (30, 2),
        (30, 2),
        np.float32,
        None,
    ),
    "facts-xor": (lambda s: data.facts("xor", 30, seed=s), (30, 2), (30, 1), np.float32, None),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_generator_shapes_dtypes_and_labels(name):
    make, x_shape, y_shape, y_dtype, labels = GENERATORS[name]
    X, y = make(0)
    assert X.shape == x_shape and X.dtype == np.float32
    assert y.shape == y_shape and y.dtype == y_dtype
    assert np.isfinite(X).all() and np.isfinite(y).all()
    if labels is not None:
        assert set(np.unique(y).tolist()) == labels


@pytest.mark.parametrize("name", GENERATORS)
def test_generator_seed_reproduces_and_varies(name):
    make = GENERATORS[name][0]
    X1, y1 = make(1)
    X2, y2 = make(1)
    X3, _ = make(2)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_unseeded_generators_differ():
    assert not np.array_equal(data.moons(50)[0], data.moons(50)[0])
    assert not np.array_equal(data.spiral(50)[0], data.spiral(50)[0])


def test_moons_and_circles_are_balanced_and_shaped():
    _, y = data.moons(1001, seed=0)
    assert sorted(np.bincount(y).tolist()) == [500, 501]
    X, y = data.circles(200, noise=0.0, factor=0.3, seed=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radius[y == 1], 0.3, rtol=1e-6)


def test_xor_labels_follow_the_corners():
    X, y = data.xor(202, noise=0.0, seed=0)
    assert set(map(tuple, X.tolist())) == {(-1, -1), (-1, 1), (1, -1), (1, 1)}
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))
    corner_counts = np.unique(X, axis=0, return_counts=True)[1]
    assert sorted(corner_counts.tolist()) == [50, 50, 51, 51]
    X, y = data.xor(400, noise=0.1, seed=0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))


def test_spiral_splits_points_evenly_inside_the_unit_disc():
    X, y = data.spiral(301, classes=3, noise=0.0, seed=0)
    assert np.bincount(y).tolist() == [101, 100, 100]
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.max() <= 1.0 + 1e-6
    assert radius.max() > 0.99 and radius.min() < 1e-6
    # The arms are rotated copies: sorted radii agree between classes of the same size.
    np.testing.assert_allclose(np.sort(radius[y == 1]), np.sort(radius[y == 2]), atol=1e-6)


def test_blobs_uses_the_given_std():
    X, y = data.blobs(3000, centers=2, std=0.5, seed=0)
    for label in (0, 1):
        spread = X[y == label].std(axis=0)
        np.testing.assert_allclose(spread, 0.5, rtol=0.1)


def test_function2d_default_target_and_range():
    X, y = data.function2d(n=2000, low=-0.5, high=0.5, seed=0)
    assert X.min() >= -0.5 and X.max() <= 0.5
    np.testing.assert_allclose(y[:, 0], data.default_function2d(X[:, 0], X[:, 1]), rtol=1e-6)
    assert -1.0 <= y.min() < -0.3 and 0.9 < y.max() <= 1.0


def test_function2d_custom_function_and_interval():
    X, y = data.function2d(lambda a, b: a * b, n=100, low=1.0, high=3.0, seed=0)
    assert X.min() >= 1.0 and X.max() <= 3.0
    np.testing.assert_allclose(y[:, 0], X[:, 0] * X[:, 1], rtol=1e-6)


def test_function2d_rejects_bad_functions():
    with pytest.raises(LayerwiseError, match=r"must return 10 numbers .* got shape \(\)"):
        data.function2d(lambda a, b: 1.0, n=10)
    with pytest.raises(
        LayerwiseError,
        match=r"f returned nan at the point \(0\.\d+, -?0\.\d+\); the target must be",
    ):
        data.function2d(lambda a, b: np.where(a > 0, np.nan, a), n=100, seed=0)
    with pytest.raises(LayerwiseError, match="f must be callable"):
        data.function2d("sin")
    with pytest.raises(LayerwiseError, match=r"low must be below high; got low=1.0, high=0.0"):
        data.function2d(n=10, low=1.0, high=0.0)


def test_grid2d_ordering_matches_an_image():
    points, xx, yy = data.grid2d(-1.0, 2.0, resolution=4)
    assert points.shape == (16, 2) and xx.shape == yy.shape == (4, 4)
    assert points.dtype == xx.dtype == np.float32
    np.testing.assert_array_equal(points[:, 0], xx.ravel())
    np.testing.assert_array_equal(points[:, 1], yy.ravel())
    np.testing.assert_allclose(xx[0], [-1, 0, 1, 2])  # columns run along x0
    np.testing.assert_allclose(yy[:, 0], [-1, 0, 1, 2])  # rows run along x1
    image = data.default_function2d(points[:, 0], points[:, 1]).reshape(4, 4)
    np.testing.assert_allclose(image, data.default_function2d(xx, yy))


def test_curve1d_inputs_sorted_in_unit_interval_and_curve_inside():
    x, y = data.curve1d(500, noise=0.0, seed=0)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.all(np.diff(x[:, 0]) >= 0)
    assert y.min() >= 0.15 - 1e-6 and y.max() <= 0.85 + 1e-6
    _, noisy = data.curve1d(500, noise=0.05, seed=0)
    np.testing.assert_allclose((noisy - y).std(), 0.05, rtol=0.1)


def test_facts_kinds():
    X, y = data.facts("identity", 5, seed=0)
    np.testing.assert_array_equal(X, y)
    X, y = data.facts("swap", 5, seed=0)
    np.testing.assert_array_equal(y, X[:, ::-1])
    X, y = data.facts("constant", 5, seed=0)
    np.testing.assert_array_equal(y, np.tile([1.0, 1.0], (5, 1)))
    X, y = data.facts("xor", 4, seed=0)
    assert sorted(map(tuple, np.hstack([X, y]).tolist())) == [
        (0, 0, 0),
        (0, 1, 1),
        (1, 0, 1),
        (1, 1, 0),
    ]


def test_facts_unknown_kind_lists_the_known_ones():
    with pytest.raises(LayerwiseError, match="unknown kind 'and'.*'identity', 'swap'"):
        data.facts("and")


def test_digits_split_scaled_and_stratified():
    X_train, X_test, y_train, y_test = data.digits(test_size=0.2, seed=0)
    assert X_train.shape == (1437, 64) and X_test.shape == (360, 64)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    train_share = np.bincount(y_train) / len(y_train)
    test_share = np.bincount(y_test) / len(y_test)
    np.testing.assert_allclose(train_share, test_share, atol=0.01)
    again = data.digits(test_size=0.2, seed=0)
    np.testing.assert_array_equal(again[0], X_train)
    assert not np.array_equal(data.digits(test_size=0.2, seed=1)[0], X_train)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.moons(0), r"moons: n must be a positive integer; got 0"),
        (lambda: data.moons(10, noise=-1), r"moons: noise must be a finite number >= 0; got -1"),
        (
            lambda: data.moons(10, seed="a"),
            r"seed must be None, a non-negative integer or a numpy Generator",
        ),
        (lambda: data.circles(10, factor=1.5), r"factor must be in \(0, 1\); got 1.5"),
        (lambda: data.spiral(10, classes=0), r"spiral: classes must be a positive integer"),
        (lambda: data.xor(10, noise=float("nan")), r"xor: noise must be a finite number"),
        (lambda: data.grid2d(resolution=2.5), r"grid2d: resolution must be a positive integer"),
        (lambda: data.digits(test_size=1.0), r"test_size must be a fraction in \(0, 1\)"),
    ],
)
def test_generator_argument_errors(call, message):
    with pytest.raises(LayerwiseError, match=message):
        call()


def test_data_is_reachable_from_the_package():
    assert lw.data.moons is data.moons
    assert set(data.__all__) >= {"moons", "circles", "xor", "spiral", "function2d", "curve1d"}
    assert set(data.__all__) >= {"digits", "mnist", "fashion_mnist", "one_hot", "batches"}


# --- batching helpers -----------------------------------------------------------------


def test_one_hot_values_and_dtype():
    out = data.one_hot(np.array([2, 0, 1, 2]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    wide = data.one_hot([1, 0], num_classes=4, dtype=np.float64)
    assert wide.shape == (2, 4) and wide.dtype == np.float64
    np.testing.assert_array_equal(data.one_hot([1.0, 0.0]), [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    ("labels", "kwargs", "message"),
    [
        ([[0], [1]], {}, r"one_hot: y must be 1-D labels; got shape \(2, 1\)\. Use y\.ravel\(\)"),
        ([0.5, 1.0], {}, r"labels must be whole numbers; got 0.5 at index 0"),
        ([0, -1], {}, r"labels must be class indices >= 0; got -1 at index 1"),
        ([0, 3, 1], {"num_classes": 3}, r"must be in 0..2 for num_classes=3; got 3 at index 1"),
        ([], {}, r"cannot infer num_classes from empty labels"),
        (["a", "b"], {}, r"one_hot: y must hold numbers"),
    ],
)
def test_one_hot_errors(labels, kwargs, message):
    with pytest.raises(LayerwiseError, match=message):
        data.one_hot(labels, **kwargs)


@given(
    n=st.integers(1, 60),
    batch_size=st.one_of(st.none(), st.integers(1, 70)),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_batches_cover_every_row_once(n, batch_size, shuffle, seed):
    X = np.arange(2 * n).reshape(n, 2)
    y = np.arange(n)
    parts = list(data.batches(X, y, batch_size, shuffle=shuffle, rng=seed))
    size = n if batch_size is None else batch_size
    assert [len(yb) for _, yb in parts[:-1]] == [size] * (len(parts) - 1)
    assert 1 <= len(parts[-1][1]) <= size
    seen = np.concatenate([yb for _, yb in parts])
    assert sorted(seen.tolist()) == list(range(n))
    for xb, yb in parts:  # rows stay paired with their targets
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)
    if not shuffle:
        np.testing.assert_array_equal(seen, y)


def test_batches_order_comes_from_rng():
    X, y = np.zeros((50, 1)), np.arange(50)
    first = [yb.tolist() for _, yb in data.batches(X, y, 8, rng=3)]
    again = [yb.tolist() for _, yb in data.batches(X, y, 8, rng=np.random.default_rng(3))]
    other = [yb.tolist() for _, yb in data.batches(X, y, 8, rng=4)]
    assert first == again and first != other
    assert first != [yb.tolist() for _, yb in data.batches(X, y, 8, shuffle=False)]


def test_batches_without_shuffle_are_views():
    X, y = np.zeros((10, 3)), np.zeros(10)
    xb, yb = next(data.batches(X, y, 4, shuffle=False))
    assert np.shares_memory(xb, X) and np.shares_memory(yb, y)


def test_batches_errors():
    with pytest.raises(LayerwiseError, match=r"same number of rows; got X of shape \(3, 2\) and"):
        data.batches(np.zeros((3, 2)), np.zeros(4), 2)
    with pytest.raises(LayerwiseError, match="batch_size must be a positive integer; got 0"):
        data.batches(np.zeros((3, 2)), np.zeros(3), 0)


def test_standardize_fits_on_the_first_array():
    rng = np.random.default_rng(0)
    X_train = rng.normal(5.0, 3.0, (200, 4))
    X_test = rng.normal(5.0, 3.0, (50, 4))
    train, test, scaler = data.standardize(X_train, X_test)
    assert train.dtype == test.dtype == np.float32
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-5)
    assert isinstance(scaler, StandardScaler)
    np.testing.assert_allclose(test, (X_test - X_train.mean(0)) / X_train.std(0), atol=1e-5)
    (only, scaler) = data.standardize(X_train)
    assert only.shape == X_train.shape


def test_standardize_errors():
    with pytest.raises(LayerwiseError, match=r"standardize: others\[0\] has 3 features but"):
        data.standardize(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(LayerwiseError, match=r"standardize: X_train must be 2-D .* shape \(4,\)"):
        data.standardize(np.zeros(4))
    with pytest.raises(LayerwiseError, match=r"others\[0\] contains .*nan.* at index \(0, 1\)"):
        data.standardize(np.zeros((4, 2)), np.array([[0.0, np.nan]]))


def test_a_generator_as_seed_is_drawn_from():
    # A Session's data callable passes its generator: the same one gives the same data,
    # and it advances, so two calls give new samples.
    for make in (data.function2d, lambda seed: data.moons(20, seed=seed)):
        a, b = np.random.default_rng(7), np.random.default_rng(7)
        X1, y1 = make(seed=a)
        X2, y2 = make(seed=b)
        np.testing.assert_array_equal(X1, X2)
        assert not np.array_equal(make(seed=a)[0], X1)


@pytest.mark.parametrize("test_size", [0.001, 0.999])
def test_digits_refuses_a_split_without_every_class_on_both_sides(test_size):
    with pytest.raises(LayerwiseError, match=r"digits: test_size=0\.\d+ puts \d+ of the 1797"):
        data.digits(test_size=test_size)
