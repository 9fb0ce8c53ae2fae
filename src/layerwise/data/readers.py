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

import math
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

    Notes
    -----
    A damaged or hostile file costs little to refuse: the dimensions are multiplied in
    Python integers (no wrap-around) and compared with what the file can hold before
    anything is allocated (a raw file: its size; a gzip file: 1032 times its size, the
    most that deflate can expand), and memory grows with the data actually found, so
    a header claiming a million images in a small file is refused at once. Reading stops
    one byte after the size the header declares: the file must end there (with the gzip
    member of the data, or after empty members such as BGZF's end marker), and what
    follows is refused, not decompressed; long runs of empty members, or of gzip data
    that gives nothing, are refused too.

    Examples
    --------
    >>> images = load_idx("mnist/train-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if not compressed:
                return _read_idx(raw, path, size)
            stream = _Gunzip(raw, path)
            try:
                return _read_idx(stream, path, size, compressed=True)
            except LayerwiseError:
                # Damaged gzip data can decode to garbage before the CRC at the end is
                # checked; report the damage rather than the garbage (within bounds).
                stream.drain(_DRAIN_LIMIT)
                raise
    except FileNotFoundError:
        raise LayerwiseError(f"IDX file {str(path)!r} does not exist.") from None
    except (EOFError, zlib.error) as e:
        raise LayerwiseError(
            f"IDX file {str(path)!r} holds corrupt or truncated gzip data ({e}). "
            "Delete it and download it again."
        ) from None
    except OSError as e:
        raise LayerwiseError(f"IDX file {str(path)!r} could not be read: {e}") from None


# Deflate encodes at best 258 bytes in about 2 bits, so no gzip file decompresses to more
# than ~1032 times its size: a header declaring more data than that is refused at once.
_MAX_DEFLATE_RATIO = 1032
# Decompressed bytes read past a bad header, looking for the gzip error behind it.
_DRAIN_LIMIT = 64 << 20
# Compressed data that gives nothing is not deflate's doing (zeros give 1032 bytes a byte):
# more than this, or more empty members in a row than this (padding, a hostile tail of
# millions), and the file is not read further.
_IDLE_LIMIT = 4 << 20
_MAX_EMPTY_MEMBERS = 64


def _read_idx(stream, path: Path, file_size: int, *, compressed: bool = False) -> np.ndarray:
    """The IDX array in ``stream``, read from a file of ``file_size`` bytes (decompressed
    by ``stream`` when ``compressed``)."""
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
    size = math.prod(dims)  # a Python integer: 2**16 to the 4th power does not wrap to 0
    header_size = 4 + 4 * ndim
    if compressed and size > _MAX_DEFLATE_RATIO * file_size:
        raise LayerwiseError(
            f"IDX file {str(path)!r} is truncated: the header declares dimensions {dims}, "
            f"i.e. {size} data bytes, but {file_size} bytes of gzip data decompress to at "
            f"most {_MAX_DEFLATE_RATIO * file_size}."
        )
    if not compressed and size != file_size - header_size:
        if size < file_size - header_size:
            raise _too_long(path, dims, size)
        raise _truncated(path, dims, size, file_size - header_size)
    data = _fill(stream, size, exact=not compressed)
    if len(data) < size:
        raise _truncated(path, dims, size, len(data))
    if compressed:
        stream.finish(dims, size)
    elif stream.read(1):  # the file grew while it was read
        raise _too_long(path, dims, size)
    return data.reshape(dims)


def _truncated(path: Path, dims: tuple, size: int, found: int) -> LayerwiseError:
    return LayerwiseError(
        f"IDX file {str(path)!r} is truncated: the header declares dimensions {dims}, "
        f"i.e. {size} data bytes, but the file holds only {found}."
    )


def _too_long(path: Path, dims: tuple, size: int) -> LayerwiseError:
    return LayerwiseError(
        f"IDX file {str(path)!r} is longer than its header says: dimensions {dims} account "
        f"for {size} data bytes, but more follow. The file is damaged or not IDX."
    )


def _fill(stream, size: int, exact: bool) -> np.ndarray:
    """Up to ``size`` bytes from ``stream`` into a uint8 array (shorter if it ends first).

    Of a stream whose length is not known (gzip) memory is taken as the data comes, at
    most twice what has arrived, so a header that lies costs what the file really holds.
    """
    data = np.empty(size if exact else min(size, _FIRST_BLOCK), dtype=np.uint8)
    filled = 0
    while True:
        view = memoryview(data)
        while filled < len(data):
            count = stream.readinto(view[filled : filled + _CHUNK])
            if not count:
                return data[:filled]
            filled += count
        if filled == size:
            return data
        grown = np.empty(min(size, 2 * len(data)), dtype=np.uint8)
        grown[:filled] = data
        data = grown


_FIRST_BLOCK = 64 << 20  # more than any MNIST file holds: those take one allocation


class _Gunzip:
    """The decompressed bytes of a gzip file, one member after another, read only as far
    as asked; zlib checks each member's CRC-32 and length at its end.

    ``gzip.GzipFile`` would go on through whatever follows the data, however long; here
    more than :data:`_MAX_EMPTY_MEMBERS` members in a row without data, or
    :data:`_IDLE_LIMIT` compressed bytes that give no data, are refused.
    """

    def __init__(self, raw, path: Path):
        self._raw, self._path = raw, path
        self._inflate = zlib.decompressobj(wbits=31)  # 31: a gzip wrapper
        self._input = b""
        self._idle = 0  # compressed bytes read since the last decompressed one
        self._empty = 0  # members in a row that held no data
        self._member_data = False

    def read(self, n: int) -> bytes:
        buffer = bytearray(n)
        return bytes(buffer[: self.readinto(memoryview(buffer))])

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` as far as the data goes; 0 only at the end of the file."""
        filled = 0
        while filled < len(buffer):
            if self._inflate.eof:  # a member ended: the next one, if the file goes on
                rest = self._inflate.unused_data or self._read_raw()
                if not rest:
                    break
                self._next_member()
                self._input = rest
            if not self._input:
                self._input = self._read_raw()
                if not self._input:
                    raise EOFError("the file ends inside a gzip member")
            out = self._inflate.decompress(self._input, len(buffer) - filled)
            self._input = self._inflate.unconsumed_tail
            if out:
                buffer[filled : filled + len(out)] = out
                filled += len(out)
                self._idle, self._empty, self._member_data = 0, 0, True
        return filled

    def _read_raw(self) -> bytes:
        chunk = self._raw.read(_CHUNK)
        self._idle += len(chunk)
        if self._idle > _IDLE_LIMIT:
            raise LayerwiseError(
                f"IDX file {str(self._path)!r}: {self._idle} bytes of its gzip data give no "
                "data; it was not read further. The file is damaged or not IDX."
            )
        return chunk

    def _next_member(self) -> None:
        self._empty = 0 if self._member_data else self._empty + 1
        if self._empty > _MAX_EMPTY_MEMBERS:
            raise LayerwiseError(
                f"IDX file {str(self._path)!r} holds more than {_MAX_EMPTY_MEMBERS} empty "
                "gzip members in a row; it was not read further. The file is damaged or not "
                "IDX."
            )
        self._inflate, self._member_data = zlib.decompressobj(wbits=31), False

    def finish(self, dims: tuple, size: int) -> None:
        """After the ``size`` bytes of data that ``dims`` declare, the file must end: with
        the member (its CRC checked), or after empty members (as BGZF's end marker)."""
        if self.readinto(memoryview(bytearray(1))):
            raise _too_long(self._path, dims, size)

    def drain(self, limit: int) -> None:
        """Decompress up to ``limit`` more bytes of the current member, for its errors."""
        scratch = memoryview(bytearray(_CHUNK))
        while limit > 0 and not self._inflate.eof:
            count = self.readinto(scratch[: min(_CHUNK, limit)])
            if not count:
                return
            limit -= count


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
