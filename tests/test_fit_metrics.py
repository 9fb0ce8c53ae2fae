"""``fit(..., metrics=[...])``: per-epoch metrics for the training batches and the
validation data, equal to scikit-learn's on the same predictions."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn import metrics as skm

import layerwise as lw


class _PredictionsAtEpochStart(lw.Callback):
    """What a full-batch epoch trains on: the model's outputs before its one step."""

    def __init__(self, X):
        self.X, self.outputs = X, []

    def on_epoch_begin(self, run, epoch):
        self.outputs.append(run.model.predict(self.X))


def test_regression_metrics_equal_scikit_learns_for_train_and_validation():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = np.c_[X[:, 0] * 2 - X[:, 1], np.sin(X[:, 2])] + 0.1 * rng.normal(size=(80, 2))
    Xv, yv = X[60:], y[60:]
    model = lw.Sequential([lw.Linear(3, 12), lw.Tanh(), lw.Linear(12, 2)], seed=0, dtype=np.float64)
    seen = _PredictionsAtEpochStart(X[:60])
    history = model.fit(
        X[:60], y[:60], loss=lw.MSE(), optimizer=lw.Adam(0.02), epochs=6, batch_size=None,
        metrics=["mae", "r2", "rmse"], validation_data=(Xv, yv), callbacks=[seen], progress=False,
    ).history  # fmt: skip
    for epoch, pred in enumerate(seen.outputs):
        assert history["mae"][epoch] == pytest.approx(skm.mean_absolute_error(y[:60], pred))
        assert history["r2"][epoch] == pytest.approx(skm.r2_score(y[:60], pred), rel=1e-10)
        rmse = skm.root_mean_squared_error(y[:60], pred)
        assert history["rmse"][epoch] == pytest.approx(rmse, rel=1e-10)
    final = model.predict(Xv)
    assert history["val_r2"][-1] == pytest.approx(skm.r2_score(yv, final), rel=1e-10)
    assert history["val_mae"][-1] == pytest.approx(skm.mean_absolute_error(yv, final), rel=1e-10)
    assert list(history) == [
        "loss", "mae", "r2", "rmse", "val_loss", "val_mae", "val_r2", "val_rmse", "lr", "time"
    ]  # fmt: skip


def test_classification_metrics_see_probabilities_and_take_named_functions():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(90, 4)), rng.integers(0, 6, 90)
    w = rng.random(90) + 0.2
    top2 = ("top2", functools.partial(lw.metrics.top_k_accuracy, k=2))

    def worst_class_recall(y_true, y_pred, sample_weight=None):
        labels = y_pred.argmax(axis=1)
        recalls = skm.recall_score(
            y_true, labels, average=None, sample_weight=sample_weight, labels=range(6),
            zero_division=0,
        )  # fmt: skip
        return recalls.min()

    model = lw.Sequential([lw.Linear(4, 16), lw.ReLU(), lw.Linear(16, 6)], seed=0, dtype=np.float64)
    history = model.fit(
        X[:70], y[:70], loss=lw.CrossEntropy(), optimizer=lw.Adam(0.02), epochs=4,
        metrics=[top2, "accuracy", worst_class_recall, "balanced_accuracy"],
        validation_data=(X[70:], y[70:], w[70:]), progress=False,
    ).history  # fmt: skip
    assert [k for k in history if not k.startswith("val_")] == [
        "loss", "accuracy", "top2", "worst_class_recall", "balanced_accuracy", "lr", "time"
    ]  # fmt: skip
    logits = model.predict(X[70:])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    got = history["val_top2"][-1]
    want = skm.top_k_accuracy_score(y[70:], probs, k=2, labels=range(6), sample_weight=w[70:])
    assert got == pytest.approx(want)
    balanced = skm.balanced_accuracy_score(y[70:], logits.argmax(axis=1), sample_weight=w[70:])
    assert history["val_balanced_accuracy"][-1] == pytest.approx(balanced)
    accuracy = skm.accuracy_score(y[70:], logits.argmax(axis=1), sample_weight=w[70:])
    assert history["val_accuracy"][-1] == pytest.approx(accuracy)
    assert 0 <= history["val_worst_class_recall"][-1] <= 1


def test_metrics_of_a_logits_bce_network_threshold_the_probability():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0.3).astype(float)
    model = lw.Sequential([lw.Linear(2, 8), lw.Tanh(), lw.Linear(8, 1)], seed=0, dtype=np.float64)
    history = model.fit(
        X, y, loss=lw.BinaryCrossEntropy(from_logits=True), optimizer=lw.Adam(0.05), epochs=5,
        metrics=["balanced_accuracy"], validation_data=(X, y), progress=False,
    ).history  # fmt: skip
    logits = model.predict(X)[:, 0]
    want = skm.balanced_accuracy_score(y, logits > 0)  # sigmoid(z) > 1/2 exactly when z > 0
    assert history["val_balanced_accuracy"][-1] == pytest.approx(want)
    assert history["val_accuracy"][-1] == pytest.approx(skm.accuracy_score(y, logits > 0))


def test_metrics_go_back_with_a_rollback_and_survive_a_divergence():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(64, 3)), rng.normal(size=(64, 1))
    model = lw.Sequential([lw.Linear(3, 8), lw.Tanh(), lw.Linear(8, 1)], seed=0)
    session = lw.Session(model, lw.MSE(), lw.SGD(0.05), (X, y), batch_size=16, seed=0,
                         metrics=["r2"])  # fmt: skip
    session.step(6)  # one epoch and a half
    session.checkpoint()
    session.run(2)
    first = dict(session.history.history)
    session.rollback()
    session.run(2)
    assert session.history.history["r2"] == first["r2"]
    session.optimizer.lr = 1e30
    with pytest.warns(lw.LayerwiseWarning, match="diverged"):
        session.on_divergence = "warn"
        session.run(1)
    session.optimizer.lr = 0.05
    session.run(1)  # the epoch's kept predictions went back with the weights
    assert len(session.history.history["r2"]) == len(session.history.history["loss"])


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        (["f2"], "Unknown metric 'f2'"),
        ([lambda t, p: 0.0], "lambda"),
        ([("loss", lw.metrics.mae)], "is taken"),
        (["mae", "mean_absolute_error"], "is taken"),
    ],
)
def test_bad_metrics_are_refused_before_training(metrics, message):
    X, y = np.zeros((4, 2)), np.zeros(4)
    model = lw.Sequential([lw.Linear(2, 1)], seed=0)
    with pytest.raises(lw.LayerwiseError, match=message):
        model.fit(X, y, loss=lw.MSE(), optimizer=lw.SGD(0.1), metrics=metrics, progress=False)
