"""layerwise in Jupyter: what a fresh kernel shows, checked on the outputs of real cells.

One kernel (started by nbclient, as ``jupyter nbconvert --execute`` would) runs a
scripted notebook once for the module: first the cells of a fresh kernel, with no
``%matplotlib`` and no pyplot, then the same figures with the inline backend. Each
test reads the outputs of its cells, so the tests do not depend on their order.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the Jupyter tests need nbformat")
nbclient = pytest.importorskip("nbclient", reason="the Jupyter tests run a kernel with nbclient")
pytest.importorskip("ipykernel", reason="the Jupyter tests need ipykernel for their kernel")

from PIL import Image  # noqa: E402  (after the skips: nothing to import without Jupyter)

import layerwise as lw  # noqa: E402

WIDGET = "application/vnd.jupyter.widget-view+json"

SETUP = """
import sys
import layerwise as lw

X, y = lw.data.moons(200, seed=0)
model = lw.Sequential([lw.Linear(2, 8), lw.ReLU(), lw.Linear(8, 1), lw.Sigmoid()], seed=0)
recorder = lw.plot.Recorder(X, y=y, every=12, resolution=15)
hist = model.fit(X, y, loss=lw.BinaryCrossEntropy(), optimizer=lw.SGD(lr=1.0), epochs=3,
                 batch_size=50, callbacks=[recorder], progress=False)
lw.__file__
"""

# (name, source), run in this order: the fresh-kernel cells come before anything
# imports pyplot, which would turn matplotlib's inline backend on.
CELLS = [
    ("setup", SETUP),
    ("figure", "lw.plot.decision_boundary(model, X, y, resolution=30)"),
    ("assigned", "fig = lw.plot.history(hist)"),
    ("show", "fig.show()"),
    ("pyplot_imported", "'matplotlib.pyplot' in sys.modules"),
    ("summary", "model.summary()"),
    ("animation", "lw.plot.animate(recorder, fps=5, dpi=30)"),
    (
        "inline_callers_axes",
        "%matplotlib inline\n"
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\n"
        "lw.plot.decision_boundary(model, X, y, resolution=30, ax=ax)",
    ),
    ("inline_figure", "lw.plot.decision_boundary(model, X, y, resolution=30)"),
    ("inline_show", "lw.plot.weights(model).show()"),
]


class Notebook:
    """A kernel and the outputs of the cells it ran, by name; ``run`` runs one more."""

    def __init__(self, client, nb):
        self.client, self.nb, self.outputs = client, nb, {}

    def run(self, source: str) -> list:
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.nb.cells) - 1)
        return cell.outputs


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    nb = nbformat.v4.new_notebook()
    folder = tmp_path_factory.mktemp("notebook")  # the kernel's working directory
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        startup_timeout=60,
        kernel_name="python3",
        allow_errors=True,  # each test reports the errors of its own cells
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(folder)}},
    )
    with client.setup_kernel():
        book = Notebook(client, nb)
        for name, source in CELLS:
            book.outputs[name] = book.run(source)
        yield book


def describe(outputs) -> str:
    """The outputs, shortened, for assertion messages."""
    parts = []
    for out in outputs:
        if out.output_type == "stream":
            parts.append(f"{out.name}: {out.text[-300:]!r}")
        elif out.output_type == "error":
            parts.append("error:\n" + "\n".join(out.traceback))
        else:
            parts.append(f"{out.output_type}: {sorted(out.data)}")
    return "\n".join(parts) or "no outputs"


def without_errors(outputs) -> list:
    assert not [o for o in outputs if o.output_type == "error"], describe(outputs)
    return outputs


def images(outputs, mime: str = "image/png") -> list:
    return [o for o in outputs if o.output_type != "stream" and mime in o.get("data", {})]


def picture(output, mime: str = "image/png") -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(output.data[mime])))


def test_the_kernel_runs_this_layerwise(notebook):
    (out,) = without_errors(notebook.outputs["setup"])
    kernel_file = out.data["text/plain"].strip("'\"")
    assert Path(kernel_file).resolve() == Path(lw.__file__).resolve()


def test_a_figure_shows_itself_once_in_a_fresh_kernel(notebook):
    outputs = without_errors(notebook.outputs["figure"])
    assert len(outputs) == 1, describe(outputs)
    (out,) = images(outputs)
    assert out.output_type == "execute_result"
    assert picture(out).size == (520, 420)  # 5.2 x 4.2 inches at 100 dpi
    # Without %matplotlib: lw.plot never imported pyplot, so no backend was chosen.
    assert notebook.outputs["pyplot_imported"][0].data["text/plain"] == "False"


def test_a_figure_shows_only_when_it_is_the_cells_value_or_shown(notebook):
    assert without_errors(notebook.outputs["assigned"]) == []
    outputs = without_errors(notebook.outputs["show"])
    assert len(outputs) == 1 and outputs[0].output_type == "display_data", describe(outputs)
    assert picture(outputs[0]).size == (900, 360)


def test_summary_displays_an_html_table(notebook):
    outputs = without_errors(notebook.outputs["summary"])
    assert len(outputs) == 1, describe(outputs)
    (out,) = outputs
    assert out.output_type == "display_data"
    assert "<table>" in out.data["text/html"] and "Linear(2 -&gt; 8)" in out.data["text/html"]
    assert "Total parameters: 33" in out.data["text/plain"]


def test_an_animation_displays_inline(notebook):
    outputs = without_errors(notebook.outputs["animation"])
    assert len(outputs) == 1, describe(outputs)
    (out,) = images(outputs, "image/gif")
    gif = picture(out, "image/gif")
    assert gif.format == "GIF" and gif.n_frames == 2  # steps 0 and 12 (each frame costs ~0.4 s)
    assert out.data["text/plain"].startswith("<GIF ")


def test_drawing_on_pyplots_axes_shows_the_figure_once_with_the_inline_backend(notebook):
    outputs = without_errors(notebook.outputs["inline_callers_axes"])
    # pyplot's inline backend shows the caller's figure at the end of the cell; the
    # function returns the Axes (a line of text), not the figure a second time.
    (image,) = images(outputs)
    assert image.output_type == "display_data", describe(outputs)
    (value,) = [o for o in outputs if o.output_type == "execute_result"]
    assert list(value.data) == ["text/plain"] and value.data["text/plain"].startswith("<Axes")
    assert len(outputs) == 2, describe(outputs)


def test_a_figure_shows_once_with_the_inline_backend(notebook):
    for name in ("inline_figure", "inline_show"):
        outputs = without_errors(notebook.outputs[name])
        assert len(outputs) == 1 and len(images(outputs)) == 1, describe(outputs)


def visible_lines(outputs) -> list[str]:
    """The non-empty lines that the stream outputs leave on screen, per stream.

    As a frontend shows them: a carriage return goes back to the start of the line,
    which is how a text progress bar redraws itself.
    """
    lines = []
    for name in ("stdout", "stderr"):
        text = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == name)
        shown = (line.rsplit("\r", 1)[-1] for line in text.split("\n"))
        lines += [line for line in shown if line.strip()]
    return lines


@pytest.mark.parametrize("widgets", [True, False], ids=["notebook-bar", "text-bar"])
def test_fit_shows_one_progress_output_in_a_notebook(notebook, widgets):
    hide = "" if widgets else "import sys; sys.modules['ipywidgets'] = None  # not installed\n"
    notebook.run(
        hide + "X, y = lw.data.moons(seed=0)\n"
        "net = lw.Sequential([lw.Linear(2, 16), lw.ReLU(), lw.Linear(16, 1), lw.Sigmoid()], "
        "seed=0)"
    )
    outputs = without_errors(
        notebook.run(
            "_hist = net.fit(X, y, loss=lw.BinaryCrossEntropy(), optimizer=lw.SGD(lr=1.0),\n"
            "                epochs=1000, batch_size=None)"
        )
    )
    if not widgets:
        notebook.run("del sys.modules['ipywidgets']")
    # One progress output: a notebook bar (one widget display) or a text bar (stream
    # text that redraws one line), never one per epoch; and nothing else.
    displays = [o for o in outputs if o.output_type == "display_data"]
    lines = visible_lines(outputs)
    assert len(displays) + len(lines) == 1, describe(outputs)
    assert len([o for o in displays if WIDGET in o.data]) == (1 if widgets else 0)
    if not widgets:
        assert "Epoch 1000/1000" in lines[0] and "1000/1000" in lines[0], lines
        assert "IProgress" not in lines[0]
    assert all(o.output_type in ("display_data", "stream") for o in outputs), describe(outputs)
    (epochs,) = without_errors(notebook.run("len(_hist.history['loss'])"))
    assert epochs.data["text/plain"] == "1000"
