"""How layerwise shows things: in a Jupyter kernel through IPython's display system,
elsewhere as text (private).

Only the standard library is imported here: IPython is looked up in ``sys.modules``
(a kernel has always imported it) and imported inside the functions that display, so
that importing layerwise never imports IPython.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Sequence


def in_kernel() -> bool:
    """Whether this runs inside an IPython kernel (Jupyter, VS Code), not a terminal.

    True when the running IPython shell belongs to a kernel, whose frontend renders
    rich output (HTML, images, widgets); False in a script, a plain Python prompt and a
    terminal IPython, which show text only.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    # A kernel's shell (ipykernel's ZMQInteractiveShell) holds the kernel that runs it;
    # a terminal shell has no such attribute. This is more precise than looking for
    # "IPKernelApp" in the shell's config, which a shared ipython_config.py can hold.
    return getattr(shell, "kernel", None) is not None


def display(obj) -> None:
    """Show ``obj`` with IPython's ``display`` (its richest form the frontend renders)."""
    from IPython.display import display as ipython_display  # IPython is loaded in a kernel

    ipython_display(obj)


def display_or_print(obj) -> None:
    """Display ``obj`` in a kernel; elsewhere print ``str(obj)`` on stdout."""
    if in_kernel():
        display(obj)
    else:
        print(obj)


class RichText:
    """Text with an HTML twin: a notebook shows the HTML, everything else the text.

    ``str()``, ``repr()`` and the ``text/plain`` form are the text; ``_repr_html_``
    gives the HTML.
    """

    def __init__(self, text: str, html: str):
        self.text = text
        self.html = html

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    align: Sequence[str] | None = None,
    footer: str | None = None,
) -> str:
    """An HTML ``<table>`` of strings, escaped, with a header row and an optional footer.

    Parameters
    ----------
    header : sequence of str
        Column titles.
    rows : sequence of sequences of str
        One entry per column in each row.
    align : sequence of {"left", "right", "center"}, optional
        Alignment per column (default: left). Set explicitly because notebook themes
        differ (JupyterLab right-aligns every cell).
    footer : str, optional
        A last row spanning every column, e.g. a total.
    """
    align = list(align) if align is not None else ["left"] * len(header)

    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(
            f'<{tag} style="text-align: {a}">{html.escape(str(v))}</{tag}>'
            for a, v in zip(align, values)
        )

    lines = ["<table>", f"<thead><tr>{cells('th', header)}</tr></thead>", "<tbody>"]
    lines += [f"<tr>{cells('td', row)}</tr>" for row in rows]
    lines.append("</tbody>")
    if footer is not None:
        lines.append(
            f'<tfoot><tr><td colspan="{len(header)}" style="text-align: left">'
            f"{html.escape(footer)}</td></tr></tfoot>"
        )
    lines.append("</table>")
    return "\n".join(lines)
