"""The package's public surface."""

from __future__ import annotations

import subprocess
import sys

import layerwise as lw


def test_every_public_name_exists():
    for name in lw.__all__:
        assert getattr(lw, name) is not None, name


def test_star_import_works_and_import_stays_light():
    star = subprocess.run(
        [sys.executable, "-c", "from layerwise import *"], capture_output=True, text=True
    )
    assert star.returncode == 0, star.stderr
    # A plain import leaves scikit-learn and matplotlib for lw.data and lw.plot to load.
    code = "import sys, layerwise; print('sklearn' in sys.modules, 'matplotlib' in sys.modules)"
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert plain.stdout.split() == ["False", "False"], plain.stderr


def test_errors_are_value_errors():
    assert issubclass(lw.LayerwiseError, ValueError)
    assert issubclass(lw.DivergenceError, lw.LayerwiseError)
