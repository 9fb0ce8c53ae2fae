"""It learns: the accuracy targets of the notebooks' experiments, with the public API."""

from __future__ import annotations

import layerwise as lw


def test_digits_64_64_10_relu_adam_reaches_97_percent():
    X_tr, X_te, y_tr, y_te = lw.data.digits(test_size=0.2, seed=0)
    model = lw.Sequential([lw.Linear(64, 64), lw.ReLU(), lw.Linear(64, 10)], seed=0)
    hist = model.fit(
        X_tr,
        y_tr,
        loss=lw.CrossEntropy(),
        optimizer=lw.Adam(lr=3e-3),
        epochs=30,
        batch_size=32,
        validation_data=(X_te, y_te),
        seed=0,
        progress=False,
    )
    assert hist.history["val_accuracy"][-1] >= 0.97
    assert lw.metrics.accuracy(y_te, model.predict(X_te)) == hist.history["val_accuracy"][-1]


def test_moons_2_16_1_full_batch_gradient_descent_reaches_96_percent():
    # Notebook 002: make_moons(1000, noise=0.2), 2-16-1 ReLU/sigmoid, lr 1.0, 1000 epochs.
    X, y = lw.data.moons(1000, noise=0.2, seed=0)
    model = lw.Sequential.from_spec(
        [
            {"input_dim": 2, "output_dim": 16, "activation": "relu"},
            {"input_dim": 16, "output_dim": 1, "activation": "sigmoid"},
        ],
        seed=0,
    )
    hist = model.fit(
        X,
        y,
        loss=lw.BinaryCrossEntropy(),
        optimizer=lw.SGD(lr=1.0),
        epochs=1000,
        batch_size=None,
        progress=False,
    )
    assert hist.history["accuracy"][-1] >= 0.96
    assert lw.metrics.accuracy(y, model.predict(X)) >= 0.96
