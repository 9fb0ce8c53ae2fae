"""MNIST / Fashion-MNIST loading: the real files, small written files, bad files, lookup."""

from __future__ import annotations

import gzip
import struct
import tracemalloc

import numpy as np
import pytest

from layerwise import data
from layerwise._checks import LayerwiseError
from layerwise.data import loaders

IDX_NAMES = loaders.IDX_FILES  # role -> file name without .gz

# Published statistics of the real files (see ../shared/data/*/README.md).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (as the conftest fixture writes it)."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture(autouse=True)
def no_data_outside_the_test(monkeypatch, tmp_path):
    """Keep a real $LAYERWISE_DATA or ~/.cache/layerwise from leaking into the lookup."""
    monkeypatch.delenv("LAYERWISE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(scope="module")
def real_mnist(shared_data):
    return data.mnist(path=shared_data / "mnist")


@pytest.fixture(scope="module")
def real_fashion(shared_data):
    return data.fashion_mnist(path=shared_data / "fashion-mnist")


# --- the real files ------------------------------------------------------------------------


def test_real_mnist_shapes_labels_and_pixel_statistics(real_mnist):
    X_train, X_test, y_train, y_test = real_mnist
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert np.bincount(y_train, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    assert X_train.mean(dtype=np.float64) == pytest.approx(0.1307, abs=1e-3)
    assert X_train.std(dtype=np.float64) == pytest.approx(0.3081, abs=1e-3)
    assert X_test.mean(dtype=np.float64) == pytest.approx(33.791 / 255, abs=1e-3)
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]


def test_real_mnist_unflattened_matches(real_mnist, shared_data):
    X_train, X_test, y_train, y_test = data.mnist(path=shared_data / "mnist", flatten=False)
    assert X_train.shape == (60000, 28, 28) and X_test.shape == (10000, 28, 28)
    np.testing.assert_array_equal(X_test.reshape(10000, 784), real_mnist[1])
    np.testing.assert_array_equal(y_train, real_mnist[2])


def test_real_fashion_mnist(real_fashion):
    X_train, X_test, y_train, y_test = real_fashion
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    assert np.bincount(y_train, minlength=10).tolist() == [6000] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [1000] * 10
    assert X_train.mean(dtype=np.float64) == pytest.approx(0.2860, abs=1e-3)
    assert X_train.std(dtype=np.float64) == pytest.approx(0.3530, abs=1e-3)
    assert len(data.FASHION_CLASSES) == 10


def test_real_mnist_found_through_layerwise_data(real_mnist, shared_data, monkeypatch):
    monkeypatch.setenv("LAYERWISE_DATA", str(shared_data))
    X_train, X_test, y_train, y_test = data.mnist()
    np.testing.assert_array_equal(y_test, real_mnist[3])
    np.testing.assert_array_equal(X_test, real_mnist[1])


def test_real_mnist_load_peaks_below_three_times_its_output(shared_data):
    tracemalloc.start()
    try:
        X_train, X_test, y_train, y_test = data.mnist(path=shared_data / "mnist")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    returned = X_train.nbytes + X_test.nbytes
    assert peak < 3 * returned, f"peak {peak / 2**20:.0f} MiB for {returned / 2**20:.0f} MiB"


def test_real_idx_reader(shared_data):
    labels = data.load_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == MNIST_TEST_COUNTS


# --- small files written by the tests --------------------------------------------------------


def test_gz_and_raw_files_load_the_same(tmp_path, make_mnist_folder):
    arrays = make_mnist_folder(tmp_path / "gz", gz=True)
    make_mnist_folder(tmp_path / "raw", gz=False)
    for role, name in IDX_NAMES.items():
        from_gz = data.load_idx(tmp_path / "gz" / (name + ".gz"))
        from_raw = data.load_idx(tmp_path / "raw" / name)
        assert from_gz.dtype == np.uint8
        np.testing.assert_array_equal(from_gz, arrays[role])
        np.testing.assert_array_equal(from_raw, arrays[role])
    gz = data.mnist(path=tmp_path / "gz")
    raw = data.mnist(path=tmp_path / "raw")
    for a, b in zip(gz, raw, strict=True):
        np.testing.assert_array_equal(a, b)


def test_loader_scales_and_shapes_small_files(tmp_path, make_mnist_folder):
    arrays = make_mnist_folder(tmp_path, n_train=20, n_test=7)
    X_train, X_test, y_train, y_test = data.mnist(path=tmp_path)
    assert X_train.shape == (20, 784) and X_test.shape == (7, 784)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_array_equal(
        X_train, arrays["train_images"].reshape(20, 784) / np.float32(255)
    )
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    images = data.fashion_mnist(path=tmp_path, flatten=False)[0]
    assert images.shape == (20, 28, 28)
    np.testing.assert_array_equal(images.reshape(20, 784), X_train)


def test_raw_and_gz_may_be_mixed_in_one_folder(tmp_path, make_mnist_folder):
    arrays = make_mnist_folder(tmp_path, gz=True)
    gz_labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(gz_labels.read_bytes()))
    gz_labels.unlink()
    np.testing.assert_array_equal(data.mnist(path=tmp_path)[3], arrays["test_labels"])


def write_csv(path, images, labels, *, header=False):
    lines = ["label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))]
    lines = lines if header else []
    for image, label in zip(images.reshape(len(images), -1), labels, strict=True):
        lines.append(",".join(map(str, [int(label), *image.tolist()])))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("header", [False, True])
def test_csv_and_idx_readers_agree(tmp_path, make_mnist_folder, header):
    arrays = make_mnist_folder(tmp_path / "idx")
    csv_folder = tmp_path / "csv"
    csv_folder.mkdir()
    write_csv(
        csv_folder / "mnist_train.csv",
        arrays["train_images"],
        arrays["train_labels"],
        header=header,
    )
    write_csv(csv_folder / "mnist_test.csv", arrays["test_images"], arrays["test_labels"])
    images, labels = data.load_csv(csv_folder / "mnist_train.csv")
    assert images.shape == (20, 784) and images.dtype == np.uint8 and labels.dtype == np.int64
    np.testing.assert_array_equal(images, arrays["train_images"].reshape(20, 784))
    np.testing.assert_array_equal(labels, arrays["train_labels"])
    from_csv = data.mnist(path=csv_folder)
    from_idx = data.mnist(path=tmp_path / "idx")
    for a, b in zip(from_csv, from_idx, strict=True):
        np.testing.assert_array_equal(a, b)


def test_fashion_csv_names(tmp_path, make_mnist_folder):
    arrays = make_mnist_folder(tmp_path / "idx")
    write_csv(tmp_path / "fashion-mnist_train.csv", arrays["train_images"], arrays["train_labels"])
    write_csv(tmp_path / "fashion-mnist_test.csv", arrays["test_images"], arrays["test_labels"])
    y_test = data.fashion_mnist(path=tmp_path)[3]
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    with pytest.raises(LayerwiseError, match="MNIST files not found"):
        data.mnist(path=tmp_path)


# --- bad IDX files -----------------------------------------------------------------------------


def labels_idx(n=5):
    return idx_bytes(np.arange(n, dtype=np.uint8) % 10)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00", r"is too short: expected a 4-byte magic number, got 2 bytes"),
        (b"\x00\x00\x09\x01" + struct.pack(">I", 1) + b"\x00", r"magic number 0x00000901; expec"),
        (b"\x00\x00\x08\x00", r"magic number 0x00000800; expected 0x000008NN"),
        (b"PK\x03\x04whatever", r"magic number 0x504b0304; expected .*0x00000801 for labels"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 20), r"announces 3 dimensions \(12 header bytes"),
        (
            labels_idx(5)[:-2],
            r"is truncated: the header declares dimensions \(5,\), i\.e\. 5 data ",
        ),
        (labels_idx(5) + b"\x00", r"is longer than its header says: dimensions \(5,\) account"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_bad_idx_content(tmp_path, content, message, compress):
    path = tmp_path / ("bad.gz" if compress else "bad")
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(LayerwiseError, match=message) as error:
        data.load_idx(path)
    assert str(path) in str(error.value)


def test_truncated_image_file_says_how_much_is_missing(tmp_path):
    images = np.zeros((20, 28, 28), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(images)[:-100])
    with pytest.raises(LayerwiseError, match=r"\(20, 28, 28\), i\.e\. 15680 data bytes, but the"):
        data.load_idx(path)


def test_corrupt_gzip(tmp_path):
    packed = bytearray(gzip.compress(labels_idx(1000)))
    damaged = tmp_path / "damaged.gz"
    damaged.write_bytes(bytes(packed[:12]) + b"\xff" * 40 + bytes(packed[52:]))
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(bytes(packed[: len(packed) // 2]))
    bad_crc = tmp_path / "bad-crc.gz"
    packed[-8] ^= 0xFF  # the CRC-32 of the uncompressed data, in the trailer
    bad_crc.write_bytes(bytes(packed))
    for path in (damaged, truncated, bad_crc):
        with pytest.raises(LayerwiseError, match="holds corrupt or truncated gzip data"):
            data.load_idx(path)


def test_missing_idx_file(tmp_path):
    with pytest.raises(LayerwiseError, match=r"IDX file '.*nothing-here' does not exist"):
        data.load_idx(tmp_path / "nothing-here")


def replace_file(folder, role, content):
    (folder / (IDX_NAMES[role] + ".gz")).write_bytes(gzip.compress(content))


def test_labels_outside_0_9(tmp_path, make_mnist_folder):
    make_mnist_folder(tmp_path)
    replace_file(tmp_path, "test_labels", idx_bytes(np.array([1, 2, 12, 3, 4, 5, 6], np.uint8)))
    with pytest.raises(LayerwiseError, match=r"t10k-labels.*labels must be digits 0-9; got 12 at "):
        data.mnist(path=tmp_path)


def test_image_and_label_counts_must_match(tmp_path, make_mnist_folder):
    make_mnist_folder(tmp_path, n_train=20)
    replace_file(tmp_path, "train_labels", labels_idx(19))
    with pytest.raises(LayerwiseError, match=r"holds 20 images but .*holds 19 labels"):
        data.mnist(path=tmp_path)


def test_files_of_the_wrong_kind(tmp_path, make_mnist_folder):
    make_mnist_folder(tmp_path)
    replace_file(tmp_path, "train_labels", idx_bytes(np.zeros((20, 28, 28), np.uint8)))
    with pytest.raises(
        LayerwiseError,
        match=r"should hold labels \(magic number 0x00000801.*"
        r"got magic number 0x00000803 with dimensions \(20, 28, 28\)",
    ):
        data.mnist(path=tmp_path)
    make_mnist_folder(tmp_path)
    replace_file(tmp_path, "train_images", idx_bytes(np.zeros((20, 32, 32), np.uint8)))
    with pytest.raises(LayerwiseError, match=r"should hold 28x28 images .* \(20, 32, 32\)"):
        data.mnist(path=tmp_path)


# --- bad CSV files -----------------------------------------------------------------------------


def csv_line(label, pixels=None):
    pixels = [0] * 784 if pixels is None else pixels
    return ",".join(map(str, [label, *pixels]))


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [csv_line(1), csv_line(2), csv_line(3).replace(",0,", ",abc,", 1)],
            r"line 3, column 2: 'abc' is not a whole number; expected a pixel value \(0-255\)",
        ),
        ([csv_line(1), csv_line("x")], r"line 2, column 1: 'x' is not a whole number; expected a "),
        ([csv_line(1), csv_line(2, [0] * 783)], r"line 2: expected 785 comma-separated .* got 784"),
        ([csv_line(1) + ",0", csv_line(1) + ",0"], r"line 1: expected 785 .*; got 786"),
        ([csv_line(1), "", csv_line(12)], r"line 3, column 1: label 12 is outside 0-9"),
        ([csv_line(1), csv_line(-1)], r"line 2, column 1: label -1 is outside 0-9"),
        (
            [csv_line(1), csv_line(2, [0] * 9 + [256] + [0] * 774)],
            r"line 2, column 11: pixel value 256 is outside 0-255",
        ),
        ([csv_line(1, [-3] + [0] * 783)], r"line 1, column 2: pixel value -3 is outside 0-255"),
        ([], r"holds no data lines"),
        (["label," + ",".join(["p"] * 784)], r"holds no data lines"),
        (["label,p1,p2", csv_line(1)], r"line 1: expected 785 comma-separated values .*; got 3"),
        (
            ["label," + ",".join(["p"] * 784), csv_line(1), csv_line(2).replace("2,", "2.5,", 1)],
            r"line 3, column 1: '2\.5' is not a whole number",
        ),
    ],
)
def test_bad_csv(tmp_path, lines, message):
    path = tmp_path / "mnist_train.csv"
    path.write_text("".join(line + "\n" for line in lines))
    with pytest.raises(LayerwiseError, match=message) as error:
        data.load_csv(path)
    assert str(path) in str(error.value)


def test_missing_csv_file(tmp_path):
    with pytest.raises(LayerwiseError, match=r"CSV file '.*mnist_train\.csv' does not exist"):
        data.load_csv(tmp_path / "mnist_train.csv")


# --- where the files are looked for ------------------------------------------------------------


def test_missing_files_error_lists_every_place_and_the_fixes(tmp_path, monkeypatch):
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "train-images-idx3-ubyte.gz").write_bytes(b"")
    (partial / "t10k-labels-idx1-ubyte").write_bytes(b"")
    monkeypatch.setenv("LAYERWISE_DATA", str(tmp_path / "env-root"))
    with pytest.raises(LayerwiseError) as error:
        data.mnist(path=partial, cache_dir=tmp_path / "cache-root")
    message = str(error.value)
    assert "MNIST files not found. Looked in:" in message
    assert f"path=: '{partial}' (found 2 of the 4 IDX files; missing train-labels" in message
    assert f"$LAYERWISE_DATA/mnist: '{tmp_path / 'env-root' / 'mnist'}' (no such folder)" in message
    assert f"cache_dir=: '{tmp_path / 'cache-root' / 'mnist'}'" in message
    assert "train-images-idx3-ubyte[.gz]" in message and "mnist_train.csv" in message
    assert "pass path=" in message and "set LAYERWISE_DATA" in message
    assert "mnist(download=True)" in message


def test_missing_files_error_without_path_or_environment(tmp_path):
    with pytest.raises(LayerwiseError) as error:
        data.fashion_mnist()
    message = str(error.value)
    assert "Fashion-MNIST files not found" in message
    assert "$LAYERWISE_DATA/fashion-mnist: not set" in message
    default_cache = tmp_path / "xdg-cache" / "layerwise" / "fashion-mnist"
    assert f"cache: '{default_cache}' (no such folder)" in message
    assert "path=" not in message.split("To fix it")[0]
    assert "fashion_mnist(download=True)" in message


def test_path_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(LayerwiseError, match=r"path=: '.*file' \(not a folder\)"):
        data.mnist(path=tmp_path / "file")


def test_lookup_order_path_then_environment_then_cache(tmp_path, make_mnist_folder, monkeypatch):
    make_mnist_folder(tmp_path / "explicit", n_train=3)
    make_mnist_folder(tmp_path / "env" / "mnist", n_train=4)
    make_mnist_folder(tmp_path / "cache" / "mnist", n_train=5)
    monkeypatch.setenv("LAYERWISE_DATA", str(tmp_path / "env"))
    cache = {"cache_dir": tmp_path / "cache"}
    assert len(data.mnist(path=tmp_path / "explicit", **cache)[0]) == 3
    assert len(data.mnist(**cache)[0]) == 4
    assert len(data.mnist(path=tmp_path / "nowhere", **cache)[0]) == 4
    monkeypatch.delenv("LAYERWISE_DATA")
    assert len(data.mnist(**cache)[0]) == 5


def test_default_cache_follows_xdg(tmp_path, make_mnist_folder, monkeypatch):
    make_mnist_folder(tmp_path / "xdg" / "layerwise" / "fashion-mnist", n_train=6)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert len(data.fashion_mnist()[0]) == 6
    assert loaders.default_cache_root() == tmp_path / "xdg" / "layerwise"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")
    assert loaders.default_cache_root().parent.name == ".cache"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert loaders.default_cache_root().parent.name == ".cache"


def test_layerwise_data_with_small_files(tmp_path, make_mnist_folder, monkeypatch):
    arrays = make_mnist_folder(tmp_path / "root" / "fashion-mnist")
    monkeypatch.setenv("LAYERWISE_DATA", str(tmp_path / "root"))
    np.testing.assert_array_equal(data.fashion_mnist()[2], arrays["train_labels"])
    with pytest.raises(LayerwiseError, match="MNIST files not found"):
        data.mnist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": 0}, r"mnist: timeout must be a finite number > 0; got 0"),
        ({"mirrors": "https://example.org/"}, r"mirrors must be a non-empty list of base URLs"),
        ({"mirrors": []}, r"mirrors must be a non-empty list"),
        ({"mirrors": ["ftp://example.org/"]}, r"http:// or https:// base URLs; got 'ftp://"),
        ({"path": 3}, r"path must be a folder path \(str or Path\); got 3"),
    ],
)
def test_argument_errors(kwargs, message):
    with pytest.raises(LayerwiseError, match=message):
        data.mnist(**kwargs)
