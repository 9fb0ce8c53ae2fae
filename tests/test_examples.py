"""Every notebook experiment, reproduced by its example script: each exits with an
error unless it reaches its stated result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

EXPECTED = {
    "000_function2d.py": ["deep_net.png", "cost.png", "function_map.png", "training.gif"],
    "000_diagnostics.py": ["diagnostics.png"],
    "001_digits_mnist.py": [
        "digits.png",
        "history.png",
        "confusion.png",
        "optimizers.png",
        "initialization.png",
    ],
    "002_moons.py": ["decision_boundary.png", "learning_rates.png"],
    "003_online_facts.py": ["losses.png", "swap_weights.png"],
    "004_curve1d.py": ["fit.png", "cost.png", "training.gif"],
}


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_reaches_its_result(script, tmp_path):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    for name in EXPECTED[script]:
        assert (tmp_path / name).stat().st_size > 1000, name
