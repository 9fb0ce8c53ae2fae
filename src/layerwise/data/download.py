"""Verified downloads of the MNIST-style ``.gz`` files into a cache folder.

Each file is tried on every mirror in turn. A download streams into a temporary file
beside its destination, is flushed to disk and checked against the SHA-256 published
for the file, and only then renamed into place (``os.replace`` is atomic), so the cache
never holds a partial or unverified file, whatever goes wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
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
    name: str, title: str, folder: Path, *, mirrors: Sequence[str], timeout: float
) -> None:
    """Download each of data set ``name``'s files that ``folder`` lacks, verified."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LayerwiseError(
            f"Cannot create the cache folder {str(folder)!r} for {title}: {e}. "
            "Pass cache_dir= a writable folder."
        ) from None
    for filename, sha256 in _SHA256[name].items():
        if not (folder / filename).is_file():
            _download_from_any(filename, sha256, folder, title, mirrors=mirrors, timeout=timeout)


def _download_from_any(
    filename: str, sha256: str, folder: Path, title: str, *, mirrors: Sequence[str], timeout: float
) -> None:
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            _download(url, folder / filename, sha256, timeout)
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


def _download(url: str, destination: Path, sha256: str, timeout: float) -> None:
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
            digest = _stream(url, out, timeout)
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


def _stream(url: str, out, timeout: float) -> str:
    """Copy the body of ``url`` into ``out``; return its SHA-256 hex digest."""
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            announced = response.headers.get("Content-Length", "")
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as e:
        e.close()
        raise _MirrorFailed(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            raise _MirrorFailed(f"timed out after {timeout:g} s while connecting") from None
        raise _MirrorFailed(f"could not connect ({e.reason})") from None
    except TimeoutError:
        raise _MirrorFailed(f"timed out after {timeout:g} s waiting for data") from None
    except (OSError, http.client.HTTPException) as e:
        raise _MirrorFailed(f"failed ({type(e).__name__}: {e})") from None
    # http.client returns a short body without complaint when the server hangs up early.
    if announced.isdigit() and received < int(announced):
        raise _MirrorFailed(f"connection closed after {received} of {announced} bytes")
    return digest.hexdigest()
