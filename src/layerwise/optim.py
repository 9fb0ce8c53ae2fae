"""Optimizers (in order of increasing complexity) and learning-rate schedules.

The update rules, defaults and weight-decay conventions are those of ``torch.optim``, so
trajectories can be compared step for step. An optimizer receives the network's named
``(param, grad)`` pairs at every ``step`` and updates the parameters in place; it keeps
its state (moments, step count) aligned to them and exports it under their names.

When the parameters are views tiling one flat buffer, as ``Sequential`` lays them out,
the update runs once over the whole buffer instead of once per tensor (Adam on a small
net is ~1.3x faster that way; PERF-NOTES). The arithmetic is the same either way.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from layerwise._checks import LayerwiseError, cast, positive_int, real_number


class DivergenceError(LayerwiseError):
    """The loss or a gradient became NaN or infinite; the parameters were not updated."""


def _split(flat: np.ndarray, like: list[np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """Views of ``flat`` shaped as the arrays ``like`` that tile it, by name."""
    views, start = {}, 0
    for name, a in zip(names, like):
        views[name] = flat[start : start + a.size].reshape(a.shape)
        start += a.size
    return views


def flat_base(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The 1-D buffer that ``arrays`` tile in order, or None if they do not."""
    base = arrays[0].base
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    address = base.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous:
            return None
        if a.__array_interface__["data"][0] != address:
            return None
        address += a.nbytes
    return base if address == base.__array_interface__["data"][0] + base.nbytes else None


def _sum_of_squares(arrays: list[np.ndarray]) -> float:
    if len(arrays) == 1:  # one flat buffer: no generator (~1 µs a step on a tiny net)
        return float(np.vdot(arrays[0], arrays[0]))
    return sum(float(np.vdot(a, a)) for a in arrays)


class Optimizer:
    """Base class: binding to parameters, gradient checks and clipping, state export.

    Parameters
    ----------
    lr : float
        Learning rate; a scheduler may change ``optimizer.lr`` during training, while
        ``optimizer.initial_lr`` keeps the value it started from.
    weight_decay : float
        See each optimizer for how it is applied.
    decay_biases : bool, default True
        False: weight decay leaves the biases alone (every parameter with one dimension),
        as scikit-learn's ``alpha`` does; True decays every parameter, as ``torch.optim``.
    clip_value : float or None
        If set, every gradient element is clamped to ``[-clip_value, clip_value]``
        (``torch.nn.utils.clip_grad_value_``) before the update.
    clip_norm : float or None
        If set, gradients are scaled so that their global L2 norm is at most this
        (``torch.nn.utils.clip_grad_norm_``) before the update, after ``clip_value``.
    max_norm : float or None
        If set, a max-norm constraint after every update: each column of every 2-D
        parameter (a ``Linear`` layer's ``W`` is ``(in, out)``, so a column is one unit's
        incoming weights) whose L2 norm exceeds ``max_norm`` is scaled back to it,
        ``w_j <- w_j * min(1, c / ||w_j||)``; biases are left
        alone. Srivastava et al., "Dropout", JMLR 15 (2014), section 5.1, use c = 3-4.
    """

    slots: tuple[str, ...] = ()  # names of the per-parameter state buffers

    def __init__(
        self,
        lr: float,
        *,
        weight_decay: float = 0.0,
        decay_biases: bool = True,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        max_norm: float | None = None,
    ):
        self.lr = self.initial_lr = _non_negative(lr, "lr")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")
        self.decay_biases = bool(decay_biases)
        self.clip_value = None if clip_value is None else _non_negative(clip_value, "clip_value")
        self.clip_norm = None if clip_norm is None else _non_negative(clip_norm, "clip_norm")
        self.max_norm = None if max_norm is None else _positive(max_norm, "max_norm")
        self._weights: list[np.ndarray] = []  # the 2-D parameters max_norm constrains
        self.step_count = 0
        self._key: tuple[int, ...] | None = None
        self._bound: dict | None = None
        self._names: list[str] = []
        self._named: dict[str, dict[str, np.ndarray]] = {}
        self._p: list[np.ndarray] = []
        self._g: list[np.ndarray] = []
        self._scratch: list[np.ndarray] = []
        self._state: dict[str, list[np.ndarray]] = {}
        self._pending: dict[str, np.ndarray] | None = None
        self._decay_masks: list[np.ndarray | None] = []  # 1 on weights, 0 on biases
        self._decays: tuple[float, list] = (math.nan, [])  # see _decay

    @property
    def lr(self) -> float:
        """The learning rate in use, a finite number >= 0: schedulers, callbacks and
        sliders may change it between steps, but not to NaN or a negative rate (which
        would spoil the weights, or climb the loss), so that is refused where it is set."""
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self._lr = real_number(value, f"{type(self).__name__} lr", minimum=0.0)

    def config(self) -> dict:
        """The constructor arguments, JSON-ready (what checkpoints store)."""
        return {"type": type(self).__name__, **self._hyper()}

    def _hyper(self) -> dict:
        return {
            "lr": self.initial_lr,
            "weight_decay": self.weight_decay,
            "decay_biases": self.decay_biases,
            "clip_value": self.clip_value,
            "clip_norm": self.clip_norm,
            # Only when set, so that configs written before max_norm existed read the same.
            **({"max_norm": self.max_norm} if self.max_norm is not None else {}),
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}({args})"

    # -- one step -----------------------------------------------------------------

    def step(self, params) -> None:
        """Update the parameters in place from their gradients.

        Parameters
        ----------
        params : dict[str, (ndarray, ndarray)] or iterable of (ndarray, ndarray)
            ``model.parameters()``, or plain ``(param, grad)`` pairs (named "0", "1", ...).

        Raises
        ------
        DivergenceError
            If a gradient holds NaN or infinity (no parameter is changed), or if the
            update overflowed a parameter (the parameters and state hold the update:
            ``fit`` rolls both back).
        """
        self._bind(params)
        # One dot product per buffer is the cheapest finiteness test (NaN and inf
        # propagate into the sum of squares) and is the norm needed for clipping.
        sq_norm = _sum_of_squares(self._g)
        if not math.isfinite(sq_norm):
            raise DivergenceError("a gradient holds NaN or infinite values")
        if self.clip_value is not None:
            for g in self._g:
                np.clip(g, -self.clip_value, self.clip_value, out=g)
            if self.clip_norm is not None:
                sq_norm = _sum_of_squares(self._g)
        if self.clip_norm is not None:
            scale = self.clip_norm / (math.sqrt(sq_norm) + 1e-6)
            if scale < 1.0:
                for g in self._g:
                    g *= scale
        self.step_count += 1
        self._update()
        if self.max_norm is not None:
            self._constrain_norms()
        # Finite gradients can still overflow the weights (a huge learning rate). Caught
        # here, at the step that did it, nothing after it (the next step, callbacks,
        # checkpoints) sees them; the same one dot product per buffer as above.
        if not math.isfinite(_sum_of_squares(self._p)):
            raise DivergenceError("the update overflowed the weights")

    def _update(self) -> None:
        raise NotImplementedError

    def _constrain_norms(self) -> None:
        """Scale every column of each 2-D parameter whose norm exceeds ``max_norm`` back
        to it; the others are multiplied by exactly 1, so they do not change."""
        c = self.max_norm
        for w in self._weights:
            norms = np.sqrt(np.einsum("ij,ij->j", w, w))  # column norms, no (in, out) temporary
            if norms.max() > c:  # else no pass over w (~0.5 ms a step for 1024 x 1024)
                w *= c / np.maximum(norms, c)  # min(1, c / norm), and no division by 0

    def _decay(self) -> list:
        """The weight decay of each buffer: ``weight_decay`` itself, or with
        ``decay_biases=False`` an array holding it on the weights and 0 on the biases
        (rebuilt only when ``weight_decay`` changes)."""
        wd = self.weight_decay
        if self._decays[0] != wd:
            if self.decay_biases:
                self._decays = (wd, [wd] * len(self._p))
            else:
                self._decays = (wd, [wd * mask for mask in self._decay_masks])
        return self._decays[1]

    def _bind(self, params) -> None:
        """Align the state with ``params`` (a no-op when they are the same as last step)."""
        if params is self._bound:  # fit passes the same dict at every step
            return
        if isinstance(params, dict):
            names, pairs = list(params), list(params.values())
        else:
            pairs = list(params)
            names = [str(i) for i in range(len(pairs))]
        key = tuple(id(p) for p, _ in pairs)
        if key == self._key:
            self._bound = params if isinstance(params, dict) else None
            return
        if not pairs:
            raise LayerwiseError(f"{self!r} got no parameters to optimize.")
        for name, (p, g) in zip(names, pairs):
            if not (isinstance(p, np.ndarray) and isinstance(g, np.ndarray)):
                raise LayerwiseError(f"Parameter {name!r}: expected (ndarray, ndarray) pairs.")
            if p.shape != g.shape or p.dtype != g.dtype or p.dtype.kind != "f":
                raise LayerwiseError(
                    f"Parameter {name!r} has shape {p.shape} ({p.dtype.name}) but its gradient "
                    f"has shape {g.shape} ({g.dtype.name}); they must match and be floats."
                )
        carried = self._export() if self._key is not None else self._pending
        ps, gs = [p for p, _ in pairs], [g for _, g in pairs]
        flat_p, flat_g = flat_base(ps), flat_base(gs)
        masks = [np.full(p.shape, float(p.ndim > 1), p.dtype) for p in ps]  # biases: 1-D
        if flat_p is not None and flat_g is not None:
            self._p, self._g = [flat_p], [flat_g]
            self._state = {slot: [np.zeros_like(flat_p)] for slot in self.slots}
            self._named = {slot: _split(state[0], ps, names) for slot, state in self._state.items()}
            masks = [np.concatenate([m.ravel() for m in masks])]
        else:
            self._p, self._g = ps, gs
            self._state = {slot: [np.zeros_like(p) for p in ps] for slot in self.slots}
            self._named = {slot: dict(zip(names, arrays)) for slot, arrays in self._state.items()}
        self._decay_masks = masks if not self.decay_biases else [None] * len(self._p)
        self._decays = (math.nan, [])
        self._names = names
        self._weights = [p for p in ps if p.ndim == 2]
        # Room for the intermediate terms of an update: a fresh parameter-sized array per
        # term would cost page faults on large networks (~5 % of an MNIST-sized step).
        self._scratch = [np.empty_like(p) for p in self._p]
        if carried:
            self._import(carried)
        self._pending = None
        self._key = key
        self._bound = params if isinstance(params, dict) else None

    # -- state ----------------------------------------------------------------------

    def _export(self) -> dict[str, np.ndarray]:
        return {
            f"{slot}.{name}": view
            for slot in self.slots
            for name, view in self._named[slot].items()
        }

    def _import(self, arrays: dict[str, np.ndarray]) -> None:
        own = self._export()
        if own.keys() != arrays.keys():
            raise LayerwiseError(
                f"{self!r}: saved state is for parameters {sorted(arrays)}, but the model has "
                f"{sorted(own)}. Use a new optimizer for a different model."
            )
        for key, view in own.items():
            if arrays[key].shape != view.shape:
                raise LayerwiseError(
                    f"{self!r}: saved state {key!r} has shape {arrays[key].shape}; "
                    f"expected {view.shape}."
                )
            np.copyto(view, cast(arrays[key], view.dtype, f"saved state {key!r}"))

    def _state_arrays(self) -> list[np.ndarray]:
        return [array for slot in self._state.values() for array in slot]

    def _zero_state(self) -> None:
        """The state before the first step: every moment zero."""
        for array in self._state_arrays():
            array.fill(0)

    def _save_state(self, into: tuple | None = None) -> tuple:
        """A cheap copy of the state for the divergence guard, taken at every epoch (in
        a full-batch run every step): ``state_dict`` builds named copies and costs
        several µs. ``into``, an earlier copy, is overwritten in place."""
        arrays = self._state_arrays()
        if into is not None and len(into[2]) == len(arrays):
            copies = into[2]
            for copy, array in zip(copies, arrays):
                np.copyto(copy, array)
        else:
            copies = [a.copy() for a in arrays]
        return self.step_count, self.lr, copies, self._pending

    def _load_state(self, saved: tuple) -> None:
        """Go back to a :meth:`_save_state` copy."""
        self.step_count, self.lr, copies, pending = saved
        arrays = self._state_arrays()
        if len(copies) == len(arrays):
            for array, copy in zip(arrays, copies):
                np.copyto(array, copy)
        elif pending:  # saved before the first step bound the state to loaded buffers
            self._import(pending)
        else:  # saved before the first step
            self._zero_state()
        self._pending = None if self._key is not None else pending

    def reset(self) -> None:
        """Forget the state (moments, step count) and go back to ``initial_lr``."""
        self.step_count, self.lr, self._pending = 0, self.initial_lr, None
        self._zero_state()

    def state_dict(self) -> dict:
        """The optimizer's state: ``{"step": int, "lr": float, "buffers": {name: array}}``.

        Buffers are copies named ``"<slot>.<parameter>"``, e.g. ``"exp_avg.0.W"``.
        """
        buffers = self._export() if self._key is not None else dict(self._pending or {})
        return {
            "step": self.step_count,
            "lr": self.lr,
            "buffers": {k: np.array(v, copy=True) for k, v in buffers.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output (before or after the first step)."""
        try:
            step, lr, buffers = state["step"], state["lr"], dict(state["buffers"])
        except (KeyError, TypeError, ValueError) as e:
            raise LayerwiseError(f"{self!r}: bad optimizer state ({e!r}).") from e
        expected = {f"{slot}." for slot in self.slots}
        for key, value in buffers.items():
            if not any(key.startswith(prefix) for prefix in expected):
                raise LayerwiseError(f"{self!r}: unexpected state buffer {key!r}.")
            finite = isinstance(value, np.ndarray) and value.dtype.kind == "f"
            if not finite or not np.isfinite(value).all():
                raise LayerwiseError(f"{self!r}: state buffer {key!r} is not a finite array.")
        whole = isinstance(step, (int, np.integer)) and not isinstance(step, (bool, np.bool_))
        rate = isinstance(lr, (int, float, np.number)) and not isinstance(lr, (bool, np.bool_))
        if not whole or step < 0 or not rate or not math.isfinite(lr) or lr < 0:
            raise LayerwiseError(f"{self!r}: bad step {step!r} or lr {lr!r} in saved state.")
        step, lr = int(step), float(lr)
        if self._key is None:
            self._pending = buffers
        elif not buffers and step == 0:  # a state from before the first step
            self._zero_state()
        else:
            self._import(buffers)
        self.step_count, self.lr = step, lr


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum, Nesterov and weight decay.

    As ``torch.optim.SGD`` (dampening 0): with :math:`g_t = \nabla f + \lambda \theta`,

    .. math::
        b_t = \mu b_{t-1} + g_t, \qquad
        \theta_t = \theta_{t-1} - \eta\,(g_t + \mu b_t \text{ if Nesterov else } b_t)

    and :math:`\theta_t = \theta_{t-1} - \eta g_t` without momentum.

    References: Sutskever et al., "On the importance of initialization and momentum in
    deep learning" (ICML 2013).
    """

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        decay_biases: bool = True,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        max_norm: float | None = None,
    ):
        super().__init__(
            lr,
            weight_decay=weight_decay,
            decay_biases=decay_biases,
            clip_value=clip_value,
            clip_norm=clip_norm,
            max_norm=max_norm,
        )
        self.momentum = _non_negative(momentum, "momentum")
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise LayerwiseError("SGD(nesterov=True) needs a momentum > 0.")
        self.slots = ("momentum_buffer",) if self.momentum else ()

    def _hyper(self) -> dict:
        return {"momentum": self.momentum, "nesterov": self.nesterov, **super()._hyper()}

    def _update(self) -> None:
        lr, mu = self.lr, self.momentum
        buffers = self._state.get("momentum_buffer", [None] * len(self._p))
        decays = self._decay()
        for theta, g, b, step, wd in zip(self._p, self._g, buffers, self._scratch, decays):
            if self.weight_decay:
                g = g + wd * theta
            if mu:
                b *= mu
                b += g  # on the first step b = 0, so b = g, as torch starts it
                g = g + mu * b if self.nesterov else b
            np.multiply(g, lr, out=step)
            theta -= step


class RMSProp(Optimizer):
    r"""RMSProp, as ``torch.optim.RMSprop`` (eps outside the square root).

    .. math::
        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2, \qquad
        \theta_t = \theta_{t-1} - \eta\, g_t / (\sqrt{v_t} + \epsilon)

    With ``centered``, :math:`v_t - \bar g_t^2` replaces :math:`v_t` (:math:`\bar g_t` a
    running mean of the gradient); with ``momentum`` :math:`\mu`, the step
    :math:`g_t / (\sqrt{v_t} + \epsilon)` feeds a buffer :math:`b_t = \mu b_{t-1} + \cdot`.
    Weight decay is L2 added to the gradient.

    References: Hinton, "Neural Networks for Machine Learning", lecture 6e (2012).
    """

    def __init__(
        self,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
        *,
        decay_biases: bool = True,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        max_norm: float | None = None,
    ):
        super().__init__(
            lr,
            weight_decay=weight_decay,
            decay_biases=decay_biases,
            clip_value=clip_value,
            clip_norm=clip_norm,
            max_norm=max_norm,
        )
        self.alpha = _fraction(alpha, "alpha")
        self.eps = _non_negative(eps, "eps")
        self.momentum = _non_negative(momentum, "momentum")
        self.centered = bool(centered)
        self.slots = (
            ("square_avg",)
            + (("grad_avg",) if self.centered else ())
            + (("momentum_buffer",) if self.momentum else ())
        )

    def _hyper(self) -> dict:
        return {
            "alpha": self.alpha,
            "eps": self.eps,
            "momentum": self.momentum,
            "centered": self.centered,
            **super()._hyper(),
        }

    def _update(self) -> None:
        lr, alpha, eps, mu = self.lr, self.alpha, self.eps, self.momentum
        decays = self._decay()
        for i, (theta, g, step, wd) in enumerate(zip(self._p, self._g, self._scratch, decays)):
            if self.weight_decay:
                g = g + wd * theta
            v = self._state["square_avg"][i]
            v *= alpha
            np.multiply(g, g, out=step)
            step *= 1 - alpha
            v += step  # v = alpha v + (1 - alpha) g^2
            if self.centered:
                g_avg = self._state["grad_avg"][i]
                g_avg *= alpha
                g_avg += (1 - alpha) * g
                np.multiply(g_avg, g_avg, out=step)
                np.subtract(v, step, out=step)
                np.sqrt(step, out=step)
            else:
                np.sqrt(v, out=step)
            step += eps
            np.divide(g, step, out=step)  # g / (sqrt(v) + eps)
            if mu:
                b = self._state["momentum_buffer"][i]
                b *= mu
                b += step
                np.multiply(b, lr, out=step)
            else:
                step *= lr
            theta -= step


class Adam(Optimizer):
    r"""Adam, as ``torch.optim.Adam``; ``weight_decay`` is L2 added to the gradient.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \theta_t = \theta_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
                   \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    References: Kingma & Ba, "Adam: A method for stochastic optimization" (ICLR 2015).
    """

    slots = ("exp_avg", "exp_avg_sq")
    _decoupled = False

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        decay_biases: bool = True,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        max_norm: float | None = None,
    ):
        super().__init__(
            lr,
            weight_decay=weight_decay,
            decay_biases=decay_biases,
            clip_value=clip_value,
            clip_norm=clip_norm,
            max_norm=max_norm,
        )
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise LayerwiseError(f"betas must be a pair (beta1, beta2); got {betas!r}.")
        self.betas = (_fraction(betas[0], "betas[0]"), _fraction(betas[1], "betas[1]"))
        self.eps = _non_negative(eps, "eps")

    def _hyper(self) -> dict:
        return {"betas": list(self.betas), "eps": self.eps, **super()._hyper()}

    def _update(self) -> None:
        lr, (beta1, beta2), eps = self.lr, self.betas, self.eps
        t = self.step_count
        # torch's m / (sqrt(v) / c + eps) * lr / (1 - beta1^t), with c = sqrt(1 - beta2^t),
        # rearranged as m / (sqrt(v) + eps c) * (lr c / (1 - beta1^t)): one pass less.
        c = math.sqrt(1 - beta2**t)
        step_size = lr * c / (1 - beta1**t)
        eps_c = eps * c
        m_all, v_all = self._state["exp_avg"], self._state["exp_avg_sq"]
        state = zip(self._p, self._g, m_all, v_all, self._scratch, self._decay())
        for theta, g, m, v, step, wd in state:
            if self.weight_decay and self._decoupled:
                theta *= 1 - lr * wd
            elif self.weight_decay:
                g = g + wd * theta
            m *= beta1
            np.multiply(g, 1 - beta1, out=step)
            m += step  # m = beta1 m + (1 - beta1) g
            v *= beta2
            np.multiply(g, g, out=step)
            step *= 1 - beta2
            v += step  # v = beta2 v + (1 - beta2) g^2
            np.sqrt(v, out=step)
            step += eps_c
            np.divide(m, step, out=step)
            step *= step_size
            theta -= step


class AdamW(Adam):
    r"""Adam with decoupled weight decay, as ``torch.optim.AdamW`` (default 1e-2).

    Before the Adam step, :math:`\theta \leftarrow \theta (1 - \eta \lambda)`; the
    gradient itself is not changed.

    References: Loshchilov & Hutter, "Decoupled weight decay regularization" (ICLR 2019).
    """

    _decoupled = True

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        *,
        decay_biases: bool = True,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        max_norm: float | None = None,
    ):
        super().__init__(
            lr,
            betas,
            eps,
            weight_decay,
            decay_biases=decay_biases,
            clip_value=clip_value,
            clip_norm=clip_norm,
            max_norm=max_norm,
        )


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
}


def get(optimizer, **kwargs) -> Optimizer:
    """Return ``optimizer`` if it is one, else build it by name with ``kwargs``."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    try:
        cls = OPTIMIZERS[optimizer.lower()]
    except (KeyError, AttributeError):
        raise LayerwiseError(
            f"Unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)}."
        ) from None
    return cls(**kwargs)


def from_config(config: dict) -> Optimizer:
    """Rebuild an optimizer from :meth:`Optimizer.config`."""
    if not isinstance(config, dict) or config.get("type") not in {
        c.__name__ for c in OPTIMIZERS.values()
    }:
        raise LayerwiseError(f"Bad optimizer description {config!r}.")
    kwargs = {k: v for k, v in config.items() if k != "type"}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    try:
        return OPTIMIZERS[config["type"].lower()](**kwargs)
    except TypeError as e:
        raise LayerwiseError(f"Bad optimizer arguments {kwargs}: {e}") from e


# -- learning-rate schedules --------------------------------------------------------
#
# A schedule maps a count ``t`` (epochs or steps done, chosen by the
# ``LearningRateScheduler`` callback) and the initial rate to the rate to use. They keep
# no state, so a resumed run gets exactly the rates of an uninterrupted one.


class Schedule:
    """Base class: ``schedule(t, base_lr) -> lr``."""

    def __call__(self, t: int, base_lr: float) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k[0] != "_")
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` counts (torch's ``StepLR``)."""

    def __init__(self, step_size: int, gamma: float = 0.1):
        if not isinstance(step_size, int) or step_size < 1:
            raise LayerwiseError(f"step_size must be a positive integer; got {step_size!r}.")
        self.step_size, self.gamma = step_size, _non_negative(gamma, "gamma")

    def __call__(self, t: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (t // self.step_size)


class ExponentialDecay(Schedule):
    """``lr = base_lr * gamma ** t`` (torch's ``ExponentialLR``)."""

    def __init__(self, gamma: float):
        self.gamma = _non_negative(gamma, "gamma")

    def __call__(self, t: int, base_lr: float) -> float:
        return base_lr * self.gamma**t


class CosineDecay(Schedule):
    r"""Cosine annealing from ``base_lr`` to ``min_lr`` over ``t_max`` counts, then flat.

    :math:`\eta_t = \eta_{min} + (\eta_0 - \eta_{min}) (1 + \cos(\pi t / T)) / 2`
    (torch's ``CosineAnnealingLR`` closed form; Loshchilov & Hutter, SGDR, 2017).
    """

    def __init__(self, t_max: int, min_lr: float = 0.0):
        if not isinstance(t_max, int) or t_max < 1:
            raise LayerwiseError(f"t_max must be a positive integer; got {t_max!r}.")
        self.t_max, self.min_lr = t_max, _non_negative(min_lr, "min_lr")

    def __call__(self, t: int, base_lr: float) -> float:
        t = min(t, self.t_max)
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * t / self.t_max)) / 2


class LinearWarmup(Schedule):
    """Ramp linearly from ``start_factor * base_lr`` to ``base_lr`` over ``warmup`` counts,
    then follow ``after`` (counted from the end of the warm-up), or stay at ``base_lr``.

    As torch's ``LinearLR`` chained with another schedule by ``SequentialLR``.
    """

    def __init__(self, warmup: int, start_factor: float = 1 / 3, after: Schedule | None = None):
        if not isinstance(warmup, int) or warmup < 1:
            raise LayerwiseError(f"warmup must be a positive integer; got {warmup!r}.")
        self.warmup, self.start_factor, self.after = (
            warmup,
            _fraction(start_factor, "start_factor"),
            after,
        )

    def __call__(self, t: int, base_lr: float) -> float:
        if t < self.warmup:
            return base_lr * (self.start_factor + (1 - self.start_factor) * t / self.warmup)
        return base_lr if self.after is None else self.after(t - self.warmup, base_lr)


class MultiStepDecay(Schedule):
    """Multiply the rate by ``gamma`` at each milestone (torch's ``MultiStepLR``).

    ``lr = base_lr * gamma ** k``, with ``k`` the number of milestones ``<= t``.

    Parameters
    ----------
    milestones : sequence of int
        The counts at which the rate drops, increasing, e.g. ``(30, 80)``.
    gamma : float, default 0.1

    Examples
    --------
    >>> [MultiStepDecay([2, 4], gamma=0.5)(t, 1.0) for t in range(6)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, milestones, gamma: float = 0.1):
        self.milestones = _milestones(milestones, "milestones", minimum=0)
        self.gamma = _non_negative(gamma, "gamma")

    def __call__(self, t: int, base_lr: float) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, t)


class PolynomialDecay(Schedule):
    r"""Decay to 0 along a polynomial over ``total_iters`` counts, then stay at 0.

    :math:`\eta_t = \eta_0 (1 - \min(t, T) / T)^p` (torch's ``PolynomialLR``; ``power=1``
    is a straight line).

    Parameters
    ----------
    total_iters : int
        :math:`T`, the counts until the rate reaches 0.
    power : float, default 1.0
        :math:`p`.
    """

    def __init__(self, total_iters: int, power: float = 1.0):
        self.total_iters = positive_int(total_iters, "total_iters")
        self.power = _non_negative(power, "power")

    def __call__(self, t: int, base_lr: float) -> float:
        return base_lr * (1.0 - min(t, self.total_iters) / self.total_iters) ** self.power


class CosineWarmRestarts(Schedule):
    r"""Cosine annealing from ``base_lr`` to ``min_lr`` that restarts every cycle (SGDR).

    :math:`\eta_t = \eta_{min} + (\eta_0 - \eta_{min}) (1 + \cos(\pi T_{cur} / T_i)) / 2`,
    with :math:`T_{cur}` the counts since the last restart and :math:`T_i` the length of
    the current cycle: ``t_0`` for the first, ``t_mult`` times the previous one after.
    As torch's ``CosineAnnealingWarmRestarts``, whose recursion this computes in closed
    form with integers, so the rates are the same floats.

    Parameters
    ----------
    t_0 : int
        Length of the first cycle.
    t_mult : int, default 1
        Growth of the cycle length at each restart (1: all cycles the same).
    min_lr : float, default 0.0
        :math:`\eta_{min}` (torch's ``eta_min``).

    References: Loshchilov & Hutter, "SGDR: Stochastic gradient descent with warm
    restarts" (ICLR 2017).
    """

    def __init__(self, t_0: int, t_mult: int = 1, min_lr: float = 0.0):
        self.t_0 = positive_int(t_0, "t_0")
        self.t_mult = positive_int(t_mult, "t_mult")
        self.min_lr = _non_negative(min_lr, "min_lr")

    def __call__(self, t: int, base_lr: float) -> float:
        t_i, t_cur = self.t_0, t
        if self.t_mult == 1:
            t_cur = t % self.t_0
        while t_cur >= t_i:  # at most log(t) cycles when they grow
            t_cur -= t_i
            t_i *= self.t_mult
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


def _anneal_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


_ANNEALING = {"cos": _anneal_cos, "linear": _anneal_linear}


class OneCycle(Schedule):
    r"""The 1cycle policy: up from ``max_lr / div_factor`` to ``max_lr``, then far below.

    As torch's ``OneCycleLR`` (counted in steps, ``per="step"``): over the first
    ``pct_start`` of ``total_steps`` the rate anneals from
    :math:`\eta_{init} = \eta_{max} / d` to :math:`\eta_{max}`, then to
    :math:`\eta_{init} / d_{final}` at the last step. With ``three_phase`` it comes back
    down to :math:`\eta_{init}` over as many steps as it went up, then anneals to the
    minimum (the paper's form; the default two phases are fastai's). Past the last step
    the rate stays at the minimum (torch raises there).

    The rate comes from ``max_lr`` alone: the ``base_lr`` argument (the optimizer's own
    ``lr``) is ignored, as torch overwrites ``initial_lr``. torch's ``OneCycleLR`` also
    cycles the momentum (``cycle_momentum=True``: 0.95 down to 0.85 and back); a schedule
    sets only the rate, so this one does not (it equals torch with
    ``cycle_momentum=False``).

    Parameters
    ----------
    max_lr : float
        :math:`\eta_{max}`, the peak rate.
    total_steps : int
        The steps of the whole cycle (``epochs * steps_per_epoch``).
    pct_start : float, default 0.3
        Fraction of the steps spent going up (at most 0.5 with ``three_phase``).
    anneal_strategy : {"cos", "linear"}
    div_factor : float, default 25.0
        :math:`d`: the first rate is ``max_lr / div_factor``.
    final_div_factor : float, default 1e4
        :math:`d_{final}`: the last rate is ``max_lr / div_factor / final_div_factor``.
    three_phase : bool, default False

    Examples
    --------
    >>> schedule = OneCycle(0.1, total_steps=100)
    >>> round(schedule(0, None), 15), schedule(29, None), schedule(99, None)
    (0.004, 0.1, 4e-07)

    References: Smith & Topin, "Super-convergence: very fast training of neural networks
    using large learning rates" (arXiv:1708.07120, 2017); Smith, "A disciplined approach
    to neural network hyper-parameters: part 1" (arXiv:1803.09820, 2018).
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        *,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ):
        self.max_lr = real_number(max_lr, "max_lr", minimum=0.0, strict=True)
        self.total_steps = positive_int(total_steps, "total_steps")
        self.pct_start = _fraction(pct_start, "pct_start")
        if anneal_strategy not in _ANNEALING:
            raise LayerwiseError(
                f"Unknown anneal_strategy {anneal_strategy!r}; known: {', '.join(_ANNEALING)}."
            )
        self.anneal_strategy = anneal_strategy
        self.div_factor = real_number(div_factor, "div_factor", minimum=0.0, strict=True)
        self.final_div_factor = real_number(
            final_div_factor, "final_div_factor", minimum=0.0, strict=True
        )
        self.three_phase = bool(three_phase)
        if self.three_phase and self.pct_start > 0.5:
            raise LayerwiseError(
                f"OneCycle(three_phase=True) goes up and down over 2 * pct_start of the steps, "
                f"so pct_start must be at most 0.5; got {pct_start!r}."
            )
        # torch's phases: (last step of the phase, rate at its start, rate at its end).
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        up = float(self.pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        if self.three_phase:
            down = float(2 * self.pct_start * self.total_steps) - 2
            self._phases = [(up, initial, self.max_lr), (down, self.max_lr, initial)]
            self._phases.append((last, initial, final))
        else:
            self._phases = [(up, initial, self.max_lr), (last, self.max_lr, final)]

    def __call__(self, t: int, base_lr: float) -> float:
        t = min(t, self.total_steps - 1)
        start = 0.0
        for i, (end, lr_start, lr_end) in enumerate(self._phases):
            if t <= end or i == len(self._phases) - 1:
                # A phase one step long (torch divides by zero) is at its end rate.
                pct = (t - start) / (end - start) if end != start else 1.0
                return _ANNEALING[self.anneal_strategy](lr_start, lr_end, pct)
            start = end
        raise AssertionError("unreachable: the last phase takes every t")


class SequentialSchedule(Schedule):
    """One schedule after another, each counted from its milestone (torch's
    ``SequentialLR``).

    ``schedules[i]`` runs from ``milestones[i - 1]`` (0 for the first) with the count
    ``t - milestones[i - 1]``; every schedule gets the same ``base_lr``. E.g. a warm-up
    over 5 counts then a cosine decay over 95::

        SequentialSchedule([LinearWarmup(5), CosineDecay(95)], milestones=[5])

    which is ``LinearWarmup(5, after=CosineDecay(95))``.

    Parameters
    ----------
    schedules : sequence of Schedule or callable (t, base_lr) -> lr
    milestones : sequence of int
        Increasing positive counts, one fewer than ``schedules``.
    """

    def __init__(self, schedules, milestones):
        if not isinstance(schedules, (list, tuple)) or not schedules:
            raise LayerwiseError(
                f"SequentialSchedule needs a non-empty list of schedules; got {schedules!r}."
            )
        for i, schedule in enumerate(schedules):
            if not callable(schedule):
                raise LayerwiseError(
                    f"schedules[{i}] must be a schedule, callable (t, base_lr) -> lr; "
                    f"got {schedule!r}."
                )
        self.schedules = list(schedules)
        self.milestones = _milestones(milestones, "milestones", minimum=1)
        if len(self.milestones) != len(self.schedules) - 1:
            raise LayerwiseError(
                f"SequentialSchedule needs one milestone fewer than schedules (where each "
                f"next one starts): got {len(self.schedules)} schedules and milestones "
                f"{list(self.milestones)!r}."
            )

    def __call__(self, t: int, base_lr: float) -> float:
        i = bisect.bisect_right(self.milestones, t)
        start = self.milestones[i - 1] if i else 0
        return self.schedules[i](t - start, base_lr)


def _milestones(values, name: str, *, minimum: int) -> tuple[int, ...]:
    """``values`` as a tuple of increasing integers ``>= minimum``."""
    try:
        counts = tuple(values)
    except TypeError:
        raise LayerwiseError(f"{name} must be a list of integers; got {values!r}.") from None
    for count in counts:
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < minimum:
            raise LayerwiseError(f"{name} must be integers >= {minimum}; got {list(counts)!r}.")
    if any(b <= a for a, b in zip(counts, counts[1:])):
        raise LayerwiseError(f"{name} must be strictly increasing; got {list(counts)!r}.")
    return tuple(int(c) for c in counts)


def _non_negative(value, name: str) -> float:
    return real_number(value, name, minimum=0.0)


def _positive(value, name: str) -> float:
    value = _non_negative(value, name)
    if value == 0:
        raise LayerwiseError(f"{name} must be > 0; got {value!r}.")
    return value


def _fraction(value, name: str) -> float:
    value = _non_negative(value, name)
    if value > 1:
        raise LayerwiseError(f"{name} must be in [0, 1]; got {value!r}.")
    return value


__all__ = [
    "Optimizer",
    "SGD",
    "RMSProp",
    "Adam",
    "AdamW",
    "DivergenceError",
    "Schedule",
    "StepDecay",
    "ExponentialDecay",
    "CosineDecay",
    "LinearWarmup",
    "MultiStepDecay",
    "PolynomialDecay",
    "CosineWarmRestarts",
    "OneCycle",
    "SequentialSchedule",
]
