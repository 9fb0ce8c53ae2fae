"""scikit-learn estimators on layerwise's engine: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in for ``sklearn.neural_network``'s estimators of the same names: the same
parameters where they mean the same thing, the same fitted attributes, the same
losses, initial weights and stopping rules, so that they fit in pipelines, grid
searches and cross-validation::

    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from layerwise.estimators import MLPClassifier

    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=50, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}).fit(X, y)

Training runs on a :class:`~layerwise.session.Session` (one per ``fit`` or
``partial_fit`` call), never on a loop of its own. What makes it scikit-learn's
training is three small pieces around the engine:

- :class:`_Objective`, a loss that wraps layerwise's (``CrossEntropy``,
  ``BinaryCrossEntropy``, ``MSE``) and gives the optimizer scikit-learn's gradient:
  its data term rescaled to scikit-learn's reduction, the L2 term ``alpha`` through the
  optimizer's weight decay divided by the batch's weight, and Adam's ``epsilon`` where
  scikit-learn adds it;
- :class:`_Epochs`, a callback doing scikit-learn's end-of-epoch bookkeeping
  (``loss_curve_``, ``n_iter_``, ``t_``, the no-improvement count, ``"invscaling"``
  and ``"adaptive"`` rates, early stopping);
- the estimators, which validate with scikit-learn's own machinery and draw the initial
  weights exactly as scikit-learn does.
"""

from __future__ import annotations

import copy
import math
import textwrap
import warnings
from itertools import pairwise
from numbers import Integral, Real

import numpy as np

try:
    from sklearn.base import (
        BaseEstimator,
        ClassifierMixin,
        RegressorMixin,
        _fit_context,
        is_classifier,
    )
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, column_or_1d
    from sklearn.utils._param_validation import Interval, Options, StrOptions
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import (
        _check_partial_fit_first_call,
        type_of_target,
        unique_labels,
    )
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
except ImportError as e:  # validate_data and __sklearn_tags__ are scikit-learn 1.6's
    raise ImportError(
        f"layerwise.estimators needs scikit-learn >= 1.6 ({e}). Upgrade it with "
        "`pip install -U scikit-learn`."
    ) from e

from layerwise import optim as _optim
from layerwise._checks import LayerwiseError
from layerwise.activations import ReLU, Sigmoid, Tanh, softmax
from layerwise.callbacks import Callback
from layerwise.layers import Dropout, Linear
from layerwise.losses import MSE, BinaryCrossEntropy, CrossEntropy, Loss
from layerwise.network import Sequential
from layerwise.optim import SGD, Adam, Optimizer
from layerwise.session import Session

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's hidden activations as layers ("identity" adds none).
_HIDDEN_LAYERS = {"identity": None, "logistic": Sigmoid, "tanh": Tanh, "relu": ReLU}
_SOLVERS = ("sgd", "adam")


# -- the objective and the epochs: scikit-learn's training on a Session --------------


class _Objective(Loss):
    r"""scikit-learn's MLP objective for one batch, on top of a layerwise loss.

    scikit-learn minimises, per batch of weight :math:`s` (its row count, or the sum of
    its sample weights),

    .. math::
        J = \ell + \frac{\alpha}{2 s} \sum_l \lVert W_l \rVert^2

    with :math:`\ell` the log-loss averaged over the samples (summed over the outputs of
    a logistic output layer) or half the squared error averaged over the samples and
    the outputs. Its gradient at the outputs is :math:`(p - y) / s` per element, for
    every output layer (for squared error that is the gradient of the *sum* over the
    outputs: scikit-learn's loss and gradient differ by the output count there).
    layerwise's losses average over every element instead, so this objective:

    - returns ``value_scale * base + alpha/(2 s) ||W||^2`` (scikit-learn's value);
    - multiplies the base gradient by ``grad_scale`` (scikit-learn's data gradient);
    - sets the optimizer's ``weight_decay`` to ``alpha / s`` before each step (the
      optimizer leaves the biases alone), the gradient of the L2 term; only the loss
      sees the batch's weights, so it is the place that knows :math:`s`;
    - for scikit-learn's Adam (``adam_eps`` given) sets ``optimizer.eps`` so that the
      epsilon is added to :math:`\sqrt{v}` without the bias correction, as scikit-learn
      (and TensorFlow) add it, rather than to :math:`\sqrt{\hat v}` as torch.

    Attributes
    ----------
    rows : int
        Rows of the last batch (what scikit-learn weighs the epoch's loss by).
    """

    def __init__(
        self,
        base: Loss,
        *,
        value_scale: float,
        grad_scale: float,
        alpha: float,
        weights: list[np.ndarray],
        optimizer: Optimizer,
        adam_eps: float | None = None,
    ):
        self.base, self.value_scale, self.grad_scale = base, value_scale, grad_scale
        self.alpha, self.weights = alpha, weights
        self.optimizer, self.adam_eps = optimizer, adam_eps
        self.classification = base.classification
        self.rows = 0

    def prepare(self, pred: np.ndarray, target) -> np.ndarray:
        return self.base.prepare(pred, target)

    def forward(self, pred: np.ndarray, target, *, check: bool = True, sample_weight=None) -> float:
        value = self.base.forward(pred, target, check=check, sample_weight=sample_weight)
        self.rows = len(pred)
        s = self.rows if sample_weight is None else float(np.sum(sample_weight))
        optimizer = self.optimizer
        if self.adam_eps is not None:  # the step about to be taken is step_count + 1
            beta2 = optimizer.betas[1]
            optimizer.eps = self.adam_eps / math.sqrt(1.0 - beta2 ** (optimizer.step_count + 1))
        value *= self.value_scale
        if self.alpha:
            optimizer.weight_decay = self.alpha / s if s > 0 else 0.0
            if s > 0:
                squares = sum(float(np.vdot(W, W)) for W in self.weights)
                value += 0.5 * self.alpha * squares / s
        return value

    def backward(self) -> np.ndarray:
        grad = self.base.backward()
        if self.grad_scale != 1:
            grad *= self.grad_scale
        return grad

    def backward_through(self, layer) -> np.ndarray | None:
        grad = self.base.backward_through(layer)
        if grad is not None and self.grad_scale != 1:
            grad *= self.grad_scale
        return grad

    def __repr__(self) -> str:
        return f"{self.base!r} (scikit-learn's objective)"


class _Epochs(Callback):
    """scikit-learn's end-of-epoch bookkeeping, as a callback of the Session.

    Accumulates the epoch's loss as scikit-learn does (each batch's objective times its
    row count, over the rows), then hands it to the estimator's ``_end_epoch``, which
    updates the fitted attributes and says whether to stop.
    """

    def __init__(self, estimator, objective: _Objective, validation):
        self.estimator, self.objective, self.validation = estimator, objective, validation
        self.stopped = False
        self._total, self._rows = 0.0, 0

    def on_epoch_begin(self, run: Session, epoch: int) -> None:
        self._total, self._rows = 0.0, 0

    def on_batch_end(self, run: Session, step: int, loss: float) -> None:
        self._total += loss * self.objective.rows
        self._rows += self.objective.rows

    def on_epoch_end(self, run: Session, epoch: int, logs: dict[str, float]) -> None:
        if self.estimator._end_epoch(
            run.optimizer, self._total / self._rows, self._rows, self.validation
        ):
            self.stopped = run.stop_training = True


def _set_learning_rate(optimizer: Optimizer, lr: float) -> None:
    """Change the rate of scikit-learn's SGD, keeping its velocity.

    scikit-learn's momentum keeps the velocity ``v = mu v - lr g`` (the rate inside),
    torch's and layerwise's the buffer ``b = mu b + g`` (the rate outside). Equal while
    the rate is constant (``v = -lr b``), they part when it changes, unless the buffer
    is rescaled by ``old / new``, as here.
    """
    old = optimizer.lr
    if getattr(optimizer, "momentum", 0.0) and lr > 0 and lr != old:
        state = optimizer.state_dict()
        for buffer in state["buffers"].values():
            buffer *= old / lr
        optimizer.load_state_dict(state)
    optimizer.lr = lr


def _fresh_copy(optimizer: Optimizer) -> Optimizer:
    """A new optimizer with the settings of ``optimizer`` and no state, bound to nothing.

    Rebuilt from its config (a pickled or deep-copied optimizer would carry its binding
    to other arrays); optimizer classes of your own, which ``from_config`` does not
    know, are deep-copied and reset.
    """
    try:
        return _optim.from_config(optimizer.config())
    except LayerwiseError:
        fresh = copy.deepcopy(optimizer)
        fresh.reset()
        return fresh


# -- the estimators ------------------------------------------------------------------


class _BaseMLP(BaseEstimator):
    """What ``MLPClassifier`` and ``MLPRegressor`` share (scikit-learn's
    ``BaseMultilayerPerceptron``, on a Session)."""

    # scikit-learn's own constraints (sklearn/neural_network/_multilayer_perceptron.py),
    # then layerwise's additions.
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": [
            None,
            StrOptions({"float32", "float64"}),
            Options(type, {np.float32, np.float64}),
        ],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "optimizer": [None, Optimizer],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype=None,
        dropout=0.0,
        optimizer=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.dropout = dropout
        self.optimizer = optimizer

    # -- fitted attributes that are views of the network ----------------------------

    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weight matrix of each layer, ``(fan_in, fan_out)``: views of ``model_``'s
        parameters (changing them changes the network)."""
        return [layer.params["W"] for layer in self._linear_layers()]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The bias vector of each layer, ``(fan_out,)``: views of ``model_``'s
        parameters."""
        return [layer.params["b"] for layer in self._linear_layers()]

    def _linear_layers(self) -> list[Linear]:
        if "model_" not in self.__dict__:
            raise AttributeError(f"This {type(self).__name__} is not fitted yet.")
        return [layer for layer in self.model_.layers if isinstance(layer, Linear)]

    def __sklearn_is_fitted__(self) -> bool:
        return "model_" in self.__dict__

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        # Pickle stores each parameter view on its own: copy() lays them out in one flat
        # buffer again (the fast path of the optimizers). The optimizer is rebuilt with
        # its state, bound to nothing (it was bound to the arrays of the pickled process).
        if "model_" in self.__dict__:
            self.model_ = self.model_.copy()
        if self.__dict__.get("_optimizer") is not None:
            saved = self._optimizer.state_dict()
            self._optimizer = _fresh_copy(self._optimizer)
            self._optimizer.load_state_dict(saved)

    # -- fit --------------------------------------------------------------------------

    def _check_solver(self) -> bool:
        """``available_if`` test of ``partial_fit``: only stochastic solvers have it."""
        if self.optimizer is None and self.solver not in _SOLVERS:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is "
                "not stochastic (and layerwise has no L-BFGS: use solver='adam')."
            )
        return True

    def _check_supported(self) -> None:
        if self.optimizer is None and self.solver == "lbfgs":
            raise ValueError(
                f"{type(self).__name__} of layerwise has no solver='lbfgs': it trains with "
                "mini-batch gradient steps on a layerwise Session. Use solver='adam' (the "
                "default) or solver='sgd', or sklearn.neural_network for L-BFGS."
            )

    def _fit(self, X, y, sample_weight=None, incremental: bool = False):
        self._check_supported()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        hidden = _hidden_layer_sizes(self.hidden_layer_sizes)
        first_pass = not self.__sklearn_is_fitted__() or (not self.warm_start and not incremental)
        if not first_pass:
            dtype = self.model_.dtype  # continuing: the network keeps its dtype
        elif self.dtype is None:
            dtype = (np.float64, np.float32)  # scikit-learn's rule: float32 stays, else float64
        else:
            dtype = np.dtype(self.dtype)
        X, y = self._validate_input(X, y, incremental, reset=first_pass, dtype=dtype)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        units = [X.shape[1], *hidden, y.shape[1]]
        random_state = check_random_state(self.random_state)  # afresh at every call, as sklearn
        if first_pass:
            initial = [_glorot(random_state, a, b, self.activation) for a, b in pairwise(units)]
        else:
            self._check_continuation(units)
        self.n_outputs_ = y.shape[1]
        split = self._split(X, y, sample_weight, random_state)
        if first_pass:
            # The initial weights and the validation split are scikit-learn's; then a seed
            # for what scikit-learn does not share: the batch order and dropout masks.
            seed = random_state.randint(np.iinfo(np.int32).max)
            self._initialize(units, X.dtype, initial, seed)
        self._fit_stochastic(*split, incremental)
        return self

    def _initialize(self, units: list[int], dtype, initial, seed: int) -> None:
        """The fitted state of a new network (scikit-learn's ``_initialize``)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(units)
        self.out_activation_ = self._output_activation()
        self.model_ = self._network(units, dtype, seed)
        named = {}
        linears = (i for i, layer in enumerate(self.model_.layers) if isinstance(layer, Linear))
        for index, (W, b) in zip(linears, initial):
            named[f"{index}.W"], named[f"{index}.b"] = W, b
        self.model_.load_state_dict(named)
        self._rng = np.random.default_rng(seed)  # the Sessions' batch order, call after call
        self._optimizer = None
        self._settings = None
        self._architecture = self._describe(units, dtype)
        self._best_state = self.model_.state_dict()
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _network(self, units: list[int], dtype, seed: int) -> Sequential:
        layers = []
        hidden = _HIDDEN_LAYERS[self.activation]
        for i, (fan_in, fan_out) in enumerate(pairwise(units)):
            layers.append(Linear(fan_in, fan_out))
            if i < len(units) - 2:  # a hidden layer
                if hidden is not None:
                    layers.append(hidden())
                if self.dropout:
                    layers.append(Dropout(self.dropout))
        if self.out_activation_ == "logistic":
            layers.append(Sigmoid())  # softmax: CrossEntropy takes the logits
        return Sequential(layers, seed=seed, dtype=dtype)

    def _describe(self, units: list[int], dtype) -> tuple:
        """What a warm start or partial_fit must find unchanged to go on."""
        return (tuple(units), self.activation, float(self.dropout), np.dtype(dtype).name)

    def _check_continuation(self, units: list[int]) -> None:
        dtype = self.model_.dtype if self.dtype is None else np.dtype(self.dtype)
        wanted = self._describe(units, dtype)
        if wanted != self._architecture:
            names = ("layer sizes", "activation", "dropout", "dtype")
            changed = [n for n, a, b in zip(names, wanted, self._architecture) if a != b]
            raise ValueError(
                f"{type(self).__name__} goes on training its fitted network (warm_start=True "
                f"or partial_fit), but its {', '.join(changed)} changed: it has "
                f"{self._architecture}, the data and parameters ask for {wanted}. Set "
                "warm_start=False to fit a new network."
            )

    def _split(self, X, y, sample_weight, random_state) -> tuple:
        """``(X, y, w, validation)``: everything, or scikit-learn's early-stopping split
        (the same rows as scikit-learn's for the same ``random_state``)."""
        if not self.early_stopping:
            return X, y, sample_weight, None
        # Stratified only for a single output (scikit-learn's rule: not for multi-label,
        # and, since it looks at the binarized y, not for multi-class either).
        stratify = y if (is_classifier(self) and y.shape[1] == 1) else None
        arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
        parts = train_test_split(
            *arrays,
            random_state=random_state,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        X_train, X_val, y_train, y_val = parts[:4]
        w_train, w_val = (None, None) if sample_weight is None else parts[4:]
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size "
                "of your dataset."
            )
        return X_train, y_train, w_train, (X_val, self._validation_targets(y_val), w_val)

    def _fit_stochastic(self, X, y, sample_weight, validation, incremental: bool) -> None:
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to "
                    "be clipped",
                    stacklevel=5,
                )
            batch_size = int(np.clip(self.batch_size, 1, n))
        optimizer = self._optimizer_for_fit()
        base, value_scale, grad_scale, targets = self._loss_and_targets(y)
        objective = _Objective(
            base,
            value_scale=value_scale,
            grad_scale=grad_scale,
            alpha=float(self.alpha),
            weights=self.coefs_,
            optimizer=optimizer,
            adam_eps=float(self.epsilon) if self._sklearn_adam() else None,
        )
        epochs = _Epochs(self, objective, validation)
        session = Session(
            self.model_,
            objective,
            optimizer,
            (X, targets),
            batch_size=batch_size,
            shuffle=bool(self.shuffle),
            seed=self._rng,  # a Generator: each Session goes on drawing from it
            sample_weight=sample_weight,
            callbacks=[epochs],
        )
        self.n_iter_ = 0
        try:
            session.run(1 if incremental else self.max_iter)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=5)
        if self.early_stopping:
            self.model_.load_state_dict(self._best_state)  # scikit-learn's best coefs
        if not incremental and not epochs.stopped and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=5,
            )

    def _sklearn_adam(self) -> bool:
        return self.optimizer is None and self.solver == "adam"

    def _optimizer_for_fit(self) -> Optimizer:
        """The optimizer to train with: the one of the last call, going on with its state,
        unless its settings changed (then a new one, as scikit-learn makes at every fit)."""
        settings = (
            self.solver,
            self.learning_rate_init,
            self.momentum,
            self.nesterovs_momentum,
            self.beta_1,
            self.beta_2,
            self.epsilon,
            None if self.optimizer is None else repr(self.optimizer.config()),
        )
        if self._optimizer is not None and settings == self._settings:
            return self._optimizer
        if self.optimizer is not None:
            optimizer = _fresh_copy(self.optimizer)
            if self.alpha and optimizer.weight_decay:
                raise ValueError(
                    f"alpha={self.alpha!r} and the optimizer's weight_decay="
                    f"{optimizer.weight_decay!r} both regularize the weights: set alpha=0 to use "
                    "the optimizer's weight decay, or give an optimizer with weight_decay=0."
                )
            if self.alpha:
                optimizer.decay_biases = False  # alpha leaves the biases alone (not bound yet)
        elif self.solver == "sgd":
            nesterov = bool(self.nesterovs_momentum) and self.momentum > 0
            optimizer = SGD(self.learning_rate_init, self.momentum, nesterov, decay_biases=False)
        else:
            betas = (self.beta_1, self.beta_2)
            optimizer = Adam(self.learning_rate_init, betas, self.epsilon, decay_biases=False)
        self._optimizer, self._settings = optimizer, settings
        return optimizer

    # -- the end of an epoch (scikit-learn's _fit_stochastic loop body) --------------

    def _end_epoch(self, optimizer: Optimizer, loss: float, n: int, validation) -> bool:
        """Record one epoch and return whether training should stop."""
        self.n_iter_ += 1
        self.loss_ = loss
        self.t_ += n
        self.loss_curve_.append(loss)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        self._update_no_improvement_count(validation)
        sklearn_sgd = self.optimizer is None and self.solver == "sgd"
        if sklearn_sgd and self.learning_rate == "invscaling":
            _set_learning_rate(optimizer, self.learning_rate_init / (self.t_ + 1) ** self.power_t)
        if self._no_improvement_count > self.n_iter_no_change:
            what = "Validation score" if validation is not None else "Training loss"
            msg = (
                f"{what} did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs."
            )
            if not (sklearn_sgd and self.learning_rate == "adaptive"):
                if self.verbose:
                    print(msg + " Stopping.")
                return True
            if optimizer.lr <= 1e-6:
                if self.verbose:
                    print(msg + " Learning rate too small. Stopping.")
                return True
            _set_learning_rate(optimizer, optimizer.lr / 5.0)
            if self.verbose:
                print(msg + f" Setting learning rate to {optimizer.lr:f}")
            self._no_improvement_count = 0
        return False

    def _update_no_improvement_count(self, validation) -> None:
        """scikit-learn's rule: the training loss must fall by more than ``tol`` (or, with
        early stopping, the validation score rise by at least ``tol``)."""
        if validation is not None:
            score = self._score(*validation)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_state = self.model_.state_dict()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # -- prediction -------------------------------------------------------------------

    def _forward(self, X, check_input: bool = True) -> np.ndarray:
        """The output layer's activations: probabilities, or regression values."""
        if check_input:
            X = validate_data(self, X, reset=False, dtype=self.model_.dtype)
        out = self.model_.predict(X)
        return softmax(out) if self.out_activation_ == "softmax" else out

    def _score_with_function(self, X, y, sample_weight, score_function) -> float:
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's, on layerwise's engine.

    Drop-in for :class:`sklearn.neural_network.MLPClassifier` with ``solver="adam"`` or
    ``"sgd"``: the same log-loss (softmax output for several classes, one logistic unit
    for two, a logistic unit per label for multi-label targets), L2 penalty, initial
    weights, batches and stopping rule, trained by a :class:`layerwise.Session`.

    Parameters
    ----------
    {parameters}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (any type scikit-learn accepts: integers, strings...).
    {attributes}
    See Also
    --------
    MLPRegressor : the regressor.
    sklearn.neural_network.MLPClassifier : the estimator this one mirrors.

    Notes
    -----
    {notes}
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from layerwise.estimators import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier((64,), max_iter=30, random_state=0).fit(X / 16, y)
    >>> clf.predict_proba(X[:2] / 16).shape
    (2, 10)
    >>> import layerwise as lw
    >>> lw.save(clf.model_, "digits.safetensors")  # the network, as a safetensors file
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and the class labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense input (no sparse matrices).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a label indicator matrix for multi-label targets.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights: each batch's loss is their weighted mean, and the L2
            term is divided by the batch's weight, as scikit-learn does.

        Returns
        -------
        self : MLPClassifier
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``(X, y)``, going on from the current network and optimizer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array of shape (n_classes,), optional
            Every class of the whole data (``np.unique(y_all)``): required at the first
            call, ignored or checked after. ``y`` need not hold them all.
        sample_weight : array-like of shape (n_samples,), optional
            As in :meth:`fit`. (scikit-learn >= 1.7 puts ``sample_weight`` before
            ``classes``; pass both by name to be safe with either.)

        Returns
        -------
        self : MLPClassifier
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """The predicted class of every row (or label indicator rows for multi-label).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input: bool = True) -> np.ndarray:
        proba = self._forward(X, check_input=check_input)
        if self.n_outputs_ == 1:
            proba = proba.ravel()
        return self._label_binarizer.inverse_transform(proba)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            In the network's dtype. For binary targets the two columns are
            ``1 - p`` and ``p``; for multi-label, one probability per label.
        """
        check_is_fitted(self)
        proba = self._forward(X)
        if self.n_outputs_ == 1:
            p = proba.ravel()
            return np.vstack([1 - p, p]).T
        return proba

    def predict_log_proba(self, X) -> np.ndarray:
        """``log(predict_proba(X))`` (``-inf`` where a probability is 0).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def _score(self, X, y, sample_weight=None) -> float:
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    def _output_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental: bool, reset: bool, dtype):
        """scikit-learn's checks of ``X`` and ``y``; ``y`` comes back binarized (bool)."""
        X, y = validate_data(self, X, y, multi_output=True, dtype=dtype, reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y).astype(bool)

    def _validation_targets(self, y: np.ndarray) -> np.ndarray:
        return self._label_binarizer.inverse_transform(y)

    def _loss_and_targets(self, y: np.ndarray) -> tuple:
        """The layerwise loss, scikit-learn's scales of its value and gradient, and the
        targets as the loss takes them."""
        if self.out_activation_ == "softmax":
            return CrossEntropy(), 1.0, 1.0, y.argmax(axis=1)
        m = y.shape[1]  # log-loss summed over the logistic outputs, BCE averages them
        return BinaryCrossEntropy(), float(m), float(m), y.astype(self.model_.dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = False
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's, on layerwise's engine.

    Drop-in for :class:`sklearn.neural_network.MLPRegressor` with ``solver="adam"`` or
    ``"sgd"`` and ``loss="squared_error"``: the same half squared error, L2 penalty,
    initial weights, batches and stopping rule, with a linear output layer, trained by
    a :class:`layerwise.Session`. One output or several.

    Parameters
    ----------
    loss : {{"squared_error"}}, default="squared_error"
        Half the squared error, averaged over the samples and the outputs (its gradient
        is that of the sum over the outputs, as scikit-learn's). ``"poisson"`` is
        refused with a ValueError: layerwise has no Poisson loss yet.
    {parameters}
    Attributes
    ----------
    {attributes}
    See Also
    --------
    MLPClassifier : the classifier.
    sklearn.neural_network.MLPRegressor : the estimator this one mirrors.

    Notes
    -----
    {notes}
    In scikit-learn >= 1.7, ``loss`` is ``MLPRegressor``'s first positional parameter;
    here ``hidden_layer_sizes`` stays first (as before 1.7) and ``loss`` is by name.

    Examples
    --------
    >>> import numpy as np
    >>> from layerwise.estimators import MLPRegressor
    >>> X = np.linspace(-1, 1, 200).reshape(-1, 1)
    >>> reg = MLPRegressor((32,), max_iter=500, random_state=0).fit(X, X.ravel() ** 2)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        loss="squared_error",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype=None,
        dropout=0.0,
        optimizer=None,
    ):
        self.loss = loss
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dtype=dtype,
            dropout=dropout,
            optimizer=optimizer,
        )

    def _check_supported(self) -> None:
        super()._check_supported()
        if self.loss == "poisson":
            raise ValueError(
                "MLPRegressor of layerwise has no loss='poisson' (layerwise has no Poisson "
                "loss yet). Use loss='squared_error', or sklearn.neural_network.MLPRegressor."
            )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and the targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense input (no sparse matrices).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights, as in :meth:`MLPClassifier.fit`.

        Returns
        -------
        self : MLPRegressor
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, going on from the current network and optimizer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self : MLPRegressor
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """The network's output for every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            In the network's dtype.
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input: bool = True) -> np.ndarray:
        y = self._forward(X, check_input=check_input)
        return y.ravel() if y.shape[1] == 1 else y

    def _score(self, X, y, sample_weight=None) -> float:
        return self._score_with_function(X, y, sample_weight, r2_score)

    def _output_activation(self) -> str:
        return "identity"

    def _validate_input(self, X, y, incremental: bool, reset: bool, dtype):
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=dtype, reset=reset
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _validation_targets(self, y: np.ndarray) -> np.ndarray:
        return y

    def _loss_and_targets(self, y: np.ndarray) -> tuple:
        """MSE (over every element) is twice scikit-learn's value and ``2 / m`` times
        its gradient, with ``m`` outputs."""
        m = y.shape[1]
        return MSE(), 0.5, m / 2.0, y.astype(self.model_.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = False
        return tags


# -- helpers ------------------------------------------------------------------------


def _hidden_layer_sizes(sizes) -> list[int]:
    """``hidden_layer_sizes`` as a list of positive ints (an int is one layer)."""
    sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    if np.any(np.array(sizes) <= 0):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    if not all(isinstance(s, Integral) and not isinstance(s, bool) for s in sizes):
        raise ValueError(f"hidden_layer_sizes must hold integers, got {sizes}.")
    return [int(s) for s in sizes]


def _glorot(random_state, fan_in: int, fan_out: int, activation: str) -> tuple:
    """scikit-learn's initial weights for one layer (its ``_init_coef``): Glorot uniform
    with factor 2 for logistic units, else 6, biases uniform in the same bound, drawn
    from ``random_state`` in this order."""
    factor = 2.0 if activation == "logistic" else 6.0
    bound = np.sqrt(factor / (fan_in + fan_out))
    W = random_state.uniform(-bound, bound, (fan_in, fan_out))
    b = random_state.uniform(-bound, bound, fan_out)
    return W, b


_PARAMETERS = """\
    hidden_layer_sizes : array-like of int, default=(100,)
        The width of each hidden layer (an int: one hidden layer).
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        The hidden layers' activation: none, ``lw.Sigmoid``, ``lw.Tanh``, ``lw.ReLU``.
    solver : {"adam", "sgd"}, default="adam"
        scikit-learn's Adam (``lw.Adam`` with scikit-learn's placement of ``epsilon``) or
        SGD with momentum (``lw.SGD``). ``"lbfgs"`` raises a ValueError at ``fit`` (use
        ``"adam"``); ``partial_fit`` is then unavailable, as in scikit-learn.
    alpha : float, default=1e-4
        L2 penalty on the weights (not the biases): ``alpha / 2 * ||W||^2`` divided by
        the batch's row count (or weight), added to each batch's loss.
    batch_size : int or "auto", default="auto"
        Rows per step; "auto" is ``min(200, n_samples)``. Larger than the data: clipped,
        with a warning.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        The rate schedule of ``solver="sgd"``: constant; ``learning_rate_init / (t + 1)
        ** power_t`` after each epoch, ``t`` the samples seen; or divided by 5 whenever
        the loss stops improving (see ``tol``), until it is at most 1e-6.
    learning_rate_init : float, default=1e-3
        The step size (where "invscaling" and "adaptive" start from).
    power_t : float, default=0.5
        The exponent of "invscaling".
    max_iter : int, default=200
        Epochs (passes over the data) at most.
    shuffle : bool, default=True
        A new batch order every epoch.
    random_state : int, RandomState instance or None, default=None
        Draws the initial weights and the early-stopping split exactly as scikit-learn
        does (the same ``random_state`` gives the same ones), then a seed for the batch
        order and the dropout masks.
    tol : float, default=1e-4
        Training stops (or the "adaptive" rate drops) when the loss has not fallen by
        more than ``tol`` (the validation score not risen by at least ``tol``) for more
        than ``n_iter_no_change`` epochs in a row.
    verbose : bool, default=False
        Print the loss after every epoch, as scikit-learn does.
    warm_start : bool, default=False
        ``fit`` goes on from the fitted network and its optimizer's state (see Notes).
    momentum : float, default=0.9
        SGD's momentum, in [0, 1].
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for SGD (when ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when its score (accuracy or
        R^2) has not improved by ``tol`` for ``n_iter_no_change`` epochs, and keep the
        weights of the best epoch.
    validation_fraction : float, default=0.1
        The share of the rows held out for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's epsilon, added to the square root of the second moment.
    n_iter_no_change : int, default=10
        Epochs without improvement tolerated (see ``tol``).
    max_fun : int, default=15000
        Accepted for compatibility and unused (an L-BFGS setting).
    dtype : {"float32", "float64"} or None, default=None
        The network's float type. None is scikit-learn's rule: float32 input trains in
        float32, any other input in float64 (scikit-learn's numbers, to round-off).
        "float32" casts the input once and trains about twice as fast on wide layers.
    dropout : float in [0, 1), default=0.0
        Dropout after each hidden layer's activation while training (``lw.Dropout``).
    optimizer : layerwise Optimizer, optional
        Train with this optimizer (a fresh copy: the object given is not changed)
        instead of ``solver``, ``learning_rate*``, ``momentum``, ``beta_*`` and
        ``epsilon``. ``alpha`` still applies, as the optimizer's weight decay on the
        weights only; an optimizer with its own ``weight_decay`` needs ``alpha=0``.
"""

_ATTRIBUTES = """\
    loss_ : float
        The last epoch's loss (with the L2 term), as scikit-learn reports it.
    best_loss_ : float or None
        The lowest ``loss_`` so far (None with early stopping).
    loss_curve_ : list of float
        ``loss_`` after every epoch: the batches' losses weighted by their row counts.
    validation_scores_ : list of float or None
        The validation score after every epoch (early stopping only).
    best_validation_score_ : float or None
    t_ : int
        Training samples seen (epochs times rows).
    coefs_ : list of ndarray of shape (fan_in, fan_out)
        The weights of each layer: views of ``model_``'s parameters.
    intercepts_ : list of ndarray of shape (fan_out,)
        The biases of each layer, views too.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` had string column names.
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``, as scikit-learn).
    n_layers_ : int
        Layers of units, input and output included.
    n_outputs_ : int
    out_activation_ : str
        "softmax", "logistic" or "identity".
    model_ : layerwise.Sequential
        The trained network; ``lw.save(est.model_, path)`` writes it as a safetensors
        file. A softmax classifier's network outputs logits (``predict_proba`` applies
        the softmax); a logistic one ends with ``lw.Sigmoid``.
"""

_NOTES = """\
    Where it differs from scikit-learn:

    - **Solvers**: "adam" and "sgd" only; "lbfgs" is a ValueError. ``max_fun`` is
      unused. Dense input only (scikit-learn's message for sparse matrices).
    - **Exactness**: in float64 the training equals scikit-learn's to round-off: the
      same initial weights, the same batches when ``shuffle=False``, the same gradients,
      updates, ``loss_curve_`` and stopping (``coefs_`` within 1e-10 of scikit-learn's
      after 20 epochs in the tests). ``dtype="float32"`` is layerwise's fast option.
    - **Batch order**: with ``shuffle=True`` the order is drawn from a generator seeded
      from ``random_state`` after the initial weights, not scikit-learn's.
    - **Warm starts** (``warm_start=True``, ``partial_fit``) go on with the same
      optimizer, its moments, step count and current rate, and the same batch-order
      generator, so ``partial_fit`` epoch after epoch equals ``fit`` bit for bit.
      scikit-learn starts a new optimizer at every warm-started ``fit``; here that
      happens only when a setting of the optimizer changed.
    - **Divergence**: when the loss or a gradient becomes NaN or infinite, the
      Session's guard restores the weights of the start of the epoch and raises
      ``layerwise.DivergenceError`` (a ValueError) saying where and what to try;
      scikit-learn trains on and raises at the end.
    - **Log-loss** is computed from the logits (exact), where scikit-learn clips the
      probabilities to ``[eps, 1 - eps]``: the two differ only for a probability below
      the dtype's eps.
    - **Additions**: ``dtype``, ``dropout``, ``optimizer``, and ``model_``.
"""


def _section(text: str) -> str:
    """A shared docstring section, indented as a class docstring's body (the first line
    takes the indentation of its placeholder)."""
    return textwrap.indent(textwrap.dedent(text), "    ").lstrip()


for _estimator in (MLPClassifier, MLPRegressor):
    if _estimator.__doc__:  # None under python -OO
        _estimator.__doc__ = _estimator.__doc__.format(
            parameters=_section(_PARAMETERS),
            attributes=_section(_ATTRIBUTES),
            notes=_section(_NOTES),
        )
