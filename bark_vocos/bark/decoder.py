"""The key/value-cache decoder of Bark's causal stages (semantic, coarse): prompts, one-token steps, and the ids the
cache holds."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from transformers import BarkCoarseModel, BarkSemanticModel

from ..choices import CHOICES, StepEngineKey, StepKernelKey
from ..kernels import linear_kernel, linear_kernel_names
from ..residency import release_file_pages
from ..settings import settings
from ..timing import untimed
from ..tuning import rounded_weight_folder
from .block import BlockLinears, block_forward, head_part, project, uses_int8
from .int8 import Int8Linear, int8_kernel, int8_kernels_available
from .onnx_step import OnnxDecodeStep, onnx_step_supported
from .rounding import RoundedWeights
from .sampling import multinomial_replays
from .speculative import draft_count, speculate

__all__ = ["DECODE_ENGINES", "DECODE_INT8_KERNELS", "DECODE_KERNELS", "CausalDecoder"]

# `StepKernelKey` -> the float32 linear kernel of a one-token decode step, chosen by timing whole steps (see
# `CausalDecoder.step`); `BARK_VOCOS_KERNEL` forces one.
DECODE_KERNELS = CHOICES["step_linear"]
# `StepKernelKey` -> the int8 kernel of every layer of a PyTorch fast-engine step, chosen the same way;
# `BARK_VOCOS_INT8_KERNEL=fbgemm|onednn` forces one.
DECODE_INT8_KERNELS = CHOICES["step_int8"]
# `StepEngineKey` -> the implementation of a one-token decode step: "torch" or "onnxruntime"
# (`bark_vocos.bark.onnx_step`); `BARK_VOCOS_DECODE_ENGINE=torch|onnxruntime` forces one.
DECODE_ENGINES = CHOICES["decode_engine"]


class CausalDecoder:
    """A `BarkCausalModel` run with SDPA and a preallocated key/value cache that remembers which ids it holds.

    Attributes:
        length: positions filled in the cache.
        cached_ids: `(B, length)` the ids whose keys/values are in the cache, or None when not known (a prompt fed
            as embeddings).
        timer: a hook for benchmarks, `timer(part)` -> a context manager around each part of the work: `"prompt"`
            (a pass over several positions) and `"decoding"` (a one-token step or a speculative round).

    Args:
        model: the transformers sub-model (its modules and weights are used, never modified).
        mode: `"exact"` or `"fast"` (the model's float32 pages are let go of once the int8 copies are made,
            `bark_vocos.residency`, and read in again only where still used).
        head_rows: `(low, high)` to compute only those rows of the LM head: the logits of every other token are
            `-inf`, as the stage's logits processing would make them (the coarse stage never chooses a semantic id:
            it computes 2096 of the head's 12096 rows). The logits computed are those of the whole head, bit for
            bit. None: the whole head.
    """

    def __init__(self, model: BarkSemanticModel | BarkCoarseModel, mode: str, head_rows: tuple[int, int] | None = None):
        self.model = model
        self.int8 = uses_int8(mode, model)
        self.vocab = model.lm_head.weight.shape[0]
        self.head_rows = head_rows
        rounded = RoundedWeights(rounded_weight_folder()) if self.int8 else None
        self.linears = [BlockLinears(block, self.int8, rounded) for block in model.layers]
        head = model.lm_head if head_rows is None else head_part(model.lm_head, head_rows)
        self.lm_head = Int8Linear(head, rounded) if self.int8 else head
        # the exact engine's 8-bit step drafts tokens for its float32 step to verify (`speculate`); the two sessions
        # take turns, each spinning only within its own calls (see `OnnxDecodeStep._session`)
        speculative = not self.int8 and onnx_step_supported(model, False) and onnx_step_supported(model, True)
        self.onnx_step = None
        if onnx_step_supported(model, self.int8):
            self.onnx_step = OnnxDecodeStep(model, self.int8, head, release_weights=self.int8)
        if self.int8:  # the int8 copies are made: the float32 weights' file pages need not stay resident
            release_file_pages(model.parameters())
        self.draft_step = OnnxDecodeStep(model, True, head) if speculative else None
        self.round_times: dict[tuple[int, int], list] = {}  # (threads, drafts) -> [seconds, tokens, rounds]
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.length = 0
        self.cached_ids: torch.Tensor | None = None
        self.timer: Callable[[str], AbstractContextManager[None]] = untimed

    def allocate(self, batch: int, capacity: int, fill: float | None = None) -> None:
        """Empty the cache and make room for `capacity` positions of `batch` sequences; with `fill`, every key and
        value is set to it (a step timed over a cache of known content)."""
        config = self.model.config
        weight = self.model.position_embeds_layer.weight
        shape = (batch, config.num_heads, capacity, config.hidden_size // config.num_heads)
        if not self.keys or self.keys[0].shape != shape:
            self.keys = [torch.empty(shape, dtype=weight.dtype, device=weight.device) for _ in self.linears]
            self.values = [torch.empty(shape, dtype=weight.dtype, device=weight.device) for _ in self.linears]
        if fill is not None:
            for buffer in self.keys + self.values:
                buffer.fill_(fill)
        self.length = 0
        self.cached_ids = None

    def step(self, input_ids: torch.Tensor, start: int) -> torch.Tensor:
        """Logits after one new token per sequence, `input_ids` `(B, 1)`, at position `start`: `(B, V)` float32.

        A step on the CPU has two implementations, PyTorch and ONNX Runtime (`bark_vocos.bark.onnx_step`), and the
        first step for a batch size times whole steps with each and keeps the faster (`DECODE_ENGINES`). A float32
        PyTorch step likewise runs all its layers with one linear kernel, chosen by timing whole steps
        (`DECODE_KERNELS`): a step reads every weight from memory, and a layer timed alone gives too noisy an answer.
        A step writes the same keys and values however often it runs, so the timing runs leave the cache as one step
        does (the chosen implementation runs last).
        """
        with self.timer("decoding"):
            return self._step(input_ids, start)

    def _step(self, input_ids: torch.Tensor, start: int) -> torch.Tensor:
        """`step`, untimed."""
        if input_ids.device.type != "cpu":
            return self.forward(self.model.input_embeds_layer(input_ids), start)
        config = self.model.config
        batch = input_ids.shape[0].bit_length()
        key = StepEngineKey(config.hidden_size, config.num_layers, batch, torch.get_num_threads(), self.int8)
        candidates = {"torch": functools.partial(self._torch_step, input_ids, start)}
        if self.onnx_step is not None:
            candidates["onnxruntime"] = lambda: self.onnx_forward(input_ids, start)[:, -1]
        logits = candidates[DECODE_ENGINES.choose(key, candidates)]()
        self.length = start + 1
        return logits

    def _torch_step(self, input_ids: torch.Tensor, start: int) -> torch.Tensor:
        """`step` in PyTorch, with one kernel for all layers: float32 (`DECODE_KERNELS`) or int8
        (`DECODE_INT8_KERNELS`), chosen by timing whole steps."""
        inputs_embeds = self.model.input_embeds_layer(input_ids)
        config = self.model.config
        key = StepKernelKey(
            config.hidden_size, config.num_layers, input_ids.shape[0].bit_length(), torch.get_num_threads()
        )
        if self.int8:
            names, kernel, kernels = int8_kernels_available(), int8_kernel, DECODE_INT8_KERNELS
        else:
            names, kernel, kernels = linear_kernel_names(), linear_kernel, DECODE_KERNELS

        def run(name: str) -> torch.Tensor:
            with kernel(name):
                return self.forward(inputs_embeds, start)

        candidates = {name: functools.partial(run, name) for name in names}
        return run(kernels.choose(key, candidates))

    def onnx_forward(self, input_ids: torch.Tensor, start: int, step: OnnxDecodeStep | None = None) -> torch.Tensor:
        """`input_ids` `(B, T)` through an ONNX Runtime step (`self.onnx_step` unless `step` is given), at positions
        `[start, start + T)` -> `(B, T, V)` logits of every position (`length` is left to the caller)."""
        return self._widen((step or self.onnx_step)(input_ids, self.keys, self.values, start))

    def _widen(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits of the head's `head_rows` `(..., high - low)` -> `(..., V)`, `-inf` outside those rows."""
        if self.head_rows is None:
            return logits
        low, high = self.head_rows
        widened = logits.new_full((*logits.shape[:-1], self.vocab), -float("inf"))
        widened[..., low:high] = logits
        return widened

    def forward(self, inputs_embeds: torch.Tensor, start: int) -> torch.Tensor:
        """Logits of the last position after feeding `inputs_embeds` `(B, T, C)` at positions `[start, start + T)`, in
        PyTorch (prompts, which are bound by compute, and every step off the CPU), each layer's kernel chosen as
        `linear` chooses it (or as the caller's `linear_kernel`): `(B, V)` float32.

        Raises:
            ValueError: the positions exceed the cache's capacity.
        """
        length = inputs_embeds.shape[1]
        if start + length > self.keys[0].shape[2]:
            raise ValueError(f"sequence of {start + length} positions exceeds the cache of {self.keys[0].shape[2]}")
        with self.timer("prompt") if length > 1 else nullcontext():
            positions = torch.arange(start, start + length, device=inputs_embeds.device)
            hidden = inputs_embeds + self.model.position_embeds_layer(positions)[None]
            blocks = zip(self.model.layers, self.linears, self.keys, self.values, strict=True)
            for block, linears, keys, values in blocks:
                hidden = block_forward(block, linears, hidden, keys, values, start, causal=True)
            hidden = self.model.layernorm_final(hidden[:, -1])
            self.length = start + length
            return self._widen(project(self.lm_head, hidden).float())

    def feed_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits after `input_ids`, re-reading only what differs from the ids already cached.

        Positions are absolute from 0, so the keys/values of a common prefix are those a fresh run would
        compute; the rest of the window is fed on top of it.

        Args:
            input_ids: `(B, T)` the whole window, from position 0.
        Returns:
            `(B, V)` float32 logits of the last position.
        """
        start = 0
        if self.cached_ids is not None:
            common = min(self.cached_ids.shape[1], input_ids.shape[1] - 1)
            same = (self.cached_ids[:, :common] == input_ids[:, :common]).all(dim=0)
            start = common if bool(same.all()) else int(torch.argmin(same.int()))
        if input_ids.shape[1] - start == 1:
            logits = self.step(input_ids[:, start:], start)
        else:
            logits = self.forward(self.model.input_embeds_layer(input_ids[:, start:]), start)
        self.cached_ids = input_ids
        return logits

    def feed_token(self, token: torch.Tensor) -> torch.Tensor:
        """Logits after appending `token` `(B,)` at position `length`; returns `(B, V)` float32 logits."""
        logits = self.step(token[:, None], self.length)
        self._record(token[:, None])
        return logits

    def _record(self, ids: torch.Tensor) -> None:
        """`ids` `(B, n)` were written after the known cached ids (if known)."""
        if self.cached_ids is not None:
            self.cached_ids = torch.cat([self.cached_ids, ids.to(self.cached_ids.dtype)], dim=1)

    def can_speculate(self, batch: int) -> bool:
        """Whether `speculate` can run: the exact engine on the CPU with both ONNX Runtime steps, one sequence, the
        decode steps not pinned to PyTorch nor the draft count to 0 (`bark_vocos.settings`), and `torch.multinomial`
        replayable (`sampling.multinomial_replays`)."""
        return (
            self.draft_step is not None
            and batch == 1
            and settings().decode_engine != "torch"
            and settings().draft_tokens != 0
            and multinomial_replays()
        )

    def draft_count(self) -> int:
        """Draft tokens for the next round of `speculate` (`speculative.draft_count` over this decoder's rounds)."""
        return draft_count(self.round_times)

    def speculate(
        self,
        logits: torch.Tensor,
        count: int,
        choose: Callable[[int, torch.Tensor, torch.Tensor | None], torch.Tensor],
        sampling: bool,
        stop: Callable[[torch.Tensor], bool] = lambda token: False,
        emit: Callable[[torch.Tensor], None] = lambda token: None,
    ) -> list[torch.Tensor]:
        """Up to `count` tokens of one sequence from `logits` `(1, V)`, as plain steps would choose them
        (`speculative.speculate`); the tokens fed go into the cache after the `length` positions there.

        Returns:
            The chosen tokens, each `(1,)`.
        """
        start = self.length
        with self.timer("decoding"):
            tokens, fed = speculate(self, logits, count, choose, sampling, stop, emit)
        self.length = start + fed.shape[1]
        self._record(fed)
        return tokens
