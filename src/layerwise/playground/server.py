"""The playground's web server: FastAPI for the page and one WebSocket per page.

- ``GET /`` serves the page, ``/static/...`` its script and style (shipped in the wheel).
- ``/ws`` is the page's WebSocket: commands up, frames and replies down. Each
  connection gets its own :class:`~layerwise.playground.engine.Engine` (a worker thread
  with a ``lw.Session``), ended when the socket closes; at most ``max_sessions`` at once.

Safety for a server on one's own machine: it binds 127.0.0.1 unless told otherwise;
requests whose ``Host`` is not one of the server's names are refused (DNS rebinding);
a WebSocket whose ``Origin`` is another site's is refused (a page elsewhere may open a
socket to localhost); every message is validated (:mod:`layerwise.playground.protocol`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import warnings
import webbrowser
from importlib import resources
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI, WebSocket
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from layerwise._checks import LayerwiseWarning
from layerwise.playground import protocol
from layerwise.playground.engine import Engine

STATIC = resources.files("layerwise.playground") / "static"
MAX_SESSIONS = 4
MAX_UNSENT_REPLIES = 512  # replies (acks, downloads) waiting for a page that does not read
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
# 'self' covers the page's own WebSocket; nothing is loaded from anywhere else.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(*, hosts=LOOPBACK_NAMES, max_sessions: int = MAX_SESSIONS) -> FastAPI:
    """The playground app, answering only to the host names ``hosts``."""
    app = FastAPI(title="layerwise playground", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))
    app.state.sessions = 0
    app.state.lock = threading.Lock()

    @app.middleware("http")
    async def security_headers(request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/")
    async def index():
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.websocket("/ws")
    async def page_socket(websocket: WebSocket):
        origin = websocket.headers.get("origin")
        if origin is not None and not same_origin(origin, websocket.headers.get("host", "")):
            await websocket.close(code=1008, reason="foreign origin")  # refused handshake
            return
        with app.state.lock:
            full = app.state.sessions >= max_sessions
            if not full:
                app.state.sessions += 1
        await websocket.accept()
        if full:
            message = (
                f"The playground runs at most {max_sessions} pages at once; close one and reload."
            )
            await websocket.send_json({"type": "error", "message": message})
            await websocket.close(code=1013)
            return
        try:
            await _serve_page(websocket)
        finally:
            with app.state.lock:
                app.state.sessions -= 1

    return app


def same_origin(origin: str, host: str) -> bool:
    """Whether a WebSocket's ``Origin`` is the page this server sent (same host:port)."""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


async def _serve_page(websocket: WebSocket) -> None:
    """Run one page: its engine, a sender that keeps only the newest frame, the reader."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    replies: asyncio.Queue = asyncio.Queue()
    newest: dict = {}

    def deliver(message: dict) -> None:  # on the event loop
        if message.get("type") == "frame":
            newest["frame"] = message  # an older frame not yet sent is dropped
        else:
            replies.put_nowait(message)
        wake.set()

    def publish(message: dict) -> None:  # from any thread
        with contextlib.suppress(RuntimeError):  # the loop is gone: the page left
            loop.call_soon_threadsafe(deliver, message)

    async def sender() -> None:
        while True:
            await wake.wait()
            wake.clear()
            while not replies.empty():
                await websocket.send_text(_json(replies.get_nowait()))
            frame = newest.pop("frame", None)
            if frame is not None:
                await websocket.send_text(_json(frame))

    engine = await loop.run_in_executor(None, Engine, publish)
    engine.start()
    sending = asyncio.create_task(sender())
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            try:
                command = protocol.parse(text if text is not None else message.get("bytes", b""))
            except protocol.ProtocolError as e:
                publish({"type": "error", "message": str(e)})
                continue
            if replies.qsize() > MAX_UNSENT_REPLIES:  # a client that sends but never reads
                await websocket.close(code=1008, reason="messages are not being read")
                break
            if not engine.submit(command):
                publish({"type": "error", "message": "Too many commands waiting; slow down."})
    finally:
        engine.close()  # at once, even if this task is being cancelled
        sending.cancel()
        await loop.run_in_executor(None, engine.stop)


def _json(message: dict) -> str:
    """Strict JSON (no NaN, which browsers cannot parse): a bug becomes an error message."""
    try:
        return json.dumps(message, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        return json.dumps({"type": "error", "message": f"Internal error: unsendable message ({e})"})


# -- running it ------------------------------------------------------------------------


class BackgroundServer:
    """The app served by uvicorn in a thread, on a socket already bound (port 0: any
    free port); for tests and benchmarks. ``stop()`` ends it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **app_options):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = host, self.socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}/"
        config = uvicorn.Config(
            create_app(**app_options), log_level="warning", ws_max_size=4 * 2**20, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self.thread.start()
        waited = 0.0
        while not self.server.started and waited < timeout:
            threading.Event().wait(0.02)
            waited += 0.02
        if not self.server.started:
            raise RuntimeError("the playground server did not start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _say(text: str) -> None:
    print(text, flush=True)  # at once, also into a pipe


def serve(
    host: str = "127.0.0.1", port: int = 8000, *, open_browser: bool = True, print_fn=_say
) -> None:
    """Serve the playground until Ctrl+C (what ``layerwise playground`` runs).

    The socket is bound here, before uvicorn starts, so that a port in use is an
    ``OSError`` (one line from the command) rather than a log and an exit.
    """
    hosts = LOOPBACK_NAMES if host in LOOPBACK_NAMES else (*LOOPBACK_NAMES, host)
    if host in ("0.0.0.0", "::"):
        hosts = ("*",)  # any name: the command asks for --allow-remote and warns first
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind((host, port))
    listening.listen(2048)  # connections wait in the backlog until uvicorn accepts them
    port = listening.getsockname()[1]
    config = uvicorn.Config(
        create_app(hosts=hosts), log_level="warning", ws_max_size=4 * 2**20, lifespan="off"
    )
    # The page lists the diagnostics' warnings; the terminal need not repeat them.
    warnings.filterwarnings("ignore", category=LayerwiseWarning)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    print_fn(f"layerwise playground at {url}  (Ctrl+C to stop)")
    if open_browser:
        threading.Timer(0.8, webbrowser.open, args=(url,)).start()
    try:
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        listening.close()
