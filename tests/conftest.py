"""Shared test fixtures."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

# scikit-learn's array-API check of the estimators (NumPy arrays with array-API dispatch
# on) runs only when SciPy was imported with this set; nothing imports SciPy before here.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# The real MNIST / Fashion-MNIST files live beside the repository, never inside it.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``<repo>/../shared/data``; tests that need it skip only when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared data folder {SHARED_DATA} is absent (no ../shared beside repo)")
    return SHARED_DATA


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x000008NN, big-endian dims, raw bytes."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


@pytest.fixture
def make_mnist_folder():
    """Factory: write a small MNIST-style IDX set into a folder and return its arrays.

    ``make_mnist_folder(folder, n_train=20, n_test=7, gz=True, seed=0)`` returns
    ``{"train_images": uint8 (n_train, 28, 28), "train_labels": uint8 (n_train,), ...}``.
    """

    def make(folder: Path, *, n_train: int = 20, n_test: int = 7, gz: bool = True, seed: int = 0):
        rng = np.random.default_rng(seed)
        arrays = {
            "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
            "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
        }
        # Make sure the extreme pixel values occur, to check the scaling to [0, 1].
        arrays["train_images"][0, 0, :2] = (0, 255)
        folder.mkdir(parents=True, exist_ok=True)
        for role, array in arrays.items():
            data = idx_bytes(array)
            if gz:
                (folder / (IDX_NAMES[role] + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / IDX_NAMES[role]).write_bytes(data)
        return arrays

    return make


# -- core fixtures (layers, losses, networks) ---------------------------------------


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request) -> np.dtype:
    """Every layer test runs in both float dtypes."""
    return np.dtype(request.param)
