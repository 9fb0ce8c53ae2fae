"""Losses: values against their formulas, stability, and the errors for bad targets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import layerwise as lw

ALL_LOSSES = {
    "MSE": lw.MSE,
    "MAE": lw.MAE,
    "BCE": lw.BinaryCrossEntropy,
    "BCE-logits": lambda: lw.BinaryCrossEntropy(from_logits=True),
    "CrossEntropy": lw.CrossEntropy,
}


def example(name: str, rng, n: int = 6, k: int = 3, dtype=np.float64):
    """A prediction and a fitting target for each loss."""
    z = rng.normal(size=(n, k)).astype(dtype)
    if name == "BCE":
        return lw.activations.sigmoid(z), (rng.random((n, k)) > 0.5).astype(dtype)
    if name == "BCE-logits":
        return z, rng.random((n, k)).astype(dtype)
    if name == "CrossEntropy":
        return z, rng.integers(0, k, n)
    return z, rng.normal(size=(n, k)).astype(dtype)


def test_values_match_the_formulas(rng):
    p, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    assert lw.MSE()(p, t) == pytest.approx(np.mean((p - t) ** 2), rel=1e-14)
    assert lw.MAE()(p, t) == pytest.approx(np.mean(np.abs(p - t)), rel=1e-14)
    prob, labels = lw.activations.sigmoid(p), (t > 0).astype(float)
    bce = -np.mean(labels * np.log(prob) + (1 - labels) * np.log(1 - prob))
    assert lw.BinaryCrossEntropy()(prob, labels) == pytest.approx(bce, rel=1e-12)
    assert lw.BinaryCrossEntropy(from_logits=True)(p, labels) == pytest.approx(bce, rel=1e-12)
    classes = rng.integers(0, 3, 5)
    logp = p - np.log(np.exp(p).sum(axis=1, keepdims=True))
    ce = -np.mean(logp[np.arange(5), classes])
    assert lw.CrossEntropy()(p, classes) == pytest.approx(ce, rel=1e-12)
    assert lw.CrossEntropy()(p, np.eye(3)[classes]) == pytest.approx(ce, rel=1e-12)


def test_gradients_carry_the_mean(rng):
    p, t = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    mse = lw.MSE()
    mse(p, t)
    np.testing.assert_allclose(mse.backward(), 2 * (p - t) / 8, rtol=1e-14)
    ce = lw.CrossEntropy()
    labels = np.array([0, 1, 1, 0])
    ce(p, labels)
    s = np.exp(p) / np.exp(p).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ce.backward(), (s - np.eye(2)[labels]) / 4, rtol=1e-12)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_loss_and_gradient_keep_the_dtype(name, dtype, rng):
    loss = ALL_LOSSES[name]()
    p, t = example(name, rng, dtype=dtype)
    value = loss(p, t)
    assert isinstance(value, float) and np.isfinite(value)
    g = loss.backward()
    assert g.shape == p.shape and g.dtype == dtype


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(ALL_LOSSES)),
    n=st.integers(1, 7),
    k=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_losses_are_non_negative(name, n, k, seed):
    p, t = example(name, np.random.default_rng(seed), n=n, k=k)
    assert ALL_LOSSES[name]()(p, t) >= 0


@pytest.mark.parametrize("z", [1000.0, -1000.0])
def test_extreme_logits_stay_finite(z, dtype):
    logits = np.array([[z, 0.0, -z]], dtype)
    ce = lw.CrossEntropy()
    value = ce(logits, np.array([1]))
    assert np.isfinite(value) and value == pytest.approx(1000.0, rel=1e-6)
    assert np.isfinite(ce.backward()).all()
    bce = lw.BinaryCrossEntropy(from_logits=True)
    value = bce(np.array([[z]], dtype), np.array([0.0 if z > 0 else 1.0]))
    assert value == pytest.approx(1000.0, rel=1e-6)
    np.testing.assert_allclose(bce.backward(), [[np.sign(z)]], rtol=1e-6)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_bce_on_saturated_probabilities_is_clipped(p, dtype):
    bce = lw.BinaryCrossEntropy()
    value = bce(np.array([[p]], dtype), np.array([1.0 - p]))
    eps = np.finfo(dtype).eps
    assert value == pytest.approx(-np.log(eps), rel=1e-3)
    assert np.isfinite(bce.backward()).all()


def test_one_output_takes_flat_targets(rng):
    p, t = rng.normal(size=(5, 1)), rng.normal(size=5)
    assert lw.MSE()(p, t) == pytest.approx(np.mean((p[:, 0] - t) ** 2))


def test_soft_labels_give_the_exact_gradient(rng):
    z = rng.normal(size=(3, 4))
    t = rng.random((3, 4))
    t /= t.sum(axis=1, keepdims=True)
    t *= 0.5  # rows need not sum to one: the gradient is still exact
    report = lw.gradcheck(lw.Identity(), z, t, lw.CrossEntropy())
    assert report.ok, report


# -- bad targets ------------------------------------------------------------------


def test_target_shape_must_match():
    with pytest.raises(
        lw.LayerwiseError, match=r"target shape \(4, 2\) does not match prediction shape \(4, 3\)"
    ):
        lw.MSE()(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(
        lw.LayerwiseError, match=r"target shape \(3,\) does not match prediction shape \(4, 1\)"
    ):
        lw.MSE()(np.zeros((4, 1)), np.zeros(3))


def test_labels_out_of_range():
    with pytest.raises(
        lw.LayerwiseError,
        match=r"class label 3 is out of range for 3 outputs \(labels must be in \[0, 2\]\)",
    ):
        lw.CrossEntropy()(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(lw.LayerwiseError, match="class label -1 is out of range"):
        lw.CrossEntropy()(np.zeros((2, 3)), np.array([-1, 0]))


def test_labels_must_be_integers():
    with pytest.raises(
        lw.LayerwiseError, match="must be integers; got dtype 'float64'. Use y.astype"
    ):
        lw.CrossEntropy()(np.zeros((2, 3)), np.array([0.0, 1.5]))


def test_label_count_must_match():
    with pytest.raises(lw.LayerwiseError, match="3 labels for 2 predictions"):
        lw.CrossEntropy()(np.zeros((2, 3)), np.array([0, 1, 2]))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_targets(bad):
    t = np.zeros((3, 2))
    t[1, 1] = bad
    with pytest.raises(
        lw.LayerwiseError, match=rf"target contains {float(bad)!r} at index \(1, 1\)"
    ):
        lw.MSE()(np.zeros((3, 2)), t)


def test_empty_batch():
    with pytest.raises(lw.LayerwiseError, match="empty batch"):
        lw.MSE()(np.zeros((0, 2)), np.zeros((0, 2)))


def test_non_numeric_targets():
    with pytest.raises(
        lw.LayerwiseError, match="target must hold numbers; got an array of dtype 'str32'"
    ):
        lw.MSE()(np.zeros((2, 1)), np.array(["a", "b"]))


def test_prediction_must_be_a_2d_float_array():
    with pytest.raises(
        lw.LayerwiseError, match=r"expects predictions as a 2-D float array .* shape \(3,\)"
    ):
        lw.MSE()(np.zeros(3), np.zeros(3))


def test_bce_targets_must_be_probabilities():
    with pytest.raises(
        lw.LayerwiseError, match="needs targets in \\[0, 1\\]; got values from 0.0 to 2.0"
    ):
        lw.BinaryCrossEntropy()(np.full((2, 1), 0.5), np.array([0.0, 2.0]))


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_backward_before_forward(name):
    with pytest.raises(lw.LayerwiseError, match="backward was called before forward"):
        ALL_LOSSES[name]().backward()


def test_unknown_loss_name():
    with pytest.raises(lw.LayerwiseError, match="Unknown loss 'mse2'; known: mse, mae"):
        lw.losses.get("mse2")


def test_bce_fused_gradient_through_sigmoid():
    sigmoid, linear = lw.Sigmoid(), lw.Linear(2, 2)
    z = np.array([[-3.0, 0.5], [2.0, 40.0]])
    t = np.array([[0.0, 1.0], [1.0, 0.0]])
    loss = lw.BinaryCrossEntropy()
    p = sigmoid.forward(z)
    loss.forward(p, t)
    fused = loss.backward_through(sigmoid)
    np.testing.assert_allclose(fused, (p - t) / 4, rtol=1e-15)
    # Where nothing saturates it is the chained gradient; at z = 40, p rounds to 1 and
    # the chained form loses the gradient of this wrong prediction, the fused one not.
    chained = sigmoid.backward(loss.backward())
    np.testing.assert_allclose(fused.ravel()[:3], chained.ravel()[:3], rtol=1e-12)
    assert chained[1, 1] == 0 and fused[1, 1] == pytest.approx(0.25)
    # Only after a Sigmoid, and not for logits.
    assert loss.backward_through(linear) is None
    logits = lw.BinaryCrossEntropy(from_logits=True)
    logits.forward(z, t)
    assert logits.backward_through(sigmoid) is None
    mse = lw.MSE()
    mse.forward(p, t)
    assert mse.backward_through(sigmoid) is None
