"""Optimizers and schedules: step-for-step parity with torch.optim, state, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import layerwise as lw

# (layerwise class, torch class name, keyword arguments shared by both)
CONFIGS = [
    ("SGD", "SGD", {"lr": 0.1}),
    ("SGD", "SGD", {"lr": 0.1, "weight_decay": 0.05}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.05}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05}),
    ("RMSProp", "RMSprop", {"lr": 1e-3}),
    ("RMSProp", "RMSprop", {"lr": 1e-3, "alpha": 0.9, "eps": 1e-6}),
    ("RMSProp", "RMSprop", {"lr": 1e-3, "momentum": 0.9}),
    ("RMSProp", "RMSprop", {"lr": 1e-3, "centered": True}),
    ("RMSProp", "RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 0.05}),
    ("Adam", "Adam", {"lr": 1e-2}),
    ("Adam", "Adam", {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", "Adam", {"lr": 1e-2, "weight_decay": 0.05}),
    ("AdamW", "AdamW", {"lr": 1e-2}),
    ("AdamW", "AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
]


def net(seed: int = 0, dtype=np.float64) -> lw.Sequential:
    return lw.Sequential(
        [lw.Linear(5, 8), lw.Tanh(), lw.Linear(8, 6), lw.ReLU(), lw.Linear(6, 3)],
        seed=seed,
        dtype=dtype,
    )


def batches(steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(16, 5)), rng.integers(0, 3, 16)) for _ in range(steps)]


def close(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    """Agreement relative to the tensor's scale (see test_torch_parity)."""
    return np.abs(a - b).max() <= rtol * np.abs(b).max()


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), CONFIGS, ids=lambda v: str(v))
def test_100_steps_match_torch_optim(ours, theirs, kwargs):
    torch = pytest.importorskip(
        "torch", reason="torch.optim is the reference: pip install torch==2.13.0"
    )
    from test_torch_parity import torch_twin

    model = net()
    optimizer = getattr(lw, ours)(**kwargs)
    twins = torch.nn.Sequential(*[torch_twin(layer) for layer in model.layers])
    torch_opt = getattr(torch.optim, theirs)(twins.parameters(), **kwargs)
    loss = lw.CrossEntropy()
    for xb, yb in batches(100):
        lw.train_step(model, loss, optimizer, xb, yb)
        torch_opt.zero_grad()
        torch.nn.functional.cross_entropy(
            twins(torch.from_numpy(xb)), torch.from_numpy(yb)
        ).backward()
        torch_opt.step()
    for i, layer in enumerate(model.layers):
        if isinstance(layer, lw.Linear):
            W, b = twins[i].weight.detach().numpy().T, twins[i].bias.detach().numpy()
            assert close(layer.params["W"], W, 1e-9), (i, np.abs(layer.params["W"] - W).max())
            assert close(layer.params["b"], b, 1e-9), (i, np.abs(layer.params["b"] - b).max())
    assert optimizer.step_count == 100


def test_gradient_clipping_matches_torch():
    torch = pytest.importorskip("torch", reason="torch is the reference: pip install torch==2.13.0")
    from test_torch_parity import torch_twin

    model = net()
    optimizer = lw.SGD(lr=0.1, momentum=0.9, clip_norm=0.5)
    twins = torch.nn.Sequential(*[torch_twin(layer) for layer in model.layers])
    torch_opt = torch.optim.SGD(twins.parameters(), lr=0.1, momentum=0.9)
    for xb, yb in batches(50, seed=1):
        lw.train_step(model, lw.CrossEntropy(), optimizer, xb * 10, yb)
        torch_opt.zero_grad()
        out = twins(torch.from_numpy(xb * 10))
        torch.nn.functional.cross_entropy(out, torch.from_numpy(yb)).backward()
        torch.nn.utils.clip_grad_norm_(twins.parameters(), 0.5)
        torch_opt.step()
    W = twins[0].weight.detach().numpy().T
    assert close(model.layers[0].params["W"], W, 1e-9)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), CONFIGS[::3], ids=lambda v: str(v))
def test_state_round_trip_resumes_bit_for_bit(ours, theirs, kwargs):
    data = batches(40)
    straight, opt = net(), getattr(lw, ours)(**kwargs)
    for xb, yb in data:
        lw.train_step(straight, lw.CrossEntropy(), opt, xb, yb)

    first, opt1 = net(), getattr(lw, ours)(**kwargs)
    for xb, yb in data[:25]:
        lw.train_step(first, lw.CrossEntropy(), opt1, xb, yb)
    second, opt2 = net(), getattr(lw, ours)(**kwargs)
    second.load_state_dict(first.state_dict())
    opt2.load_state_dict(opt1.state_dict())  # before the optimizer has seen the parameters
    for xb, yb in data[25:]:
        lw.train_step(second, lw.CrossEntropy(), opt2, xb, yb)
    for name, value in straight.state_dict().items():
        np.testing.assert_array_equal(second.state_dict()[name], value)
    assert opt2.step_count == 40


def test_state_is_exported_under_parameter_names():
    model, opt = net(), lw.Adam()
    xb, yb = batches(1)[0]
    lw.train_step(model, lw.CrossEntropy(), opt, xb, yb)
    state = opt.state_dict()
    assert state["step"] == 1 and state["lr"] == 1e-3
    assert set(state["buffers"]) == {
        f"{slot}.{name}" for slot in ("exp_avg", "exp_avg_sq") for name in model.parameters()
    }
    assert state["buffers"]["exp_avg.2.W"].shape == (8, 6)


def test_flat_and_per_tensor_updates_are_identical():
    """The single pass over Sequential's flat buffer equals one pass per tensor."""
    flat_model, grad_model = net(), net()
    names = list(grad_model.parameters())
    params = [p.copy() for p, _ in grad_model.parameters().values()]  # separate arrays
    grads = [np.empty_like(p) for p in params]
    flat_opt, loose_opt = lw.Adam(lr=1e-2, weight_decay=0.1), lw.Adam(lr=1e-2, weight_decay=0.1)
    loss = lw.CrossEntropy()
    for xb, yb in batches(20):
        lw.train_step(flat_model, loss, flat_opt, xb, yb)
        grad_model.load_state_dict(dict(zip(names, params)))
        loss(grad_model.forward(xb, training=True), yb)
        grad_model.backward(loss.backward())
        for dst, (_, g) in zip(grads, grad_model.parameters().values()):
            dst[...] = g
        loose_opt.step(list(zip(params, grads)))
    assert len(flat_opt._p) == 1 and len(loose_opt._p) == len(params)
    for name, value in zip(names, params):
        np.testing.assert_array_equal(flat_model.state_dict()[name], value)


def test_state_survives_between_fit_calls():
    X, y = batches(1)[0]
    once, twice = net(), net()
    opt_once, opt_twice = lw.Adam(lr=1e-2), lw.Adam(lr=1e-2)
    once.fit(
        X,
        y,
        loss="cross_entropy",
        optimizer=opt_once,
        epochs=4,
        batch_size=4,
        shuffle=False,
        progress=False,
    )
    for _ in range(2):
        twice.fit(
            X,
            y,
            loss="cross_entropy",
            optimizer=opt_twice,
            epochs=2,
            batch_size=4,
            shuffle=False,
            progress=False,
        )
    for name, value in once.state_dict().items():
        np.testing.assert_array_equal(twice.state_dict()[name], value)
    assert opt_twice.step_count == 16


def test_a_nan_gradient_changes_nothing():
    model, opt = net(), lw.SGD(lr=0.1, momentum=0.9)
    xb, yb = batches(1)[0]
    lw.train_step(model, lw.CrossEntropy(), opt, xb, yb)
    before, state = model.state_dict(), opt.state_dict()
    params = model.parameters()
    params["2.W"][1][0, 0] = np.nan
    with pytest.raises(lw.DivergenceError, match="a gradient holds NaN or infinite values"):
        opt.step(params)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    assert opt.step_count == 1
    np.testing.assert_array_equal(
        opt.state_dict()["buffers"]["momentum_buffer.0.W"], state["buffers"]["momentum_buffer.0.W"]
    )


def test_optimizer_errors():
    with pytest.raises(
        lw.LayerwiseError, match="Unknown optimizer 'adamax'; known: sgd, rmsprop, adam, adamw"
    ):
        lw.optim.get("adamax")
    with pytest.raises(lw.LayerwiseError, match="lr must be a finite number >= 0; got -0.1"):
        lw.SGD(lr=-0.1)
    with pytest.raises(lw.LayerwiseError, match="nesterov=True\\) needs a momentum > 0"):
        lw.SGD(lr=0.1, nesterov=True)
    with pytest.raises(lw.LayerwiseError, match="betas must be a pair"):
        lw.Adam(betas=0.9)
    with pytest.raises(lw.LayerwiseError, match=r"betas\[1\] must be in \[0, 1\]; got 1.5"):
        lw.Adam(betas=(0.9, 1.5))
    with pytest.raises(lw.LayerwiseError, match="got no parameters"):
        lw.SGD().step({})
    with pytest.raises(
        lw.LayerwiseError, match=r"Parameter '0' has shape \(2,\) .* gradient has shape \(3,\)"
    ):
        lw.SGD().step([(np.zeros(2), np.zeros(3))])


def test_loading_state_for_another_model_is_refused():
    opt = lw.Adam()
    xb, yb = batches(1)[0]
    lw.train_step(net(), lw.CrossEntropy(), opt, xb, yb)
    other = lw.Sequential([lw.Linear(5, 3)], dtype=np.float64)
    fresh = lw.Adam()
    fresh.load_state_dict(opt.state_dict())
    with pytest.raises(lw.LayerwiseError, match="saved state is for parameters"):
        lw.train_step(other, lw.CrossEntropy(), fresh, xb, yb)
    with pytest.raises(lw.LayerwiseError, match="unexpected state buffer 'velocity.0.W'"):
        lw.Adam().load_state_dict({"step": 1, "lr": 0.1, "buffers": {"velocity.0.W": np.zeros(2)}})


# -- schedules ----------------------------------------------------------------------


def torch_rates(make_scheduler, steps: int, lr: float = 0.1) -> list[float]:
    torch = pytest.importorskip("torch", reason="torch is the reference: pip install torch==2.13.0")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(torch.optim.lr_scheduler, opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lw.optim.StepDecay(3, gamma=0.5), lambda s, o: s.StepLR(o, 3, gamma=0.5)),
        (lw.optim.ExponentialDecay(0.9), lambda s, o: s.ExponentialLR(o, 0.9)),
        (
            lw.optim.CosineDecay(10, min_lr=0.01),
            lambda s, o: s.CosineAnnealingLR(o, 10, eta_min=0.01),
        ),
        (lw.optim.LinearWarmup(4), lambda s, o: s.LinearLR(o, start_factor=1 / 3, total_iters=4)),
    ],
    ids=["step", "exponential", "cosine", "warmup"],
)
def test_schedules_match_torch(ours, theirs):
    expected = torch_rates(theirs, 10)
    np.testing.assert_allclose([ours(t, 0.1) for t in range(10)], expected, rtol=1e-12)


def test_warmup_then_another_schedule():
    schedule = lw.optim.LinearWarmup(2, start_factor=0.5, after=lw.optim.ExponentialDecay(0.5))
    assert [schedule(t, 1.0) for t in range(5)] == [0.5, 0.75, 1.0, 0.5, 0.25]


def test_cosine_stays_at_the_minimum_after_t_max():
    schedule = lw.optim.CosineDecay(5, min_lr=0.1)
    assert schedule(5, 1.0) == pytest.approx(0.1) and schedule(50, 1.0) == pytest.approx(0.1)
    assert math.isclose(schedule(0, 1.0), 1.0)


def test_an_update_that_overflows_the_weights_is_reported_at_once():
    # Finite gradient (4), but lr * 4 overflows float32: the step itself says so.
    model = lw.Sequential([lw.Linear(1, 1)], seed=0)
    model.load_state_dict({"0.W": np.ones((1, 1)), "0.b": np.zeros(1)})
    x, y = np.ones((2, 1), np.float32), -np.ones((2, 1), np.float32)
    with np.errstate(over="ignore"), pytest.raises(lw.DivergenceError, match="overflowed"):
        lw.train_step(model, lw.MSE(), lw.SGD(lr=1e38), x, y)
