"""The playground: watch and steer a network learn, in the browser, on the real engine.

``layerwise playground`` serves a page on 127.0.0.1 that drives a ``lw.Session`` in a
worker thread over one WebSocket (see :mod:`layerwise.playground.server`). The web
framework is an extra: ``pip install "layerwise[playground]"``. This package imports it
only in ``server``, so :mod:`layerwise.playground.datasets` (which the exported code
uses) needs NumPy and layerwise alone.
"""

from __future__ import annotations


def serve(host: str = "127.0.0.1", port: int = 8000, *, open_browser: bool = True) -> None:
    """Serve the playground until Ctrl+C; see :func:`layerwise.playground.server.serve`."""
    from layerwise.playground.server import serve as _serve

    _serve(host, port, open_browser=open_browser)
