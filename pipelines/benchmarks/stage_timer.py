"""Stage timers of `bench pipeline`: seconds (and outputs) of the stage methods an object calls, and of the parts
the stages' timer hooks report (prompt passes, decoding, fine passes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch

from .machine import synchronizer

__all__ = ["STAGES", "StageTimer"]


STAGES = ("semantic", "coarse", "fine", "decode")


class StageTimer:
    """Times (and keeps the outputs of) the stage methods an object calls, by wrapping them on the instance.

    Args:
        device: Where the timed work runs: on a CUDA device each timed call starts and ends with a synchronization,
            so that it is charged with its own kernels, not the ones still queued before it or after it returns.
    """

    def __init__(self, device: torch.device) -> None:
        self.sync: Callable[[], None] = synchronizer(device)
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.outputs: dict[str, Any] = {}
        self.wrapped: list[tuple[Any, str]] = []

    def wrap(self, owner: Any, attribute: str, stage: str) -> None:
        """Time every call of `owner.attribute` under the name `stage`."""
        function: Callable = getattr(owner, attribute)

        def timed(*args, **kwargs):
            self.sync()
            start = time.perf_counter()
            output = function(*args, **kwargs)
            self.sync()
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
            self.calls[stage] = self.calls.get(stage, 0) + 1
            self.outputs[stage] = output
            return output

        object.__setattr__(owner, attribute, timed)
        self.wrapped.append((owner, attribute))

    def part(self, stage: str) -> Callable[[str], AbstractContextManager[None]]:
        """A timer hook of the stages (`CausalDecoder.timer`, `FineStage.timer`): each part it runs (`"prompt"`,
        `"decoding"`, `"passes"`) is timed as `"{stage} {part}"`."""

        @contextmanager
        def timed(part: str) -> Iterator[None]:
            name = f"{stage} {part}"
            self.sync()
            start = time.perf_counter()
            try:
                yield
            finally:
                self.sync()
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed

    def unwrap(self) -> None:
        """Remove the wrappers (the class methods show through again)."""
        for owner, attribute in self.wrapped:
            owner.__dict__.pop(attribute)
        self.wrapped = []

    def report(self) -> dict[str, float]:
        """Seconds per stage and their total."""
        times = {stage: round(self.seconds.get(stage, 0.0), 3) for stage in STAGES}
        times["total"] = round(sum(self.seconds.get(stage, 0.0) for stage in STAGES), 3)
        return times

    def breakdown(self) -> dict[str, dict[str, float]]:
        """Where each Bark stage's time went, from the parts `_ours` times: prompt passes and decoding (the
        autoregressive stages: one-token steps or speculative rounds), the fine stage's passes, and the rest
        (sampling, logits processing, bookkeeping). Seconds, and the number of calls of each part."""
        parts = {"semantic": ("prompt", "decoding"), "coarse": ("prompt", "decoding"), "fine": ("passes",)}
        result = {}
        for stage, names in parts.items():
            entry: dict[str, float] = {"seconds": round(self.seconds.get(stage, 0.0), 3)}
            for name in names:
                entry[f"{name}_s"] = round(self.seconds.get(f"{stage} {name}", 0.0), 3)
                entry[f"{name}_calls"] = self.calls.get(f"{stage} {name}", 0)
            entry["other_s"] = round(entry["seconds"] - sum(entry[f"{name}_s"] for name in names), 3)
            result[stage] = entry
        return result
