"""The library's error type and the input checks that every boundary shares.

Checks run where data enters (a network's ``forward``, ``fit``, ``predict``, a loss,
a file loader), never inside a layer's arithmetic. Each one names what was wrong,
what was expected and how to fix it.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import time

import numpy as np

try:  # advisory locks mark a temporary file as in use (POSIX); Windows locks open files
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# What reading a damaged or hostile description (JSON from a file) can raise besides
# LayerwiseError: a list where a dict should be, an infinite step count, a state nested
# too deeply... Readers turn them into a LayerwiseError naming the file.
DESCRIPTION_ERRORS = (
    KeyError,
    TypeError,
    ValueError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
)


class LayerwiseError(ValueError):
    """Bad input or a bad file: the message says what is wrong and how to fix it."""


class LayerwiseWarning(UserWarning):
    """Something went wrong that the library recovered from (e.g. a diverged run)."""


def float_dtype(dtype) -> np.dtype:
    """Return ``dtype`` as a NumPy dtype, accepting only float32 and float64."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as e:
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
    if not _all_finite(x):
        raise LayerwiseError(
            f"{name} contains {first_nonfinite(x)}; clean or impute the data first."
        )


def _all_finite(x: np.ndarray) -> bool:
    if x.dtype.kind != "f" or x.size == 0:
        return True
    # Block by block, so that checking a whole data set (MNIST: 188 MB) needs no
    # boolean array a quarter of its size.
    if x.ndim == 0:
        return bool(np.isfinite(x))
    rows = max(1, (1 << 20) // max(1, x.size // len(x)))  # about a million elements
    return all(np.isfinite(x[i : i + rows]).all() for i in range(0, len(x), rows))


def cast(x: np.ndarray, dtype, name: str) -> np.ndarray:
    """``x`` (finite) as ``dtype``, refusing values beyond the range of ``dtype``.

    A finite float64 such as 1e300 becomes infinity in float32; without this check it
    would pass the finiteness check and surface later as a "diverged" run.
    """
    with np.errstate(over="ignore"):  # reported below, with the offending value
        out = x.astype(dtype, copy=False)
    narrowing = x.dtype.kind == "f" and out.dtype.itemsize < x.dtype.itemsize
    if narrowing and not _all_finite(out):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise LayerwiseError(
            f"{name} holds {x[index].item()!r} at index {index}, beyond the range of "
            f"{out.dtype.name} (largest {np.finfo(out.dtype).max:.4g}). Rescale the data "
            "(e.g. with lw.data.standardize) or use a float64 network (dtype=np.float64)."
        )
    return out


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
    return cast(arr, dtype, name)


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


# The most classes that a function infers from the largest label (one_hot,
# confusion_matrix): a label of 10**12 makes arrays of terabytes, and is no class index.
MAX_INFERRED_CLASSES = 2**20


def inferred_classes(largest: int, where: str) -> int:
    """``largest + 1``: the number of classes that labels up to ``largest`` imply, refused
    beyond :data:`MAX_INFERRED_CLASSES` (pass the number explicitly to go beyond)."""
    if largest >= MAX_INFERRED_CLASSES:
        raise LayerwiseError(
            f"{where}: the largest label is {largest}, which would make {largest + 1:,} "
            f"classes; a class count inferred from the labels is at most "
            f"{MAX_INFERRED_CLASSES:,}. Check that the labels are class indices 0, 1, ..., "
            "or pass num_classes= to have more."
        )
    return largest + 1


def check_seed(seed, name: str = "seed") -> int | np.random.Generator | None:
    """Return ``seed`` if it is ``None``, a non-negative integer or a NumPy ``Generator``
    (what ``np.random.default_rng`` takes), else raise a ``LayerwiseError``: NumPy's own
    errors for ``-1`` or ``1.5`` are a bare ``ValueError`` and a ``TypeError``."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LayerwiseError(
            f"{name} must be None, a non-negative integer or a numpy Generator; got {seed!r}. "
            f"Pass e.g. {name.split()[-1]}=0 for reproducible results."
        )
    return int(seed)


# -- temporary files ------------------------------------------------------------------

# A temporary file that no process holds locked and that has not changed for this many
# seconds belongs to a writer that died (killed in the middle of a save or a download).
# The age covers the instants in which a live writer's file is not locked: between its
# creation and the lock, and between closing it and renaming it into place.
STALE_TEMPORARY_AGE = 60.0


def new_temporary_file(folder, name: str, suffix: str = ".tmp") -> tuple[int, str]:
    """Create a hidden ``.<name>.<random><suffix>`` in ``folder``; return ``(fd, path)``.

    The file is created with mode 0o666 and the process's umask applied by the system,
    so once renamed into place it has the permissions of any file the user creates
    (``tempfile.mkstemp`` would make it 0o600, and reading the umask means setting it).
    It is locked (``flock``) for as long as ``fd`` is open, which tells other processes
    that it is in use: each call first removes the stale temporaries of the same target,
    those that no process holds locked and that have not changed for
    :data:`STALE_TEMPORARY_AGE` seconds (left by a writer killed with SIGKILL). A name
    too long to take the decoration becomes ``.<hash of name>.<random><suffix>``.

    Raises
    ------
    LayerwiseError
        If ``name`` itself is longer than the file system allows.
    """
    limit = _name_max(folder)
    if len(os.fsencode(name)) > limit:
        raise LayerwiseError(
            f"The file name {name!r} is {len(os.fsencode(name))} bytes long; the file system "
            f"of {str(folder)!r} allows at most {limit}. Choose a shorter name."
        )
    prefix = f".{name}."
    if len(os.fsencode(prefix)) + 8 + len(os.fsencode(suffix)) > limit:
        prefix = f".{hashlib.sha256(os.fsencode(name)).hexdigest()[:16]}."
    remove_stale_temporaries(folder, prefix, suffix)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)  # O_BINARY: Windows
    for _ in range(100):
        path = os.path.join(folder, f"{prefix}{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a file system without locks: the age alone protects the file
                pass
        return fd, path
    raise FileExistsError(f"no free temporary name for {name!r} in {str(folder)!r}")


def remove_stale_temporaries(folder, prefix: str, suffix: str) -> list[str]:
    """Delete the files ``<prefix><8 hex digits><suffix>`` in ``folder`` that no process
    holds locked and that are older than :data:`STALE_TEMPORARY_AGE`; return their paths.

    Nothing else is touched: not other names, not symbolic links, not files in use.
    """
    pattern = re.compile(re.escape(prefix) + "[0-9a-f]{8}" + re.escape(suffix))
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if pattern.fullmatch(entry.name) and _remove_if_stale(entry):
            removed.append(entry.path)
    return removed


def _remove_if_stale(entry: os.DirEntry) -> bool:
    try:
        if not entry.is_file(follow_symlinks=False):
            return False
        if not _stale(entry.stat(follow_symlinks=False)):
            return False
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(entry.path, flags)
    except OSError:
        return False
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # locked: a writer is alive
                return False
            held = os.fstat(fd)
            now = os.stat(entry.path, follow_symlinks=False)
            if not _stale(held) or (held.st_dev, held.st_ino) != (now.st_dev, now.st_ino):
                return False
            os.unlink(entry.path)
            return True
    except OSError:
        return False
    finally:
        os.close(fd)
    try:  # no locks (Windows): a file that a live writer has open cannot be deleted there
        os.unlink(entry.path)
    except OSError:
        return False
    return True


def _stale(stat: os.stat_result) -> bool:
    return time.time() - stat.st_mtime > STALE_TEMPORARY_AGE


def _name_max(folder) -> int:
    """The longest file name (in bytes) that ``folder``'s file system allows."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or no answer
        return 255


def interval(low, high, where: str) -> tuple[float, float]:
    """``(low, high)`` as finite floats with ``low < high``, else a LayerwiseError."""
    low = real_number(low, f"{where}: low")
    high = real_number(high, f"{where}: high")
    if not low < high:
        raise LayerwiseError(f"{where}: low must be below high; got low={low!r}, high={high!r}.")
    return low, high
