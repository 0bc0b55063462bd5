"""Kernel choice by measurement: of several implementations that compute the same thing, use the one that runs
fastest on this machine, timed once per shape and remembered for the process.

CPUs differ: oneDNN's fused linear beats MKL's `addmm` by 5-10% on an AVX-512 EPYC and loses by about 10% on an
AVX2-only one. Instead of assuming either, `fastest` times the candidates on the real inputs (interleaved, after a
warm-up, median of a few runs) the first time a shape is seen; `KernelCache` keeps the answer per key.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Hashable

__all__ = ["FORCE_VARIABLE", "KernelCache", "fastest"]

# Set to a candidate's name to use it wherever it is a candidate, without timing (for benchmarks and bug reports).
FORCE_VARIABLE = "BARK_VOCOS_KERNEL"


def fastest(candidates: dict[str, Callable[[], object]], repeats: int = 3) -> str:
    """The name of the candidate with the lowest median time over `repeats` interleaved runs (one warm-up each)."""
    for run in candidates.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return min(times, key=lambda name: statistics.median(times[name]))


class KernelCache:
    """The measured choice per key (e.g. a layer shape and thread count), measured on first use."""

    def __init__(self) -> None:
        self.choices: dict[Hashable, str] = {}

    def choose(self, key: Hashable, candidates: dict[str, Callable[[], object]]) -> str:
        """The cached choice for `key`, or the fastest of `candidates` (timed now), or the one `FORCE_VARIABLE` names.

        Raises:
            ValueError: `FORCE_VARIABLE` names no candidate.
        """
        forced = os.environ.get(FORCE_VARIABLE)
        if forced:
            if forced not in candidates:
                raise ValueError(f"{FORCE_VARIABLE}={forced!r} is not a kernel here; valid: {sorted(candidates)}")
            return forced
        if key not in self.choices:
            self.choices[key] = fastest(candidates)
        return self.choices[key]
