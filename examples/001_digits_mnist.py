"""Notebook 001 ("NN from scratch"): layers, losses and a training loop on the 8x8
digits and on MNIST, plus the sections the notebook left empty: optimizers and
weight initialization.

    python examples/001_digits_mnist.py [OUTPUT_FOLDER]

MNIST is read from $LAYERWISE_DATA/mnist (or ../shared/data/mnist beside the
repository) when it is there; the digits need no download. Exits with an error if
the accuracies are not reached.
"""

import os
import sys
from pathlib import Path

import numpy as np

import layerwise as lw

out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out/001")
out.mkdir(parents=True, exist_ok=True)

# -- The losses of the notebook, and the softmax Jacobian done right --------------------
p, t = np.array([[0.2, 0.7, 0.1]]), np.array([[0.0, 1.0, 0.0]])
for loss in (lw.MAE(), lw.MSE(), lw.BinaryCrossEntropy(), lw.CrossEntropy()):
    print(f"{loss!r:32} {loss(p, t):.4f}")  # CrossEntropy takes these as logits

# -- Digits: a 64-64-10 ReLU network, SGD lr 0.1, batches of 32 -------------------------
X_train, X_test, y_train, y_test = lw.data.digits(test_size=0.2, seed=0)
lw.plot.image_grid(X_train, labels=y_train, n=64).savefig(out / "digits.png")


def digits_net(init="he_uniform"):
    return lw.Sequential(
        [lw.Linear(64, 64, init=init), lw.ReLU(), lw.Linear(64, 10, init=init)], seed=0
    )


model = digits_net()
history = model.fit(
    X_train,
    y_train,
    loss=lw.CrossEntropy(),
    optimizer=lw.SGD(lr=0.1),
    epochs=100,
    batch_size=32,
    validation_data=(X_test, y_test),
    seed=0,
    progress=True,
)  # the tqdm bar with live loss and accuracy
lw.plot.history(history).savefig(out / "history.png")
train_acc = lw.metrics.accuracy(y_train, model.predict(X_train))
test_acc = lw.metrics.accuracy(y_test, model.predict(X_test))
print(f"digits: accuracy on train {train_acc:.4f}, on test {test_acc:.4f}")
lw.plot.confusion_matrix(y_test, model.predict(X_test).argmax(axis=1)).savefig(
    out / "confusion.png"
)

# -- "Optimizers" (left empty in the notebook) --------------------------------------------
runs = {}
for name, optimizer in [
    ("SGD 0.1", lw.SGD(lr=0.1)),
    ("SGD 0.1 + momentum 0.9", lw.SGD(lr=0.1, momentum=0.9)),
    ("RMSProp 1e-3", lw.RMSProp(lr=1e-3)),
    ("Adam 1e-3", lw.Adam(lr=1e-3)),
]:
    runs[name] = digits_net().fit(
        X_train,
        y_train,
        loss=lw.CrossEntropy(),
        optimizer=optimizer,
        epochs=20,
        batch_size=32,
        seed=0,
        progress=False,
    )
lw.plot.history(runs, keys=["loss"], log=True).savefig(out / "optimizers.png")

# -- Weight initialization: Xavier/Glorot against Kaiming/He -----------------------------
inits = {
    init: digits_net(init).fit(
        X_train,
        y_train,
        loss=lw.CrossEntropy(),
        optimizer=lw.SGD(lr=0.1),
        epochs=20,
        batch_size=32,
        seed=0,
        progress=False,
    )
    for init in ("glorot_uniform", "he_uniform", "he_normal")
}
lw.plot.history(inits, keys=["loss"], log=True).savefig(out / "initialization.png")

# -- MNIST (the notebook read mnist_train.csv; lw.data reads that CSV or the IDX files) --
shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
mnist_folder = Path(os.environ.get("LAYERWISE_DATA", shared)) / "mnist"
mnist_acc = None
if mnist_folder.is_dir():
    Xm_train, Xm_test, ym_train, ym_test = lw.data.mnist(mnist_folder)
    lw.plot.image_grid(Xm_train, labels=ym_train, n=64).savefig(out / "mnist.png")
    mnist = lw.Sequential([lw.Linear(784, 128), lw.ReLU(), lw.Linear(128, 10)], seed=0)
    mnist.fit(
        Xm_train,
        ym_train,
        loss=lw.CrossEntropy(),
        optimizer=lw.Adam(lr=1e-3),
        epochs=5,
        batch_size=128,
        seed=0,
    )
    mnist_acc = lw.metrics.accuracy(ym_test, mnist.predict(Xm_test))
    print(f"MNIST 784-128-10 after 5 epochs: test accuracy {mnist_acc:.4f}")
else:
    print(f"MNIST skipped: no files in {mnist_folder} (pass download=True to lw.data.mnist)")

assert test_acc >= 0.96, f"digits test accuracy {test_acc:.4f} < 0.96"
assert runs["Adam 1e-3"].history["loss"][-1] < runs["SGD 0.1"].history["loss"][0]
assert mnist_acc is None or mnist_acc >= 0.97, f"MNIST test accuracy {mnist_acc:.4f} < 0.97"
print(f"figures in {out}/")
