"""Timing candidates that compute the same thing: which runs fastest here, each run from cold caches or warm.

Interference only ever slows a run, so each candidate's fastest run is what it costs; runs are interleaved, every
other round in reverse order, after one warm-up each.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch

__all__ = ["SEPARATED_AFTER", "evict_caches", "fastest", "untimed"]

# Read before each timed run, so that every candidate starts with cold caches, as a layer does inside a model: between
# two calls of one layer the other layers' weights pass through the cache (bark-small's decoder reads all of its
# weights a token). Timed with hot caches, a kernel can look faster than the one that is faster in the model.
# 64 MB covers the last-level cache of the CPUs this runs on (read from sysfs when larger).
_EVICT_BYTES = 64 * 2**20


def _last_level_cache_bytes() -> int:
    """The largest cache size sysfs reports for CPU 0, in bytes (0 when it reports none)."""
    sizes = []
    for index in range(8):
        try:
            with open(f"/sys/devices/system/cpu/cpu0/cache/index{index}/size", encoding="ascii") as file:
                text = file.read().strip()
        except OSError:
            break
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        sizes.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
    return max(sizes, default=0)


@functools.cache
def _evict_buffer() -> np.ndarray:
    """A buffer larger than the last-level cache (made on the first kernel choice, then kept)."""
    return np.ones(max(_EVICT_BYTES, 2 * _last_level_cache_bytes()) // 4, dtype=np.float32)


@functools.cache
def _evict_pool(workers: int) -> ThreadPoolExecutor:
    """A plain thread pool of `workers` threads (made on first use per thread count, then kept)."""
    return ThreadPoolExecutor(workers, thread_name_prefix="bark_vocos_evict")


def evict_caches() -> None:
    """Read a buffer larger than the last-level cache, one part per thread of a plain thread pool (numpy's sum runs
    without the GIL).

    Not with a torch reduction: that wakes torch's OpenMP workers, which then spin for milliseconds after it and take
    the cores from a candidate that runs its own threads, so that a choice could go to the kernel that is slower in
    the generation loop. Idle pool threads sleep, they do not spin.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        _evict_buffer().sum()
    else:
        list(_evict_pool(threads).map(np.sum, np.array_split(_evict_buffer(), threads)))


SEPARATED_AFTER = 3  # runs per candidate before `fastest` may stop early


def _separated(times: dict[str, list[float]]) -> bool:
    """Whether one candidate's slowest time is below every other candidate's fastest."""
    best = min(times, key=lambda name: max(times[name]))
    return all(max(times[best]) < min(times[name]) for name in times if name != best)


def fastest(candidates: dict[str, Callable[[], object]], repeats: int = 5, cold: bool = True) -> str:
    """The name of the candidate with the lowest time over up to `repeats` interleaved runs (one warm-up each, then
    rounds in alternating order), each run starting with cold caches unless `cold` is False (for work bound by
    compute).

    Interference only ever slows a run, so each candidate's fastest run is what it costs (a median let a few spiked
    runs hand a choice to the slower candidate: docs/design-notes.md). It stops after `SEPARATED_AFTER` runs when
    one candidate's slowest run was faster than every other run: the order is then plain, and each cold run costs a
    read of twice the last-level cache.
    """
    for run in candidates.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for round_index in range(repeats):
        # Every other round in reverse order, so that each of two candidates also runs right after itself, as it does
        # in a loop of its own: what one leaves behind cannot slow the other in every run (torch's OpenMP workers spin
        # for milliseconds after a parallel region and slowed an ONNX Runtime step timed right after a PyTorch one).
        for name in names if round_index % 2 == 0 else names[::-1]:
            run = candidates[name]
            if cold:
                evict_caches()
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
        if round_index + 1 >= SEPARATED_AFTER and _separated(times):
            break
    return min(times, key=lambda name: min(times[name]))


def untimed(part: str) -> AbstractContextManager[None]:
    """The default timer hook of the Bark stages (`timer(part)` around each part of their work): nothing is timed."""
    return nullcontext()
