"""MNIST and Fashion-MNIST: find the files (or download them) and load them as arrays.

Where the files are looked for, in order:

1. ``path=``: a folder that holds the four files;
2. ``$LAYERWISE_DATA/mnist`` (``$LAYERWISE_DATA/fashion-mnist``);
3. the cache ``<cache_dir>/mnist``, by default ``$XDG_CACHE_HOME/layerwise/mnist``
   (``~/.cache/layerwise/mnist`` when ``XDG_CACHE_HOME`` is not set).

The first folder that holds a complete set is used. A folder holds either the four
original IDX files (each gzipped or raw) or the two CSV files of notebook 001. If
none does, ``download=True`` fetches the ``.gz`` files into the cache, verifying their
SHA-256; otherwise the error lists every place looked at and how to fix it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerwise._checks import LayerwiseError, real_number
from layerwise.data.download import check_mirrors, download_missing
from layerwise.data.readers import PIXELS, load_csv, load_idx

__all__ = ["FASHION_CLASSES", "fashion_mnist", "mnist"]

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGE_SHAPE = (28, 28)


@dataclass(frozen=True)
class _DataSet:
    name: str  # folder name under $LAYERWISE_DATA and the cache, key of the mirrors
    title: str
    function: str
    csv_files: tuple[str, str]  # train, test


_MNIST = _DataSet("mnist", "MNIST", "mnist", ("mnist_train.csv", "mnist_test.csv"))
_FASHION = _DataSet(
    "fashion-mnist",
    "Fashion-MNIST",
    "fashion_mnist",
    ("fashion-mnist_train.csv", "fashion-mnist_test.csv"),
)


def mnist(
    path: str | os.PathLike | None = None,
    *,
    download: bool = False,
    flatten: bool = True,
    cache_dir: str | os.PathLike | None = None,
    mirrors: list[str] | None = None,
    timeout: float = 30.0,
    deadline: float = 600.0,
):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images.

    Parameters
    ----------
    path : str, path-like or None, default None
        A folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each raw or with
        ``.gz``), or ``mnist_train.csv`` and ``mnist_test.csv``. Looked at first;
        then ``$LAYERWISE_DATA/mnist``, then the cache (see the module docstring).
    download : bool, default False
        If no folder holds the files, download the ``.gz`` files into the cache
        (verified against their published SHA-256).
    flatten : bool, default True
        Return images as rows of 784 pixels; ``False`` keeps them 28x28.
    cache_dir : str, path-like or None, default None
        Cache root; the files live in its ``mnist`` subfolder. ``None`` means
        ``$XDG_CACHE_HOME/layerwise`` or ``~/.cache/layerwise``.
    mirrors : list of str or None, default None
        Base URLs to download from, tried in order; ``None`` uses the public mirrors.
    timeout : float, default 30.0
        Seconds to wait for a mirror to connect and for each piece of data.
    deadline : float, default 600.0
        Seconds that downloading one file from one mirror may take in all (the next
        mirror is tried after that): the largest file, 26 MB, needs 44 kB/s.

    Returns
    -------
    X_train : ndarray of shape (60000, 784) or (60000, 28, 28), float32
        Pixel intensities in [0, 1] (the stored bytes divided by 255).
    X_test : ndarray of shape (10000, 784) or (10000, 28, 28), float32
    y_train : ndarray of shape (60000,), int64
        Digits 0-9.
    y_test : ndarray of shape (10000,), int64

    Raises
    ------
    LayerwiseError
        If no folder holds the files (and ``download`` is False), a download fails on
        every mirror, or a file is damaged (the message names the file and the problem).

    Examples
    --------
    >>> X_train, X_test, y_train, y_test = mnist(download=True)  # doctest: +SKIP
    >>> X_train.shape, X_train.dtype, y_train[:5]  # doctest: +SKIP
    ((60000, 784), dtype('float32'), array([5, 0, 4, 1, 9]))
    """
    return _load(_MNIST, path, download, flatten, cache_dir, mirrors, timeout, deadline)


def fashion_mnist(
    path: str | os.PathLike | None = None,
    *,
    download: bool = False,
    flatten: bool = True,
    cache_dir: str | os.PathLike | None = None,
    mirrors: list[str] | None = None,
    timeout: float = 30.0,
    deadline: float = 600.0,
):
    """Zalando's Fashion-MNIST: 60,000 training and 10,000 test images of clothing.

    A drop-in replacement for :func:`mnist` with the same files, shapes and
    parameters; the folder names are ``fashion-mnist`` (under ``$LAYERWISE_DATA``
    and the cache) and the CSV files ``fashion-mnist_train.csv`` and
    ``fashion-mnist_test.csv``. Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover,
    3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot
    (``FASHION_CLASSES``).

    Returns
    -------
    X_train, X_test, y_train, y_test
        As for :func:`mnist`.
    """
    return _load(_FASHION, path, download, flatten, cache_dir, mirrors, timeout, deadline)


FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _load(data: _DataSet, path, download, flatten, cache_dir, mirrors, timeout, deadline):
    mirrors = check_mirrors(mirrors, data.name)
    timeout = real_number(timeout, f"{data.function}: timeout", minimum=0.0, strict=True)
    deadline = real_number(deadline, f"{data.function}: deadline", minimum=0.0, strict=True)
    places = _places(data, path, cache_dir)
    notes = []
    for label, folder in places:
        if folder is None:
            notes.append(f"  - {label}: not set")
            continue
        files, note = _find_files(folder, data)
        if files is not None:
            return _read(files, flatten)
        notes.append(f"  - {label}: {str(folder)!r} ({note})")
    cache = places[-1][1]
    if download:
        download_missing(
            data.name, data.title, cache, mirrors=mirrors, timeout=timeout, deadline=deadline
        )
        files, note = _find_files(cache, data)
        assert files is not None, note  # every file was just verified and moved into place
        return _read(files, flatten)
    raise LayerwiseError(
        f"{data.title} files not found. Looked in:\n"
        + "\n".join(notes)
        + "\nA folder must hold the four IDX files "
        + ", ".join(f"{base}[.gz]" for base in IDX_FILES.values())
        + f", or {data.csv_files[0]} and {data.csv_files[1]}.\n"
        f"To fix it: pass path= the folder that holds them, set LAYERWISE_DATA to a folder "
        f"with a {data.name!r} subfolder, or call {data.function}(download=True) to "
        f"download them into {str(cache)!r}."
    )


def _places(data: _DataSet, path, cache_dir) -> list[tuple[str, Path | None]]:
    """The folders to look in, in order, each with a label for the error message."""
    places: list[tuple[str, Path | None]] = []
    if path is not None:
        places.append(("path=", _as_path(path, "path")))
    env = os.environ.get("LAYERWISE_DATA")
    env_folder = Path(env).expanduser() / data.name if env else None
    places.append((f"$LAYERWISE_DATA/{data.name}", env_folder))
    if cache_dir is not None:
        places.append(("cache_dir=", _as_path(cache_dir, "cache_dir") / data.name))
    else:
        places.append(("cache", default_cache_root() / data.name))
    return places


def default_cache_root() -> Path:
    """``$XDG_CACHE_HOME/layerwise``, or ``~/.cache/layerwise`` if that is not set."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore relative paths.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "layerwise"


def _as_path(value, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise LayerwiseError(f"{name} must be a folder path (str or Path); got {value!r}.")
    return Path(value).expanduser()


def _find_files(folder: Path, data: _DataSet) -> tuple[dict[str, Path] | None, str]:
    """The data files in ``folder`` by role, or ``None`` and a note on what is missing."""
    if not folder.is_dir():
        return None, "not a folder" if folder.exists() else "no such folder"
    idx, missing = {}, []
    for role, base in IDX_FILES.items():
        # Prefer the raw file when both exist: it is read without decompressing.
        found = [folder / name for name in (base, base + ".gz") if (folder / name).is_file()]
        if found:
            idx[role] = found[0]
        else:
            missing.append(base)
    if not missing:
        return idx, ""
    train_csv, test_csv = (folder / name for name in data.csv_files)
    if train_csv.is_file() and test_csv.is_file():
        return {"train_csv": train_csv, "test_csv": test_csv}, ""
    if len(missing) == len(IDX_FILES):
        return None, "no data files"
    return None, f"found {len(idx)} of the 4 IDX files; missing {', '.join(missing)}"


def _read(files: dict[str, Path], flatten: bool):
    if "train_csv" in files:
        X_train, y_train = _from_csv(files["train_csv"], flatten)
        X_test, y_test = _from_csv(files["test_csv"], flatten)
    else:
        X_train, y_train = _from_idx(files["train_images"], files["train_labels"], flatten)
        X_test, y_test = _from_idx(files["test_images"], files["test_labels"], flatten)
    return X_train, X_test, y_train, y_test


def _from_csv(path: Path, flatten: bool) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_csv(path)
    return _scaled(images, flatten), labels


def _from_idx(images_path: Path, labels_path: Path, flatten: bool):
    labels = load_idx(labels_path)
    if labels.ndim != 1:
        raise LayerwiseError(
            f"IDX file {str(labels_path)!r} should hold labels (magic number 0x00000801, "
            f"1 dimension); got magic number 0x{0x800 + labels.ndim:08x} with dimensions "
            f"{labels.shape}."
        )
    if labels.size and labels.max() > 9:
        index = int(np.argmax(labels > 9))
        raise LayerwiseError(
            f"IDX file {str(labels_path)!r}: labels must be digits 0-9; got {labels[index]} "
            f"at index {index}."
        )
    images = load_idx(images_path)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise LayerwiseError(
            f"IDX file {str(images_path)!r} should hold 28x28 images (magic number 0x00000803, "
            f"dimensions (n, 28, 28)); got magic number 0x{0x800 + images.ndim:08x} with "
            f"dimensions {images.shape}."
        )
    if len(images) != len(labels):
        raise LayerwiseError(
            f"{str(images_path)!r} holds {len(images)} images but {str(labels_path)!r} "
            f"holds {len(labels)} labels; the two files must belong together."
        )
    return _scaled(images, flatten), labels.astype(np.int64)


def _scaled(images: np.ndarray, flatten: bool) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1], converted once and scaled in place."""
    shape = (len(images), PIXELS) if flatten else (len(images), *IMAGE_SHAPE)
    out = images.reshape(shape).astype(np.float32)
    out /= 255.0
    return out
