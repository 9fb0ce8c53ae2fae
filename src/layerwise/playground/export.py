"""The Python script that repeats a playground run with layerwise (the page's "code").

The script is built from the validated configuration only (names from fixed lists,
bounded numbers), never from text the page sent, and it is plain layerwise: the data
from :mod:`layerwise.playground.datasets`, a ``Sequential``, a ``Session`` stepped
with the page's learning rates, ``lw.save`` at the end.
"""

from __future__ import annotations

from layerwise.playground import protocol

CLASS_NAMES = {
    "relu": "ReLU",
    "leaky_relu": "LeakyReLU",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "linear": "Identity",
}
LOSS_CODE = {
    "cross_entropy": "lw.CrossEntropy()",
    "bce": "lw.BinaryCrossEntropy()",
    "mse": "lw.MSE()",
}
OPTIMIZER_CODE = {
    "sgd": "lw.SGD(lr={lr!r}, weight_decay={wd!r}, decay_biases=False)",
    "momentum": "lw.SGD(lr={lr!r}, momentum=0.9, weight_decay={wd!r}, decay_biases=False)",
    "adam": "lw.Adam(lr={lr!r}, weight_decay={wd!r}, decay_biases=False)",
    "rmsprop": "lw.RMSProp(lr={lr!r}, weight_decay={wd!r}, decay_biases=False)",
    "adamw": "lw.AdamW(lr={lr!r}, weight_decay={wd!r}, decay_biases=False)",
}


def python_code(
    config: protocol.Config,
    steps: int,
    lr_events: list[tuple[int, float]],
    *,
    csv_name: str = "",
    task: str = "classification",
    classes: int = 2,
    loss_name: str = "bce",
) -> str:
    """The script's text: ``python script.py [STEPS]`` repeats ``steps`` steps of the run."""
    c = config
    hidden = ", ".join(f"{u} {a}" for u, a in zip(c.layers, c.activations)) or "no hidden layer"
    if c.dataset == "csv":
        name = csv_name.rsplit("#", 1)[0] or "data.csv"
        data_code = (
            f"CSV = {name!r}  # the file uploaded on the page, beside this script\n"
            "with open(CSV) as f:\n"
            "    X, y = parse_csv(f.read())\n"
            f"data = split(X, y, train_ratio={c.train_ratio}, seed={c.seed})"
        )
        imports = "from layerwise.playground.datasets import parse_csv, split"
    else:
        data_code = (
            f"data = make({c.dataset!r}, points={c.points}, noise={c.noise}, "
            f"train_ratio={c.train_ratio}, classes={c.classes}, seed={c.seed})"
        )
        imports = "from layerwise.playground.datasets import make"
    outputs = 1 if task == "regression" or classes == 2 else classes
    if loss_name == "cross_entropy":
        outputs, target = classes, "{part}"
    elif outputs == 1:
        target = '{part}.reshape(-1, 1).astype("float32")'
    else:
        target = f'lw.data.one_hot({{part}}, {classes}).astype("float32")'
    layers = [f"        Features({list(c.features)!r}),"]
    width = len(c.features)
    for units, activation in zip(c.layers, c.activations):
        init = "he_uniform" if activation in ("relu", "leaky_relu") else "glorot_uniform"
        layers.append(f"        lw.Linear({width}, {units}, init={init!r}),")
        layers.append(f"        lw.{CLASS_NAMES[activation]}(),")
        if c.dropout:
            layers.append(f"        lw.Dropout({c.dropout!r}),")
        width = units
    layers.append(f"        lw.Linear({width}, {outputs}, init='glorot_uniform'),")
    if loss_name == "bce":
        layers.append("        lw.Sigmoid(),")
    optimizer = OPTIMIZER_CODE[c.optimizer].format(lr=lr_events[0][1], wd=c.weight_decay)
    rates = ", ".join(f"({s}, {r!r})" for s, r in lr_events)
    layer_lines = "\n".join(layers)
    features = ", ".join(c.features)
    return f'''"""A layerwise playground run: {c.dataset}, features {features}, {hidden}.

Run ``python {{this file}} [STEPS]``: it trains the page's network on the page's points,
step for step ({steps} steps by default), prints the losses and saves the network.
"""

import sys

import layerwise as lw
from layerwise.layers import Features
{imports}

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else {steps}

{data_code}
y_train = {target.format(part="data.y_train")}
y_test = {target.format(part="data.y_test")}

model = lw.Sequential(
    [
{layer_lines}
    ],
    seed={c.seed},
)
loss = {LOSS_CODE[loss_name]}
optimizer = {optimizer}
session = lw.Session(
    model,
    loss,
    optimizer,
    (data.X_train, y_train),
    batch_size={c.batch_size},
    seed={c.seed},
    validation_data=(data.X_test, y_test),
)

# The learning rate from each step on, as it was set on the page.
RATES = [{rates}]
for i, (start, lr) in enumerate(RATES):
    end = min(RATES[i + 1][0] if i + 1 < len(RATES) else STEPS, STEPS)
    optimizer.lr = lr
    if end > start:
        session.step(end - start)

train = model.evaluate(data.X_train, y_train, loss=loss)
test = model.evaluate(data.X_test, y_test, loss=loss)
print(f"step {{session.steps}}: train loss {{train['loss']:.4f}}, test loss {{test['loss']:.4f}}")
lw.save(model, "playground_run.safetensors")
'''
