"""How layerwise shows things in a Jupyter kernel (private).

Only the standard library is imported here: IPython is looked up in ``sys.modules`` (a
kernel has always imported it), so that importing layerwise never imports IPython.
"""

from __future__ import annotations

import sys


def in_kernel() -> bool:
    """Whether this runs inside an IPython kernel (Jupyter, VS Code), not a terminal."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    # A kernel's shell holds the kernel that runs it; a terminal shell has none.
    return getattr(ipython.get_ipython(), "kernel", None) is not None
