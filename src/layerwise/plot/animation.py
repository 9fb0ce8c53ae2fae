"""Recording a training run and turning it into a GIF (``lw.plot.Recorder``, ``animate``,
``GIF``)."""

from __future__ import annotations

import base64
import io
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib
import numpy as np
from matplotlib.animation import PillowWriter
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from PIL import Image

from layerwise import losses as _losses
from layerwise import metrics as _metrics
from layerwise._checks import LayerwiseError, as_matrix, numeric_array, positive_int, real_number
from layerwise.activations import Sigmoid, Softmax
from layerwise.callbacks import Callback
from layerwise.plot._common import (
    _DIVERGING,
    _binary_scale,
    _class_labels,
    _draw_boundary,
    _draw_fit_1d,
    _fit_1d_view,
    _grid,
    _grid_around,
    _IntegerTicks,
    _predict,
)
from layerwise.plot.figures import image_grid
from layerwise.session import Session

# set_layout_engine(None) reads these to pick an engine; switched off, it leaves none.
_NO_LAYOUT = {"figure.autolayout": False, "figure.constrained_layout.use": False}

# -- animations of training -----------------------------------------------------------------

_VIEWS = (
    "auto",
    "decision_boundary",
    "function_map",
    "fit_1d",
    "images",
    "confusion",
    "scatter",
    "loss",
)
_CURVE_POINTS = 200  # inputs along which 1-D fits are recorded and drawn
_IMAGES = 16  # images whose predicted class the "images" view shows
_TABLE_POINTS = 500  # samples of the "confusion" and "scatter" views


class Frame(NamedTuple):
    """One recorded moment of training.

    Attributes
    ----------
    step : int
        Optimizer steps done when it was recorded (0: before training).
    output : ndarray (m, outputs) or None
        ``model.predict(recorder.points)`` at that step; None for the "loss" view.
    """

    step: int
    output: np.ndarray | None


class Recorder(Callback):
    """Record the loss and the network's predictions during ``fit``, for :func:`animate`.

    A callback: every step it keeps the batch loss; every ``every`` steps (and before
    the first and after the last) it keeps ``model.predict`` on a fixed set of inputs
    :attr:`points`, as a :class:`Frame`. Only these small arrays are stored; figures
    are drawn later by :func:`animate`.

    The prediction view, chosen at the start of ``fit`` when ``view="auto"``:
    ``"decision_boundary"`` for 2 inputs and a classification loss
    (``CrossEntropy``, ``BinaryCrossEntropy``), ``"function_map"`` for 2 inputs and 1
    output otherwise, ``"fit_1d"`` for 1 input. With more inputs, and ``X`` and ``y``
    given: ``"images"`` for classifying square images (digits, MNIST: the predicted
    class of the first 16 images of ``X``, green when right, red when wrong),
    ``"confusion"`` for other classification (the confusion matrix on the first 500
    rows of ``X``), ``"scatter"`` for one regression output (predicted against true
    values on the first 500 rows). ``"loss"`` (the loss curve alone) for anything else.
    Pass held-out data as ``X, y`` to watch what the network learns beyond its batches.

    Cost: a ``predict`` on the grid per frame and two list appends per step. Time per
    step without and with a default recorder (median of 7 runs): moons (1000 points,
    2-16-1) full batch 75 -> 78 µs (+4%), batches of 32 47 -> 50 µs (+6%); the 2-100-1
    net of notebook 000 on ``function2d`` (1000 points) full batch +3%, batches of 32
    +19% (the worst case: a 50 x 50 grid through 100 units costs ten such steps);
    digits with the "loss" view +0%. Lower ``every`` or raise ``resolution`` with
    that in mind.

    Parameters
    ----------
    X : array (n, features), optional
        Training inputs, which place the grid: around the points widened by ``margin``
        for a decision boundary (which needs ``X`` and draws the points), the square
        from ``X.min()`` to ``X.max()`` for a function map ([-0.5, 0.5]^2 without
        ``X``), the interval of ``X`` for a 1-D fit ([0, 1] without ``X``).
    y : array (n,) or (n, outputs), optional
        Class labels colouring the points of a decision boundary, or the targets
        drawn with a 1-D fit.
    every : int, default 50
        Steps between frames.
    view : {"auto", "decision_boundary", "function_map", "fit_1d", "images", "confusion", \
"scatter", "loss"}
    resolution : int, default 50
        Grid points per side for 2-D views (1-D fits use 200 inputs).
    margin : float, default 0.5

    Attributes
    ----------
    frames : list of Frame
    steps, losses : list of int, list of float
        Every optimizer step seen and its batch loss.
    points : ndarray (m, inputs) or None
        The inputs of every frame's prediction, set at the start of the first ``fit``.
    view : str
        The view in use (resolved from "auto" at the start of the first ``fit``).

    Examples
    --------
    >>> import layerwise as lw
    >>> X, y = lw.data.moons(200, seed=0)
    >>> model = lw.Sequential([lw.Linear(2, 16), lw.ReLU(), lw.Linear(16, 2)], seed=0)
    >>> recorder = Recorder(X, y=y, every=10)
    >>> _ = model.fit(X, y, loss="cross_entropy", optimizer="adam", epochs=5,
    ...               callbacks=[recorder], progress=False)
    >>> recorder.view, [f.step for f in recorder.frames][:3]
    ('decision_boundary', [0, 10, 20])
    """

    def __init__(
        self,
        X: ArrayLike | None = None,
        y: ArrayLike | None = None,
        *,
        every: int = 50,
        view: str = "auto",
        resolution: int = 50,
        margin: float = 0.5,
    ):
        if view not in _VIEWS:
            raise LayerwiseError(
                f"Recorder view must be one of {', '.join(map(repr, _VIEWS))}; got {view!r}."
            )
        self.every = positive_int(every, "Recorder every")
        self.resolution = positive_int(resolution, "Recorder resolution")
        self.margin = real_number(margin, "Recorder margin", minimum=0.0)
        self.view = view
        self.X = None if X is None else as_matrix(X, "Recorder X", np.float64)
        self.y = None if y is None else numeric_array(y, "Recorder y")
        if self.y is not None and self.X is not None and len(self.y) != len(self.X):
            raise LayerwiseError(
                f"Recorder got {len(self.X)} points in X but {len(self.y)} targets in y."
            )
        self.frames: list[Frame] = []
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.points: np.ndarray | None = None
        self._grid_shape: tuple[int, ...] = ()
        self._probabilities: bool | None = None
        self._offset = 0

    def _setup(self, model, loss) -> None:
        """Choose the view and the grid, from the model, the loss and ``X``."""
        n_in = getattr(model, "in_features", None)
        if n_in is None and self.X is not None:
            n_in = self.X.shape[1]
        classify = isinstance(loss, (_losses.CrossEntropy, _losses.BinaryCrossEntropy))
        n_out = getattr(model, "out_features", None)
        view = self.view
        if view == "auto":
            if n_in == 1:
                view = "fit_1d"
            elif n_in == 2:
                view = "decision_boundary" if classify else "function_map"
                if not classify and n_out != 1:
                    view = "loss"
            else:
                view = _table_view(n_in, classify, n_out, self.X is not None and self.y is not None)
        if view in ("images", "confusion", "scatter") and (self.X is None or self.y is None):
            raise LayerwiseError(f"Recorder view {view!r} needs X and y: Recorder(X, y=y).")
        if view == "images" and not _is_square(self.X.shape[1]):
            raise LayerwiseError(
                f"Recorder view 'images' needs square images; the {self.X.shape[1]} features "
                "of X are not a perfect square."
            )
        needs = {"decision_boundary": 2, "function_map": 2, "fit_1d": 1}.get(view)
        if needs is not None and n_in != needs:
            raise LayerwiseError(
                f"Recorder view {view!r} needs a model with {needs} input(s); this one takes "
                f"{n_in}."
            )
        if self.X is not None and needs is not None and self.X.shape[1] != needs:
            raise LayerwiseError(f"Recorder X has shape {self.X.shape}; expected (n, {needs}).")
        if view == "decision_boundary":
            if self.X is None:
                raise LayerwiseError(
                    "Recorder needs X to place the decision-boundary grid: Recorder(X, y=y)."
                )
            points, xx, _ = _grid_around(self.X, self.margin, self.resolution)
        elif view == "function_map":
            low, high = (-0.5, 0.5) if self.X is None else (self.X.min(), self.X.max())
            points, xx, _ = _grid((low, high), (low, high), self.resolution)
        elif view == "fit_1d":
            low, high = (0.0, 1.0) if self.X is None else (self.X.min(), self.X.max())
            points = np.linspace(low, high, _CURVE_POINTS).reshape(-1, 1)
            xx = points[:, 0]
        elif view in ("images", "confusion", "scatter"):
            points = self.X[: _IMAGES if view == "images" else _TABLE_POINTS]
            xx = points[:, 0]
        else:
            points, xx = np.empty((0, n_in or 0)), np.empty(0)
        # In the model's dtype, so that predict does not cast the grid at every frame.
        points = points.astype(getattr(model, "dtype", np.float64), copy=False)
        self.view, self.points, self._grid_shape = view, points, xx.shape
        layers = getattr(model, "layers", None)
        self._probabilities = isinstance(layers[-1], (Sigmoid, Softmax)) if layers else None
        drawn = ("decision_boundary", "fit_1d", "images", "confusion", "scatter")
        if self.y is not None and self.X is not None and view in drawn:
            self._check_targets(_predict(model, points[:1]).shape[1])

    def _check_targets(self, outputs: int) -> None:
        """Refuse targets that cannot be drawn now, rather than when animating."""
        if self.view in ("decision_boundary", "images", "confusion"):
            _class_labels(self.y, len(self.X), outputs, "Recorder")
        elif self.y.reshape(len(self.y), -1).shape[1] != outputs:
            raise LayerwiseError(
                f"Recorder y has shape {self.y.shape}; expected ({len(self.y)}, {outputs}), one "
                "column per network output."
            )

    def _record(self, model, step: int) -> None:
        output = None if self.view == "loss" else _predict(model, self.points)
        self.frames.append(Frame(step, output))

    def on_train_begin(self, run: Session) -> None:
        if self.points is None:
            self._setup(run.model, run.loss)
        # A new fit of the same model counts its steps from 0 again: carry on the count.
        last = self.frames[-1].step if self.frames else 0
        self._offset = last - run.steps if run.steps < last else 0
        if not self.frames or last != run.steps + self._offset:
            self._record(run.model, run.steps + self._offset)

    def on_batch_end(self, run: Session, step: int, loss: float) -> None:
        step += self._offset
        self.steps.append(step)
        self.losses.append(loss)
        if step % self.every == 0:
            self._record(run.model, step)

    def on_train_end(self, run: Session) -> None:
        step = run.steps + self._offset
        if self.frames and self.frames[-1].step != step:
            self._record(run.model, step)


def _table_view(n_in, classify: bool, n_out, has_data: bool) -> str:
    """The view for a model of more than 2 inputs: what it predicts on rows of ``X``."""
    if not has_data:
        return "loss"
    if classify:
        return "images" if _is_square(n_in or 0) else "confusion"
    return "scatter" if n_out == 1 else "loss"


def _is_square(features: int) -> bool:
    side = math.isqrt(features)
    return side >= 4 and side * side == features


def _predicted_classes(output: np.ndarray, probabilities: bool) -> np.ndarray:
    if output.shape[1] > 1:
        return output.argmax(axis=1)
    return (output[:, 0] > (0.5 if probabilities else 0.0)).astype(np.int64)


def _painter(rec: Recorder):
    """``(paint(ax, output) -> caption or None, colour mappable or None)`` for one frame's
    prediction panel.

    Colour scales and axis limits are fixed over all frames, so that the frames compare.
    """
    outputs = np.stack([f.output for f in rec.frames])
    if rec.view in ("images", "confusion", "scatter"):
        return _table_painter(rec, outputs), None
    if rec.view == "decision_boundary":
        _, xx, yy = _grid_around(rec.X, rec.margin, rec.resolution)
        k = outputs.shape[-1]
        probabilities = rec._probabilities
        if probabilities is None:
            probabilities = bool(outputs.min() >= 0 and outputs.max() <= 1)
        scale = _binary_scale(probabilities, outputs)
        labels = None if rec.y is None else _class_labels(rec.y, len(rec.X), k, "Recorder")

        def paint(ax, output):
            grid_output = output.reshape(*xx.shape, k)
            _draw_boundary(ax, xx, yy, grid_output, probabilities, scale, rec.X, labels)

        return paint, ScalarMappable(Normalize(*scale), _DIVERGING) if k == 1 else None
    if rec.view == "function_map":
        low, high = float(rec.points[0, 0]), float(rec.points[-1, 0])
        norm = Normalize(float(outputs.min()), float(outputs.max()))

        def paint(ax, output):
            image = output[:, 0].reshape(rec._grid_shape)
            ax.imshow(image, origin="lower", extent=(low, high, low, high), norm=norm)
            ax.set(xlabel="x0", ylabel="x1")

        return paint, ScalarMappable(norm, matplotlib.rcParams["image.cmap"])
    # fit_1d: the data points need both X and y.
    y = None if rec.y is None or rec.X is None else rec.y.reshape(len(rec.y), -1)
    view = _fit_1d_view("auto", outputs.shape[-1], "Recorder")
    shown = np.concatenate([outputs.reshape(-1, outputs.shape[-1])] + ([] if y is None else [y]))
    low, high = shown.min(axis=0), shown.max(axis=0)
    pad = 0.05 * np.maximum(high - low, 1e-9)
    if view == "plane":
        limits = {"xlim": (low[0] - pad[0], high[0] + pad[0])}
        limits["ylim"] = (low[1] - pad[1], high[1] + pad[1])
    else:
        limits = {"ylim": (low.min() - pad.max(), high.max() + pad.max())}

    def paint(ax, output):
        _draw_fit_1d(ax, rec.points, output, rec.X, y, view)
        ax.set(**limits)

    return paint, None


def _table_painter(rec: Recorder, outputs: np.ndarray):
    """The painter of the views that show predictions on rows of ``X``."""
    m, k = len(rec.points), outputs.shape[-1]
    if rec.view == "scatter":
        true = rec.y[:m].reshape(m).astype(np.float64)
        shown = np.concatenate([outputs[..., 0].ravel(), true])
        finite = shown[np.isfinite(shown)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        pad = 0.05 * (high - low) or 1.0
        limits = (low - pad, high + pad)

        def paint(ax, output):
            ax.plot(limits, limits, color="0.5", linestyle="--", linewidth=1)
            ax.scatter(true, output[:, 0], s=8, alpha=0.6, color="C0")
            ax.set(xlim=limits, ylim=limits, xlabel="true value", ylabel="predicted value")
            return f"R² {_metrics.r2(true, output[:, 0]):.3f} on {m} samples"

        return paint
    probabilities = bool(rec._probabilities)
    true = _class_labels(rec.y[:m], m, k, "Recorder")
    classes = max(k, 2)
    if rec.view == "images":
        cols = math.ceil(math.sqrt(m))
        side = math.isqrt(rec.points.shape[1])

        def paint(ax, output):
            image_grid(rec.points, n=m, ax=ax)
            predicted = _predicted_classes(output, probabilities)
            for i, (guess, label) in enumerate(zip(predicted, true)):
                x, y = (i % cols) * (side + 1) - 0.5, (i // cols) * (side + 1) - 0.5
                color = "limegreen" if guess == label else "red"
                ax.text(x, y, str(guess), color=color, fontsize=9, fontweight="bold", va="top")
            right = int((predicted == true).sum())
            return f"{right} of {m} right (green)"

        return paint

    def paint(ax, output):
        predicted = _predicted_classes(output, probabilities)
        counts = np.zeros((classes, classes), dtype=np.int64)
        np.add.at(counts, (true, predicted), 1)
        ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(np.bincount(true).max(), 1))
        if classes <= 12:
            for (i, j), count in np.ndenumerate(counts):
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
        ax.set(xlabel="predicted class", ylabel="true class")
        ax.xaxis.set_major_locator(_IntegerTicks())
        ax.yaxis.set_major_locator(_IntegerTicks())
        return f"accuracy {np.mean(predicted == true):.3f} on {m} samples"

    return paint


def _loss_axes(ax, rec: Recorder, log: bool) -> None:
    """Fix the loss panel's limits to the whole run, so the curve grows into a still frame."""
    ax.set(title="training loss", xlabel="step", ylabel="batch loss")
    ax.xaxis.set_major_locator(_IntegerTicks())
    if log:
        ax.set_yscale("log")
    if not rec.steps:
        return
    ax.set_xlim(min(rec.frames[0].step, rec.steps[0]), max(rec.steps[-1], rec.steps[0] + 1))
    losses = np.asarray(rec.losses, dtype=np.float64)
    finite = losses[np.isfinite(losses) & ((losses > 0) if log else True)]
    if finite.size:
        low, high = finite.min(), finite.max()
        if log:
            ax.set_ylim(low / 1.2, high * 1.2)
        else:
            pad = 0.05 * (high - low) or 0.05 * abs(high) or 1.0
            ax.set_ylim(low - pad, high + pad)


def _write_recording(rec: Recorder, path: Path, writer: PillowWriter, dpi, log: bool) -> None:
    if not rec.frames:
        raise LayerwiseError(
            "The Recorder holds no frames: pass it to fit(..., callbacks=[recorder]) first."
        )
    paint, colors = (None, None) if rec.view == "loss" else _painter(rec)
    fig = Figure(figsize=(9.0 if paint else 5.0, 3.8), layout="constrained")
    axes = fig.subplots(1, 2 if paint else 1, squeeze=False)[0]
    if colors is not None:  # below its map: beside it, its label read as the loss axis' one
        fig.colorbar(colors, ax=axes[0], label="network output", location="bottom", shrink=0.8)
    _loss_axes(axes[-1], rec, log)
    steps, losses = np.asarray(rec.steps), np.asarray(rec.losses, dtype=np.float64)
    (curve,) = axes[-1].plot([], [], color="C0")
    with writer.saving(fig, str(path), dpi):
        for frame in rec.frames:
            seen = int(np.searchsorted(steps, frame.step, side="right"))
            curve.set_data(steps[:seen], losses[:seen])
            caption = None
            if paint:
                axes[0].clear()
                caption = paint(axes[0], frame.output)
            # The step in the title also keeps consecutive frames distinct: Pillow merges
            # identical ones, which would change the GIF's frame count.
            axes[0].set_title(f"step {frame.step}" + (f": {caption}" if caption else ""))
            writer.grab_frame()
            # The layout of the first frame holds for all: with a layout engine set,
            # savefig solves it and draws once more for every frame (half of the time).
            with matplotlib.rc_context(_NO_LAYOUT):
                fig.set_layout_engine(None)


def _write_figures(frames, path: Path, writer: PillowWriter, dpi) -> None:
    figures = list(frames) if isinstance(frames, Sequence) else []
    if not figures or not all(isinstance(f, Figure) for f in figures):
        raise LayerwiseError(
            "animate expects a Recorder or a non-empty sequence of Figures; got "
            f"{type(frames).__name__}."
        )
    sizes = {tuple(f.get_size_inches()) for f in figures}
    if len(sizes) > 1:
        raise LayerwiseError(f"animate: the figures must have one size; got {sorted(sizes)}.")
    with writer.saving(figures[0], str(path), dpi):
        for fig in figures:
            writer.fig = fig  # the writer grabs whatever figure it holds
            writer.grab_frame()


def _gif_path(path: str | Path, what: str) -> Path:
    """``path`` as a Path, checked before anything is drawn: a ``.gif`` name in a folder."""
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise LayerwiseError(
            f"{what} writes a GIF, so the file name must end in .gif; got {str(path)!r}."
        )
    if not path.parent.is_dir():
        raise LayerwiseError(f"{what}: the folder {str(path.parent)!r} does not exist.")
    return path


class GIF:
    """An animated GIF in memory: it displays inline in Jupyter and ``save`` writes it.

    :func:`animate` returns one. As the last expression of a notebook cell it shows as
    an ``image/gif`` output, which JupyterLab, Jupyter Notebook and VS Code render as an
    image (the notebook stores the file's bytes, base64-encoded); elsewhere its text
    form describes it.

    Parameters
    ----------
    data : bytes
        The bytes of a GIF file, e.g. ``Path("train.gif").read_bytes()``.

    Attributes
    ----------
    data : bytes
    size : (int, int)
        Width and height in pixels.
    n_frames : int
        Frames in the file.
    path : Path or None
        The file it was last saved to (by :meth:`save`, or by ``animate(..., path)``).

    Raises
    ------
    LayerwiseError
        When ``data`` is not a GIF file.

    Examples
    --------
    >>> gif = animate(recorder)  # doctest: +SKIP
    >>> gif.save("train.gif")  # doctest: +SKIP
    PosixPath('train.gif')
    """

    def __init__(self, data: bytes):
        data = bytes(data)
        if not data.startswith((b"GIF87a", b"GIF89a")):
            raise LayerwiseError(
                f"GIF expects the bytes of a GIF file (they start with b'GIF89a'); got "
                f"{data[:6]!r}. Read the file with Path(name).read_bytes()."
            )
        with Image.open(io.BytesIO(data)) as image:
            self.size: tuple[int, int] = image.size
            self.n_frames: int = image.n_frames
        self.data = data
        self.path: Path | None = None

    def save(self, path: str | Path) -> Path:
        """Write the GIF to ``path`` (a ``.gif`` file in an existing folder) and return it."""
        path = _gif_path(path, "GIF.save")
        path.write_bytes(self.data)
        self.path = path
        return path

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        # IPython has no GIF formatter of its own, so the bundle carries the image; binary
        # outputs travel base64-encoded, as IPython's Image does.
        return {"image/gif": base64.b64encode(self.data).decode("ascii")}

    def __repr__(self) -> str:
        width, height = self.size
        saved = "" if self.path is None else f", saved to {str(self.path)!r}"
        return (
            f"<GIF {width}x{height} px, {self.n_frames} frames, "
            f"{len(self.data) / 1024:.0f} KiB{saved}>"
        )


def animate(
    frames_or_recorder: Recorder | Sequence[Figure],
    path: str | Path | None = None,
    *,
    fps: float = 10,
    dpi: float = 80,
    log: bool = False,
) -> GIF:
    """A GIF of a training run (or of a list of figures), one frame per recording.

    For a :class:`Recorder`, each frame shows the prediction of that moment (left: a
    decision boundary, function map or 1-D fit, on colour scales fixed for the whole
    run) and the loss curve up to it (right), as the animations of notebooks 000 and
    004. Drawn with matplotlib's ``PillowWriter`` (no ffmpeg needed). The result
    displays inline in Jupyter; with ``path`` it is also written to that file.

    Parameters
    ----------
    frames_or_recorder : Recorder or sequence of Figure
        A recorder passed to ``fit``, or figures of equal size (one frame each).
    path : str or Path, optional
        A ``.gif`` file to write, in an existing folder (checked before drawing).
    fps : float, default 10
        Frames per second.
    dpi : float, default 80
        Resolution of the frames.
    log : bool, default False
        Log-scaled loss axis.

    Returns
    -------
    GIF
        The animation in memory (``.data``, ``.save(path)``; ``.path`` is ``path``). It
        holds exactly ``len(recorder.frames)`` (or ``len(figures)``) frames.

    Raises
    ------
    LayerwiseError
        For an empty recorder or list, figures of different sizes, a ``path`` not
        ending in ``.gif`` or in a missing folder, or a non-positive ``fps`` or ``dpi``.

    Examples
    --------
    >>> animate(recorder, "train.gif")  # doctest: +SKIP
    <GIF 720x304 px, 21 frames, 212 KiB, saved to 'train.gif'>
    """
    fps = real_number(fps, "animate: fps")
    dpi = real_number(dpi, "animate: dpi")
    if fps <= 0 or dpi <= 0:
        raise LayerwiseError(f"animate: fps and dpi must be positive; got fps={fps}, dpi={dpi}.")
    if path is not None:
        path = _gif_path(path, "animate")
    writer = PillowWriter(fps=fps)
    # PillowWriter saves to a file name (Pillow picks the format from its extension), so
    # the GIF is written to a temporary file and kept as bytes.
    with tempfile.TemporaryDirectory(prefix="layerwise-") as folder:
        encoded = Path(folder) / "animation.gif"
        if isinstance(frames_or_recorder, Recorder):
            _write_recording(frames_or_recorder, encoded, writer, dpi, log)
        else:
            _write_figures(frames_or_recorder, encoded, writer, dpi)
        gif = GIF(encoded.read_bytes())
    if path is not None:
        gif.save(path)
    return gif
