"""Devices, dtypes and seeds: the user's names resolved to torch objects, and a seeded random state per call."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import torch

from ..defaults import MAX_SEED

__all__ = ["DTYPES", "MAX_SEED", "SeededRandom", "check_seed", "resolve_device", "resolve_dtype"]

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`"cpu"` (default), `"cuda"`, `"cuda:N"`, `"auto"` (CUDA when available) or a `torch.device`.

    Raises:
        ValueError: An unknown device name, or CUDA asked for on a machine without it.
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device '{device}': use cpu, cuda, cuda:N or auto") from error
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device '{device}': use cpu, cuda, cuda:N or auto")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' asked for, but CUDA is not available here: use cpu or auto")
    return resolved


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """`None` (the checkpoint's dtype), a torch floating dtype, or one of the names in `DTYPES`."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype '{dtype}': use one of {sorted(DTYPES)}")
    return DTYPES[dtype]


def check_seed(seed: int | None) -> int:
    """`seed` if it is a whole number in `[0, MAX_SEED]`; a fresh random one (to report) when `None`.

    Raises:
        TypeError: Not an int.
        ValueError: Out of range.
    """
    if seed is None:
        return secrets.randbelow(2**32)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be a whole number, got {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**64 - 1], got {seed}")
    return seed


class SeededRandom:
    """torch's global random state seeded with `seed`, swapped in only while `active()` runs.

    transformers' `generate` samples from torch's global generator, so a generation is seeded by seeding that
    generator. This keeps the generation's state apart from the caller's: each `with rng.active():` installs the
    generation's state (CPU, plus `device` when it is a CUDA device) and on exit saves it and puts the caller's back,
    so a generator that yields between batches is not disturbed by (and does not disturb) the code that consumes it.
    """

    def __init__(self, seed: int, device: torch.device):
        self.devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=self.devices):
            torch.manual_seed(seed)
            self.states = self._get()

    def _get(self) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in self.devices]

    def _set(self, states: tuple[torch.Tensor, list[torch.Tensor]]) -> None:
        torch.set_rng_state(states[0])
        for device, state in zip(self.devices, states[1], strict=True):
            torch.cuda.set_rng_state(state, device)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Run the block with the generation's random state; the caller's state is restored afterwards."""
        caller = self._get()
        self._set(self.states)
        try:
            yield
        finally:
            self.states = self._get()
            self._set(caller)
