"""How the default ``layerwise train`` network for digits was chosen: repeated
cross-validation on the training split only (the test rows are never read here).

The default command splits scikit-learn's 8x8 digits into 1,437 training and 360 test
rows (``--seed 0``, ``--test-size 0.2``). This script runs 5-fold stratified
cross-validation three times over those 1,437 rows (``random_state=2``: 15 folds, 4,311
held-out predictions) for each candidate, and prints the errors summed over the folds.
The candidate with the fewest is the default (docs/decisions.md, "Recipes").

    python benchmarks/digits_default.py          # ~35 s on 2 cores
"""

from __future__ import annotations

import math
import time

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

import layerwise as lw
from layerwise import cli


def plain(hidden: int, lr: float = 3e-3, smoothing: float = 0.0, dropout: float = 0.0):
    """64-hidden-10 ReLU as ``train`` builds it, Adam, 30 epochs of batches of 32."""

    def fit(X, y):
        layers = [lw.Linear(64, hidden), lw.ReLU()] + ([lw.Dropout(dropout)] if dropout else [])
        model = lw.Sequential([*layers, lw.Linear(hidden, 10)], seed=0)
        model.fit(
            X, y, loss=lw.CrossEntropy(smoothing), optimizer=lw.Adam(lr), epochs=30,
            batch_size=32, seed=0, progress=False,
        )  # fmt: skip
        return model

    return fit


def recipe_digits(X, y):
    """``--recipe digits``: 64-256-10, dropout 0.5, smoothing 0.1, SGD Nesterov, cosine."""
    recipe = cli.RECIPES["digits"]
    model = cli.build_recipe_model(recipe, 64, 10, 0)
    steps = recipe.epochs * math.ceil(len(X) / recipe.batch_size)
    warmup = max(1, steps // 50)
    schedule = lw.optim.LinearWarmup(warmup, 0.1, after=lw.optim.CosineDecay(steps - warmup))
    model.fit(
        X, y, loss=lw.CrossEntropy(recipe.label_smoothing),
        optimizer=lw.SGD(recipe.lr, momentum=0.9, nesterov=True), epochs=recipe.epochs,
        batch_size=recipe.batch_size, seed=0, progress=False,
        callbacks=[lw.LearningRateScheduler(schedule, per="step")],
    )  # fmt: skip
    return model


CANDIDATES = {
    "64 hidden (the default before)": plain(64),
    "256 hidden, lr 1e-2": plain(256, lr=1e-2),
    "512 hidden": plain(512),
    "1024 hidden": plain(1024),
    "--recipe digits": recipe_digits,
    "1024 hidden, label smoothing 0.1, dropout 0.5": plain(1024, smoothing=0.1, dropout=0.5),
    "1024 hidden, label smoothing 0.1": plain(1024, smoothing=0.1),
}


def main() -> None:
    data = cli.load_data("digits", seed=0, test_size=0.2)
    X, y = data.X_train, data.y_train
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=3, random_state=2)
    errors = dict.fromkeys(CANDIDATES, 0)
    start = time.perf_counter()
    for i, (train, held) in enumerate(folds.split(X, y)):
        for name, fit in CANDIDATES.items():
            model = fit(X[train], y[train])
            errors[name] += int(np.count_nonzero(model.predict(X[held]).argmax(axis=1) != y[held]))
        print(f"fold {i + 1}/15 done ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\n| candidate | errors in {len(X) * 3:,} held-out predictions |\n|---|---|")
    for name, count in sorted(errors.items(), key=lambda item: item[1]):
        print(f"| {name} | {count} |")


if __name__ == "__main__":
    main()
