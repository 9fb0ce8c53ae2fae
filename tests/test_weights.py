"""Sample and class weights, weight decay on the weights only, gradient clipping by value.

The defining property of a sample weight: for full-batch training, a weight of 2 on a
row is the same as the row twice (and 0 the same as the row left out).
"""

from __future__ import annotations

import numpy as np
import pytest

import layerwise as lw


def _net(inputs, outputs, last=None, seed=0):
    layers = [lw.Linear(inputs, 6), lw.Tanh(), lw.Linear(6, outputs)]
    return lw.Sequential(layers + ([last] if last else []), seed=seed, dtype=np.float64)


# (loss, last layer, make targets from rng and n)
CASES = {
    "mse": (lw.MSE, None, lambda rng, n: rng.normal(size=(n, 2))),
    "mae": (lw.MAE, None, lambda rng, n: rng.normal(size=(n, 2))),
    "bce": (lw.BinaryCrossEntropy, lw.Sigmoid(), lambda rng, n: rng.integers(0, 2, (n, 2))),
    "bce_logits": (
        lambda: lw.BinaryCrossEntropy(from_logits=True),
        None,
        lambda rng, n: rng.random((n, 2)),
    ),
    "ce_labels": (lw.CrossEntropy, None, lambda rng, n: rng.integers(0, 3, n)),
    "ce_rows": (lw.CrossEntropy, None, lambda rng, n: rng.dirichlet(np.ones(3), n)),
}


def _outputs(y):
    return 3 if (y.ndim == 1 or y.shape[1] == 3) else y.shape[1]


@pytest.mark.parametrize("case", CASES)
def test_a_weight_of_k_is_the_row_k_times_in_full_batch_training(case):
    make_loss, last, targets = CASES[case]
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(25, 3)), targets(rng, 25)
    w = rng.integers(0, 4, 25)  # 0 leaves a row out, 3 repeats it three times
    outputs = _outputs(y) if case.startswith("ce") else y.shape[1]

    def train(X, y, sample_weight):
        model = _net(3, outputs, last)
        history = model.fit(
            X, y, loss=make_loss(), optimizer=lw.SGD(0.2, momentum=0.9), epochs=15,
            batch_size=None, sample_weight=sample_weight, progress=False,
        )  # fmt: skip
        return model, history

    weighted, h1 = train(X, y, w.astype(np.float64))
    repeated, h2 = train(np.repeat(X, w, axis=0), np.repeat(y, w, axis=0), None)
    for name, value in weighted.state_dict().items():
        np.testing.assert_allclose(value, repeated.state_dict()[name], rtol=0, atol=1e-12)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-12)
    if "accuracy" in h2.history:
        np.testing.assert_allclose(h1.history["accuracy"], h2.history["accuracy"], rtol=1e-12)
    got = weighted.evaluate(X, y, loss=make_loss(), sample_weight=w)
    want = weighted.evaluate(np.repeat(X, w, axis=0), np.repeat(y, w, axis=0), loss=make_loss())
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12)


def test_unit_weights_change_nothing_and_mini_batches_use_the_batch_weights():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)

    def train(**kwargs):
        model = _net(3, 3)
        model.fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.Adam(0.01), epochs=3,
                  batch_size=8, seed=0, progress=False, **kwargs)  # fmt: skip
        return model.state_dict()

    plain, ones, heavy = (
        train(),
        train(sample_weight=np.ones(40)),
        train(sample_weight=np.full(40, 7.0)),
    )
    for name in plain:
        np.testing.assert_allclose(ones[name], plain[name], rtol=0, atol=1e-13)
        np.testing.assert_allclose(heavy[name], plain[name], rtol=0, atol=1e-13)  # normalized
    skewed = train(sample_weight=np.r_[np.full(20, 5.0), np.ones(20)])
    assert max(np.abs(skewed[k] - plain[k]).max() for k in plain) > 1e-3


def test_loss_gradients_with_weights_match_finite_differences():
    rng = np.random.default_rng(3)
    for make_loss, _, targets in CASES.values():
        loss = make_loss()
        y = targets(rng, 7)
        width = 3 if isinstance(loss, lw.CrossEntropy) else 2
        pred = rng.uniform(0.1, 0.9, (7, width))
        w = rng.random(7)
        loss.forward(pred, y, sample_weight=w)
        grad = loss.backward()
        numeric = np.zeros_like(pred)
        for i in np.ndindex(pred.shape):
            bump = np.zeros_like(pred)
            bump[i] = 1e-6
            up = loss.forward(pred + bump, y, sample_weight=w)
            down = loss.forward(pred - bump, y, sample_weight=w)
            numeric[i] = (up - down) / 2e-6
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-9, err_msg=repr(loss))


def test_cross_entropy_with_class_weights_equals_torch():
    torch = pytest.importorskip(
        "torch", reason="PyTorch is the reference for parity tests: pip install torch==2.13.0"
    )
    rng = np.random.default_rng(4)
    logits, labels = rng.normal(size=(12, 4)), rng.integers(0, 4, 12)
    class_weight = np.array([0.5, 2.0, 1.0, 3.0])
    loss = lw.CrossEntropy()
    value = loss.forward(logits, labels, sample_weight=class_weight[labels])
    grad = loss.backward()
    z = torch.tensor(logits, requires_grad=True)
    reference = torch.nn.functional.cross_entropy(
        z, torch.tensor(labels), weight=torch.tensor(class_weight)
    )
    reference.backward()
    assert value == pytest.approx(reference.item(), rel=1e-13)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_balanced_class_weights_equal_scikit_learns():
    from sklearn.utils.class_weight import compute_class_weight

    rng = np.random.default_rng(5)
    y = rng.choice(4, size=60, p=[0.55, 0.25, 0.15, 0.05])
    X = rng.normal(size=(60, 3))
    want = compute_class_weight("balanced", classes=np.unique(y), y=y)
    repeated_by_class = {int(c): float(v) for c, v in zip(np.unique(y), want)}

    def train(**kwargs):
        model = _net(3, 4)
        history = model.fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(0.1), epochs=4,
                            batch_size=None, progress=False, **kwargs)  # fmt: skip
        return model.state_dict(), history.history["loss"]

    balanced, by_dict = train(class_weight="balanced"), train(class_weight=repeated_by_class)
    by_rows = train(sample_weight=want[np.searchsorted(np.unique(y), y)])
    for name in balanced[0]:
        np.testing.assert_array_equal(balanced[0][name], by_dict[0][name])
        np.testing.assert_allclose(balanced[0][name], by_rows[0][name], rtol=0, atol=1e-14)
    assert balanced[1] == by_dict[1]


def test_class_weights_multiply_sample_weights_and_missing_classes_weigh_one():
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    w = rng.random(20) + 0.5

    def train(**kwargs):
        model = _net(3, 1, lw.Sigmoid())
        model.fit(X, y, loss=lw.BinaryCrossEntropy(), optimizer=lw.SGD(0.3), epochs=5,
                  batch_size=None, progress=False, **kwargs)  # fmt: skip
        return model.state_dict()

    both = train(sample_weight=w, class_weight={1: 3.0})
    rows = train(sample_weight=w * np.where(y == 1, 3.0, 1.0))
    for name in both:
        np.testing.assert_allclose(both[name], rows[name], rtol=0, atol=1e-14)


def test_validation_weights_and_validation_split_carry_the_weights():
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    w = rng.integers(1, 4, 30).astype(float)
    model = _net(3, 1)
    history = model.fit(X, y, loss=lw.MSE(), optimizer=lw.SGD(0.05), epochs=2, batch_size=None,
                        sample_weight=w, validation_split=0.2, progress=False)  # fmt: skip
    held_out = model.evaluate(X[24:], y[24:], loss=lw.MSE(), sample_weight=w[24:])
    assert history.history["val_loss"][-1] == pytest.approx(held_out["loss"], rel=1e-12)
    model2 = _net(3, 1)
    history2 = model2.fit(X[:24], y[:24], loss=lw.MSE(), optimizer=lw.SGD(0.05), epochs=2,
                          batch_size=None, sample_weight=w[:24],
                          validation_data=(X[24:], y[24:], w[24:]), progress=False)  # fmt: skip
    for key in ("loss", "val_loss"):
        assert history2.history[key] == history.history[key]
    unweighted = model.evaluate(X[24:], y[24:], loss=lw.MSE())
    assert unweighted["loss"] != pytest.approx(held_out["loss"], rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_weight": np.ones(5)}, "expected \\(10,\\)"),
        ({"sample_weight": -np.ones(10)}, "negative"),
        ({"sample_weight": np.r_[np.nan, np.ones(9)]}, "nan"),
        ({"sample_weight": np.zeros(10)}, "sum to zero"),
        ({"class_weight": {"a": 2.0}}, "class labels"),
        ({"class_weight": {0: -1.0}}, "class_weight"),
        ({"class_weight": "heavy"}, "'balanced'"),
    ],
)
def test_bad_weights_are_refused_with_a_clear_message(kwargs, message):
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(10, 3)), rng.integers(0, 3, 10)
    with pytest.raises(lw.LayerwiseError, match=message):
        _net(3, 3).fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(0.1), progress=False,
                       **kwargs)  # fmt: skip


def test_class_weight_needs_classes_and_weights_need_arrays():
    rng = np.random.default_rng(9)
    X, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 1))
    with pytest.raises(lw.LayerwiseError, match="has no classes"):
        _net(3, 1).fit(X, y, loss=lw.MSE(), optimizer=lw.SGD(0.1), class_weight="balanced",
                       progress=False)  # fmt: skip
    with pytest.raises(lw.LayerwiseError, match="not a data callable"):
        lw.Session(_net(3, 1), lw.MSE(), lw.SGD(0.1), lambda rng, n: (X[:n], y[:n]),
                   batch_size=4, sample_weight=np.ones(4))  # fmt: skip


# -- the optimizer: decay on the weights only, clipping by value -----------------------


def _torch_twin(model, torch):
    layers = []
    for layer in model.layers:
        if isinstance(layer, lw.Linear):
            twin = torch.nn.Linear(layer.in_features, layer.out_features).double()
            with torch.no_grad():
                twin.weight.copy_(torch.from_numpy(layer.params["W"].T.copy()))
                twin.bias.copy_(torch.from_numpy(layer.params["b"].copy()))
            layers.append(twin)
        else:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: lw.SGD(0.1, momentum=0.9, weight_decay=0.05, decay_biases=False), "SGD"),
        (lambda: lw.Adam(0.01, weight_decay=0.05, decay_biases=False), "Adam"),
        (lambda: lw.AdamW(0.01, weight_decay=0.1, decay_biases=False), "AdamW"),
        (lambda: lw.RMSProp(0.01, weight_decay=0.05, decay_biases=False), "RMSprop"),
    ],
)
def test_decay_on_weights_only_equals_torch_with_an_undecayed_bias_group(ours, theirs):
    torch = pytest.importorskip(
        "torch", reason="PyTorch is the reference for parity tests: pip install torch==2.13.0"
    )
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    model = _net(3, 2)
    twin = _torch_twin(model, torch)
    optimizer = ours()
    weights = [p for n, p in twin.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in twin.named_parameters() if n.endswith("bias")]
    hyper = {k: v for k, v in optimizer.config().items() if k in ("lr", "momentum", "eps")}
    if theirs == "RMSprop":
        hyper["alpha"] = optimizer.alpha
    reference = getattr(torch.optim, theirs)(
        [
            {"params": weights, "weight_decay": optimizer.weight_decay},
            {"params": biases, "weight_decay": 0.0},
        ],
        **hyper,
    )
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(30):
        lw.train_step(model, lw.MSE(), optimizer, X, y)
        reference.zero_grad()
        torch.nn.functional.mse_loss(twin(Xt), yt).backward()
        reference.step()
    np.testing.assert_allclose(
        model.layers[0].params["W"], twin[0].weight.detach().numpy().T, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        model.layers[2].params["b"], twin[2].bias.detach().numpy(), rtol=1e-10, atol=1e-12
    )


def test_decay_biases_false_leaves_the_biases_to_the_gradient_alone():
    model = _net(3, 2)
    params = model.parameters()
    for _, grad in params.values():
        grad.fill(0.0)
    for layer in model.layers:
        if isinstance(layer, lw.Linear):
            layer.params["b"][:] = 1.0
    before = model.state_dict()
    lw.SGD(0.1, weight_decay=0.5, decay_biases=False).step(params)
    after = model.state_dict()
    np.testing.assert_array_equal(after["0.b"], before["0.b"])
    np.testing.assert_allclose(after["0.W"], before["0.W"] * (1 - 0.1 * 0.5), rtol=1e-15)
    lw.SGD(0.1, weight_decay=0.5).step(params)  # torch's default decays the biases too
    np.testing.assert_allclose(model.state_dict()["0.b"], 1 - 0.05, rtol=1e-15)


def test_clip_value_equals_torch_clip_grad_value_then_norm():
    torch = pytest.importorskip(
        "torch", reason="PyTorch is the reference for parity tests: pip install torch==2.13.0"
    )
    rng = np.random.default_rng(11)
    X, y = rng.normal(size=(16, 3)) * 4, rng.normal(size=(16, 2)) * 10
    model = _net(3, 2)
    twin = _torch_twin(model, torch)
    optimizer = lw.SGD(0.05, momentum=0.5, clip_value=0.3, clip_norm=0.8)
    reference = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.5)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(20):
        lw.train_step(model, lw.MSE(), optimizer, X, y)
        reference.zero_grad()
        torch.nn.functional.mse_loss(twin(Xt), yt).backward()
        torch.nn.utils.clip_grad_value_(twin.parameters(), 0.3)
        torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.8)
        reference.step()
    for ours, theirs in ((model.layers[0], twin[0]), (model.layers[2], twin[2])):
        np.testing.assert_allclose(ours.params["W"], theirs.weight.detach().numpy().T, rtol=1e-10)
        np.testing.assert_allclose(ours.params["b"], theirs.bias.detach().numpy(), rtol=1e-10)
    assert max(np.abs(g).max() for _, g in model.parameters().values()) <= 0.3


def test_the_new_optimizer_options_survive_config_and_checkpoints(tmp_path):
    optimizer = lw.Adam(0.01, weight_decay=0.1, decay_biases=False, clip_value=2.0)
    rebuilt = lw.optim.from_config(optimizer.config())
    assert (rebuilt.decay_biases, rebuilt.clip_value) == (False, 2.0)
    with pytest.raises(lw.LayerwiseError, match="clip_value"):
        lw.SGD(0.1, clip_value=-1.0)
