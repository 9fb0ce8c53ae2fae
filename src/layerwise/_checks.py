"""The library's error type and the input checks that every boundary shares.

Checks run where data enters (a network's ``forward``, ``fit``, ``predict``, a loss,
a file loader), never inside a layer's arithmetic. Each one names what was wrong,
what was expected and how to fix it.
"""

from __future__ import annotations

import math
import os
import secrets

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class LayerwiseError(ValueError):
    """Bad input or a bad file: the message says what is wrong and how to fix it."""


class LayerwiseWarning(UserWarning):
    """Something went wrong that the library recovered from (e.g. a diverged run)."""


def float_dtype(dtype) -> np.dtype:
    """Return ``dtype`` as a NumPy dtype, accepting only float32 and float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise LayerwiseError(f"dtype must be float32 or float64; got {dtype!r}.") from e
    if dt not in FLOAT_DTYPES:
        raise LayerwiseError(f"dtype must be float32 or float64; got {dt.name!r}.")
    return dt


def numeric_array(x, name: str) -> np.ndarray:
    """``np.asarray(x)``, refusing arrays that do not hold numbers (strings, objects)."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise LayerwiseError(f"{name} could not be read as a numeric array: {e}") from e
    if arr.dtype.kind not in "biuf":
        raise LayerwiseError(
            f"{name} must hold numbers; got an array of dtype {arr.dtype.name!r}. "
            "Convert it to numbers first (e.g. with .astype(np.float32))."
        )
    return arr


def first_nonfinite(x: np.ndarray) -> str:
    """Describe the first NaN or infinite entry of ``x``, e.g. ``'nan at index (3, 5)'``."""
    bad = np.argwhere(~np.isfinite(x))[0]
    index = tuple(int(i) for i in bad)
    return f"{float(x[index])!r} at index {index}"


def check_sample_weight(sample_weight, n: int, where: str) -> np.ndarray:
    """``sample_weight`` as a float64 ``(n,)`` array of finite, non-negative weights."""
    w = numeric_array(sample_weight, f"{where}: sample_weight")
    if w.ndim != 1 or len(w) != n:
        raise LayerwiseError(
            f"{where}: sample_weight has shape {w.shape}; expected ({n},), one weight per row."
        )
    w = w.astype(np.float64, copy=False)
    check_finite(w, f"{where}: sample_weight")
    if n and w.min() < 0:
        raise LayerwiseError(f"{where}: sample_weight holds a negative weight ({w.min()}).")
    return w


def check_finite(x: np.ndarray, name: str) -> None:
    """Raise if ``x`` holds NaN or infinity, naming the first offending entry."""
    if x.dtype.kind != "f" or x.size == 0:
        return
    # Block by block, so that checking a whole data set (MNIST: 188 MB) needs no
    # boolean array a quarter of its size.
    if x.ndim == 0:
        blocks = [x]
    else:
        rows = max(1, (1 << 20) // (x.size // len(x)))  # about a million elements
        blocks = (x[i : i + rows] for i in range(0, len(x), rows))
    for block in blocks:
        if not np.isfinite(block).all():
            raise LayerwiseError(
                f"{name} contains {first_nonfinite(x)}; clean or impute the data first."
            )


def check_samples(x: np.ndarray, name: str) -> None:
    """Raise for an empty batch."""
    if x.shape[0] == 0:
        raise LayerwiseError(f"{name} is empty (shape {x.shape}); pass at least one sample.")


def as_matrix(x, name: str, dtype: np.dtype) -> np.ndarray:
    """Check that ``x`` is a finite, non-empty, numeric ``(n, features)`` array and cast it.

    A 1-D array is refused rather than guessed at, as scikit-learn does.
    """
    arr = numeric_array(x, name)
    if arr.ndim != 2:
        hint = (
            " Use x.reshape(-1, 1) for a single feature or x.reshape(1, -1) for a single sample."
            if arr.ndim == 1
            else ""
        )
        raise LayerwiseError(
            f"{name} must be 2-D with shape (samples, features); got shape {arr.shape}.{hint}"
        )
    check_samples(arr, name)
    check_finite(arr, name)
    return arr.astype(dtype, copy=False)


def positive_int(value, name: str) -> int:
    """Return ``value`` as an int, raising unless it is a positive integer."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise LayerwiseError(f"{name} must be a positive integer; got {value!r}.")
    if value < 1:
        raise LayerwiseError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def real_number(value, name: str, *, minimum: float | None = None, strict: bool = False) -> float:
    """Return ``value`` as a finite float, optionally ``>= minimum`` (``> minimum`` if strict)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise LayerwiseError(f"{name} must be a real number; got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise LayerwiseError(f"{name} must be a finite number; got {value!r}.")
    if minimum is not None and (number <= minimum if strict else number < minimum):
        relation = ">" if strict else ">="
        raise LayerwiseError(
            f"{name} must be a finite number {relation} {minimum:g}; got {value!r}."
        )
    return number


def new_temporary_file(folder, name: str, suffix: str = ".tmp") -> tuple[int, str]:
    """Create a hidden ``.<name>.<random><suffix>`` in ``folder``; return ``(fd, path)``.

    The file is created with mode 0o666 and the process's umask applied by the system,
    so once renamed into place it has the permissions of any file the user creates
    (``tempfile.mkstemp`` would make it 0o600, and reading the umask means setting it).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)  # O_BINARY: Windows
    for _ in range(100):
        path = os.path.join(folder, f".{name}.{secrets.token_hex(4)}{suffix}")
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {name!r} in {str(folder)!r}")


def interval(low, high, where: str) -> tuple[float, float]:
    """``(low, high)`` as finite floats with ``low < high``, else a LayerwiseError."""
    low = real_number(low, f"{where}: low")
    high = real_number(high, f"{where}: high")
    if not low < high:
        raise LayerwiseError(f"{where}: low must be below high; got low={low!r}, high={high!r}.")
    return low, high
