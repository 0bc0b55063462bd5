"""The process's memory settings: glibc's malloc told to keep freed memory (light: ctypes only, no torch)."""

from __future__ import annotations

import ctypes
import platform

__all__ = ["keep_freed_memory"]

# glibc's `mallopt` parameters (malloc.h) and the trim threshold `keep_freed_memory` sets (an int: 2 GiB - 1).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_TRIM_BYTES = 2**31 - 1


def keep_freed_memory() -> bool:
    """Make glibc's `malloc` keep freed memory for the next allocation instead of handing it back to the kernel, for
    the rest of the process; returns whether it applied (False where the C library is not glibc).

    torch allocates CPU tensors with `malloc`. glibc serves a block above its mmap threshold (which it raises as
    blocks are freed, to 32 MiB at most) with a new `mmap` and unmaps it on `free`, and it trims the heap's free top
    beyond twice that: the next tensor of that size then takes a page fault for each 4 KiB page it writes, in which
    the kernel also zeroes the page. A batch's activations are such blocks (a fast-engine prompt of 8 sentences: the
    MLP's are tens of MB each), so without this setting a batch pays page faults on every run. One sentence at a time
    rarely faults after its first run: its blocks stay under the threshold.

    It turns `mmap` off for `malloc` (`M_MMAP_MAX` 0: every block comes from the heap, and freed ones are reused) and
    trims the heap only when 2 GiB of it is free. The cost: the process keeps its peak heap until it exits, as a
    caching allocator does, and the heap may grow past the peak of live tensors before its free blocks fit the sizes
    asked for. Blocks over 64 MiB asked
    for by a thread other than the main one may still be mapped (glibc's thread arenas are 64 MiB heaps). The
    `bark-vocos` commands call this when they start; in Python, call it once before generating.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES))
