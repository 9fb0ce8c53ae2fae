"""Downloads end to end against HTTP servers on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from layerwise import data
from layerwise._checks import LayerwiseError
from layerwise.data import download

GZ_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No proxies, no real mirrors, no data found outside the test's own folders."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("LAYERWISE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    # Should a test forget mirrors=, it gets "connection refused" from the discard port.
    unreachable = ("http://127.0.0.1:9/",)
    monkeypatch.setattr(download, "MIRRORS", {"mnist": unreachable, "fashion-mnist": unreachable})


@dataclass
class Server:
    url: str
    requests: list[str] = field(default_factory=list)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from ``directory``; ``/cut/<name>`` promises 100 kB and sends 10 bytes."""

    requests: list[str]

    def do_GET(self):
        self.requests.append(self.path)
        if self.path.startswith("/cut/"):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format, *args):  # keep the test output clean
        pass


@pytest.fixture
def serve():
    """Factory: ``serve(folder)`` starts a threaded HTTP server for ``folder``."""
    servers = []

    def start(directory: Path) -> Server:
        requests: list[str] = []

        class Handler(_Handler):
            def __init__(self, *args, **kwargs):
                self.requests = requests
                super().__init__(*args, directory=str(directory), **kwargs)

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((httpd, thread))
        return Server(f"http://127.0.0.1:{httpd.server_address[1]}", requests)

    yield start
    for httpd, thread in servers:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def tiny_set(tmp_path, make_mnist_folder, monkeypatch):
    """Small valid MNIST .gz files in ``www/good``, their checksums in the module table."""
    good = tmp_path / "www" / "good"
    arrays = make_mnist_folder(good, gz=True)
    sums = {name: hashlib.sha256((good / name).read_bytes()).hexdigest() for name in GZ_FILES}
    monkeypatch.setitem(download._SHA256, "mnist", sums)
    bad = tmp_path / "www" / "bad"
    bad.mkdir()
    for name in GZ_FILES:  # valid gzip, wrong content: only the checksum can tell
        (bad / name).write_bytes(gzip.compress(b"not the published file"))
    return tmp_path / "www", arrays


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_and_loads(tiny_set, serve, tmp_path, monkeypatch):
    www, arrays = tiny_set
    server = serve(www)
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda *a: pytest.fail("os.umask was called"))
        X_train, X_test, y_train, y_test = data.mnist(
            download=True, cache_dir=tmp_path / "cache", mirrors=[server.url + "/good/"], timeout=5
        )
    finally:
        monkeypatch.undo()
        os.umask(old)
    np.testing.assert_array_equal(y_train, arrays["train_labels"])
    np.testing.assert_array_equal(X_test.reshape(-1, 28, 28) * 255, arrays["test_images"])
    cache = tmp_path / "cache" / "mnist"
    assert files_in(cache) == sorted(GZ_FILES)  # no temporary files left behind
    for name in GZ_FILES:
        assert (cache / name).read_bytes() == (www / "good" / name).read_bytes()
        # Readable as any file the user creates, not 0o600 as the temporary file was.
        assert (cache / name).stat().st_mode & 0o777 == 0o640
    # A second call finds the cache and does not download again.
    count = len(server.requests)
    data.mnist(download=True, cache_dir=tmp_path / "cache", mirrors=[server.url + "/good/"])
    assert len(server.requests) == count == 4


def test_download_fetches_only_the_missing_files(tiny_set, serve, tmp_path):
    www, _ = tiny_set
    cache = tmp_path / "xdg-cache" / "layerwise" / "mnist"
    cache.mkdir(parents=True)
    shutil.copy(www / "good" / GZ_FILES[0], cache / GZ_FILES[0])
    server = serve(www)
    data.mnist(download=True, mirrors=[server.url + "/good"])  # into the default cache
    assert sorted(server.requests) == sorted(f"/good/{name}" for name in GZ_FILES[1:])
    assert files_in(cache) == sorted(GZ_FILES)


def test_corrupted_file_fails_the_checksum_and_leaves_nothing(tiny_set, serve, tmp_path):
    www, _ = tiny_set
    server = serve(www)
    url = server.url + "/bad/"
    with pytest.raises(LayerwiseError) as error:
        data.mnist(download=True, cache_dir=tmp_path / "cache", mirrors=[url])
    message = str(error.value)
    assert f"{url}train-images-idx3-ubyte.gz: checksum mismatch: expected SHA-256" in message
    assert download._SHA256["mnist"]["train-images-idx3-ubyte.gz"] in message
    assert "the only mirror failed" in message
    assert files_in(tmp_path / "cache" / "mnist") == []


def test_hanging_server_times_out(tiny_set, tmp_path):
    # A listening socket that is never accepted: connections complete in the kernel
    # and the request is sent, but no answer ever comes.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        url = f"http://127.0.0.1:{hung.getsockname()[1]}/"
        start = time.monotonic()
        with pytest.raises(LayerwiseError, match=r"timed out after 0\.5 s") as error:
            data.mnist(download=True, cache_dir=tmp_path / "cache", mirrors=[url], timeout=0.5)
        assert time.monotonic() - start < 5
    assert url + "train-images-idx3-ubyte.gz" in str(error.value)
    assert files_in(tmp_path / "cache" / "mnist") == []


def test_404_on_the_first_mirror_then_success(tiny_set, serve, tmp_path):
    www, arrays = tiny_set
    server = serve(www)
    mirrors = [server.url + "/missing/", server.url + "/good/"]
    y_test = data.mnist(download=True, cache_dir=tmp_path / "cache", mirrors=mirrors)[3]
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    assert server.requests[:2] == [
        "/missing/train-images-idx3-ubyte.gz",
        "/good/train-images-idx3-ubyte.gz",
    ]


def test_checksum_mismatch_moves_on_to_the_next_mirror(tiny_set, serve, tmp_path):
    www, arrays = tiny_set
    server = serve(www)
    mirrors = [server.url + "/bad/", server.url + "/good/"]
    y_train = data.mnist(download=True, cache_dir=tmp_path / "cache", mirrors=mirrors)[2]
    np.testing.assert_array_equal(y_train, arrays["train_labels"])


def test_every_mirror_failing_lists_each_failure(tiny_set, serve, tmp_path):
    www, _ = tiny_set
    server = serve(www)
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    mirrors = [server.url + "/missing/", server.url + "/bad/", server.url + "/cut/", refused]
    with pytest.raises(LayerwiseError) as error:
        data.mnist(download=True, cache_dir=tmp_path / "cache", mirrors=mirrors, timeout=5)
    message = str(error.value)
    assert "Could not download 'train-images-idx3-ubyte.gz' of MNIST; each of the 4" in message
    assert f"{server.url}/missing/train-images-idx3-ubyte.gz: HTTP 404" in message
    assert f"{server.url}/bad/train-images-idx3-ubyte.gz: checksum mismatch" in message
    assert (
        f"{server.url}/cut/train-images-idx3-ubyte.gz: connection closed after 10 of 100000 bytes"
        in message
    )
    assert f"{refused}train-images-idx3-ubyte.gz: could not connect" in message
    assert "pass mirrors=[...]" in message and "pass path=" in message
    assert files_in(tmp_path / "cache" / "mnist") == []


def test_interrupted_download_leaves_no_temporary_file(tiny_set, serve, tmp_path, monkeypatch):
    www, _ = tiny_set
    server = serve(www)

    def interrupted(url, out, timeout):
        out.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "_stream", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.mnist(download=True, cache_dir=tmp_path / "cache", mirrors=[server.url + "/good/"])
    assert files_in(tmp_path / "cache" / "mnist") == []


def test_no_download_without_download_true(tiny_set, serve, tmp_path):
    www, _ = tiny_set
    server = serve(www)
    with pytest.raises(LayerwiseError, match="MNIST files not found"):
        data.mnist(cache_dir=tmp_path / "cache", mirrors=[server.url + "/good/"])
    assert server.requests == []


@pytest.mark.parametrize(
    ("loader", "name"), [("mnist", "mnist"), ("fashion_mnist", "fashion-mnist")]
)
def test_download_of_the_real_files_with_the_published_checksums(
    shared_data, serve, tmp_path, loader, name
):
    server = serve(shared_data / name)  # serves the shared files in place, without copying
    load = getattr(data, loader)
    downloaded = load(download=True, cache_dir=tmp_path / "cache", mirrors=[server.url + "/"])
    for filename in GZ_FILES:
        digest = hashlib.sha256((tmp_path / "cache" / name / filename).read_bytes()).hexdigest()
        assert digest == download._SHA256[name][filename]
    direct = load(path=shared_data / name)
    for a, b in zip(downloaded, direct, strict=True):
        np.testing.assert_array_equal(a, b)


def test_published_checksums_match_the_shared_sha256sums(shared_data):
    for name in ("mnist", "fashion-mnist"):
        published = {}
        for line in (shared_data / name / "SHA256SUMS").read_text().splitlines():
            digest, filename = line.split()
            published[filename] = digest
        assert download._SHA256[name] == published
