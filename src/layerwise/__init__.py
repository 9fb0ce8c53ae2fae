"""layerwise: neural networks from scratch on NumPy, with backprop you can read.

    import layerwise as lw
    X_tr, X_te, y_tr, y_te = lw.data.digits(test_size=0.2, seed=0)
    model = lw.Sequential([lw.Linear(64, 64), lw.ReLU(), lw.Linear(64, 10)], seed=0)
    hist = model.fit(X_tr, y_tr, loss=lw.CrossEntropy(), optimizer=lw.Adam(lr=1e-3),
                     epochs=30, validation_data=(X_te, y_te))

``lw.data``, ``lw.plot`` and ``lw.estimators`` are imported on first use, so that
``import layerwise`` stays fast and does not load scikit-learn or matplotlib.
"""

from __future__ import annotations

import importlib

from layerwise import (
    activations,
    callbacks,
    diagnostics,
    init,
    layers,
    losses,
    metrics,
    optim,
    session,
    training,
)
from layerwise._checks import LayerwiseError, LayerwiseWarning
from layerwise.activations import Elementwise, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from layerwise.bench import Bench
from layerwise.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ReduceLROnPlateau,
)
from layerwise.diagnostics import Diagnostics
from layerwise.gradcheck import GradcheckReport, gradcheck
from layerwise.io import (
    Checkpoint,
    ModelCheckpoint,
    load,
    load_checkpoint,
    resume,
    save,
    save_checkpoint,
)
from layerwise.layers import Dropout, Layer, Linear
from layerwise.losses import MAE, MSE, BinaryCrossEntropy, CrossEntropy, Loss
from layerwise.network import Sequential
from layerwise.optim import SGD, Adam, AdamW, DivergenceError, Optimizer, RMSProp
from layerwise.session import Session, TrainingState
from layerwise.sweep import SweepResults, sweep
from layerwise.training import BackupAndRestore, evaluate, fit, train_step

__version__ = "0.1.0"

_LAZY = ("data", "plot", "estimators")

__all__ = [
    # errors
    "LayerwiseError",
    "LayerwiseWarning",
    "DivergenceError",
    # layers
    "Layer",
    "Linear",
    "Dropout",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "Identity",
    "Elementwise",
    # losses
    "Loss",
    "MSE",
    "MAE",
    "BinaryCrossEntropy",
    "CrossEntropy",
    # network and training
    "Sequential",
    "Optimizer",
    "SGD",
    "RMSProp",
    "Adam",
    "AdamW",
    "Session",
    "Bench",
    "fit",
    "evaluate",
    "train_step",
    "History",
    "TrainingState",
    "Callback",
    "EarlyStopping",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "CSVLogger",
    "BackupAndRestore",
    "ModelCheckpoint",
    "Diagnostics",
    "sweep",
    "SweepResults",
    # files and checks
    "save",
    "load",
    "save_checkpoint",
    "load_checkpoint",
    "resume",
    "Checkpoint",
    "gradcheck",
    "GradcheckReport",
    # modules
    "activations",
    "callbacks",
    "diagnostics",
    "init",
    "layers",
    "losses",
    "metrics",
    "optim",
    "session",
    "training",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"layerwise.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'layerwise' has no attribute {name!r}")
