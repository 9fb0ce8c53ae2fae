r"""Losses (Torch7's "criterions"): ``value = loss(pred, target)``, then ``loss.backward()``.

``forward`` checks the target against the prediction (``prepare``), returns the mean
loss as a float and caches what ``backward`` needs; ``backward`` returns ``dL/dpred``
with the ``1/n`` of the mean already in it, so layers never divide by the batch size.
Reductions follow
``torch.nn.functional``: ``MSE``, ``MAE`` and ``BinaryCrossEntropy`` average over every
element, ``CrossEntropy`` over the batch.

A loop that has checked all its targets once (as ``fit`` does with
``y = loss.prepare(pred_like, y)``) passes ``check=False`` to skip the checks per batch.

Every loss takes ``sample_weight``, one non-negative weight per row: the mean becomes
the weighted mean :math:`\sum_i w_i \ell_i / \sum_i w_i` (each row's :math:`\ell_i`
averaged over its outputs, except for ``CrossEntropy``), so a weight of 2 counts a row
twice, exactly as if it were repeated (torch's class weights are normalized the same
way). A batch whose weights are all 0 has loss 0 and gradient 0.
"""

from __future__ import annotations

import math

import numpy as np

from layerwise._checks import LayerwiseError, check_finite, check_sample_weight, numeric_array
from layerwise.activations import Sigmoid

# Machine epsilon by dtype code: np.finfo is a Python-level lookup at every call.
_EPS = {np.dtype(t).char: np.finfo(t).eps for t in (np.float32, np.float64)}


class Loss:
    """Base class: subclasses implement ``forward(pred, target, *, check=True,
    sample_weight=None) -> float`` and ``backward()``, and may refine ``prepare`` and
    offer ``backward_through``.

    ``classification`` tells the training loop whether an accuracy is meaningful.
    """

    classification = False

    def __call__(self, pred: np.ndarray, target) -> float:
        return self.forward(pred, target)

    def forward(self, pred: np.ndarray, target, *, check: bool = True, sample_weight=None) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def _row_scale(self, pred: np.ndarray, sample_weight, check: bool) -> np.ndarray:
        r"""What each row's element losses are multiplied by to make the weighted mean:
        :math:`w_i / (\sum_j w_j \cdot m)`, ``(n, 1)`` in pred's dtype, with ``m`` the
        outputs a row's loss is averaged over (1 for ``CrossEntropy``)."""
        if check:
            sample_weight = check_sample_weight(sample_weight, len(pred), f"{self!r}")
        w = np.asarray(sample_weight, dtype=pred.dtype).reshape(-1, 1)
        total = float(w.sum()) * (1 if isinstance(self, CrossEntropy) else pred.shape[1])
        return w * (1.0 / total) if total > 0 else np.zeros_like(w)

    def backward_through(self, layer) -> np.ndarray | None:
        """The gradient at the input of ``layer``, the layer that produced the last ``pred``,
        when this loss has a fused formula for it; else None (then use ``backward``).

        ``BinaryCrossEntropy`` after a ``Sigmoid`` gives :math:`(p - t) / N` this way.
        """
        return None

    def prepare(self, pred: np.ndarray, target) -> np.ndarray:
        """Check ``target`` against ``pred`` and return it as ``forward`` uses it.

        Here: an array of pred's shape and dtype; ``(n,)`` is accepted for ``(n, 1)``.
        Only the shape and dtype of ``pred`` are used.

        Raises
        ------
        LayerwiseError
            For a target of another shape, non-numeric or holding NaN or infinity.
        """
        self._check_pred(pred)
        target = numeric_array(target, f"{self!r} target")
        given = target.shape
        if target.ndim == 1 and pred.shape[1] == 1:
            target = target.reshape(-1, 1)
        if target.shape != pred.shape:
            raise LayerwiseError(
                f"{self!r}: target shape {given} does not match prediction shape "
                f"{pred.shape}. Targets must be (samples, outputs), or (samples,) for a "
                "network with one output."
            )
        check_finite(target, f"{self!r} target")
        return target.astype(pred.dtype, copy=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _not_run(self) -> LayerwiseError:
        return LayerwiseError(f"{self!r}.backward was called before forward.")

    def _check_pred(self, pred: np.ndarray) -> None:
        if not isinstance(pred, np.ndarray) or pred.ndim != 2 or pred.dtype.kind != "f":
            shape = getattr(pred, "shape", None)
            raise LayerwiseError(
                f"{self!r} expects predictions as a 2-D float array (samples, outputs); "
                f"got {type(pred).__name__} with shape {shape}."
            )
        if pred.shape[0] == 0:
            raise LayerwiseError(f"{self!r} got an empty batch (shape {pred.shape}).")
        # A NaN prediction is not checked here: it gives a NaN loss, which the training
        # loop's divergence guard reports (and torch returns NaN as well).


class MSE(Loss):
    r"""Mean squared error :math:`L = \frac{1}{N} \sum (p - t)^2` over all N elements.

    Backward: :math:`dL/dp = 2 (p - t) / N`.
    """

    def __init__(self) -> None:
        self._diff, self._scale = None, None

    def forward(self, pred: np.ndarray, target, *, check: bool = True, sample_weight=None) -> float:
        self._diff = pred - (self.prepare(pred, target) if check else target)
        if sample_weight is None:
            self._scale = 1.0 / self._diff.size
            return float(np.vdot(self._diff, self._diff)) / self._diff.size
        self._scale = self._row_scale(pred, sample_weight, check)
        return float(np.vdot(self._diff * self._scale, self._diff))

    def backward(self) -> np.ndarray:
        if self._diff is None:
            raise self._not_run()
        return self._diff * (2.0 * self._scale)


class MAE(Loss):
    r"""Mean absolute error :math:`L = \frac{1}{N} \sum |p - t|` over all N elements.

    Backward: :math:`dL/dp = \mathrm{sign}(p - t) / N` (0 where :math:`p = t`, as torch).
    """

    def __init__(self) -> None:
        self._diff, self._scale = None, None

    def forward(self, pred: np.ndarray, target, *, check: bool = True, sample_weight=None) -> float:
        self._diff = pred - (self.prepare(pred, target) if check else target)
        if sample_weight is None:
            self._scale = 1.0 / self._diff.size
            return float(np.abs(self._diff).sum()) / self._diff.size
        self._scale = self._row_scale(pred, sample_weight, check)
        return float((np.abs(self._diff) * self._scale).sum())

    def backward(self) -> np.ndarray:
        if self._diff is None:
            raise self._not_run()
        return np.sign(self._diff) * self._scale


class BinaryCrossEntropy(Loss):
    r"""Binary cross-entropy, averaged over all N elements.

    On probabilities (``from_logits=False``, after a ``Sigmoid``):
    :math:`L = -\frac{1}{N} \sum t \log p + (1 - t) \log(1 - p)`, with :math:`p` clipped
    to :math:`[\epsilon, 1 - \epsilon]`, :math:`\epsilon` the dtype's machine epsilon;
    :math:`dL/dp = (p - t) / (p (1 - p)) / N`.

    On logits (``from_logits=True``, no ``Sigmoid`` layer; more stable):
    :math:`L = \frac{1}{N} \sum \max(z, 0) - z t + \log(1 + e^{-|z|})`;
    :math:`dL/dz = (\sigma(z) - t) / N`.

    Targets are in [0, 1], shaped like the prediction or ``(n,)`` for one output.
    """

    classification = True

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = bool(from_logits)
        self._cache, self._scale = None, None

    def prepare(self, pred: np.ndarray, target) -> np.ndarray:
        t = super().prepare(pred, target)
        if t.min() < 0 or t.max() > 1:
            raise LayerwiseError(
                f"{self!r} needs targets in [0, 1]; got values from {t.min()} to {t.max()}."
            )
        return t

    def forward(self, pred: np.ndarray, target, *, check: bool = True, sample_weight=None) -> float:
        t = self.prepare(pred, target) if check else target
        weighted = sample_weight is not None
        self._scale = self._row_scale(pred, sample_weight, check) if weighted else 1.0 / pred.size
        if self.from_logits:
            e = np.exp(-np.abs(pred))  # in (0, 1]: log1p(e) and sigmoid cannot overflow
            self._cache = (pred, t, e)
            loss = np.maximum(pred, 0) - pred * t + np.log1p(e)
            if weighted:
                return float((loss * self._scale).sum())
            return float(loss.sum()) / loss.size
        eps = _EPS[pred.dtype.char]
        p = np.minimum(np.maximum(pred, eps), 1 - eps)  # np.clip, without its wrapper's cost
        self._cache = (p, t, pred)
        # t log p + (1 - t) log(1 - p), rearranged to save two passes.
        log_q = np.log1p(-p)
        if weighted:
            return -float(((t * (np.log(p) - log_q) + log_q) * self._scale).sum())
        return -(float(np.vdot(t, np.log(p) - log_q)) + float(log_q.sum())) / p.size

    def backward(self) -> np.ndarray:
        if self._cache is None:
            raise self._not_run()
        p, t, e = self._cache
        if self.from_logits:
            return (np.where(p >= 0, 1.0, e) / (1.0 + e) - t) * self._scale
        return (p - t) / (p * (1 - p)) * self._scale

    def backward_through(self, layer) -> np.ndarray | None:
        r"""After a ``Sigmoid``: :math:`dL/dz = (\sigma(z) - t) / N`, from the unclipped output.

        Two passes instead of eight, and exact where the chained form is not: a saturated
        wrong prediction (:math:`p = 1`, :math:`t = 0`) still gets its gradient.
        """
        if self.from_logits or type(layer) is not Sigmoid or self._cache is None:
            return None
        _, t, pred = self._cache
        return (pred - t) * self._scale

    def __repr__(self) -> str:
        return f"BinaryCrossEntropy(from_logits={self.from_logits})"


class CrossEntropy(Loss):
    r"""Softmax cross-entropy on logits, averaged over the batch (``torch``'s default).

    With :math:`s = \mathrm{softmax}(z)` row by row:
    :math:`L = -\frac{1}{n} \sum_i \sum_k t_{ik} \log s_{ik}`, computed as
    :math:`\log \sum_k e^{z_{ik} - m_i} - (z_{ik} - m_i)` with the row max :math:`m_i`.
    Backward: :math:`dL/dz = (s \cdot \sum_k t_{ik} - t) / n`, i.e. :math:`(s - t) / n` for
    one-hot rows.

    Targets: integer class labels ``(n,)`` in ``[0, classes)``, or one-hot / probability
    rows ``(n, classes)``. The network ends in a ``Linear`` layer, not a ``Softmax``.

    Parameters
    ----------
    label_smoothing : float in [0, 1], default 0
        Train towards :math:`t' = (1 - \varepsilon) t + \varepsilon / K` for ``K``
        classes instead of :math:`t` (Szegedy et al., "Rethinking the Inception
        architecture", 2016), as ``torch``'s ``cross_entropy(label_smoothing=)``: the
        same formulas with :math:`t'` in place of :math:`t`.
    """

    classification = True

    def __init__(self, label_smoothing: float = 0.0) -> None:
        smoothing = label_smoothing
        if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float, np.floating)):
            smoothing = math.nan
        if not 0.0 <= smoothing <= 1.0:
            raise LayerwiseError(
                f"CrossEntropy label_smoothing must be a number in [0, 1]; got {label_smoothing!r}."
            )
        self.label_smoothing = float(smoothing)
        self._cache, self._scale = None, None

    def __repr__(self) -> str:
        if self.label_smoothing:
            return f"CrossEntropy(label_smoothing={self.label_smoothing})"
        return "CrossEntropy()"

    def prepare(self, pred: np.ndarray, target) -> np.ndarray:
        """Class labels ``(n,)`` checked against the number of outputs, or rows
        ``(n, classes)`` checked as for any loss."""
        target = numeric_array(target, f"{self!r} target")
        if target.ndim != 1:
            return super().prepare(pred, target)
        self._check_pred(pred)
        n, classes = pred.shape
        if target.dtype.kind not in "iu":
            raise LayerwiseError(
                f"{self!r}: 1-D targets are class labels and must be integers; got dtype "
                f"{target.dtype.name!r}. Use y.astype(int), or pass one-hot rows."
            )
        if target.shape[0] != n:
            raise LayerwiseError(
                f"{self!r}: {target.shape[0]} labels for {n} predictions; they must match."
            )
        low, high = target.min(), target.max()
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise LayerwiseError(
                f"{self!r}: class label {bad} is out of range for {classes} outputs "
                f"(labels must be in [0, {classes - 1}]). Check the labels or the size "
                "of the last layer."
            )
        return target

    def forward(self, pred: np.ndarray, target, *, check: bool = True, sample_weight=None) -> float:
        t = self.prepare(pred, target) if check else target
        n, k = pred.shape
        eps = self.label_smoothing
        if eps and t.ndim == 2:
            t = t * (1 - eps) + eps / k  # torch's smoothing of probability rows
        shifted = pred - pred.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        sums = e.sum(axis=1)
        self._cache = (e, sums, t)
        if t.ndim == 1:  # labels: pick each row's (shifted) logit of its class
            picked = shifted[np.arange(n), t]
            if eps:  # smoothed: 1 - eps of it, and eps spread evenly over the k classes
                picked = (1 - eps) * picked + (eps / k) * shifted.sum(axis=1)
        if sample_weight is not None:
            self._scale = self._row_scale(pred, sample_weight, check)
            if t.ndim == 1:
                row_losses = np.log(sums) - picked
            else:
                row_losses = -(t * (shifted - np.log(sums)[:, None])).sum(axis=1)
            return float(np.vdot(row_losses, self._scale))
        self._scale = 1.0 / n
        if t.ndim == 1:
            return float(np.log(sums).sum() - picked.sum()) / n
        return -float(np.vdot(t, shifted - np.log(sums)[:, None])) / n

    def backward(self) -> np.ndarray:
        if self._cache is None:
            raise self._not_run()
        e, sums, t = self._cache
        n = e.shape[0]
        if t.ndim == 1:
            grad = e / sums[:, None]
            eps = self.label_smoothing
            grad[np.arange(n), t] -= 1 - eps
            if eps:
                grad -= eps / e.shape[1]
        else:
            grad = e * (t.sum(axis=1) / sums)[:, None] - t
        grad *= self._scale  # 1/n, or each row's w_i / sum(w)
        return grad


LOSSES: dict[str, type[Loss]] = {
    "mse": MSE,
    "mae": MAE,
    "bce": BinaryCrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy,
    "cross_entropy": CrossEntropy,
}


def get(loss) -> Loss:
    """Return ``loss`` if it is a Loss, else look its name up in :data:`LOSSES`."""
    if isinstance(loss, Loss):
        return loss
    try:
        return LOSSES[loss]()
    except (KeyError, TypeError):
        raise LayerwiseError(f"Unknown loss {loss!r}; known: {', '.join(LOSSES)}.") from None
