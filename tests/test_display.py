"""layerwise._display: kernel detection, display-or-print, rich text and HTML tables.

The real kernel is exercised in test_jupyter.py; here IPython is replaced by stand-ins
in ``sys.modules``, which is where ``in_kernel`` looks for it.
"""

from __future__ import annotations

import sys
import types

import pytest

from layerwise import _display


def fake_ipython(monkeypatch, shell):
    """Put stand-ins for ``IPython`` (whose shell is ``shell``) and ``IPython.display``
    in ``sys.modules``; return the list that the stand-in ``display`` appends to."""
    shown = []
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell
    display_module = types.ModuleType("IPython.display")
    display_module.display = shown.append
    ipython.display = display_module
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    return shown


class KernelShell:  # as ipykernel's ZMQInteractiveShell: it holds its kernel
    kernel = object()


class TerminalShell:  # as IPython's TerminalInteractiveShell: no kernel
    config = {"IPKernelApp": {}}  # even with kernel settings from a shared config file


@pytest.mark.parametrize(
    ("shell", "expected"), [(KernelShell(), True), (TerminalShell(), False), (None, False)]
)
def test_in_kernel_only_in_a_kernels_shell(monkeypatch, shell, expected):
    fake_ipython(monkeypatch, shell)
    assert _display.in_kernel() is expected


def test_in_kernel_without_ipython_imported_imports_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert _display.in_kernel() is False
    assert "IPython" not in sys.modules


def test_display_or_print_displays_in_a_kernel_and_prints_elsewhere(monkeypatch, capsys):
    text = _display.RichText("a table", "<table></table>")
    shown = fake_ipython(monkeypatch, KernelShell())
    _display.display_or_print(text)
    assert shown == [text] and capsys.readouterr().out == ""
    shown = fake_ipython(monkeypatch, TerminalShell())
    _display.display_or_print(text)
    assert shown == [] and capsys.readouterr().out == "a table\n"


def test_rich_text_is_its_text_with_an_html_twin():
    rich = _display.RichText("text", "<b>html</b>")
    assert str(rich) == repr(rich) == "text"
    assert rich._repr_html_() == "<b>html</b>"


def test_html_table_escapes_and_aligns():
    table = _display.html_table(
        ["#", "Layer"], [["0", "Linear(2 -> 4)"]], align=["right", "left"], footer="Total <5>"
    )
    assert table.startswith("<table>") and table.endswith("</table>")
    assert '<th style="text-align: right">#</th>' in table
    assert '<td style="text-align: left">Linear(2 -&gt; 4)</td>' in table
    assert '<td colspan="2" style="text-align: left">Total &lt;5&gt;</td>' in table
