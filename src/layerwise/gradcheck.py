"""Finite-difference gradient checks, usable on the user's own layers and networks.

For every parameter element (and every input element) the loss is evaluated at
``theta + eps`` and ``theta - eps`` in float64; the central difference
``(L(theta + eps) - L(theta - eps)) / (2 eps)`` is compared with the gradient that
``backward`` computed. The error reported per tensor is

    max |analytic - numeric| / max(max |analytic|, max |numeric|, floor)

The difference quotient carries rounding noise of about ``u |L| / eps`` (``u`` the
float64 unit roundoff, ``L`` the loss), so a tensor whose gradient is smaller than
that noise divided by the tolerance cannot be checked in relative terms; the
``floor = 10 u max(1, |L|) / (eps * tolerance)`` (2.2e-3 |L| at the defaults) compares
such tensors, e.g. gradients that are exactly zero, in absolute terms instead.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from layerwise import losses as _losses
from layerwise._checks import LayerwiseError, check_seed, numeric_array, positive_int, real_number
from layerwise.network import Sequential


@dataclass
class GradcheckReport:
    """Result of :func:`gradcheck`.

    Attributes
    ----------
    errors : dict[str, float]
        Max relative error per parameter name, and ``"input"``.
    shapes : dict[str, tuple]
    tolerance : float
    """

    errors: dict[str, float]
    shapes: dict[str, tuple]
    tolerance: float

    @property
    def ok(self) -> bool:
        return all(e <= self.tolerance for e in self.errors.values())

    @property
    def failures(self) -> list[str]:
        return [name for name, e in self.errors.items() if not e <= self.tolerance]

    @property
    def max_error(self) -> float:
        return max(self.errors.values())

    def __str__(self) -> str:
        verdict = "OK" if self.ok else f"FAILED for {', '.join(self.failures)}"
        lines = [
            f"gradcheck {verdict}: max relative error {self.max_error:.2e} "
            f"(tolerance {self.tolerance:.0e})",
            f"{'tensor':<12} {'shape':<14} {'rel. error':>10}",
        ]
        for name, err in self.errors.items():
            mark = "ok" if err <= self.tolerance else "WRONG GRADIENT"
            lines.append(f"{name:<12} {str(self.shapes[name]):<14} {err:>10.2e}  {mark}")
        return "\n".join(lines)


def gradcheck(
    model,
    x,
    y,
    loss,
    *,
    eps: float = 1e-6,
    tolerance: float = 1e-6,
    training: bool = False,
    max_elements: int | None = 2000,
    seed: int = 0,
    raise_on_failure: bool = False,
) -> GradcheckReport:
    """Compare ``backward``'s gradients with central finite differences, in float64.

    Parameters
    ----------
    model : Sequential or Layer
        Checked on a float64 copy; the original is not touched.
    x : array (n, features)
    y : targets for ``loss``
    loss : Loss or str
    eps : float > 0, default 1e-6
        Step of the central difference.
    tolerance : float > 0, default 1e-6
        Largest acceptable relative error (see the module docstring); 0 would make the
        absolute floor infinite and pass every gradient.
    training : bool, default False
        Run in training mode; random layers (e.g. ``Dropout``) then draw the same mask
        at every evaluation.
    max_elements : positive int or None, default 2000
        Check at most this many randomly chosen elements per tensor (None: all).
    seed : int
        Chooses those elements.
    raise_on_failure : bool, default False
        Raise ``LayerwiseError`` with the report instead of returning a failing one.

    Returns
    -------
    GradcheckReport
        ``.ok``, ``.errors`` per tensor and a readable table as ``str(report)``.

    Raises
    ------
    LayerwiseError
        For an ``eps``, ``tolerance`` or ``max_elements`` that would check nothing (0,
        negative, not finite), an empty ``x``, and with ``raise_on_failure``.

    Examples
    --------
    >>> report = lw.gradcheck(model, X[:8], y[:8], lw.CrossEntropy())
    >>> report.ok
    True
    """
    eps = real_number(eps, "gradcheck eps", minimum=0.0, strict=True)
    tolerance = real_number(tolerance, "gradcheck tolerance", minimum=0.0, strict=True)
    if 10 * np.finfo(np.float64).eps > eps * tolerance:
        raise LayerwiseError(
            f"gradcheck: eps={eps:g} with tolerance={tolerance:g} cannot tell a wrong gradient "
            "from rounding noise: the noise floor would exceed the loss itself, and every "
            "gradient would pass. Use eps * tolerance >= 2.2e-15 (the defaults give 1e-12)."
        )
    if max_elements is not None:
        max_elements = positive_int(max_elements, "gradcheck max_elements")
    seed = check_seed(seed, "gradcheck seed")
    loss = _losses.get(loss)
    net = _float64_copy(model)
    x = numeric_array(x, "x").astype(np.float64)
    if x.ndim == 0 or x.shape[0] == 0:
        raise LayerwiseError(f"gradcheck needs at least one sample in x; got shape {x.shape}.")
    y = numeric_array(y, "y")
    y = y.astype(np.float64) if y.dtype.kind == "f" else y
    rngs = [(layer, layer.rng.bit_generator.state) for layer in net.layers if hasattr(layer, "rng")]

    def evaluate() -> float:
        for layer, state in rngs:  # the same random draws at every point
            layer.rng.bit_generator.state = state
        return loss.forward(net.forward(x, training), y)

    value = evaluate()
    input_grad = np.array(net.backward(loss.backward()), dtype=np.float64)
    tensors = {name: (p, g.copy()) for name, (p, g) in net.parameters().items()}
    tensors["input"] = (x, input_grad)
    floor = 10 * np.finfo(np.float64).eps * max(1.0, abs(value)) / (eps * tolerance)
    pick = np.random.default_rng(seed)
    errors, shapes = {}, {}
    for name, (array, analytic) in tensors.items():
        flat = array.reshape(-1)  # a view: writing it moves the parameter or input
        count = flat.size if max_elements is None else min(max_elements, flat.size)
        indices = pick.choice(flat.size, size=count, replace=False)
        numeric = np.empty(count)
        for j, i in enumerate(indices):
            original = flat[i]
            flat[i] = original + eps
            upper = evaluate()
            flat[i] = original - eps
            lower = evaluate()
            flat[i] = original
            numeric[j] = (upper - lower) / (2 * eps)
        exact = analytic.reshape(-1)[indices]
        scale = max(np.abs(exact).max(initial=0), np.abs(numeric).max(initial=0), floor)
        errors[name] = float(np.abs(exact - numeric).max(initial=0) / scale)
        shapes[name] = array.shape
    report = GradcheckReport(errors, shapes, tolerance)
    if raise_on_failure and not report.ok:
        raise LayerwiseError(str(report))
    return report


def _float64_copy(model) -> Sequential:
    if isinstance(model, Sequential):
        return model.copy(dtype=np.float64)
    if hasattr(model, "params") and hasattr(model, "forward"):
        return Sequential._wrap([copy.deepcopy(model)], np.float64)
    raise LayerwiseError(f"gradcheck needs a Sequential or a Layer; got {type(model).__name__}.")
