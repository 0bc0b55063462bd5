"""Reading untrusted `.npy` / `.npz` files: headers first, sizes bounded before any data is read, never a pickle."""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

__all__ = ["read_npy", "read_npy_header", "read_npz"]


def read_npy_header(stream: IO[bytes], where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read the header of a `.npy` stream (leaving the stream at the start of the data).

    Args:
        stream: A binary stream at the start of a `.npy` file.
        where: The file (and member) for messages.

    Returns:
        `(shape, fortran_order, dtype)`.

    Raises:
        ValueError: Not a `.npy` file, an empty one, or one holding Python objects (which would need a pickle).
    """
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
    except ValueError as error:
        if "EOF" in str(error) or "got 0" in str(error):
            raise ValueError(f"{where} is empty or cut short: not a .npy array") from None
        raise ValueError(f"{where} is not a .npy array ({error})") from None
    if dtype.hasobject:
        raise ValueError(f"{where} holds Python objects (a pickle), refused: only plain numeric arrays are read")
    return tuple(shape), bool(fortran_order), dtype


def _read_array(stream: IO[bytes], where: str, max_elements: int) -> np.ndarray:
    shape, fortran_order, dtype = read_npy_header(stream, where)
    count = math.prod(shape)  # Python ints: numpy's int64 product wraps for a crafted (2**40, 2**40)
    if count > max_elements:
        raise ValueError(f"{where} holds {count} values, shape {shape}: more than the limit of {max_elements}")
    data = stream.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError(f"{where} is cut short: shape {shape} needs {count * dtype.itemsize} bytes of data")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C").copy()


def read_npy(path: str | os.PathLike, max_elements: int) -> np.ndarray:
    """Load a `.npy` array of at most `max_elements` values, checking the header before reading any data.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a `.npy` array, cut short, holding objects, or too large.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, "rb") as stream:
        return _read_array(stream, str(path), max_elements)


def read_npz(path: str | os.PathLike, keys: Sequence[str], max_elements: int) -> dict[str, np.ndarray]:
    """Load exactly the arrays `keys` of a `.npz` archive, each of at most `max_elements` values.

    Only the listed members are decompressed, each after its size (from the zip directory, then the `.npy` header)
    was checked; an archive with any other member is refused without reading it.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a zip archive of `.npy` arrays, missing or unexpected members, or a member too large.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty: not a .npz archive")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .npz archive (numpy.savez writes a zip of .npy arrays)")
    with zipfile.ZipFile(path) as archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        missing = [key for key in keys if key not in members]
        unexpected = sorted(set(members) - set(keys))
        if missing or unexpected:
            raise ValueError(
                f"{path} holds arrays {sorted(members)}; expected exactly {list(keys)}"
                + (f" (missing {missing})" if missing else "")
                + (f" (unexpected {unexpected}, not read)" if unexpected else "")
            )
        arrays = {}
        for key in keys:
            info = members[key]
            # the header of a .npy is at most 64 kB (numpy's own limit); the data at most 16 bytes per value
            if info.file_size > 65536 + 16 * max_elements:
                raise ValueError(f"{path}: '{key}' is {info.file_size} bytes unpacked, over the limit")
            with archive.open(info) as stream:
                arrays[key] = _read_array(stream, f"{path}: '{key}'", max_elements)
        return arrays
