"""Activations: values, stability at extreme inputs, and the softmax Jacobian."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import layerwise as lw

EXTREMES = [-1000.0, -80.0, -1.0, 0.0, 1.0, 80.0, 1000.0]


@pytest.mark.parametrize("cls", [lw.Sigmoid, lw.Tanh, lw.ReLU, lw.LeakyReLU, lw.Softmax])
def test_extreme_inputs_give_finite_values_without_warnings(cls, dtype):
    # pytest turns every RuntimeWarning (overflow, invalid value) into an error.
    layer = cls()
    x = np.array([EXTREMES, EXTREMES[::-1]], dtype)
    y = layer.forward(x)
    g = layer.backward(np.ones_like(y))
    assert y.dtype == dtype and np.isfinite(y).all() and np.isfinite(g).all()


def test_sigmoid_values_and_precision(dtype):
    z = np.array([-1000, -30, 0, 30, 1000], dtype)
    y = lw.activations.sigmoid(z)
    assert y[0] == 0 and y[-1] == 1 and y[2] == 0.5
    # Tiny outputs keep full relative precision (1 / (1 + e^30) ~ 9.36e-14).
    np.testing.assert_allclose(y[1], 1 / (1 + np.exp(30.0)), rtol=1e-6)
    z = np.linspace(-80, 80, 1001).astype(dtype)  # e^80 still fits in float32
    exact = 1 / (1 + np.exp(-z.astype(np.longdouble)))
    np.testing.assert_allclose(lw.activations.sigmoid(z), exact.astype(dtype), rtol=1e-6)


def test_leaky_relu_slope():
    layer = lw.LeakyReLU(alpha=0.2)
    y = layer.forward(np.array([[-2.0, 3.0]]))
    np.testing.assert_allclose(y, [[-0.4, 3.0]])
    np.testing.assert_allclose(layer.backward(np.ones((1, 2))), [[0.2, 1.0]])


def test_relu_gradient_is_zero_at_zero():
    layer = lw.ReLU()
    layer.forward(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


finite_rows = arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 8)),
    elements=st.floats(-50, 50, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(z=finite_rows, shift=st.floats(-100, 100))
def test_softmax_rows_sum_to_one_and_ignore_a_constant_shift(z, shift):
    s = lw.activations.softmax(z)
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-12)
    assert (s >= 0).all()
    np.testing.assert_allclose(lw.activations.softmax(z + shift), s, rtol=1e-9, atol=1e-300)


@settings(max_examples=40, deadline=None)
@given(z=finite_rows)
def test_activations_preserve_shape_and_dtype(z):
    for cls in lw.activations.ACTIVATIONS.values():
        for dt in (np.float32, np.float64):
            y = cls().forward(z.astype(dt))
            assert y.shape == z.shape and y.dtype == dt


def test_softmax_backward_is_the_vector_jacobian_product(rng):
    z = rng.normal(size=(4, 5))
    g = rng.normal(size=(4, 5))
    layer = lw.Softmax()
    s = layer.forward(z)
    expected = np.stack([g[i] @ (np.diag(s[i]) - np.outer(s[i], s[i])) for i in range(len(z))])
    np.testing.assert_allclose(layer.backward(g), expected, rtol=1e-12, atol=1e-15)
    # The bug of notebook 001 (summing the Jacobian) would give something else:
    summed = np.stack([np.diag(s[i]) - np.outer(s[i], s[i]) for i in range(len(z))]).sum(axis=2)
    assert not np.allclose(layer.backward(g), g * summed)


def test_elementwise_applies_the_users_function_and_derivative():
    layer = lw.Elementwise(lambda z: z * z / 2, lambda z: z)
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    np.testing.assert_allclose(layer.forward(x), [[0.5, 2.0, 4.5]])
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), x)


def test_elementwise_keeps_the_dtype_and_broadcasts_a_constant_derivative():
    layer = lw.Elementwise(lambda z: z.astype(np.float64) + 1, lambda z: 1)
    x = np.ones((2, 3), np.float32)
    assert layer.forward(x).dtype == np.float32
    g = layer.backward(np.full_like(x, 3.0))
    assert g.dtype == np.float32 and g.shape == (2, 3)
    np.testing.assert_array_equal(g, 3.0)


def test_elementwise_refuses_a_function_that_is_not_element_wise():
    layer = lw.Elementwise(lambda z: z.sum(axis=1), lambda z: z)
    with pytest.raises(
        lw.LayerwiseError, match=r"returned shape \(2,\) for an input of shape \(2, 3\)"
    ):
        layer.forward(np.ones((2, 3)))


def test_elementwise_needs_callables():
    with pytest.raises(lw.LayerwiseError, match="needs two callables"):
        lw.Elementwise(lambda z: z, None)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(
        lw.LayerwiseError, match="Unknown activation 'rellu'; known: relu, leaky_relu"
    ):
        lw.activations.get("rellu")


def test_leaky_relu_rejects_a_bad_alpha():
    with pytest.raises(lw.LayerwiseError, match="alpha must be a finite number"):
        lw.LeakyReLU(alpha=float("nan"))


def test_relu_follows_changes_of_shape_and_memory_order():
    # Linear layers hand on F-ordered arrays; ReLU's cached zeros must follow the shape
    # and the memory order of whatever comes (two F-ordered shapes can share strides).
    layer, rng = lw.ReLU(), np.random.default_rng(0)
    for x in [
        rng.normal(size=(4, 3)),
        np.asfortranarray(rng.normal(size=(4, 3))),
        np.asfortranarray(rng.normal(size=(4, 5))),
        rng.normal(size=(2, 5)),
    ]:
        np.testing.assert_array_equal(layer.forward(x), np.maximum(x, 0))
        np.testing.assert_array_equal(layer.backward(np.ones_like(x)), x > 0)
