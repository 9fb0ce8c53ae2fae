"""Learning-rate schedules, ``LearningRateScheduler`` and ``ReduceLROnPlateau``: rates
against ``torch.optim.lr_scheduler`` over 200 steps, the callbacks under ``fit``,
``Session.step`` and resumed runs, state and errors.

Tolerances: the schedules that compute torch's own expression (OneCycle, warm restarts,
ReduceLROnPlateau) must give the same floats. The others use a closed form where torch
multiplies the previous rate by a factor at each step; they agree to a few ulps
(measured <= 2e-15 relative over 200 steps), checked with rtol 1e-13.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import layerwise as lw
from layerwise import optim

STEPS = 200
RTOL = 1e-13  # closed form against torch's recursion (see the module docstring)


@pytest.fixture
def torch():
    return pytest.importorskip(
        "torch", reason="PyTorch is the reference for parity tests: pip install torch==2.13.0"
    )


def torch_rates(torch, make_scheduler, steps: int = STEPS, lr: float = 0.1) -> np.ndarray:
    """The rate of each of ``steps`` steps under a torch scheduler stepped after each."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(torch.optim.lr_scheduler, opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return np.array(rates)


def our_rates(schedule, steps: int = STEPS, lr: float = 0.1) -> np.ndarray:
    return np.array([schedule(t, lr) for t in range(steps)])


# -- each schedule against torch ------------------------------------------------------------

PARITY = {
    "multistep": (
        optim.MultiStepDecay([10, 50, 51, 120], gamma=0.3),
        lambda s, o: s.MultiStepLR(o, [10, 50, 51, 120], gamma=0.3),
        False,
    ),
    "multistep-at-0": (
        optim.MultiStepDecay([0, 100]),
        lambda s, o: s.MultiStepLR(o, [0, 100]),
        False,
    ),
    "polynomial": (
        optim.PolynomialDecay(150, power=0.9),
        lambda s, o: s.PolynomialLR(o, total_iters=150, power=0.9),
        False,
    ),
    "polynomial-linear": (
        optim.PolynomialDecay(STEPS),
        lambda s, o: s.PolynomialLR(o, total_iters=STEPS),
        False,
    ),
    "warm-restarts": (
        optim.CosineWarmRestarts(7, min_lr=1e-3),
        lambda s, o: s.CosineAnnealingWarmRestarts(o, 7, eta_min=1e-3),
        True,
    ),
    "warm-restarts-growing": (
        optim.CosineWarmRestarts(5, t_mult=2, min_lr=1e-3),
        lambda s, o: s.CosineAnnealingWarmRestarts(o, 5, T_mult=2, eta_min=1e-3),
        True,
    ),
    "warm-restarts-tripling": (
        optim.CosineWarmRestarts(2, t_mult=3),
        lambda s, o: s.CosineAnnealingWarmRestarts(o, 2, T_mult=3),
        True,
    ),
    "one-cycle": (
        optim.OneCycle(0.5, STEPS),
        lambda s, o: s.OneCycleLR(o, 0.5, STEPS, cycle_momentum=False),
        True,
    ),
    "one-cycle-linear": (
        optim.OneCycle(0.5, STEPS, pct_start=0.25, anneal_strategy="linear"),
        lambda s, o: s.OneCycleLR(
            o, 0.5, STEPS, pct_start=0.25, anneal_strategy="linear", cycle_momentum=False
        ),
        True,
    ),
    "one-cycle-three-phase": (
        optim.OneCycle(
            0.5, STEPS, pct_start=0.35, div_factor=10.0, final_div_factor=100.0, three_phase=True
        ),
        lambda s, o: s.OneCycleLR(
            o,
            0.5,
            STEPS,
            pct_start=0.35,
            div_factor=10.0,
            final_div_factor=100.0,
            three_phase=True,
            cycle_momentum=False,
        ),
        True,
    ),
    "one-cycle-three-phase-linear": (
        optim.OneCycle(0.5, STEPS, anneal_strategy="linear", three_phase=True),
        lambda s, o: s.OneCycleLR(
            o, 0.5, STEPS, anneal_strategy="linear", three_phase=True, cycle_momentum=False
        ),
        True,
    ),
    "warmup-then-cosine": (
        optim.SequentialSchedule(
            [optim.LinearWarmup(10, start_factor=0.1), optim.CosineDecay(190, min_lr=1e-3)],
            milestones=[10],
        ),
        lambda s, o: s.SequentialLR(
            o,
            [s.LinearLR(o, 0.1, total_iters=10), s.CosineAnnealingLR(o, 190, eta_min=1e-3)],
            milestones=[10],
        ),
        False,
    ),
    "three-in-sequence": (
        optim.SequentialSchedule(
            [
                optim.LinearWarmup(10, start_factor=0.1),
                optim.MultiStepDecay([20, 40], gamma=0.5),
                optim.ExponentialDecay(0.98),
            ],
            milestones=[10, 80],
        ),
        lambda s, o: s.SequentialLR(
            o,
            [
                s.LinearLR(o, 0.1, total_iters=10),
                s.MultiStepLR(o, [20, 40], gamma=0.5),
                s.ExponentialLR(o, 0.98),
            ],
            milestones=[10, 80],
        ),
        False,
    ),
    "warmup-restarts-polynomial": (
        optim.SequentialSchedule(
            [
                optim.LinearWarmup(20),
                optim.CosineWarmRestarts(15, t_mult=2, min_lr=1e-3),
                optim.PolynomialDecay(50, power=2.0),
            ],
            milestones=[20, 125],
        ),
        lambda s, o: s.SequentialLR(
            o,
            [
                s.LinearLR(o, total_iters=20),
                s.CosineAnnealingWarmRestarts(o, 15, T_mult=2, eta_min=1e-3),
                s.PolynomialLR(o, total_iters=50, power=2.0),
            ],
            milestones=[20, 125],
        ),
        False,
    ),
}


@pytest.mark.parametrize("name", PARITY)
def test_each_schedule_gives_torchs_rates_over_200_steps(torch, name):
    ours, theirs, exact = PARITY[name]
    expected = torch_rates(torch, theirs)
    assert len(np.unique(expected)) > 1  # the schedule does change the rate
    if exact:
        np.testing.assert_array_equal(our_rates(ours), expected)
    else:
        np.testing.assert_allclose(our_rates(ours), expected, rtol=RTOL, atol=0)


def test_warmup_after_is_a_sequential_schedule():
    after = optim.LinearWarmup(10, start_factor=0.1, after=optim.CosineDecay(190, min_lr=1e-3))
    sequence = optim.SequentialSchedule(
        [optim.LinearWarmup(10, start_factor=0.1), optim.CosineDecay(190, min_lr=1e-3)], [10]
    )
    np.testing.assert_array_equal(our_rates(after), our_rates(sequence))


# -- what the schedules do at their edges ---------------------------------------------------


def test_multistep_and_polynomial_values():
    assert our_rates(optim.MultiStepDecay([2, 4], gamma=0.5), 6, 1.0).tolist() == [
        1.0, 1.0, 0.5, 0.5, 0.25, 0.25,
    ]  # fmt: skip
    poly = optim.PolynomialDecay(4, power=2.0)
    assert our_rates(poly, 7, 1.0).tolist() == [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0, 0.0]


def test_warm_restarts_start_again_at_the_base_rate():
    schedule = optim.CosineWarmRestarts(3, t_mult=3)
    rates = our_rates(schedule, 40, 1.0)
    restarts = [t for t in range(40) if rates[t] == 1.0]
    assert restarts == [0, 3, 12, 39]  # cycles of 3, 9, 27
    assert rates[1] == pytest.approx(0.75) and rates[2] == pytest.approx(0.25)


def test_one_cycle_ignores_the_base_rate_and_stays_at_its_minimum_after_the_end():
    schedule = optim.OneCycle(0.1, total_steps=100)
    assert schedule(0, 123.0) == schedule(0, 0.5) == pytest.approx(0.1 / 25)
    assert schedule(29, 1.0) == 0.1  # the peak, after pct_start of the steps
    assert schedule(99, 1.0) == pytest.approx(0.1 / 25 / 1e4)
    assert schedule(100, 1.0) == schedule(10**6, 1.0) == schedule(99, 1.0)


def test_one_cycle_with_a_one_step_phase_does_not_divide_by_zero():
    # pct_start * total_steps == 1: the warm-up is step 0 alone (torch divides by zero).
    schedule = optim.OneCycle(1.0, 10, pct_start=0.1, anneal_strategy="linear")
    assert schedule(0, 1.0) == 1.0
    assert schedule(9, 1.0) == pytest.approx(1 / 25 / 1e4)


def test_sequential_schedule_counts_each_part_from_its_milestone():
    calls = []

    def record(name):
        return lambda t, base: calls.append((name, t, base)) or base

    schedule = optim.SequentialSchedule([record("a"), record("b"), record("c")], [2, 5])
    for t in range(7):
        schedule(t, 0.1)
    assert calls == [
        ("a", 0, 0.1), ("a", 1, 0.1),
        ("b", 0, 0.1), ("b", 1, 0.1), ("b", 2, 0.1),
        ("c", 0, 0.1), ("c", 1, 0.1),
    ]  # fmt: skip


def test_schedule_reprs_show_the_arguments_only():
    assert repr(optim.OneCycle(0.1, 10)) == (
        "OneCycle(max_lr=0.1, total_steps=10, pct_start=0.3, anneal_strategy='cos', "
        "div_factor=25.0, final_div_factor=10000.0, three_phase=False)"
    )
    assert repr(optim.MultiStepDecay([3, 5])) == "MultiStepDecay(milestones=(3, 5), gamma=0.1)"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: optim.MultiStepDecay([5, 3]),
            r"milestones must be strictly increasing; got \[5, 3\]",
        ),
        (lambda: optim.MultiStepDecay([2, 2]), "milestones must be strictly increasing"),
        (lambda: optim.MultiStepDecay([-1]), r"milestones must be integers >= 0; got \[-1\]"),
        (lambda: optim.MultiStepDecay([1.5]), "milestones must be integers >= 0"),
        (lambda: optim.MultiStepDecay(3), "milestones must be a list of integers; got 3"),
        (lambda: optim.MultiStepDecay([3], gamma=-1), "gamma must be a finite number >= 0"),
        (lambda: optim.PolynomialDecay(0), "total_iters must be a positive integer; got 0"),
        (lambda: optim.PolynomialDecay(5, power=-1), "power must be a finite number >= 0"),
        (lambda: optim.CosineWarmRestarts(0), "t_0 must be a positive integer; got 0"),
        (lambda: optim.CosineWarmRestarts(5, t_mult=1.5), "t_mult must be a positive integer"),
        (lambda: optim.CosineWarmRestarts(5, min_lr=-1), "min_lr must be a finite number >= 0"),
        (lambda: optim.OneCycle(0.0, 10), "max_lr must be a finite number > 0; got 0.0"),
        (lambda: optim.OneCycle(0.1, 0), "total_steps must be a positive integer; got 0"),
        (lambda: optim.OneCycle(0.1, 10, pct_start=1.5), r"pct_start must be in \[0, 1\]"),
        (
            lambda: optim.OneCycle(0.1, 10, anneal_strategy="cosine"),
            "Unknown anneal_strategy 'cosine'; known: cos, linear",
        ),
        (lambda: optim.OneCycle(0.1, 10, div_factor=0), "div_factor must be a finite number > 0"),
        (
            lambda: optim.OneCycle(0.1, 10, final_div_factor=-2),
            "final_div_factor must be a finite number > 0",
        ),
        (
            lambda: optim.OneCycle(0.1, 10, pct_start=0.6, three_phase=True),
            "pct_start must be at most 0.5; got 0.6",
        ),
        (lambda: optim.SequentialSchedule([], []), "needs a non-empty list of schedules"),
        (
            lambda: optim.SequentialSchedule([optim.StepDecay(2), 0.1], [3]),
            r"schedules\[1\] must be a schedule, callable \(t, base_lr\) -> lr; got 0.1",
        ),
        (
            lambda: optim.SequentialSchedule([optim.StepDecay(2), optim.StepDecay(3)], []),
            r"one milestone fewer than schedules .*got 2 schedules and milestones \[\]",
        ),
        (
            lambda: optim.SequentialSchedule([optim.StepDecay(2), optim.StepDecay(3)], [0]),
            r"milestones must be integers >= 1; got \[0\]",
        ),
    ],
)
def test_schedule_argument_errors(build, message):
    with pytest.raises(lw.LayerwiseError, match=message):
        build()


# -- ReduceLROnPlateau against torch ------------------------------------------------------------


def plateau_sequence(seed: int, threshold: float, n: int = STEPS) -> list[float]:
    """A falling loss with plateaus, rises, a NaN, and falls both above and below
    ``threshold`` (relative and absolute alike, since the values stay near 1)."""
    rng = np.random.default_rng(seed)
    value, values = 1.0, []
    for _ in range(n):
        kind = rng.choice(["plateau", "tiny", "real", "worse"], p=[0.35, 0.25, 0.2, 0.2])
        if kind == "tiny":
            value -= 0.5 * threshold * value
        elif kind == "real":
            value -= 3 * threshold * value
        values.append(value * (1 + 5 * threshold) if kind == "worse" else value)
    values[n // 2] = math.nan
    return values


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
@pytest.mark.parametrize(
    ("patience", "cooldown", "min_lr"), [(0, 0, 0.0), (2, 0, 0.0), (2, 3, 0.0), (1, 2, 3e-4)]
)
def test_reduce_on_plateau_gives_torchs_rates(
    torch, mode, threshold_mode, patience, cooldown, min_lr
):
    threshold = 1e-2
    values = plateau_sequence(patience + 7 * cooldown, threshold)
    if mode == "max":  # a rising accuracy-like value with the same plateaus
        values = [2.0 - v for v in values]
    kwargs = dict(factor=0.5, patience=patience, threshold=threshold, cooldown=cooldown)
    kwargs.update(threshold_mode=threshold_mode, min_lr=min_lr, mode=mode)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    ours, lr = lw.ReduceLROnPlateau("score", **kwargs), 0.1
    expected, rates = [], []
    for value in values:
        theirs.step(value)
        lr = ours.update(value, lr)
        expected.append(opt.param_groups[0]["lr"])
        rates.append(lr)
        state = (ours.best, ours.num_bad_epochs, ours.cooldown_counter)
        assert state == (theirs.best, theirs.num_bad_epochs, theirs.cooldown_counter)
    assert rates == expected
    assert len(set(rates)) >= 4  # several reductions happened
    if min_lr:
        assert min(rates) == min_lr


@pytest.mark.parametrize(
    ("mode", "threshold_mode", "threshold", "values"),
    [
        ("min", "rel", 0.5, [1.0, 0.5]),  # exactly best * (1 - threshold)
        ("min", "abs", 0.25, [1.0, 0.75]),
        ("max", "rel", 0.5, [1.0, 1.5]),
        ("max", "abs", 0.25, [1.0, 1.25]),
    ],
)
def test_an_improvement_of_exactly_the_threshold_does_not_count(
    mode, threshold_mode, threshold, values
):
    plateau = lw.ReduceLROnPlateau(
        "score", patience=0, threshold=threshold, threshold_mode=threshold_mode, mode=mode
    )
    assert [plateau.update(v, 1.0) for v in values] == [1.0, 0.1]
    assert plateau.best == values[0]


def test_reduce_on_plateau_skips_reductions_below_eps(torch):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-7)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, eps=1e-7)
    ours, lr = lw.ReduceLROnPlateau("loss", patience=0, eps=1e-7), 1e-7
    for value in [1.0, 1.0, 1.0]:
        theirs.step(value)
        lr = ours.update(value, lr)
    assert lr == opt.param_groups[0]["lr"] == 1e-7


# -- ReduceLROnPlateau in training -----------------------------------------------------------


def blobs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)).astype(np.float32) + np.eye(3, 4, dtype=np.float32)[y] * 4
    return X, y


def classifier(seed=0):
    return lw.Sequential([lw.Linear(4, 8), lw.ReLU(), lw.Linear(8, 3)], seed=seed)


class Scores(lw.Callback):
    """Puts ``values[i]`` under ``"score"`` in the logs of the i-th epoch it sees (before
    the callbacks after it), so a fit can be fed a chosen sequence."""

    def __init__(self, values):
        self.values, self.seen = list(values), 0

    def on_epoch_end(self, run, epoch, logs):
        logs["score"] = self.values[self.seen]
        self.seen += 1


def fit(model, X, y, callbacks, epochs, optimizer, **kwargs):
    return model.fit(
        X, y, loss=lw.CrossEntropy(), optimizer=optimizer, epochs=epochs, callbacks=callbacks,
        progress=False, **kwargs,
    )  # fmt: skip


def test_a_fit_reduces_the_rate_at_the_right_epochs():
    X, y = blobs()
    scores = Scores([5, 4, 4, 4, 4, 3, 3, 3, 3, 3])
    plateau = lw.ReduceLROnPlateau("score", factor=0.5, patience=2)
    hist = fit(classifier(), X, y, [scores, plateau], 10, lw.SGD(lr=0.1))
    # Epochs 2-4 fail to beat 4: reduced at the end of epoch 4; epochs 6-8 fail to beat 3.
    assert hist.history["lr"] == [0.1] * 5 + [0.05] * 4 + [0.025]


def test_a_fit_on_the_real_loss_reduces_when_it_stalls():
    X, y = blobs()
    plateau = lw.ReduceLROnPlateau("loss", factor=0.5, patience=2, threshold=0.15)
    hist = fit(classifier(), X, y, [plateau], 30, lw.SGD(lr=0.5), batch_size=None)
    rates, losses = hist.history["lr"], hist.history["loss"]
    # The rate falls exactly where update() fed the same losses says it does.
    replay, lr = lw.ReduceLROnPlateau("loss", factor=0.5, patience=2, threshold=0.15), 0.5
    expected = []
    for loss in losses:
        expected.append(lr)
        lr = replay.update(loss, lr)
    assert rates == expected and rates[-1] < 0.5


def test_a_second_fit_with_the_same_optimizer_goes_on_counting():
    X, y = blobs()
    scores = Scores([5, 4, 4, 4, 4, 4])
    plateau = lw.ReduceLROnPlateau("score", factor=0.5, patience=2)
    opt = lw.SGD(lr=0.1)
    first = fit(classifier(), X, y, [scores, plateau], 4, opt)
    assert first.history["lr"] == [0.1] * 4 and plateau.num_bad_epochs == 2
    second = fit(classifier(), X, y, [scores, plateau], 2, opt)
    assert second.history["lr"] == [0.1, 0.05]  # the third bad epoch is the first of this fit
    # A new optimizer is a new run: the counters start again.
    fresh = Scores([4, 4, 4])
    third = fit(classifier(), X, y, [fresh, plateau], 3, lw.SGD(lr=0.1))
    assert third.history["lr"] == [0.1] * 3 and plateau.best == 4


def test_reduce_on_plateau_needs_the_monitored_key():
    X, y = blobs()
    with pytest.raises(
        lw.LayerwiseError, match="ReduceLROnPlateau monitors 'val_loss', but the epoch logs have"
    ):
        fit(classifier(), X, y, [lw.ReduceLROnPlateau()], 1, lw.SGD(lr=0.1))


def test_auto_mode_maximizes_accuracy():
    assert lw.ReduceLROnPlateau("val_accuracy").maximize
    assert not lw.ReduceLROnPlateau("val_loss").maximize
    assert not lw.ReduceLROnPlateau("val_accuracy", mode="min").maximize
    plateau = lw.ReduceLROnPlateau("accuracy", factor=0.5, patience=0)
    assert [plateau.update(v, 1.0) for v in (0.5, 0.6, 0.6)] == [1.0, 1.0, 0.5]


def test_reduce_on_plateau_refuses_a_scheduler_that_would_undo_it():
    X, y = blobs()
    callbacks = [lw.LearningRateScheduler(optim.StepDecay(5)), lw.ReduceLROnPlateau("loss")]
    with pytest.raises(lw.LayerwiseError, match="the scheduler would undo every reduction"):
        fit(classifier(), X, y, callbacks, 1, lw.SGD(lr=0.1))
    keras = lw.LearningRateScheduler(lambda epoch, lr: lr, current_lr=True)
    fit(classifier(), X, y, [keras, lw.ReduceLROnPlateau("loss")], 1, lw.SGD(lr=0.1))


def test_reduce_on_plateau_state_round_trips_through_strict_json():
    plateau = lw.ReduceLROnPlateau("loss", factor=0.5, patience=2, cooldown=3)
    assert plateau.state_dict() == {"best": "inf", "num_bad_epochs": 0, "cooldown_counter": 0}
    assert lw.ReduceLROnPlateau("val_accuracy").state_dict()["best"] == "-inf"
    values = [3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5]
    lr = 1.0
    for value in values[:5]:
        lr = plateau.update(value, lr)
    saved = json.loads(json.dumps(plateau.state_dict(), allow_nan=False))
    assert saved == {"best": 2.0, "num_bad_epochs": 0, "cooldown_counter": 3}
    copy, lr_copy = lw.ReduceLROnPlateau("loss", factor=0.5, patience=2, cooldown=3), lr
    copy.load_state_dict(saved)
    rest = [(lr := plateau.update(v, lr)) for v in values[5:]]
    assert [(lr_copy := copy.update(v, lr_copy)) for v in values[5:]] == rest
    assert len(set(rest)) == 2  # a second reduction happened after the round trip
    copy.load_state_dict({"best": "-inf", "num_bad_epochs": 1, "cooldown_counter": 0})
    assert copy.best == -math.inf


def test_a_run_resumed_from_a_file_keeps_the_plateau_counters(tmp_path):
    X, y = blobs()

    def plateau():
        return lw.ReduceLROnPlateau("loss", factor=0.5, patience=2, threshold=0.15)

    def start(callbacks):
        model = lw.Sequential([lw.Linear(4, 8), lw.ReLU(), lw.Linear(8, 3)], seed=1)
        return model.fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(lr=0.5), epochs=20,
                         batch_size=None, callbacks=callbacks, progress=False)  # fmt: skip

    straight = start([plateau()]).history["lr"]
    start([plateau(), lw.ModelCheckpoint(tmp_path / "ckpt-{epoch}.safetensors")])
    path = tmp_path / "ckpt-15.safetensors"
    # Two bad epochs before the file, a third after it: reduced for epoch 17, which a
    # fresh count would not do.
    assert lw.load_checkpoint(path).state.callbacks[0][1]["num_bad_epochs"] == 2
    assert straight[16] < straight[15]
    _, resumed = lw.resume(path, X, y, callbacks=[plateau()], progress=False)
    assert resumed.history["lr"] == straight


@pytest.mark.parametrize(
    "state",
    [{}, {"best": None, "num_bad_epochs": 0, "cooldown_counter": 0},
     {"best": "high", "num_bad_epochs": 0, "cooldown_counter": 0},
     {"best": 1.0, "num_bad_epochs": -1, "cooldown_counter": 0}],
)  # fmt: skip
def test_a_bad_plateau_state_is_refused(state):
    with pytest.raises(lw.LayerwiseError, match="Bad ReduceLROnPlateau state"):
        lw.ReduceLROnPlateau().load_state_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factor": 1.0}, r"factor must be in \[0, 1\) .*got 1.0"),
        ({"factor": -0.1}, "factor must be a finite number >= 0"),
        ({"patience": -1}, "patience must be a non-negative integer; got -1"),
        ({"patience": 2.5}, "patience must be a non-negative integer; got 2.5"),
        ({"cooldown": -1}, "cooldown must be a non-negative integer"),
        ({"threshold": -1e-4}, "threshold must be a finite number >= 0"),
        ({"threshold_mode": "relative"}, "threshold_mode must be 'rel' or 'abs'; got 'relative'"),
        ({"mode": "maximize"}, "mode must be 'auto', 'min' or 'max'; got 'maximize'"),
        ({"min_lr": -1.0}, "min_lr must be a finite number >= 0"),
        ({"eps": math.nan}, "eps must be a finite number"),
        ({"monitor": 3}, "monitor must be a key of the epoch logs; got 3"),
    ],
)
def test_reduce_on_plateau_argument_errors(kwargs, message):
    with pytest.raises(lw.LayerwiseError, match=message):
        lw.ReduceLROnPlateau(**kwargs)


# -- scikit-learn's learning_rate="adaptive" ---------------------------------------------------


def sklearn_adaptive(losses, lr: float, tol: float, n_iter_no_change: int) -> list[float]:
    """The rate after each epoch under scikit-learn's rule, transcribed from
    ``BaseMultilayerPerceptron._update_no_improvement_count`` and
    ``SGDOptimizer.trigger_stopping`` (1.x; without its stop once lr <= 1e-6)."""
    best, count, rates = math.inf, 0, []
    for loss in losses:
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        if count > n_iter_no_change:
            lr, count = lr / 5.0, 0
        rates.append(lr)
    return rates


def our_plateau(losses, lr: float, tol: float, n_iter_no_change: int) -> list[float]:
    plateau = lw.ReduceLROnPlateau(
        "loss", factor=0.2, patience=n_iter_no_change, threshold=tol, threshold_mode="abs"
    )
    return [(lr := plateau.update(loss, lr)) for loss in losses]


def test_sklearn_adaptive_is_reproduced_when_no_epoch_improves_by_less_than_tol():
    # Each epoch either falls by more than tol or does not fall at all.
    losses = [1.0, 0.9, 0.9, 0.95, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.85, 0.7] + [0.7] * 8
    ours, theirs = our_plateau(losses, 0.1, 1e-3, 2), sklearn_adaptive(losses, 0.1, 1e-3, 2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-15)  # x * 0.2 against x / 5
    assert len(set(theirs)) == 5


def test_sklearn_adaptive_differs_on_a_loss_that_creeps_down_by_less_than_tol():
    losses = [1.0 - 0.0004 * i for i in range(10)]  # falls by 0.4 tol an epoch
    assert sklearn_adaptive(losses, 0.1, 1e-3, 2)[3] == pytest.approx(0.02)  # reduced
    assert our_plateau(losses, 0.1, 1e-3, 2) == [0.1] * 10  # 0.4 tol x 3 epochs improves


# -- LearningRateScheduler: how the function is called -------------------------------------------


class RatesUsed(lw.Callback):
    """Records the rate of every step (put it before the scheduler in the callbacks)."""

    def __init__(self):
        self.rates = []

    def on_batch_end(self, run, step, loss):
        self.rates.append(run.optimizer.lr)


def test_the_schedule_gets_the_counts_done_and_the_initial_rate():
    X, y = blobs()
    calls = []
    per_epoch = lw.LearningRateScheduler(lambda t, base: calls.append((t, base)) or base * 0.5**t)
    hist = fit(classifier(), X, y, [per_epoch], 3, lw.SGD(lr=0.1), batch_size=10)
    assert sorted(set(calls)) == [(0, 0.1), (1, 0.1), (2, 0.1)]
    assert hist.history["lr"] == [0.1, 0.05, 0.025]
    calls.clear()
    per_step = lw.LearningRateScheduler(lambda t, base: calls.append((t, base)) or base / (1 + t),
                                        per="step")  # fmt: skip
    used = RatesUsed()
    fit(classifier(), X, y, [used, per_step], 2, lw.SGD(lr=0.1), batch_size=10)
    assert calls == [(t, 0.1) for t in range(9)]  # before step 1, then after each of 8
    assert used.rates == [0.1 / (1 + t) for t in range(8)]


def test_the_keras_form_gets_the_rate_in_use_once_per_epoch():
    X, y = blobs()
    calls = []

    def halve_after_the_first(epoch, lr):
        calls.append((epoch, lr))
        return lr if epoch == 0 else lr * 0.5

    opt = lw.SGD(lr=0.1)
    scheduler = lw.LearningRateScheduler(halve_after_the_first, current_lr=True)
    hist = fit(classifier(), X, y, [scheduler], 4, opt, batch_size=10)
    assert calls == [(0, 0.1), (1, 0.1), (2, 0.05), (3, 0.025)]
    assert hist.history["lr"] == [0.1, 0.05, 0.025, 0.0125]
    assert opt.initial_lr == 0.1


def test_the_keras_form_per_step_is_called_after_each_step():
    X, y = blobs()
    calls, used = [], RatesUsed()
    scheduler = lw.LearningRateScheduler(
        lambda t, lr: calls.append((t, lr)) or lr * 0.9, per="step", current_lr=True
    )
    session = lw.Session(classifier(), lw.CrossEntropy(), lw.SGD(lr=0.1), (X, y),
                         batch_size=10, callbacks=[used, scheduler], seed=0)  # fmt: skip
    session.step(3)
    session.end()
    session.step(2)  # a new on_train_begin must not call it again
    assert [t for t, _ in calls] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(used.rates, [0.1 * 0.9**t for t in range(5)], rtol=1e-14)


@pytest.mark.parametrize(
    "returned",
    [-0.1, math.nan, math.inf, "fast", None],
    ids=["negative", "nan", "inf", "str", "none"],
)
def test_a_schedule_returning_a_bad_rate_is_named(returned):
    X, y = blobs()
    scheduler = lw.LearningRateScheduler(lambda t, base: base if t < 2 else returned)
    with pytest.raises(lw.LayerwiseError, match=r"returned .* at epoch 2; a rate must be a finite"):
        fit(classifier(), X, y, [scheduler], 4, lw.SGD(lr=0.1))


# -- per-step schedules under Session.step, rollback and resume ------------------------------------


def test_a_per_step_schedule_under_session_step_in_pieces():
    X, y = blobs()
    schedule = optim.OneCycle(0.5, total_steps=24)
    used = RatesUsed()
    session = lw.Session(classifier(), lw.CrossEntropy(), lw.SGD(lr=0.1), (X, y),
                         batch_size=10, callbacks=[used, lw.LearningRateScheduler(schedule,
                         per="step")], seed=0)  # fmt: skip
    session.step(5)
    session.end()
    session.step(6)
    session.run(4)  # finishes the epoch begun (1 step), then 3 whole ones: 24 steps in all
    assert session.steps == 24
    np.testing.assert_array_equal(used.rates, our_rates(schedule, 24))


def test_rollback_replays_the_same_rates():
    X, y = blobs()
    used = RatesUsed()
    scheduler = lw.LearningRateScheduler(optim.CosineWarmRestarts(3, t_mult=2), per="step")
    session = lw.Session(classifier(), lw.CrossEntropy(), lw.Adam(lr=0.01), (X, y),
                         batch_size=10, callbacks=[used, scheduler], seed=0)  # fmt: skip
    session.step(6)
    session.checkpoint()
    first = session.step(10)
    rates, used.rates = used.rates[6:], []
    session.rollback()
    again = session.step(10)
    assert used.rates == rates
    np.testing.assert_array_equal(again, first)


@pytest.mark.parametrize(
    "scheduler",
    [
        lambda: lw.LearningRateScheduler(optim.OneCycle(0.2, total_steps=24), per="step"),
        lambda: lw.LearningRateScheduler(
            optim.SequentialSchedule([optim.LinearWarmup(4), optim.PolynomialDecay(20)], [4]),
            per="step",
        ),
        lambda: lw.LearningRateScheduler(lambda epoch, lr: lr * 0.7, current_lr=True),
    ],
    ids=["one-cycle", "warmup-then-polynomial", "keras-form"],
)
def test_a_resumed_run_gets_the_same_rates(tmp_path, scheduler):
    X, y = blobs()

    def start(callbacks, epochs=6):
        model = lw.Sequential([lw.Linear(4, 8), lw.ReLU(), lw.Dropout(0.2), lw.Linear(8, 3)],
                              seed=1)  # fmt: skip
        hist = model.fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.Adam(lr=0.05), epochs=epochs,
                         batch_size=10, seed=3, callbacks=callbacks, progress=False)  # fmt: skip
        return model, hist

    straight, hist = start([scheduler()])
    path = tmp_path / "ckpt-{epoch}.safetensors"
    start([scheduler(), lw.ModelCheckpoint(path)])
    resumed, rest = lw.resume(tmp_path / "ckpt-3.safetensors", X, y, callbacks=[scheduler()],
                              progress=False)  # fmt: skip
    assert rest.history["lr"] == hist.history["lr"]
    assert rest.history["loss"] == hist.history["loss"]
    for name, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value, err_msg=name)
