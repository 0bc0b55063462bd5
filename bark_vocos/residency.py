"""Letting go of the memory of weights a process no longer reads: the float32 layers the `fast` engine has rounded to
int8 stay in the model (it is never modified) but need not stay resident.

transformers maps a safetensors checkpoint into memory, so a weight's pages are pages of the file: once read, they
count in the process's resident memory until it exits. `release_file_pages(tensors)` drops those pages (Linux
`madvise(MADV_DONTNEED)`); a later read of the weight faults them in again from the file, with the same values, as it
would after the kernel reclaimed them under memory pressure. A tensor's pages are dropped only when every one of them
is a page of a file or of shared memory, or not in memory and not swapped out (read from `/proc/self/pagemap`): a
written page of a private mapping is the process's own copy, which dropping would lose, so a tensor with one is left
as it is, as is memory that is not a file, and every tensor on other systems.

`file_identity(tensor)` says, by the same reading, where a tensor's values are in a file, so that what is derived
from a weight (its 8-bit codes) can be cached by where the weight comes from rather than by hashing its values.

Hand-written with `ctypes`: Python's `mmap.madvise` applies only to maps Python made itself.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable

import numpy as np
import torch

__all__ = ["file_identity", "release_file_pages"]

_MADV_DONTNEED = 4  # Linux's value (asm-generic/mman-common.h)
# a page's entry in /proc/self/pagemap (Documentation/admin-guide/mm/pagemap.rst)
_PRESENT, _SWAPPED, _FILE_OR_SHARED = 1 << 63, 1 << 62, 1 << 61


def _span(tensor: torch.Tensor) -> tuple[int, int] | None:
    """`(start, end)` addresses of the bytes `tensor` spans (its first to its last element), None if none or not CPU."""
    if tensor.device.type != "cpu" or tensor.numel() == 0:
        return None
    extent = 1 + sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride(), strict=True))
    return tensor.data_ptr(), tensor.data_ptr() + extent * tensor.element_size()


def _file_pages_only(pagemap: int, first: int, last: int) -> np.ndarray | None:
    """Whether pages `[first, last)` hold no page of the process's own (each one of a file or shared memory, or not
    in memory and not swapped out): the presence of each page if so, else None."""
    entries = np.frombuffer(os.pread(pagemap, 8 * (last - first), 8 * first), dtype=np.uint64)
    present = (entries & np.uint64(_PRESENT)) != 0
    own = present & ((entries & np.uint64(_FILE_OR_SHARED)) == 0)  # the process's own copy of a page
    if len(entries) != last - first or own.any() or ((entries & np.uint64(_SWAPPED)) != 0).any():
        return None
    return present


def release_file_pages(tensors: Iterable[torch.Tensor]) -> int:
    """Drop from this process's resident memory the whole pages of each of `tensors` that lies in pages of a file
    (see the module docstring); their values are unchanged and read from the file again if used. No other thread
    may write to the tensors meanwhile.

    Returns:
        The bytes of resident pages dropped (0 on systems other than Linux, where `/proc/self/pagemap` cannot be
        read, or when no tensor lies wholly in file pages).
    """
    if not sys.platform.startswith("linux"):
        return 0
    page = os.sysconf("SC_PAGE_SIZE")
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    released = 0
    try:
        pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
    except OSError:
        return 0
    try:
        for tensor in tensors:
            span = _span(tensor)
            if span is None:
                continue
            first, last = -(-span[0] // page), span[1] // page  # the pages wholly within the tensor
            present = _file_pages_only(pagemap, first, last) if last > first else None
            if present is not None and madvise(first * page, (last - first) * page, _MADV_DONTNEED) == 0:
                released += int(present.sum()) * page
    finally:
        os.close(pagemap)
    return released


def file_identity(tensor: torch.Tensor) -> tuple[str, int, int, int, int, int] | None:
    """Where `tensor`'s values are: `(path, device, inode, size, mtime_ns, offset)` of the file it is mapped from
    and the offset of its first element there, when every page it spans is an unwritten page of that mapping.

    Two tensors of the same identity, shape, strides and dtype hold the same values as long as the file is not
    rewritten in place (a new file at the path has another inode or modification time). None: not a file mapping
    (made in memory), a page written since it was mapped, the file moved or deleted, or another system.
    """
    span = _span(tensor)
    if span is None or not sys.platform.startswith("linux"):
        return None
    start, end = span
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)  # start-end perms offset device inode [path]
                low, high = (int(address, 16) for address in fields[0].split("-"))
                if low <= start < high:
                    break
            else:
                return None
        if end > high or len(fields) < 6 or fields[4] == "0" or not fields[5].startswith("/"):
            return None
        path = fields[5].rstrip("\n")
        status = os.stat(path)
        if status.st_ino != int(fields[4]):
            return None  # not the file mapped (it was replaced, or the path ends in " (deleted)")
        page = os.sysconf("SC_PAGE_SIZE")
        pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
        try:
            if _file_pages_only(pagemap, start // page, -(-end // page)) is None:
                return None
        finally:
            os.close(pagemap)
    except OSError:
        return None
    offset = int(fields[2], 16) + start - low
    return path, status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, offset
