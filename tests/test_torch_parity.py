"""PyTorch parity: the same network and loss in torch give the same loss and gradients.

Weights are copied into torch twins (``nn.Linear.weight`` is ``W.T``); dropout uses the
mask layerwise drew. Gradients are compared tensor by tensor with
``|ours - torch| <= rtol * max|torch|`` (a relative tolerance on the tensor's scale, so
that elements that cancel to ~0 do not turn rounding noise into huge ratios):
rtol 1e-10 in float64 and 1e-5 in float32. Tensors whose whole gradient is below the
dtype's resolution of the loss are compared on that floor (see ``compare``).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import layerwise as lw

torch = pytest.importorskip(
    "torch", reason="PyTorch is the reference for parity tests: pip install torch==2.13.0"
)
F = torch.nn.functional

RTOL = {np.float64: 1e-10, np.float32: 1e-5}


class _Mask(torch.nn.Module):
    """A dropout twin that multiplies by the scaled mask layerwise drew."""

    def __init__(self, layer: lw.Dropout):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        mask = self.layer._mask
        return x if mask is None else x * torch.from_numpy(mask)


class _Lambda(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def torch_twin(layer: lw.Layer) -> torch.nn.Module:
    if isinstance(layer, lw.Linear):
        twin = torch.nn.Linear(layer.in_features, layer.out_features)
        dtype = torch.from_numpy(layer.params["W"]).dtype
        twin = twin.to(dtype)
        with torch.no_grad():
            twin.weight.copy_(torch.from_numpy(layer.params["W"].T.copy()))
            twin.bias.copy_(torch.from_numpy(layer.params["b"].copy()))
        return twin
    if isinstance(layer, lw.Dropout):
        return _Mask(layer)
    if isinstance(layer, lw.LeakyReLU):
        return torch.nn.LeakyReLU(layer.alpha)
    if isinstance(layer, lw.Elementwise):
        return _Lambda(lambda z: z * z / 2)  # the function the tests use
    simple = {
        lw.ReLU: torch.nn.ReLU,
        lw.Sigmoid: torch.nn.Sigmoid,
        lw.Tanh: torch.nn.Tanh,
        lw.Identity: torch.nn.Identity,
        lw.Softmax: lambda: torch.nn.Softmax(dim=1),
    }
    return simple[type(layer)]()


def torch_loss(name: str, pred, target):
    if name == "MSE":
        return F.mse_loss(pred, target)
    if name == "MAE":
        return F.l1_loss(pred, target)
    if name == "BCE":
        return F.binary_cross_entropy(pred, target)
    if name == "BCE-logits":
        return F.binary_cross_entropy_with_logits(pred, target)
    if name == "CE-labels":
        return F.cross_entropy(pred, target)
    if name == "CE-onehot":
        return F.cross_entropy(pred, target)
    raise AssertionError(name)


LOSSES = {
    "MSE": lw.MSE,
    "MAE": lw.MAE,
    "BCE": lw.BinaryCrossEntropy,
    "BCE-logits": lambda: lw.BinaryCrossEntropy(from_logits=True),
    "CE-labels": lw.CrossEntropy,
    "CE-onehot": lw.CrossEntropy,
}

HIDDEN = {
    "ReLU": lw.ReLU,
    "LeakyReLU": lambda: lw.LeakyReLU(0.1),
    "Sigmoid": lw.Sigmoid,
    "Tanh": lw.Tanh,
    "Softmax": lw.Softmax,
    "Identity": lw.Identity,
    "Dropout": lambda: lw.Dropout(0.3),
    "Elementwise": lambda: lw.Elementwise(lambda z: z * z / 2, lambda z: z),
}


def make_target(name, rng, n, k, dtype):
    if name == "CE-labels":
        return rng.integers(0, k, n)
    if name == "CE-onehot":
        return np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    if name in ("BCE", "BCE-logits"):
        return rng.random((n, k)).astype(dtype)
    return rng.normal(size=(n, k)).astype(dtype)


def torch_gradients(model: lw.Sequential, loss_name: str, x, target, *, float64=False):
    """The loss and the gradients (input, then each Linear's W and b) computed by torch."""
    twins = [torch_twin(layer) for layer in model.layers]
    tx = torch.from_numpy(x)
    tt = torch.from_numpy(np.asarray(target))
    if float64:
        twins = [twin.double() for twin in twins]
        tx = tx.double()
        tt = tt.double() if tt.is_floating_point() else tt
    tx.requires_grad_(True)
    out = tx
    for twin in twins:
        out = twin(out)
    value = torch_loss(loss_name, out, tt)
    value.backward()
    grads = {"input": tx.grad.numpy()}
    for i, twin in enumerate(twins):
        if isinstance(twin, torch.nn.Linear):
            grads[f"{i}.W"] = twin.weight.grad.numpy().T
            grads[f"{i}.b"] = twin.bias.grad.numpy()
    return value.item(), grads


def compare(model, loss_name, x, target, dtype, *, training=True, cancellation_ok=False):
    """Run both frameworks and assert that loss, input and parameter gradients agree.

    With ``cancellation_ok`` (float32 only), a tensor that misses the tolerance passes
    if it is as close to torch's float64 result as torch's own float32 result is (within
    2x): a gradient that is a small sum of large terms cannot be more exact in float32.
    """
    loss = LOSSES[loss_name]()
    ours_loss = loss(model.forward(x, training=training), target)
    ours = {"input": model.backward(loss.backward())}
    for i, layer in enumerate(model.layers):
        if isinstance(layer, lw.Linear):
            ours[f"{i}.W"], ours[f"{i}.b"] = layer.grads["W"], layer.grads["b"]
    theirs_loss, theirs = torch_gradients(model, loss_name, x, target)

    rtol = RTOL[dtype]
    assert ours_loss == pytest.approx(theirs_loss, rel=rtol, abs=rtol)
    assert ours.keys() == theirs.keys()
    # A tensor whose gradient is below the dtype's resolution of the loss (e.g. behind a
    # one-unit softmax, exactly 0 in theory) holds only rounding noise: compare it on
    # that floor instead of its own scale.
    floor = 10 * np.finfo(dtype).eps * max(1.0, abs(ours_loss))
    reference = None
    for name, a in ours.items():
        b = theirs[name]
        assert a.dtype == dtype, name
        scale, err = np.abs(b).max(), np.abs(a - b).max()
        if err <= rtol * max(scale, floor):
            continue
        assert cancellation_ok and dtype == np.float32, (name, err, scale)
        if reference is None:
            reference = torch_gradients(model, loss_name, x, target, float64=True)[1]
        ours_err = np.abs(a - reference[name]).max()
        torch_err = np.abs(b - reference[name]).max()
        assert ours_err <= max(rtol * scale, 2 * torch_err), (name, ours_err, torch_err, scale)
    return ours


@pytest.mark.parametrize("loss_name", LOSSES)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_layer_with_every_loss(hidden, loss_name, dtype):
    dtype = dtype.type
    rng = np.random.default_rng(zlib.crc32(f"{hidden}-{loss_name}".encode()))
    k = 3
    layers = [lw.Linear(4, 6), HIDDEN[hidden](), lw.Linear(6, 5), lw.Tanh(), lw.Linear(5, k)]
    if loss_name == "BCE":
        layers.append(lw.Sigmoid())
    model = lw.Sequential(layers, seed=7, dtype=dtype)
    x = rng.normal(size=(9, 4)).astype(dtype)
    grads = compare(model, loss_name, x, make_target(loss_name, rng, 9, k, dtype), dtype)
    assert set(grads) == {"input", "0.W", "0.b", "2.W", "2.b", "4.W", "4.b"}


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 16),
    widths=st.lists(st.integers(1, 12), min_size=1, max_size=3),
    hidden=st.lists(st.sampled_from(sorted(HIDDEN)), min_size=3, max_size=3),
    loss_name=st.sampled_from(sorted(LOSSES)),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_random_networks(n, widths, hidden, loss_name, dtype, seed):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 8)), *widths, int(rng.integers(2, 5))]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(lw.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(HIDDEN[hidden[i]]())
    if loss_name == "BCE":
        layers.append(lw.Sigmoid())
    model = lw.Sequential(layers, seed=seed, dtype=dtype)
    x = rng.normal(size=(n, sizes[0])).astype(dtype)
    if loss_name == "BCE":
        # At a saturated probability the conventions differ on purpose: layerwise clips
        # p to [eps, 1 - eps] of the dtype, torch clamps log(p) at -100. And the gradient
        # (p - t) / (p (1 - p)) magnifies the last bit of p by 1 / (1 - p): float32 can
        # only promise 1e-5 while 1 - p > ~0.01, whichever framework computes it.
        margin = np.finfo(dtype).eps if dtype == np.float64 else 0.01
        p = model.copy().forward(x, training=True)  # a copy draws the same dropout masks
        assume(((p > margin) & (p < 1 - margin)).all())
    target = make_target(loss_name, rng, n, sizes[-1], dtype)
    compare(model, loss_name, x, target, dtype, cancellation_ok=True)


def test_parity_also_holds_in_inference_mode(rng):
    model = lw.Sequential(
        [lw.Linear(5, 8), lw.Dropout(0.5), lw.ReLU(), lw.Linear(8, 3)], seed=0, dtype=np.float64
    )
    x = rng.normal(size=(6, 5))
    compare(model, "CE-labels", x, rng.integers(0, 3, 6), np.float64, training=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_training_step_through_fused_sigmoid_and_bce(dtype, rng):
    # train_step gives the Sigmoid's input (p - t) / N directly (Loss.backward_through):
    # the step must still be torch's, unfused nn.Sigmoid + BCELoss.
    model = lw.Sequential(
        [lw.Linear(3, 8), lw.ReLU(), lw.Linear(8, 2), lw.Sigmoid()], seed=1, dtype=dtype
    )
    x = rng.normal(size=(10, 3)).astype(dtype)
    target = rng.random((10, 2)).astype(dtype)
    _, theirs = torch_gradients(model, "BCE", x, target)
    before = {k: p.copy() for k, (p, _) in model.parameters().items()}
    lw.train_step(model, lw.BinaryCrossEntropy(), lw.SGD(lr=1.0), x, target)
    for name, (param, _) in model.parameters().items():
        step = before[name] - param
        scale = np.abs(theirs[name]).max()
        assert np.abs(step - theirs[name]).max() <= 10 * RTOL[dtype] * scale, name
