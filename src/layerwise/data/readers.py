"""Readers for the two on-disk layouts of MNIST-style data: IDX files and CSV.

IDX (LeCun's format): a big-endian header -- the magic number ``0x000008NN`` (two
zero bytes, type code ``0x08`` for unsigned bytes, ``NN`` dimensions), then one
uint32 per dimension -- followed by the raw bytes in row-major order. Files may be
gzipped. The CSV layout (as in notebook 001) has one image per line: the label,
then 784 pixel values 0-255, with an optional header line.

Both readers check everything a damaged or wrong file can get wrong and say which
file, where, what was expected and what was found.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np

from layerwise._checks import LayerwiseError

__all__ = ["load_csv", "load_idx"]

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08
# Read in 1 MiB pieces into the preallocated array: no second copy of a whole file.
_CHUNK = 1 << 20

PIXELS = 28 * 28
CSV_COLUMNS = 1 + PIXELS


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file of unsigned bytes, gzipped or raw (told apart by content).

    Parameters
    ----------
    path : str or path-like
        The file, e.g. ``train-images-idx3-ubyte.gz`` or ``train-labels-idx1-ubyte``.

    Returns
    -------
    ndarray of dtype uint8 and the shape stored in the header
        ``(n, rows, cols)`` for an image file (magic ``0x00000803``), ``(n,)`` for a
        label file (magic ``0x00000801``).

    Raises
    ------
    LayerwiseError
        If the file is missing or unreadable, the gzip data is corrupt, the magic
        number is not that of an unsigned-byte IDX file, or the data is shorter or
        longer than the dimensions in the header say.

    Examples
    --------
    >>> images = load_idx("mnist/train-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if not compressed:
                return _read_idx(raw, path)
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                try:
                    return _read_idx(stream, path)
                except LayerwiseError:
                    # Damaged gzip data can decode to garbage before the CRC at the end
                    # is checked; report the damage rather than the garbage.
                    while stream.read(_CHUNK):
                        pass
                    raise
    except FileNotFoundError:
        raise LayerwiseError(f"IDX file {str(path)!r} does not exist.") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise LayerwiseError(
            f"IDX file {str(path)!r} holds corrupt or truncated gzip data ({e}). "
            "Delete it and download it again."
        ) from None
    except OSError as e:
        raise LayerwiseError(f"IDX file {str(path)!r} could not be read: {e}") from None


def _read_idx(stream, path: Path) -> np.ndarray:
    header = stream.read(4)
    if len(header) < 4:
        raise LayerwiseError(
            f"IDX file {str(path)!r} is too short: expected a 4-byte magic number, "
            f"got {len(header)} bytes."
        )
    magic = int.from_bytes(header, "big")
    ndim = header[3]
    if header[:2] != b"\0\0" or header[2] != _UBYTE or ndim == 0:
        raise LayerwiseError(
            f"IDX file {str(path)!r} has magic number 0x{magic:08x}; expected 0x000008NN "
            "(an IDX file of unsigned bytes: 0x00000801 for labels, 0x00000803 for images). "
            "Is it an MNIST-style file?"
        )
    dims_bytes = stream.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise LayerwiseError(
            f"IDX file {str(path)!r} is truncated: its magic number 0x{magic:08x} announces "
            f"{ndim} dimensions ({4 * ndim} header bytes), but only {len(dims_bytes)} follow."
        )
    dims = struct.unpack(f">{ndim}I", dims_bytes)
    size = int(np.prod(dims, dtype=np.int64))
    try:
        data = np.empty(size, dtype=np.uint8)
    except (MemoryError, ValueError):
        raise LayerwiseError(
            f"IDX file {str(path)!r} declares dimensions {dims} ({size} bytes), more than can "
            "be allocated; the header is probably corrupt."
        ) from None
    filled = _fill(stream, memoryview(data))
    if filled < size:
        raise LayerwiseError(
            f"IDX file {str(path)!r} is truncated: the header declares dimensions {dims}, "
            f"i.e. {size} data bytes, but the file holds only {filled}."
        )
    if stream.read(1):
        raise LayerwiseError(
            f"IDX file {str(path)!r} is longer than its header says: dimensions {dims} account "
            f"for {size} data bytes, but more follow. The file is damaged or not IDX."
        )
    return data.reshape(dims)


def _fill(stream, buffer: memoryview) -> int:
    """Read from ``stream`` into ``buffer`` until it is full or the stream ends."""
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(buffer[filled : filled + _CHUNK])
        if not count:
            break
        filled += count
    return filled


# --- CSV ---------------------------------------------------------------------------------

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_INTEGER_ROW = re.compile(r"\s*[+-]?\d+\s*(?:,\s*[+-]?\d+\s*)*")


def load_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST-style CSV: one image per line, the label then 784 pixel values.

    Parameters
    ----------
    path : str or path-like
        E.g. ``mnist_train.csv``. An optional first line of column names (such as
        ``label,1x1,1x2,...``) is recognised by its non-numeric first cell and skipped.

    Returns
    -------
    images : ndarray of shape (n, 784), uint8
        Pixel values 0-255, one flattened 28x28 image per row.
    labels : ndarray of shape (n,), int64
        Labels 0-9.

    Raises
    ------
    LayerwiseError
        If the file is missing or empty, a line does not have 785 values, a cell is
        not a whole number (the message gives line and column, counted from 1), a
        label is outside 0-9 or a pixel value outside 0-255.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            first_line = f.readline()
            has_header = _is_header(first_line)
            if has_header:
                _check_column_count(first_line, 1, path)
            else:
                f.seek(0)
            try:
                with warnings.catch_warnings():
                    # An empty file gets our own, clearer error below.
                    warnings.simplefilter("ignore", UserWarning)
                    table = np.loadtxt(f, delimiter=",", dtype=np.int32, comments=None, ndmin=2)
            except ValueError as e:
                _raise_first_bad_cell(path, has_header)
                raise LayerwiseError(f"CSV file {str(path)!r} could not be read: {e}") from None
    except FileNotFoundError:
        raise LayerwiseError(f"CSV file {str(path)!r} does not exist.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LayerwiseError(f"CSV file {str(path)!r} could not be read: {e}") from None
    if table.size == 0:
        raise LayerwiseError(
            f"CSV file {str(path)!r} holds no data lines; expected one image per line "
            f"(the label, then {PIXELS} pixel values)."
        )
    if table.shape[1] != CSV_COLUMNS:
        # loadtxt has checked that every row has the same count, so the first one is wrong.
        line_number, line = _nth_data_line(path, has_header, 0)
        _check_column_count(line, line_number, path)
    labels, pixels = table[:, :1], table[:, 1:]
    _check_range(labels, 9, "label", path, has_header, first_column=1)
    _check_range(pixels, 255, "pixel value", path, has_header, first_column=2)
    return pixels.astype(np.uint8), labels[:, 0].astype(np.int64)


def _is_header(line: str) -> bool:
    first_cell = line.split(",", 1)[0]
    return line.strip() != "" and not _INTEGER.fullmatch(first_cell)


def _check_column_count(line: str, line_number: int, path: Path) -> None:
    count = line.count(",") + 1
    if count != CSV_COLUMNS:
        raise LayerwiseError(
            f"CSV file {str(path)!r}, line {line_number}: expected {CSV_COLUMNS} "
            f"comma-separated values (the label, then {PIXELS} pixels); got {count}."
        )


def _data_lines(path: Path, has_header: bool):
    """Yield ``(line number, line)`` for the lines ``np.loadtxt`` reads as rows."""
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if number == 1 and has_header:
                continue
            line = line.rstrip("\r\n")
            if line:  # loadtxt skips empty lines
                yield number, line


def _nth_data_line(path: Path, has_header: bool, row: int) -> tuple[int, str]:
    for index, numbered_line in enumerate(_data_lines(path, has_header)):
        if index == row:
            return numbered_line
    raise AssertionError(f"row {row} not found in {path}")  # loadtxt read it, so it exists


def _raise_first_bad_cell(path: Path, has_header: bool) -> None:
    """Find the first line ``np.loadtxt`` choked on and raise a precise error for it."""
    for number, line in _data_lines(path, has_header):
        _check_column_count(line, number, path)
        if _INTEGER_ROW.fullmatch(line):
            continue
        for column, cell in enumerate(line.split(","), start=1):
            if not _INTEGER.fullmatch(cell):
                what = "label (0-9)" if column == 1 else "pixel value (0-255)"
                raise LayerwiseError(
                    f"CSV file {str(path)!r}, line {number}, column {column}: {cell!r} is not "
                    f"a whole number; expected a {what}."
                )


def _check_range(
    values: np.ndarray, maximum: int, what: str, path: Path, has_header: bool, *, first_column: int
) -> None:
    """Raise for the first entry of ``values`` outside ``0..maximum``, naming line and column."""
    if values.min() >= 0 and values.max() <= maximum:
        return
    row, col = (int(i) for i in np.argwhere((values < 0) | (values > maximum))[0])
    line_number, _ = _nth_data_line(path, has_header, row)
    raise LayerwiseError(
        f"CSV file {str(path)!r}, line {line_number}, column {first_column + col}: {what} "
        f"{int(values[row, col])} is outside 0-{maximum}."
    )
