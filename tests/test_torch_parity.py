"""PyTorch parity: the same network and loss in torch give the same loss and gradients.

Weights are copied into torch twins (``nn.Linear.weight`` is ``W.T``); dropout uses the
mask layerwise drew. Gradients are compared tensor by tensor with
``|ours - torch| <= rtol * max|torch|`` (a relative tolerance on the tensor's scale, so
that elements that cancel to ~0 do not turn rounding noise into huge ratios):
rtol 1e-10 in float64 and 1e-5 in float32.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
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


def compare(model: lw.Sequential, loss_name: str, x, target, dtype, training=True):
    """Run both frameworks and assert that loss, input and parameter gradients agree."""
    loss = LOSSES[loss_name]()
    ours = loss(model.forward(x, training=training), target)
    grad_in = model.backward(loss.backward())

    twins = [torch_twin(layer) for layer in model.layers]
    tx = torch.from_numpy(x).requires_grad_(True)
    out = tx
    for twin in twins:
        out = twin(out)
    tt = torch.from_numpy(np.asarray(target))
    theirs = torch_loss(loss_name, out, tt)
    theirs.backward()

    rtol = RTOL[dtype]
    assert ours == pytest.approx(theirs.item(), rel=rtol, abs=rtol)
    pairs = [("input", grad_in, tx.grad.numpy())]
    for i, (layer, twin) in enumerate(zip(model.layers, twins)):
        if isinstance(layer, lw.Linear):
            pairs.append((f"{i}.W", layer.grads["W"], twin.weight.grad.numpy().T))
            pairs.append((f"{i}.b", layer.grads["b"], twin.bias.grad.numpy()))
    for name, a, b in pairs:
        assert a.dtype == dtype, name
        scale = np.abs(b).max()
        err = np.abs(a - b).max()
        assert err <= rtol * max(scale, np.finfo(dtype).tiny), (name, err, scale)
    return pairs


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
    pairs = compare(model, loss_name, x, make_target(loss_name, rng, 9, k, dtype), dtype)
    assert {p[0] for p in pairs} == {"input", "0.W", "0.b", "2.W", "2.b", "4.W", "4.b"}


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
    compare(model, loss_name, x, make_target(loss_name, rng, n, sizes[-1], dtype), dtype)


def test_parity_also_holds_in_inference_mode(rng):
    model = lw.Sequential(
        [lw.Linear(5, 8), lw.Dropout(0.5), lw.ReLU(), lw.Linear(8, 3)], seed=0, dtype=np.float64
    )
    x = rng.normal(size=(6, 5))
    compare(model, "CE-labels", x, rng.integers(0, 3, 6), np.float64, training=False)
