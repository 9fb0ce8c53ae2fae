"""The layer protocol, for every layer in the registry, in float32 and float64."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import layerwise as lw
from layerwise.network import LAYER_TYPES


def make_layer(name: str, width: int = 5) -> lw.Layer:
    """A layer of each registered type with default arguments (Linear keeps the width)."""
    if name == "Elementwise":
        return lw.Elementwise(lambda z: z * z / 2, lambda z: z, name="half_square")
    cls = LAYER_TYPES[name]
    if cls is lw.layers.RandomShift:  # as images of 1 x width pixels (its shifts: test_recipes)
        return cls((1, width), max_shift=0, rng=0)
    return cls(width, width) if cls is lw.Linear else cls()


# Every layer that keeps the width; Features (2 inputs, one column per feature) has its
# own tests, with its gradient check, in test_playground.py.
ALL_LAYERS = [name for name in [*LAYER_TYPES, "Elementwise"] if name != "Features"]


def cast_params(layer: lw.Layer, dtype) -> lw.Layer:
    """Wrap a single layer so that its parameters have ``dtype`` (as a network does)."""
    return lw.Sequential._wrap([layer], dtype).layers[0]


@pytest.mark.parametrize("name", ALL_LAYERS)
@pytest.mark.parametrize("training", [False, True])
def test_forward_backward_keep_shape_and_dtype(name, training, dtype, rng):
    layer = cast_params(make_layer(name), dtype)
    x = rng.normal(size=(7, 5)).astype(dtype)
    y = layer.forward(x, training=training)
    assert y.shape == (7, 5) and y.dtype == dtype
    g = layer.backward(rng.normal(size=y.shape).astype(dtype))
    assert g.shape == x.shape and g.dtype == dtype
    for key, grad in layer.grads.items():
        assert grad.shape == layer.params[key].shape and grad.dtype == dtype


@pytest.mark.parametrize("name", [n for n in ALL_LAYERS if n != "Identity"])
def test_backward_before_forward_raises(name):
    with pytest.raises(lw.LayerwiseError, match="backward was called before forward"):
        make_layer(name).backward(np.ones((2, 5), np.float32))


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_backward_overwrites_gradients(name, rng):
    layer = cast_params(make_layer(name), np.float64)
    x = rng.normal(size=(4, 5))
    g = rng.normal(size=(4, 5))
    layer.forward(x)
    first = layer.backward(g)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    second = layer.backward(g)
    np.testing.assert_array_equal(first, second)
    for k, v in layer.grads.items():
        np.testing.assert_array_equal(v, grads[k])  # not accumulated


def test_linear_is_x_at_W_plus_b(dtype, rng):
    layer = lw.Linear(3, 2, rng=0, dtype=dtype)
    layer.params["b"][...] = [0.5, -1.0]
    x = rng.normal(size=(4, 3)).astype(dtype)
    expected = x.astype(np.float64) @ layer.params["W"] + layer.params["b"]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-6)
    assert layer.params["W"].shape == (3, 2) and layer.params["b"].shape == (2,)


@pytest.mark.parametrize("inputs", [1, 2, 3, 4, 7])  # below 4: dW is computed row by row
@pytest.mark.parametrize("order", ["C", "F"])  # Linear layers hand on F-ordered gradients
def test_linear_gradients_match_the_formulas(inputs, order, rng):
    layer = lw.Linear(inputs, 2, rng=0, dtype=np.float64)
    x = rng.normal(size=(5, inputs))
    g = np.asarray(rng.normal(size=(5, 2)), order=order)
    layer.forward(x)
    grad_in = layer.backward(g)
    np.testing.assert_allclose(layer.grads["W"], x.T @ g, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], g.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(grad_in, g @ layer.params["W"].T, rtol=1e-12)


def test_linear_can_skip_the_input_gradient(rng):
    layer = lw.Linear(3, 2, rng=0, dtype=np.float64)
    x, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    layer.forward(x)
    layer.input_grad = False
    assert layer.backward(g) is None
    np.testing.assert_allclose(layer.grads["W"], x.T @ g, rtol=1e-12)


def test_linear_default_init_is_he_uniform_with_zero_bias():
    layer = lw.Linear(600, 400, rng=0)
    limit = np.sqrt(6 / 600)
    W = layer.params["W"]
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.95 * limit
    assert abs(W.std() - limit / np.sqrt(3)) < 0.01 * limit
    assert not layer.params["b"].any()


@pytest.mark.parametrize("name", sorted(lw.init.INITIALIZERS))
def test_every_initializer_is_seeded_and_shaped(name):
    a = lw.Linear(20, 30, init=name, rng=7)
    b = lw.Linear(20, 30, init=name, rng=7)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert a.params["W"].shape == (20, 30) and np.isfinite(a.params["W"]).all()


def test_initializer_scales():
    rng = np.random.default_rng(0)
    shape = (400, 600)
    assert abs(lw.init.he_normal(rng, shape).std() - np.sqrt(2 / 400)) < 2e-3
    assert abs(lw.init.glorot_normal(rng, shape).std() - np.sqrt(2 / 1000)) < 2e-3
    assert np.abs(lw.init.glorot_uniform(rng, shape)).max() <= np.sqrt(6 / 1000)
    w = lw.init.uniform(rng, shape, low=-3, high=3)
    assert w.min() >= -3 and w.max() < 3 and w.max() > 2.9


def test_callable_initializer_is_used():
    init = functools.partial(lw.init.uniform, low=-0.1, high=0.1)
    layer = lw.Linear(10, 10, init=init, bias_init=functools.partial(lw.init.normal, std=1.0))
    assert np.abs(layer.params["W"]).max() <= 0.1
    assert layer.params["b"].std() > 0.3


def test_bad_linear_arguments():
    with pytest.raises(lw.LayerwiseError, match="in_features must be a positive integer; got 0"):
        lw.Linear(0, 3)
    with pytest.raises(lw.LayerwiseError, match="out_features must be a positive integer; got 2.5"):
        lw.Linear(3, 2.5)
    with pytest.raises(
        lw.LayerwiseError, match="Unknown initializer 'he_unifrom'; known: .*he_uniform"
    ):
        lw.Linear(3, 2, init="he_unifrom")
    with pytest.raises(lw.LayerwiseError, match=r"returned shape \(2, 3\); expected \(3, 2\)"):
        lw.Linear(3, 2, init=lambda rng, shape: np.zeros((2, 3)))
    with pytest.raises(lw.LayerwiseError, match="dtype must be float32 or float64; got 'int32'"):
        lw.Linear(3, 2, dtype=np.int32)


def test_dropout_is_identity_at_inference(rng):
    x = rng.normal(size=(10, 6)).astype(np.float32)
    layer = lw.Dropout(0.5, rng=0)
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)


def test_dropout_drops_and_rescales(rng):
    p = 0.3
    layer = lw.Dropout(p, rng=0)
    x = np.ones((400, 500), np.float32)
    y = layer.forward(x, training=True)
    dropped = np.mean(y == 0)
    assert abs(dropped - p) < 0.01
    np.testing.assert_allclose(np.unique(y), [0, 1 / (1 - p)], rtol=1e-6)
    assert abs(y.mean() - 1) < 0.01  # inverted dropout keeps the expectation
    g = layer.backward(np.full_like(x, 2.0))
    np.testing.assert_array_equal(g == 0, y == 0)  # the same mask on the way back
    np.testing.assert_allclose(g[y > 0], 2 / (1 - p), rtol=1e-6)


@pytest.mark.parametrize("order", ["C", "F"])
def test_dropout_mask_is_drawn_in_the_input_memory_order(order, rng):
    # After a Linear layer the input is F-ordered; a mask in the other order would make
    # every product with it 10-20x slower.
    x = np.asarray(rng.normal(size=(50, 40)).astype(np.float32), order=order)
    layer = lw.Dropout(0.5, rng=0)
    y = layer.forward(x, training=True)
    mask = layer._mask
    assert mask.flags[f"{order}_CONTIGUOUS"] and y.flags[f"{order}_CONTIGUOUS"]
    np.testing.assert_array_equal(y, x * mask)
    assert 0.4 < np.mean(mask == 0) < 0.6


def test_dropout_masks_follow_the_network_seed(rng):
    x = rng.normal(size=(20, 8))
    outs = []
    for _ in range(2):
        model = lw.Sequential([lw.Linear(8, 8), lw.Dropout(0.5)], seed=3)
        outs.append(model.forward(x, training=True))
    np.testing.assert_array_equal(outs[0], outs[1])
    other = lw.Sequential([lw.Linear(8, 8), lw.Dropout(0.5)], seed=4).forward(x, training=True)
    assert not np.array_equal(outs[0] == 0, other == 0)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, "half"])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(lw.LayerwiseError, match="Dropout p must be a probability in"):
        lw.Dropout(p)
