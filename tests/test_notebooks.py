"""Every notebook in notebooks/ runs top to bottom on a fresh kernel of this environment,
reaches its result (each notebook checks it with plain asserts, so a missed result is a
cell that raises) and shows its figures.

The notebooks are stored without outputs. The tests execute them in memory, with a
temporary folder as the kernel's working folder, so nothing is written into the
repository. MNIST (notebook 001's last part)
runs when ../shared/data sits beside the repository: the kernel gets LAYERWISE_DATA
pointing there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXAMPLES = ROOT / "examples"
SHARED_DATA = ROOT.parent / "shared" / "data"

# The outputs each notebook must show, by MIME type: figures (image/png), animations
# (image/gif), widgets. Exact counts: one fewer is a figure that did not display, one
# more a figure shown twice.
FIGURES = {
    "000_function2d.ipynb": {"image/png": 5, "image/gif": 1},
    "001_digits_mnist.ipynb": {"image/png": 5},
    "002_moons.ipynb": {"image/png": 5},
    "003_online_facts.ipynb": {"image/png": 4, "application/vnd.jupyter.widget-view+json": 1},
    "004_curve1d.ipynb": {"image/png": 3, "image/gif": 1},
}
# Unless it prints that it skipped MNIST (it must not when ../shared/data is there),
# notebook 001 also shows a grid of MNIST images.
WITH_MNIST = {"001_digits_mnist.ipynb": {"image/png": 6}}
SKIPPED_MNIST = "MNIST skipped"
CELL_TIMEOUT = 300  # seconds; each notebook takes well under a minute in all


def _code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def test_every_notebook_is_listed():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(FIGURES)


def test_every_example_has_its_notebook():
    # Each notebook has its example script, and every other example continues a notebook
    # by its number (000_diagnostics.py trains notebook 000's deep net).
    notebooks = {Path(name).stem for name in FIGURES}
    examples = {p.stem for p in EXAMPLES.glob("*.py")}
    assert notebooks <= examples
    assert {e[:4] for e in examples} == {n[:4] for n in notebooks}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_stored_without_outputs(name):
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    dirty = [
        i
        for i, cell in enumerate(_code_cells(nb))
        if cell["outputs"] or cell["execution_count"] is not None
    ]
    assert not dirty, (
        f"{name}: code cells {dirty} were stored with outputs or execution counts; clear "
        f"them: jupyter nbconvert --clear-output --inplace notebooks/{name}"
    )


@pytest.fixture(scope="module")
def kernel_name():
    """The python3 kernel, checked to run this interpreter (the environment under test)."""
    pytest.importorskip("nbformat", reason="reading the notebooks needs nbformat")
    pytest.importorskip("nbclient", reason="executing the notebooks needs nbclient")
    pytest.importorskip("ipykernel", reason="the notebooks' kernel needs ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.fail("No Jupyter kernel named python3: pip install ipykernel")
    command = spec.argv[0]
    # jupyter_client starts a kernel whose command is plain "python" with sys.executable.
    major, minor = sys.version_info[:2]
    plain = {"python", f"python{major}", f"python{major}.{minor}"}
    assert command in plain or Path(command).resolve() == Path(sys.executable).resolve(), (
        f"The python3 kernel ({spec.resource_dir}) runs {command!r}, not this environment's "
        f"{sys.executable!r}; the notebooks would run against another installation."
    )
    return "python3"


def _outputs(nb) -> list[dict]:
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_and_reaches_its_result(name, kernel_name, tmp_path, monkeypatch):
    import nbclient
    import nbformat

    mnist = (SHARED_DATA / "mnist").is_dir()
    if mnist:
        monkeypatch.setenv("LAYERWISE_DATA", str(SHARED_DATA))  # the kernel inherits it
    repo_files = sorted(NOTEBOOKS.iterdir())
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working folder
    )
    client.execute()  # raises CellExecutionError, with the traceback, if a cell raises

    outputs = _outputs(nb)
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    skipped = SKIPPED_MNIST in printed  # the files may also be in the user's cache
    if mnist:
        assert not skipped, f"{name} skipped MNIST although the files are in {SHARED_DATA}"
    expected = {**FIGURES[name], **({} if skipped else WITH_MNIST.get(name, {}))}
    shown = {mime: sum(mime in o.get("data", {}) for o in outputs) for mime in expected}
    assert shown == expected, f"{name}: outputs by type {shown}, expected {expected}"
    assert sorted(NOTEBOOKS.iterdir()) == repo_files, f"{name} wrote into notebooks/"
