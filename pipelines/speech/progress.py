"""Progress bars of a text-to-wav call: one tqdm bar per Bark stage (semantic tokens, coarse tokens, fine batches)."""

from __future__ import annotations

from typing import Any

import torch
from tqdm.auto import tqdm
from transformers.generation.streamers import BaseStreamer

__all__ = ["StageBars", "TokenProgress"]


class TokenProgress(BaseStreamer):
    """Advances a tqdm bar once per generated token (transformers' streamer protocol; the prompt is skipped)."""

    def __init__(self, bar: tqdm):
        self.bar = bar
        self.is_prompt = True

    def put(self, value: torch.Tensor) -> None:
        if self.is_prompt:
            self.is_prompt = False
        else:
            self.bar.update(1)

    def end(self) -> None:
        self.is_prompt = True


class StageBars:
    """The bars of one call, and the keyword arguments that make Bark's stages advance them.

    Args:
        semantic_steps: Semantic tokens the call may generate (max new tokens x batches), the semantic bar's total.
        batches: Number of batches, the fine bar's total.
        options: tqdm options (`disable`, `leave`, `file`, ...) that override the defaults. By default the bars show
            on a terminal only (`disable=None`): in a log file or a pipe their carriage returns and cursor moves
            would be garbage.
    """

    def __init__(self, semantic_steps: int, batches: int, options: dict[str, Any]):
        def bar(desc: str, total: int, unit: str) -> tqdm:
            return tqdm(**{"desc": desc, "total": total, "unit": unit, "leave": False, "disable": None, **options})

        self.semantic = bar("semantic", semantic_steps, "tok")
        self.coarse = bar("coarse", 0, "tok")
        self.fine = bar("fine", batches, "batch")

    def generation_kwargs(self) -> dict[str, Any]:
        """Streamers for the semantic and coarse stages, as stage-prefixed generation arguments."""
        return {"semantic_streamer": TokenProgress(self.semantic), "coarse_streamer": TokenProgress(self.coarse)}

    def add_coarse_tokens(self, tokens: int) -> None:
        """Grow the coarse bar's total once a batch's semantic length (hence its coarse length) is known."""
        self.coarse.total = (self.coarse.total or 0) + tokens
        self.coarse.refresh()

    def close(self) -> None:
        for bar in (self.semantic, self.coarse, self.fine):
            bar.close()
