"""Verified downloads of the MNIST-style ``.gz`` files into a cache folder.

Each file is tried on every mirror in turn. A download streams into a temporary file
beside its destination, is flushed to disk and checked against the SHA-256 published
for the file, and only then renamed into place (``os.replace`` is atomic), so the cache
never holds a partial or unverified file, whatever goes wrong (the temporary file of a
process killed outright is removed by the next download of that file).

A mirror cannot hold a download up or fill the disk: each file has a deadline for the
whole transfer (connecting, TLS, headers and body: the connection is cut when it
passes, however slowly the mirror drips its bytes), besides the ``timeout`` for each
wait, and a mirror is given up as soon as it announces or sends more bytes than the
published file has.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from layerwise._checks import LayerwiseError, new_temporary_file

_CHUNK = 1 << 20

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        # S3 website endpoints serve plain HTTP only; the checksum protects the content.
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
}

# SHA-256 of the published .gz files, in the format of `sha256sum` (the same lines as
# the SHA256SUMS files beside the shared test data).
_SHA256SUMS = {
    "mnist": """
440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  train-images-idx3-ubyte.gz
3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  train-labels-idx1-ubyte.gz
8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  t10k-images-idx3-ubyte.gz
f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  t10k-labels-idx1-ubyte.gz
""",
    "fashion-mnist": """
3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84  train-images-idx3-ubyte.gz
a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845  train-labels-idx1-ubyte.gz
346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073  t10k-images-idx3-ubyte.gz
67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5  t10k-labels-idx1-ubyte.gz
""",
}
# {data set: {file name: SHA-256}}. Looked up at call time, so that tests can
# substitute the checksums of their own small files.
_SHA256: dict[str, dict[str, str]] = {
    name: {filename: digest for digest, filename in map(str.split, sums.strip().splitlines())}
    for name, sums in _SHA256SUMS.items()
}


# Sizes in bytes of the published .gz files: a download is cut off beyond its file's.
_SIZES: dict[str, dict[str, int]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": 9_912_422,
        "train-labels-idx1-ubyte.gz": 28_881,
        "t10k-images-idx3-ubyte.gz": 1_648_877,
        "t10k-labels-idx1-ubyte.gz": 4_542,
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": 26_421_880,
        "train-labels-idx1-ubyte.gz": 29_515,
        "t10k-images-idx3-ubyte.gz": 4_422_102,
        "t10k-labels-idx1-ubyte.gz": 5_148,
    },
}


class _MirrorFailed(Exception):
    """One mirror could not deliver one file; the message says why."""


def check_mirrors(mirrors, name: str) -> tuple[str, ...]:
    """Return the mirror base URLs to use for data set ``name``, validating ``mirrors=``."""
    if mirrors is None:
        return MIRRORS[name]
    if isinstance(mirrors, (str, bytes)) or not isinstance(mirrors, Sequence) or not mirrors:
        raise LayerwiseError(
            f"mirrors must be a non-empty list of base URLs, e.g. [{MIRRORS[name][0]!r}]; "
            f"got {mirrors!r}."
        )
    for mirror in mirrors:
        if not isinstance(mirror, str) or not mirror.startswith(("http://", "https://")):
            raise LayerwiseError(
                f"mirrors must hold http:// or https:// base URLs; got {mirror!r} in {mirrors!r}."
            )
    return tuple(mirrors)


def download_missing(
    name: str,
    title: str,
    folder: Path,
    *,
    mirrors: Sequence[str],
    timeout: float,
    deadline: float,
) -> None:
    """Download each of data set ``name``'s files that ``folder`` lacks, verified; each
    download may take ``deadline`` seconds from each mirror, each wait ``timeout``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LayerwiseError(
            f"Cannot create the cache folder {str(folder)!r} for {title}: {e}. "
            "Pass cache_dir= a writable folder."
        ) from None
    for filename, sha256 in _SHA256[name].items():
        if not (folder / filename).is_file():
            limits = _Limits(timeout, deadline, _SIZES[name][filename])
            _download_from_any(filename, sha256, folder, title, mirrors=mirrors, limits=limits)


@dataclass(frozen=True)
class _Limits:
    """What one download may take: ``timeout`` seconds for each wait, ``deadline``
    seconds in all, ``size`` bytes (the published file's)."""

    timeout: float
    deadline: float
    size: int


def _download_from_any(
    filename: str, sha256: str, folder: Path, title: str, *, mirrors: Sequence[str], limits
) -> None:
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            _download(url, folder / filename, sha256, limits)
            return
        except _MirrorFailed as e:
            failures.append(f"  - {url}: {e}")
    tried = "the only mirror" if len(mirrors) == 1 else f"each of the {len(mirrors)} mirrors"
    raise LayerwiseError(
        f"Could not download {filename!r} of {title}; {tried} failed:\n"
        + "\n".join(failures)
        + f"\nNo partial or unverified file was left in {str(folder)!r}. Check the network "
        "connection or proxy and try again, pass mirrors=[...] with a working mirror, or "
        "download the files yourself and pass path= the folder that holds them."
    )


def _download(url: str, destination: Path, sha256: str, limits: _Limits) -> None:
    """Fetch ``url`` to ``destination`` if its SHA-256 is ``sha256``; leave nothing otherwise."""
    try:
        fd, temp = new_temporary_file(destination.parent, destination.name, suffix="")
    except OSError as e:
        raise LayerwiseError(
            f"Cannot write to the cache folder {str(destination.parent)!r}: {e}. "
            "Pass cache_dir= a writable folder."
        ) from None
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream(url, out, limits)
            out.flush()
            os.fsync(out.fileno())
        if digest != sha256:
            raise _MirrorFailed(
                f"checksum mismatch: expected SHA-256 {sha256}, got {digest} "
                "(the file is damaged or not the published one)"
            )
        os.replace(temp, destination)
    finally:
        # After a successful os.replace the temporary name no longer exists.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def _stream(url: str, out, limits: _Limits) -> str:
    """Copy the body of ``url`` into ``out`` within ``limits``; return its SHA-256."""
    digest = hashlib.sha256()
    received = 0
    timeout, size = limits.timeout, limits.size
    with _Deadline(limits.deadline) as deadline:
        try:
            with _opener(deadline).open(url, timeout=timeout) as response:
                announced = response.headers.get("Content-Length", "")
                if announced.isdigit() and int(announced) > size:
                    raise _MirrorFailed(
                        f"it announces {announced} bytes, more than the {size} of the "
                        "published file"
                    )
                # At most one byte more than the file has: enough to tell it is too long.
                while chunk := response.read(min(_CHUNK, size + 1 - received)):
                    digest.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
                    if received > size:
                        raise _MirrorFailed(
                            f"it sent more than the {size} bytes of the published file"
                        )
        except (OSError, http.client.HTTPException) as e:  # URLError is an OSError
            if isinstance(e, urllib.error.HTTPError):
                e.close()
            raise deadline.failure(received) if deadline.passed else _failure(e, timeout) from None
        complete = announced.isdigit() and received == int(announced)
        if deadline.passed and not complete:  # cut: what came is not the whole file
            raise deadline.failure(received)
    # http.client returns a short body without complaint when the server hangs up early.
    if announced.isdigit() and received < int(announced):
        raise _MirrorFailed(f"connection closed after {received} of {announced} bytes")
    return digest.hexdigest()


def _failure(error: Exception, timeout: float) -> _MirrorFailed:
    """What went wrong, for the list of failed mirrors."""
    if isinstance(error, urllib.error.HTTPError):
        return _MirrorFailed(f"HTTP {error.code} {error.reason}")
    if isinstance(error, urllib.error.URLError):
        if isinstance(error.reason, TimeoutError):
            return _MirrorFailed(f"timed out after {timeout:g} s while connecting")
        return _MirrorFailed(f"could not connect ({error.reason})")
    if isinstance(error, TimeoutError):
        return _MirrorFailed(f"timed out after {timeout:g} s waiting for data")
    return _MirrorFailed(f"failed ({type(error).__name__}: {error})")


class _Deadline:
    """Cuts the connections of one download when ``seconds`` have passed.

    A socket timeout bounds each wait, not their sum: a mirror that drips a byte every
    second (into its headers, or the body) would never time out. A timer thread shuts
    the sockets down instead, which ends any read in progress.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.passed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        with self._lock:
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            if self.passed:
                _shut(sock)
        return sock

    def _cut(self) -> None:
        with self._lock:
            self.passed = True
            for sock in self._sockets:
                _shut(sock)

    def failure(self, received: int) -> _MirrorFailed:
        return _MirrorFailed(
            f"gave up after {self.seconds:g} s, the deadline for one file, with {received} "
            "bytes received (the mirror is too slow)"
        )


def _shut(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown, also under TLS: it ends a read blocked on it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:  # closed already
        pass


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """urllib's opener (proxies from the environment included) whose connections
    ``deadline`` can cut: their sockets are handed to it as they are made."""

    def watched(connection_class):
        class Connection(connection_class):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                create = self._create_connection
                self._create_connection = lambda *a, **k: deadline.watch(create(*a, **k))

            def connect(self):
                super().connect()
                deadline.watch(self.sock)  # for HTTPS, the TLS socket made from the plain one

        return Connection

    class HTTPHandler(urllib.request.HTTPHandler):
        def do_open(self, http_class, req, **kwargs):
            return super().do_open(watched(http_class), req, **kwargs)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def do_open(self, http_class, req, **kwargs):
            return super().do_open(watched(http_class), req, **kwargs)

    return urllib.request.build_opener(HTTPHandler, HTTPSHandler)
