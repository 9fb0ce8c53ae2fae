"""``Bench``: notebook 003's NNBench done right, a test bench for online learning.

A bench holds a network, a seeded stream of samples (an ``ideal`` function to learn,
or a ``data(rng, n)`` generator) and a :class:`~layerwise.session.Session` that learns
them one sample at a time (batch size 1, plain SGD at rate ``lr``). It answers the
notebook's questions: does the loss fall (:meth:`Bench.learn`), how far does a rate
get in ``n`` samples (:meth:`Bench.learning_potential`), what does learning look like
from a checkpoint (:meth:`Bench.plot_learning`, :meth:`Bench.widget`)?

    >>> import numpy as np
    >>> import layerwise as lw
    >>> from layerwise.bench import Bench
    >>> net = lw.Sequential([lw.Linear(2, 2)], seed=0, dtype=np.float64)
    >>> bench = Bench(net, lambda X: X[:, ::-1])     # learn to swap two inputs
    >>> losses = bench.learn(200)                     # 200 samples, one SGD step each
    >>> bool(losses[-20:].mean() < 1e-3 * losses[:20].mean())
    True
    >>> potential = bench.learning_potential(100, lr=0.3)  # the bench is left as it was

What 003 got wrong is not here: the affine backward uses ``W.T`` (``lw.Linear``), a
diverging rate stops before NaN reaches the weights (the session's guard), and a
checkpoint is an in-memory copy kept by the session, never dill/pickle.

This module imports matplotlib (for the figures), SciPy (the low-pass filter) and
ipywidgets (the widget) only when they are used; SciPy and ipywidgets are the
``notebook`` extra: ``pip install "layerwise[notebook]"``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from layerwise._checks import LayerwiseError, as_matrix, numeric_array, positive_int, real_number
from layerwise.callbacks import Callback
from layerwise.losses import MSE
from layerwise.optim import SGD, DivergenceError
from layerwise.session import Session
from layerwise.training import evaluate

EVAL_SIZE = 256  # samples in the evaluation set that "the loss after n samples" is measured on
LR_EXPONENTS = (-4.0, 0.0)  # the widget's learning-rate slider: 1e-4 .. 1 (log10)
N_RANGE = (1, 10_000)  # the widget's sample-count slider

_CHECKPOINT = "bench"  # the bench's checkpoint, in its session
_SCRATCH = "bench: before a measurement"  # the state a measurement goes back to
_PROBE_ROWS = 5  # rows of the test batch a sample source is checked with (not a layer width)
_CHUNK_SECONDS = 0.05  # the widget trains in chunks this long, then looks for newer work
_EXTRA = 'pip install "layerwise[notebook]"'
_TOP = 1e200  # the top of a learning curve's axis at most (see _draw_learning)


def _require(module: str, what: str):
    """Import an optional dependency (the notebook extra), or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise LayerwiseError(
            f"{what} needs {module.split('.')[0]}, which comes with layerwise's notebook "
            f"extra: {_EXTRA}."
        ) from e


def _seed(seed, name: str = "seed") -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LayerwiseError(
            f"Bench: {name} must be a non-negative integer (the bench is reproducible by "
            f"design); got {seed!r}."
        )
    return int(seed)


def _rate(lr, where: str = "Bench: lr") -> float:
    return real_number(lr, where, minimum=0.0, strict=True)


def _potential(loss: float) -> float:
    """``-log(loss)``: +inf for a loss of 0, -inf for a diverged (non-finite) one."""
    if not math.isfinite(loss):
        return -math.inf
    return math.inf if loss <= 0.0 else -math.log(loss)


def low_pass(losses) -> np.ndarray:
    """The losses smoothed for a log-scale plot: a zero-phase Butterworth low-pass of
    ``log(losses)``.

    ``exp(sosfiltfilt(butter(2, 2 / period), log(losses)))`` with
    ``period = max(8, n / 25)`` samples: wiggles faster than that are removed, so a
    curve of any length keeps about 25 of them.

    - On ``log(loss)``, because per-sample losses scatter by factors (their noise is
      multiplicative) and fall geometrically: in logs the noise is additive and an
      exponential decay is a straight line, which the filter passes unchanged; the
      result stays positive, as a log axis needs. The line runs through the local
      geometric mean, the middle of the raw band as a log axis shows it (below the
      arithmetic mean: for exponentially scattered losses by a factor ``e^-0.58``).
    - Forward and backward (``sosfiltfilt``), so the smoothed curve does not lag behind
      the raw one (a causal filter would shift the learning to the right).
    - Butterworth of order 2: a flat pass band and a stop band falling at 40 dB per
      decade (80 forward and backward), where a moving average (a Savitzky-Golay
      filter of order 0 or 1 inside the curve) lets its side lobes through.
    - The ends are padded by an odd reflection three periods long, which continues a
      straight line: a geometric decay keeps its first and last values.

    Losses of exactly 0 (learned to the last bit) count as the smallest positive loss
    of the curve. Fewer than 4 losses come back unchanged.

    Parameters
    ----------
    losses : array (n,)
        Finite, non-negative losses, e.g. :meth:`Bench.learn`'s.

    Returns
    -------
    ndarray (n,), float64

    Raises
    ------
    LayerwiseError
        When SciPy is missing, or for losses that are not a finite, non-negative 1-D array.

    Examples
    --------
    >>> decay = 10.0 ** -np.linspace(0, 8, 200)            # a straight line in logs
    >>> bool(np.allclose(low_pass(decay), decay, rtol=1e-4))
    True
    """
    signal = _require("scipy.signal", "The low-pass filter")
    x = numeric_array(losses, "low_pass: losses").astype(np.float64)
    if x.ndim != 1 or not np.isfinite(x).all() or (x < 0).any():
        raise LayerwiseError(
            f"low_pass takes a 1-D array of finite, non-negative losses; got shape {x.shape}"
            + ("." if x.ndim != 1 else " with negative or non-finite values.")
        )
    positive = x[x > 0]
    if len(x) < 4 or not len(positive):
        return x.copy()
    logs = np.log(np.maximum(x, positive.min()))
    period = max(8.0, len(x) / 25)
    sos = signal.butter(2, 2.0 / period, output="sos")
    # The odd extension continues a straight line; 3 periods of it (not sosfiltfilt's
    # default 9 samples) let the start-up transient die out before the curve begins.
    smooth = signal.sosfiltfilt(sos, logs, padlen=min(int(3 * period), len(x) - 1))
    return np.exp(smooth)


class _Tape(Callback):
    """Records each step's loss while recording: unlike ``Session.step``'s return value,
    it keeps the losses of a call that diverged, up to the failing step."""

    def __init__(self):
        self.values: list[float] | None = None

    def on_batch_end(self, run, step: int, loss: float) -> None:
        if self.values is not None:
            self.values.append(loss)


@dataclass(frozen=True)
class LearningRun:
    """What learning ``n`` samples from the bench's checkpoint gave.

    Attributes
    ----------
    losses : ndarray (k,), float64
        The loss of each sample before the step that learned it; ``k == n`` unless the
        run diverged (then the losses up to the sample that failed).
    lr : float
        The learning rate.
    n : int
        The samples asked for.
    loss_after : float
        The evaluation loss after the ``n`` samples (see :meth:`Bench.evaluation_loss`);
        ``inf`` when the run diverged.
    diverged : str or None
        The divergence message, or None.
    """

    losses: np.ndarray
    lr: float
    n: int
    loss_after: float
    diverged: str | None = None

    @property
    def potential(self) -> float:
        """``-log(loss_after)``: the learning potential of this rate (see the Bench)."""
        return _potential(self.loss_after)


class Bench:
    """A network, a seeded stream of samples and online SGD: notebook 003's NNBench.

    The bench learns one sample at a time (batch size 1), each with one plain SGD step
    at rate ``lr``, through a :class:`~layerwise.session.Session` (``bench.session``)
    whose data is a callable drawing fresh samples from the session's generator, seeded
    by ``seed``. The samples come from exactly one source:

    - ``ideal``: the function to learn. The inputs are drawn standard normal, one
      ``N(0, 1)`` value per input, as 003's ``np.random.randn``: a batch is
      ``X = rng.standard_normal((n, model.in_features))`` and its targets are
      ``ideal(X)``, an array ``(n, outputs)`` (or ``(n,)`` for one output).
    - ``data``: ``data(rng, n) -> (X, y)``, drawing ``n`` samples from the generator
      ``rng`` (any distribution, any targets the loss takes).

    The bench keeps one checkpoint (:meth:`checkpoint`, taken when it is made and after
    :meth:`reset`): the weights, the optimizer state and the generators, in memory.
    :meth:`learning_curve`, :meth:`plot_learning` and :meth:`widget` learn from it;
    :meth:`learning_potential` learns from where the bench is now. After changing the
    weights by hand, call :meth:`checkpoint` so that the views start from them.

    Parameters
    ----------
    model
        A ``Sequential`` (or a model with ``forward``, ``backward``, ``parameters`` and,
        for :meth:`reset`, ``reset_parameters(seed)``). Its weights are used as they
        are; the bench does not redraw them until :meth:`reset`.
    ideal : callable ``(n, in) -> (n, out)``, optional
        The function to learn from standard normal inputs. Give it or ``data``.
    data : callable ``data(rng, n) -> (X, y)``, optional
        A sample generator drawing from the numpy Generator ``rng``. Give it or ``ideal``.
    loss : Loss or str, default MSE()
        The loss (a fresh ``MSE()`` for each bench when not given).
    lr : float, default 0.1
        The learning rate, > 0 (003's alpha).
    seed : int, default 3
        Seeds the stream of samples (003's ``self.seed = 3``) and the evaluation set.
    eval_size : int, default 256
        Samples in the evaluation set (see :meth:`evaluation_loss`).

    Attributes
    ----------
    model, session, loss
    lr : float
        The learning rate (read and set; the optimizer's ``lr``).
    seed : int
        The seed of the current stream of samples.
    ideal, data : callable or None
        The source of samples; setting ``ideal`` (003 does, between experiments)
        switches the bench to it.

    Raises
    ------
    LayerwiseError
        When both or neither of ``ideal`` and ``data`` are given, when the source does
        not give ``(n, in)`` inputs and ``(n, out)`` targets for a test batch, or for a
        bad ``lr``, ``seed`` or ``eval_size``.

    Examples
    --------
    >>> import layerwise as lw
    >>> net = lw.Sequential([lw.Linear(2, 2)], seed=0)
    >>> bench = Bench(net, lambda X: X[:, ::-1], lr=0.1)
    >>> bench.learn(3).shape
    (3,)
    >>> fig = bench.plot_learning(300, low_pass=True)   # from the checkpoint, log scale
    >>> view = bench.widget()                            # in Jupyter: sliders, reset, ...
    """

    def __init__(
        self,
        model,
        ideal: Callable | None = None,
        *,
        data: Callable | None = None,
        loss=None,
        lr: float = 0.1,
        seed: int = 3,
        eval_size: int = EVAL_SIZE,
    ):
        if (ideal is None) == (data is None):
            got = "both" if ideal is not None else "neither"
            raise LayerwiseError(
                f"Bench takes exactly one source of samples, ideal= (a function of standard "
                f"normal inputs) or data= (a generator data(rng, n) -> (X, y)); got {got}."
            )
        seed, lr = _seed(seed), _rate(lr)
        self.eval_size = positive_int(eval_size, "Bench: eval_size")
        self.model = model
        self._lock = threading.RLock()  # one user of the session at a time (cells, widgets)
        self._version = 0  # counts checkpoints and changes of the source, for the views
        self._ideal = self._data = None
        self._set_source(ideal, data)
        self._tape = _Tape()
        self.session = Session(
            model,
            MSE() if loss is None else loss,
            SGD(lr=lr),
            self._draw,
            batch_size=1,
            seed=seed,
            callbacks=[self._tape],
        )
        self.loss = self.session.loss
        self._evaluation = self._draw_evaluation(seed)
        self.checkpoint()

    # -- the source of samples ------------------------------------------------------

    @property
    def ideal(self) -> Callable | None:
        return self._ideal

    @ideal.setter
    def ideal(self, ideal: Callable) -> None:
        if ideal is None:
            raise LayerwiseError(
                "Bench.ideal must be a function of a batch X (n, in) -> targets (n, out); got "
                "None. Make a new Bench(model, data=...) to learn from a generator."
            )
        with self._lock:
            self._set_source(ideal, None)
            self._evaluation = self._draw_evaluation(self.seed)
            self._version += 1

    @property
    def data(self) -> Callable | None:
        return self._data

    def _set_source(self, ideal, data) -> None:
        """Check a source on a test batch from a generator of its own, then keep it."""
        if ideal is not None and not callable(ideal):
            raise LayerwiseError(
                f"Bench: ideal must be a function of a batch X (n, in) -> targets (n, out); "
                f"got {type(ideal).__name__}."
            )
        if data is not None and not callable(data):
            raise LayerwiseError(
                f"Bench: data must be a function data(rng, n) -> (X, y); got {type(data).__name__}."
            )
        width = getattr(self.model, "in_features", None)
        if ideal is not None and width is None:
            raise LayerwiseError(
                "Bench(ideal=...) draws inputs as wide as the model's input, but this model "
                "does not fix its width (model.in_features is None; it has no Linear layer). "
                "Pass data=lambda rng, n: (X, y) instead."
            )
        self._check_draw(ideal, data, np.random.default_rng(0))
        self._ideal, self._data = ideal, data

    def _samples(self, ideal, data, rng, n: int):
        if ideal is None:
            return data(rng, n)
        X = rng.standard_normal((n, self.model.in_features))
        return X, ideal(X)

    def _draw(self, rng: np.random.Generator, n: int):
        """The session's data callable: ``n`` fresh samples from its generator."""
        return self._samples(self._ideal, self._data, rng, n)

    def _check_draw(self, ideal, data, rng) -> None:
        n, what = _PROBE_ROWS, "ideal" if ideal is not None else "data"
        hint = (
            "ideal maps a whole batch X of shape (n, in) to targets (n, out): 003's "
            "per-sample lambda v: np.array([v[1], v[0]]) becomes lambda X: X[:, ::-1]."
            if ideal is not None
            else "data(rng, n) returns a pair (X, y) of n samples drawn from rng."
        )
        try:
            drawn = self._samples(ideal, data, rng, n)
        except Exception as e:  # the user's function failed: say which and how it is called
            raise LayerwiseError(
                f"Bench: {what} failed on a test batch of {n} samples ({type(e).__name__}: "
                f"{e}). {hint}"
            ) from e
        if not isinstance(drawn, (tuple, list)) or len(drawn) != 2:
            raise LayerwiseError(f"Bench: data returned {type(drawn).__name__}; {hint}")
        X, y = drawn
        if ideal is None:
            X = as_matrix(X, "Bench: X drawn by data", np.float64)
            width = getattr(self.model, "in_features", None)
            if len(X) != n or (width is not None and X.shape[1] != width):
                wanted = f"({n}, {width})" if width is not None else f"({n}, inputs)"
                raise LayerwiseError(
                    f"Bench: data(rng, {n}) returned X of shape {X.shape}; expected {wanted}. "
                    f"{hint}"
                )
        y = numeric_array(y, f"Bench: the targets of {what}")
        outputs = getattr(self.model, "out_features", None)
        if ideal is not None and outputs is not None:
            ok = y.shape == (n, outputs) or (outputs == 1 and y.shape == (n,))
        else:
            ok = y.ndim in (1, 2) and len(y) == n
        if not ok:
            wanted = f"({n}, {outputs})" if outputs is not None else f"({n},) or ({n}, outputs)"
            raise LayerwiseError(
                f"Bench: {what} gave targets of shape {y.shape} for {n} samples; expected "
                f"{wanted}. {hint}"
            )

    def _draw_evaluation(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        # A child of the seed's SeedSequence: a stream that never overlaps the samples
        # the session draws from default_rng(seed).
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        X, y = self._samples(self._ideal, self._data, rng, self.eval_size)
        dtype = getattr(self.model, "dtype", np.float32)
        X = as_matrix(X, "Bench: the evaluation X", dtype)
        y = numeric_array(y, "Bench: the evaluation targets")
        y = y.astype(dtype) if y.dtype.kind == "f" else y
        for array in (X, y):
            array.setflags(write=False)
        return X, y

    @property
    def evaluation_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed ``(X, y)`` (``eval_size`` samples, read-only) of :meth:`evaluation_loss`."""
        return self._evaluation

    def evaluation_loss(self) -> float:
        """The mean loss of the network as it is now on the fixed evaluation set.

        The evaluation set holds ``eval_size`` samples from the bench's source, drawn
        once per seed from a generator of their own (spawned from the seed's
        ``SeedSequence``, so they are never among the training samples). Measuring on
        it, "the loss after n samples" is the network's loss, not the luck of the last
        sample, and it is the same set for every rate and every ``n``.
        Returns ``inf`` when the network's outputs overflow.
        """
        with self._lock, np.errstate(over="ignore", invalid="ignore"):
            value = evaluate(self.model, *self._evaluation, loss=self.loss)["loss"]
        return value if math.isfinite(value) else math.inf

    # -- state ----------------------------------------------------------------------

    @property
    def lr(self) -> float:
        return self.session.optimizer.lr

    @lr.setter
    def lr(self, lr: float) -> None:
        self.session.optimizer.lr = _rate(lr)

    @property
    def seed(self) -> int:
        return self.session.seed

    def checkpoint(self) -> None:
        """Keep the bench as it is now: weights, optimizer state (with ``lr``), the
        generators and the session's counters and records, in memory (no pickle)."""
        with self._lock:
            self.session.checkpoint(_CHECKPOINT)
            self._version += 1

    def rollback(self) -> None:
        """Go back to the last :meth:`checkpoint`, bit for bit (the learning rate too);
        the checkpoint is kept, so one can roll back to it again."""
        with self._lock:
            self.session.rollback(_CHECKPOINT)

    def reset(self, seed: int | None = None) -> None:
        """Reseed and redraw the network: 003's reset button.

        The new seed is ``seed``, or the current one plus 1 when None. The network's
        weights are redrawn from it (``model.reset_parameters(seed)``), the optimizer
        starts afresh, the stream of samples restarts from it, the evaluation set is
        redrawn, and a new checkpoint is taken. The learning rate stays as it is.
        The same seed gives the same weights and samples, bit for bit.
        """
        with self._lock:
            seed = self.seed + 1 if seed is None else _seed(seed)
            lr = self.lr
            self.session.reset(seed)
            self.session.optimizer.lr = lr  # reset() goes back to the initial rate
            self._evaluation = self._draw_evaluation(seed)
            self.checkpoint()

    # -- learning and measuring ---------------------------------------------------

    def learn(self, n: int = 100) -> np.ndarray:
        """Learn ``n`` fresh samples, one SGD step each; return their losses.

        ``losses[i]`` is the loss on sample ``i`` before the step that learns it (003's
        ``Network.learn`` of one fact). The bench stays where the samples took it.

        Returns
        -------
        ndarray (n,), float64

        Raises
        ------
        DivergenceError
            When the loss or the weights turn NaN or infinite; the weights and the
            optimizer go back to where they were before this call (the generator has
            moved on by the samples drawn; :meth:`rollback` restores it too).
        """
        n = positive_int(n, "Bench.learn: n")
        with self._lock:
            return self.session.step(n)

    def learning_potential(self, n: int = 100, lr: float | None = None) -> float:
        """``-log(loss after n samples)`` from where the bench is now, which stays as it was.

        The bench keeps its state, learns ``n`` fresh samples at rate ``lr`` (default:
        the bench's), measures :meth:`evaluation_loss` and goes back, so that every
        parameter, the optimizer state (``lr`` included) and the generators are bit for
        bit as before: the next :meth:`learn` draws the same samples as without this call.
        The same state, ``n`` and ``lr`` give the same value.

        Higher is better: each unit is a factor ``e`` less loss. ``inf`` when the loss
        is 0; ``-inf`` when the rate diverges (instead of 003's NaN), so a sweep over
        rates can be plotted as it is.

        Parameters
        ----------
        n : int, default 100
        lr : float, optional
            The rate to try, > 0.

        Returns
        -------
        float
        """
        n = positive_int(n, "Bench.learning_potential: n")
        lr = self.lr if lr is None else _rate(lr, "Bench.learning_potential: lr")
        with self._trial() as session:
            try:
                session.optimizer.lr = lr
                session.step(n)
                value = self.evaluation_loss()
            except DivergenceError:
                value = math.inf
        return _potential(value)

    def learning_curve(self, n: int = 100, lr: float | None = None) -> np.ndarray:
        """The losses of learning ``n`` samples from the checkpoint, leaving the bench as it was.

        The same as ``bench.rollback(); bench.lr = lr; bench.learn(n)`` followed by a
        return to the state before the call: the data of :meth:`plot_learning` and of
        the widget's raw line.

        Returns
        -------
        ndarray (n,), float64

        Raises
        ------
        DivergenceError
            When the rate diverges (:meth:`plot_learning` draws the curve up to there).
        """
        run = self._learning_run(n, lr, "Bench.learning_curve")
        if run.diverged:
            raise DivergenceError(run.diverged)
        return run.losses

    def _learning_run(self, n: int, lr: float | None, where: str) -> LearningRun:
        """:meth:`_run` from the checkpoint, leaving the bench as it was."""
        n = positive_int(n, f"{where}: n")
        lr = self.lr if lr is None else _rate(lr, f"{where}: lr")
        with self._trial():
            return self._run(n, lr)

    @contextlib.contextmanager
    def _trial(self):
        """Hold the bench and give it back as it was before the block, bit for bit."""
        with self._lock:
            self.session.checkpoint(_SCRATCH)
            try:
                yield self.session
            finally:
                self.session.rollback(_SCRATCH)

    def _run(self, n: int, lr: float, *, cancelled=None, progress=None) -> LearningRun | None:
        """Roll back to the checkpoint and learn ``n`` samples at ``lr``, in one call or
        (for the widget) in chunks of about ``_CHUNK_SECONDS``, returning None as soon
        as ``cancelled()``. The caller holds the lock; the bench is left as trained."""
        session = self.session
        session.rollback(_CHECKPOINT)
        session.optimizer.lr = lr
        self._tape.values = []
        diverged, done, chunk = None, 0, n if cancelled is None else 16
        try:
            while done < n:
                if cancelled is not None and cancelled():
                    return None
                k = min(chunk, n - done)
                started = time.perf_counter()
                try:
                    session.step(k)
                except DivergenceError as e:
                    diverged = str(e)
                    break
                done += k
                elapsed = time.perf_counter() - started
                # Aim at chunks of _CHUNK_SECONDS: short enough to answer a slider soon.
                chunk = int(np.clip(k * _CHUNK_SECONDS / max(elapsed, 1e-6), 1, 2 * k))
                if progress is not None:
                    progress(done, n)
            losses = np.array(self._tape.values, dtype=np.float64)
        finally:
            self._tape.values = None
        loss_after = math.inf if diverged else self.evaluation_loss()
        return LearningRun(losses, lr, n, loss_after, diverged)

    # -- views ------------------------------------------------------------------------

    def plot_learning(
        self, n: int = 100, *, lr: float | None = None, low_pass: bool = False, ax=None
    ):
        """The loss of each of ``n`` samples learned from the checkpoint, on a log scale.

        The line is :meth:`learning_curve` ``(n, lr)`` against the sample number
        (1 to ``n``); with ``low_pass``, it is drawn faint and :func:`low_pass` of it on
        top. A dashed line marks the loss after the ``n`` samples (:meth:`evaluation_loss`,
        whose ``-log`` is the learning potential); the title gives the rate and the
        largest loss (003's ``maxloss``), or where the rate diverged. The bench is left
        as it was.

        Parameters
        ----------
        n : int, default 100
        lr : float, optional
            Default: the bench's rate.
        low_pass : bool, default False
            Also draw the smoothed curve (needs SciPy, the notebook extra).
        ax : matplotlib Axes, optional
            Draw into it instead of a new figure.

        Returns
        -------
        Figure, or ``ax`` when given
            A new figure displays itself in Jupyter (``fig.savefig(path)`` elsewhere), as
            every ``lw.plot`` figure; the caller's ``ax`` is returned as it is, as
            ``lw.plot`` does (the figure is the caller's to show).
        """
        run = self._learning_run(n, lr, "Bench.plot_learning")
        return _draw_learning(run, smoothed=bool(low_pass), ax=ax, loss=self.loss)

    def widget(self, n: int = 100) -> BenchView:
        """The interactive bench (ipywidgets): 003's ``knobs_plot_learning``.

        A learning-rate slider on a log scale (``FloatLogSlider``, 1e-4 to 1), a
        sample-count slider (1 to 10,000, applied on release), a reset button (new seed,
        new weights: :meth:`reset`), raw or low-pass loss (``ToggleButtons``), the
        :meth:`plot_learning` figure with the largest loss in its title, the network's
        weights as images (``lw.plot.weights``), and a status line.

        Every change rolls the bench back to its checkpoint and learns ``n`` samples at
        the slider's rate, in a background thread and in chunks of ~50 ms, so that the
        kernel stays free; a newer change cancels the run at the end of its chunk. The
        bench is left as trained (the weights shown are the network's), or at its
        checkpoint when the rate diverged. Call ``view.wait()`` to block until the view
        is up to date (a test, a script). Display the view by leaving it last in a cell.

        Parameters
        ----------
        n : int, default 100
            The sample count to start with.

        Returns
        -------
        BenchView
            Its controls (``lr_slider``, ``n_slider``, ``reset_button``, ``mode_toggle``,
            ``status``), what it drew (``losses``, ``lines``, ``weights``, ``title``) and
            ``wait()``.

        Raises
        ------
        LayerwiseError
            Without ipywidgets and SciPy: ``pip install "layerwise[notebook]"``.
        """
        n = positive_int(n, "Bench.widget: n")
        widgets = _require("ipywidgets", "Bench.widget")
        _require("scipy.signal", "Bench.widget (its low-pass loss)")
        return BenchView(self, n, widgets)

    def __repr__(self) -> str:
        source = "ideal" if self._ideal is not None else "data"
        return (
            f"Bench({self.model!r}, {source}=..., loss={self.loss!r}, lr={self.lr:g}, "
            f"seed={self.seed}, steps={self.session.steps})"
        )


# -- drawing --------------------------------------------------------------------------


def _draw_learning(run: LearningRun, *, smoothed: bool, ax=None, loss=None):
    """The learning-curve figure of one run (used by plot_learning and the widget)."""
    from layerwise.plot._common import _figure  # matplotlib, on first use only

    smooth = low_pass(run.losses) if smoothed else None
    given = ax
    fig, (ax,) = _figure(ax, 1, "Bench.plot_learning")
    ax.set_yscale("log")
    positive = run.losses[run.losses > 0]
    if len(positive):
        # Limits of our own, set before anything is drawn: matplotlib's log-scale margins
        # and tick positions overflow for losses near the float64 maximum (a diverging
        # rate), so the axis ends at _TOP and bigger losses run off it.
        low, high = float(positive.min()), float(positive.max())
        if math.isfinite(run.loss_after) and run.loss_after > 0:
            low, high = min(low, run.loss_after), max(high, run.loss_after)
        ax.set_ylim(min(low / 3, _TOP / 10), min(high * 3, _TOP))
    x = np.arange(1, len(run.losses) + 1)
    if smooth is None:
        ax.plot(x, run.losses, color="C0", lw=1.2, label="raw")
    else:
        ax.plot(x, run.losses, color="C0", lw=0.8, alpha=0.35, label="raw")
        ax.plot(x, smooth, color="C0", lw=2.0, label="low pass")
    if math.isfinite(run.loss_after) and run.loss_after > 0:
        ax.axhline(
            run.loss_after,
            color="C1",
            ls="--",
            lw=1.0,
            label=f"loss after {run.n:,}: {run.loss_after:.3g} (potential {run.potential:.3g})",
        )
    ax.set_xlim(0.5, max(run.n, 2) + 0.5)
    ax.set(xlabel="sample", ylabel="loss" if loss is None else f"loss ({type(loss).__name__})")
    biggest = f"max loss {run.losses.max():.3g}" if len(run.losses) else "no loss"
    if run.diverged:  # two lines: one would not fit the panel
        ax.set_title(f"lr {run.lr:.3g}: {biggest}\ndiverged at sample {len(run.losses) + 1:,}")
    else:
        ax.set_title(f"lr {run.lr:.3g}: {biggest}")
    if len(run.losses):
        ax.legend(loc="upper right", fontsize="small")
    return fig if given is None else given


def _png(fig, dpi: int = 90) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# -- the widget -----------------------------------------------------------------------


class BenchView:
    """The interactive view of a :class:`Bench` (made by :meth:`Bench.widget`).

    Displays itself in Jupyter. Controls: ``lr_slider`` (``FloatLogSlider``),
    ``n_slider`` (``IntSlider``), ``reset_button`` (``Button``), ``mode_toggle``
    (``ToggleButtons``: ``"raw"`` / ``"low pass"``); ``status`` (a ``Label``) says what it
    is doing; ``loss_image`` and ``weights_image`` are ``Image`` widgets showing PNGs of
    ``loss_figure`` and ``weights_figure``. Setting a control (``view.n_slider.value =
    500``, ``view.reset_button.click()``) schedules the work and returns at once.

    Attributes
    ----------
    bench : Bench
    run : LearningRun or None
        The last completed run (``run.losses`` the raw losses, ``run.lr``, ``run.n``).
    losses : ndarray
        ``run.losses``.
    lines : dict of str to ndarray
        The y data of the lines drawn in the loss figure, by label: ``"raw"``, and
        ``"low pass"`` in that mode.
    weights : list of ndarray
        The arrays drawn in the weights figure, one per Linear layer: ``np.vstack([W, b])``.
    title : str
        The loss figure's title.
    busy : bool
        Whether work is pending or running.
    error : Exception or None
        What the last update raised (shown in ``status``; :meth:`wait` raises it).
    """

    def __init__(self, bench: Bench, n: int, widgets):
        self.bench = bench
        low, high = LR_EXPONENTS
        exponent = math.log10(bench.lr)
        self.lr_slider = widgets.FloatLogSlider(
            value=bench.lr,
            base=10,
            min=min(low, math.floor(exponent)),
            max=max(high, math.ceil(exponent)),
            step=0.05,
            description="lr",
            readout_format=".2e",
            continuous_update=True,
        )
        self.n_slider = widgets.IntSlider(
            value=n,
            min=N_RANGE[0],
            max=max(N_RANGE[1], n),
            description="samples",
            continuous_update=False,
        )
        self.reset_button = widgets.Button(
            description="Reset", icon="refresh", tooltip="new seed, new weights"
        )
        self.mode_toggle = widgets.ToggleButtons(
            options=["raw", "low pass"], value="raw", description="loss"
        )
        self.status = widgets.Label(value="")
        self.loss_image = widgets.Image(format="png")
        self.weights_image = widgets.Image(format="png")
        self.box = widgets.VBox(
            [
                widgets.HBox([self.lr_slider, self.n_slider, self.reset_button]),
                widgets.HBox([self.mode_toggle, self.status]),
                widgets.HBox([self.loss_image, self.weights_image]),
            ]
        )
        self.run: LearningRun | None = None
        self.loss_figure = self.weights_figure = None
        self.error: Exception | None = None
        self._key = None  # (lr, n, bench version) of self.run
        self._cond = threading.Condition()
        self._wanted = self._done = 0  # generations of work asked for and finished
        self._resets = 0  # reset clicks not yet carried out
        self._thread: threading.Thread | None = None
        self._closed = False
        self.lr_slider.observe(self._changed, names="value")
        self.n_slider.observe(self._changed, names="value")
        self.mode_toggle.observe(self._changed, names="value")
        self.reset_button.on_click(self._clicked)
        self.refresh()

    # -- what tests and notebooks read -----------------------------------------------

    @property
    def losses(self) -> np.ndarray:
        return np.empty(0) if self.run is None else self.run.losses

    @property
    def lines(self) -> dict[str, np.ndarray]:
        if self.loss_figure is None:
            return {}
        ax = self.loss_figure.axes[0]
        return {
            line.get_label(): np.asarray(line.get_ydata(), dtype=np.float64)
            for line in ax.lines
            if line.get_label() in ("raw", "low pass")
        }

    @property
    def weights(self) -> list[np.ndarray]:
        if self.weights_figure is None:
            return []
        return [np.asarray(im.get_array()) for ax in self.weights_figure.axes for im in ax.images]

    @property
    def title(self) -> str:
        return "" if self.loss_figure is None else self.loss_figure.axes[0].get_title()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._done != self._wanted

    def wait(self, timeout: float = 60.0) -> BenchView:
        """Block until the view shows its controls' current values; return the view.

        Raises
        ------
        TimeoutError
            When the work takes longer than ``timeout`` seconds (it goes on).
        Exception
            What the update raised, if it failed (also shown in ``status``).
        """
        timeout = real_number(timeout, "BenchView.wait: timeout", minimum=0.0)
        with self._cond:
            if not self._cond.wait_for(lambda: self._done == self._wanted, timeout):
                raise TimeoutError(
                    f"The bench view is still busy after {timeout:g} s ({self.status.value!r})."
                )
        if self.error is not None:
            raise self.error
        return self

    def refresh(self) -> None:
        """Bring the view up to date with the bench (e.g. after ``bench.checkpoint()``
        or a new ``bench.ideal`` in another cell); returns at once."""
        if self._closed:
            return
        # Before the request: the worker's messages about it must come after this one.
        self.status.value = "working…"
        with self._cond:
            self._wanted += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="layerwise-bench", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """Stop the work and close the widgets."""
        with self._cond:
            self._closed = True
            self._done = self._wanted
            self._cond.notify_all()
        self.box.close()
        for child in (
            self.lr_slider,
            self.n_slider,
            self.reset_button,
            self.mode_toggle,
            self.status,
            self.loss_image,
            self.weights_image,
        ):
            child.close()

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"BenchView({self.bench!r}, lr={self.lr_slider.value:g}, n={self.n_slider.value})"

    # -- event handlers (the kernel's thread: they only schedule) ---------------------

    def _changed(self, change) -> None:
        self.refresh()

    def _clicked(self, button) -> None:
        with self._cond:
            self._resets += 1
        self.refresh()

    # -- the worker thread ------------------------------------------------------------

    def _work(self) -> None:
        """Carry out the newest request until none is left, then end the thread."""
        while True:
            with self._cond:
                if self._done == self._wanted or self._closed:
                    self._thread = None
                    self._cond.notify_all()
                    return
                generation = self._wanted
                resets, self._resets = self._resets, 0
            try:
                self.error = None
                self._update(generation, resets)
            except Exception as e:  # shown in the status line and raised by wait()
                self.error = e
                self.status.value = f"error: {type(e).__name__}: {e}"
            with self._cond:
                self._done = max(self._done, generation)
                self._cond.notify_all()

    def _superseded(self, generation: int) -> bool:
        with self._cond:
            return self._wanted != generation or self._closed

    def _update(self, generation: int, resets: int) -> None:
        bench = self.bench
        with bench._lock:
            for _ in range(resets):
                bench.reset()
            lr, n = float(self.lr_slider.value), int(self.n_slider.value)
            key = (lr, n, bench._version)
            trained = key != self._key
            if trained:

                def progress(done: int, total: int) -> None:
                    self.status.value = f"training: {done:,} / {total:,} samples at lr {lr:.3g}…"

                progress(0, n)
                run = bench._run(
                    n, lr, cancelled=lambda: self._superseded(generation), progress=progress
                )
                # Cancelled (a newer request, or closed): never leave the bench half-way.
                # Diverged: the guard's restore point depends on the chunks; this does not.
                if run is None or run.diverged:
                    bench.session.rollback(_CHECKPOINT)
                    bench.session.optimizer.lr = lr
                if run is None:
                    return
                self.run, self._key = run, key
            # The weights change only by training (a new mode only redraws the losses).
            weights_figure = _weights_figure(bench.model) if trained else self.weights_figure
        if self._superseded(generation):
            return
        self.status.value = "drawing…"
        loss_figure = _draw_learning(
            self.run, smoothed=self.mode_toggle.value == "low pass", loss=bench.loss
        )
        self.loss_image.value = _png(loss_figure)
        self.loss_figure = loss_figure
        if trained and weights_figure is not None:
            self.weights_image.value = _png(weights_figure)
        self.weights_figure = weights_figure
        run = self.run
        if run.diverged:
            self.status.value = (
                f"diverged after {len(run.losses):,} samples at lr {run.lr:.3g}: lower the "
                "rate (the bench went back to its checkpoint)"
            )
        else:
            self.status.value = (
                f"{run.n:,} samples at lr {run.lr:.3g}: loss after them {run.loss_after:.3g}, "
                f"learning potential {run.potential:.3g} (seed {bench.seed})"
            )


def _weights_figure(model):
    """``lw.plot.weights(model)``, or None for a model without weight matrices."""
    from layerwise.plot import weights

    try:
        return weights(model)
    except LayerwiseError:
        return None
