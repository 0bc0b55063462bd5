"""Letting go of the memory of weights a process no longer reads: the float32 layers the `fast` engine has rounded to
int8 stay in the model (it is never modified) but need not stay resident.

transformers maps a safetensors checkpoint into memory, so a weight's pages are pages of the file: once read, they
count in the process's resident memory until it exits. `release_file_pages(tensors)` drops those pages (Linux
`madvise(MADV_DONTNEED)`); a later read of the weight faults them in again from the file, with the same values, as it
would after the kernel reclaimed them under memory pressure. A tensor's pages are dropped only when every one of them
is a page of a file or of shared memory, or not in memory and not swapped out (read from `/proc/self/pagemap`): a
written page of a private mapping is the process's own copy, which dropping would lose, so a tensor with one is left
as it is, as is memory that is not a file, and every tensor on other systems.

Hand-written with `ctypes`: Python's `mmap.madvise` applies only to maps Python made itself.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable

import numpy as np
import torch

__all__ = ["release_file_pages"]

_MADV_DONTNEED = 4  # Linux's value (asm-generic/mman-common.h)
# a page's entry in /proc/self/pagemap (Documentation/admin-guide/mm/pagemap.rst)
_PRESENT, _SWAPPED, _FILE_OR_SHARED = 1 << 63, 1 << 62, 1 << 61


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
            if tensor.device.type != "cpu" or tensor.numel() == 0:
                continue
            extent = 1 + sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride(), strict=True))
            start = tensor.data_ptr()
            first = -(-start // page)  # the pages wholly within the tensor: [first, last)
            last = (start + extent * tensor.element_size()) // page
            if last <= first:
                continue
            entries = np.frombuffer(os.pread(pagemap, 8 * (last - first), 8 * first), dtype=np.uint64)
            present = (entries & np.uint64(_PRESENT)) != 0
            own = present & ((entries & np.uint64(_FILE_OR_SHARED)) == 0)  # the process's own copy of a page
            if len(entries) != last - first or own.any() or ((entries & np.uint64(_SWAPPED)) != 0).any():
                continue
            if madvise(first * page, (last - first) * page, _MADV_DONTNEED) == 0:
                released += int(present.sum()) * page
    finally:
        os.close(pagemap)
    return released
