"""Faster drop-in for the three generation stages of transformers' `BarkModel` (semantic, coarse, fine).

`FastBarkStages(bark_model)` exposes `.semantic.generate`, `.coarse_acoustics.generate` and
`.fine_acoustics.generate` with the signatures and outputs of transformers' `BarkSemanticModel.generate`,
`BarkCoarseModel.generate` and `BarkFineModel.generate`: the stage interface of `bark_vocos.bark.stages`, chained
by the one orchestration, `bark_vocos.bark.orchestration.generate_bark_tokens`. It reuses the transformers
sub-models' modules and weights and only replaces what is slow on CPU:

- attention over several queries (prompts, fine windows) runs through
  `torch.nn.functional.scaled_dot_product_attention` instead of an eager matmul/softmax; a decode step's single query
  keeps transformers' two products and softmax, which cost less than SDPA's kernel for one query;
- the autoregressive stages keep keys/values in a preallocated cache (no `torch.cat` per token) and run a
  plain decode loop (no generic `GenerationMixin` machinery per token), computing the LM head on the last
  position only;
- the coarse stage computes only the rows of its LM head for ids it can choose (not the 10000 semantic ids its
  logits processing masks): bit for bit the same logits, a sixth of the head's weights to read per token;
- the coarse stage keeps its cache between its 60-token sliding windows and re-reads only the part of the
  window that changed: while the window still starts at position 0 (the first ~630 coarse tokens) the next
  window is the previous one plus the tokens just generated, so only the last token is fed again.

Modes:
- `"exact"` (default): fp32, same algorithm. Greedy codes equal transformers'; sampled codes equal transformers'
  for the same torch seed: the generation config is resolved as `generate` resolves it (unset settings from
  transformers' defaults, e.g. `top_k=50`), the logits processors run in transformers' order and the global RNG
  is consumed by the same `torch.multinomial` calls. (Attention is computed in a different but equivalent order
  of float operations; that could only flip an exact logit tie or a draw falling within rounding of a boundary.)
- `"fast"` (opt-in): on the CPU the linear layers of the three transformers (and the LM heads) run as int8 copies
  (`bark_vocos.bark.int8.Int8Linear`, fbgemm or oneDNN by measurement); the original model is not modified. On an
  accelerator they run as they are, in the model's dtype (load it in float16 or bfloat16). On both the fine
  stage attends only over the frames that exist when they fit in one window, instead of padding the window to
  `max_fine_input_length` (1024 frames) as transformers does: a 5 s sentence (375 frames) costs a third of the
  compute. On the CPU, attention over several queries runs in float32 or bfloat16, whichever is measured faster
  (`_attention`). Codes then differ from fp32 on some tokens: measure the agreement with `bark-vocos bench pipeline`.

In both modes every fp32 linear layer runs through `bark_vocos.kernels.linear`, which picks oneDNN or ATen (MKL) per
shape by timing both once: on an AVX2-only AMD EPYC, MKL is 1.7x slower than oneDNN for the 2-8 rows of a batch.
A one-token decode step on the CPU runs either in PyTorch or as one ONNX Runtime call (`bark_vocos.bark.onnx_step`:
float32 in exact mode, 8-bit weights in fast mode), whichever a timing of whole steps finds faster
(`DECODE_ENGINES`); on that EPYC ONNX Runtime's step takes 0.5-0.6x the time of PyTorch's.

Speculative decoding (exact mode, CPU, one sequence; `_CausalDecoder.speculate`): a float32 step reads all ~370 MB of
bark-small's weights for one token, an 8-bit step a quarter of that. The exact engine drafts a few tokens with the
8-bit ONNX Runtime step (over the float32 keys/values of the tokens already chosen), then the float32 step reads the
drafts in one pass and chooses each token from its own logits exactly as a plain step would, with the same sampling
draw; drafts are kept up to the first token chosen differently. The tokens (and the RNG state) are those of plain
steps whatever the drafts; only the number of float32 passes changes. The draft count per round (0 = plain steps) is
the one measured fastest per chosen token (`DRAFT_CHOICES`; `BARK_VOCOS_DRAFT_TOKENS=N` forces one, `0` turns it off).
On bark-small's shape with random weights, ~4.4 of 5 tokens were kept per round of 4 drafts and the semantic and
coarse stages took ~25% less time (Intel Xeon, AVX-512, 2 threads); real weights may draft better or worse, and the
measured choice falls back to plain steps where drafting does not pay.

Generation options this module does not speed up (beam search, repetition penalty, `return_dict_in_generate`,
...) are passed to the transformers method unchanged (and then run at transformers' speed, in fp32).
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import BarkCoarseModel, BarkFineModel, BarkModel, BarkSemanticModel
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper
from transformers.models.bark.generation_configuration_bark import (
    BarkCoarseGenerationConfig,
    BarkFineGenerationConfig,
    BarkSemanticGenerationConfig,
)

from ..kernels import FORCE_VARIABLE, KernelCache, linear, linear_kernel, linear_kernel_names, rows_bucket
from .engines import FAST_BARK_MODES
from .int8 import INT8_KERNELS, Int8Linear, int8_kernel, int8_kernels_available
from .onnx_step import OnnxDecodeStep, onnx_step_supported
from .orchestration import BarkGenerationConfigs, coarse_codes

__all__ = ["FAST_BARK_MODES", "FastBarkStages"]

# Generation options the fast decode loop implements itself; any other option goes to transformers unchanged.
_DECODE_OPTIONS = {"max_new_tokens", "min_new_tokens", "do_sample", "temperature", "top_k", "top_p"}
# (`streamer` is honoured too: it gets the prompt, each new token and `end()`, as from `generate`)

# Generation-config settings that add logits processors or outputs the fast loop does not implement, with the
# value (or values) for which they are inactive.
_INACTIVE_SETTINGS: dict[str, tuple[Any, ...]] = {
    "num_beams": (None, 1),
    "repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "sequence_bias": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "min_length": (None, 0),
    "typical_p": (None, 1.0),
    "min_p": (None,),
    "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0),
    "top_h": (None,),
    "exponential_decay_length_penalty": (None,),
    "return_dict_in_generate": (None, False),
    "output_scores": (None, False),
    "output_logits": (None, False),
    "output_attentions": (None, False),
    "output_hidden_states": (None, False),
    "watermarking_config": (None,),
    "guidance_scale": (None, 1.0),
    "remove_invalid_values": (None, False),
    "num_return_sequences": (None, 1),
    "max_time": (None,),
    "stop_strings": (None,),
}


def _decode_config(model: BarkSemanticModel | BarkCoarseModel, config: Any, kwargs: dict[str, Any]) -> Any | None:
    """The generation config `model.generate` would run with, or None when the fast loop cannot honour it exactly.

    transformers' `GenerationMixin.generate` does not use the stage config as given: settings left unset (None) are
    taken from the sub-model's own `generation_config` and then from transformers' global defaults (for example
    `top_k=50`, which Bark's stage configs do not set, so transformers samples Bark's semantic and coarse tokens
    from the 50 most likely ones), and keyword arguments (None values included) override the result. The same
    resolution (`_prepare_generation_config`, the method `generate` calls) is used here so that the sampling
    distribution is the one transformers samples from.

    Args:
        model: the transformers sub-model whose `generate` this replaces.
        config: the stage generation config passed to the stage's `generate`.
        kwargs: generation keyword arguments passed to the stage's `generate`.
    Returns:
        The resolved config, or None (then the caller runs transformers' method).
    """
    options = {key: value for key, value in kwargs.items() if key in _DECODE_OPTIONS or value is not None}
    if set(options) - _DECODE_OPTIONS:
        return None
    # `_prepare_generation_config(config, **options)` would apply the options last, as below, but warns that passing a
    # config together with options is deprecated: resolve the config alone, then apply the options the same way
    merged, _ = model._prepare_generation_config(config)
    merged.update(**options)
    for name, inactive in _INACTIVE_SETTINGS.items():
        if getattr(merged, name, None) not in inactive:
            return None
    return merged


def _sampling_warpers(config: Any) -> list:
    """transformers' sampling warpers for `config`, in the order `GenerationMixin` applies them."""
    if not config.do_sample:
        return []
    warpers = []
    if config.temperature is not None and config.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(config.temperature))
    if config.top_k is not None and config.top_k != 0:
        warpers.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=1))
    if config.top_p is not None and config.top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=1))
    return warpers


def _choose(scores: torch.Tensor, config: Any, warpers: list, draw: torch.Tensor | None = None) -> torch.Tensor:
    """Next tokens from processed scores: greedy argmax, or sampling after the warpers.

    Args:
        scores: `(B, V)` float32 scores after the stage's logits processors.
        draw: when sampling, the `(B, V)` exponential draw `torch.multinomial` would make (`_Draws`), or None to
            call `torch.multinomial`.
    Returns:
        `(B,)` int64 token ids.
    """
    for warper in warpers:
        scores = warper(None, scores)
    if config.renormalize_logits:
        scores = torch.log_softmax(scores, dim=-1)
    if not config.do_sample:
        return torch.argmax(scores, dim=-1)
    probs = torch.softmax(scores, dim=-1)
    if draw is not None:
        return torch.argmax(probs / draw, dim=-1)
    return torch.multinomial(probs, num_samples=1).squeeze(1)


@functools.cache
def _multinomial_replays() -> bool:
    """Whether `torch.multinomial(probs, 1)` returns `argmax(probs / q)` for `q = empty_like(probs).exponential_()`
    drawn from the same generator state (it does in torch 2.x on the CPU: one `(B, V)` draw per call, whatever the
    probabilities). Speculative decoding relies on it; it is checked once on this torch, leaving the RNG as it was."""
    state = torch.get_rng_state()
    try:
        for seed in range(4):
            generator = torch.Generator().manual_seed(seed)
            probs = torch.softmax(torch.randn(3, 257, generator=generator) * (seed + 1), dim=-1)
            probs[:, 200:] = 0.0
            torch.manual_seed(seed)
            expected = torch.multinomial(probs, num_samples=1).squeeze(1)
            torch.manual_seed(seed)
            replayed = torch.argmax(probs / torch.empty_like(probs).exponential_(), dim=-1)
            if not torch.equal(expected, replayed):
                return False
        return True
    finally:
        torch.set_rng_state(state)


class _Draws:
    """The sampling draws of a decode loop, made ahead of the tokens that use them and given back when unused.

    `torch.multinomial(probs, 1)` draws `q = empty_like(probs).exponential_()` from the global generator and returns
    `argmax(probs / q)` (`_multinomial_replays`). Speculative decoding chooses several tokens from one verification,
    so it draws their `q` ahead, in the order the tokens would draw them; `give_back` restores the generator to its
    state before the first draw not used, so that the generator ends where token-by-token sampling leaves it.

    Args:
        shape: `(B, V)` of the probabilities.
        sampling: whether the loop samples (otherwise there are no draws and `get` returns None).
    """

    def __init__(self, shape: tuple[int, int], sampling: bool):
        self.shape = shape
        self.sampling = sampling
        self.ahead: list[tuple[torch.Tensor, torch.Tensor]] = []  # (generator state before the draw, the draw)

    def get(self, index: int) -> torch.Tensor | None:
        """The draw of the `index`-th token from now (drawn now if not drawn yet), or None when not sampling."""
        if not self.sampling:
            return None
        while len(self.ahead) <= index:
            state = torch.get_rng_state()
            self.ahead.append((state, torch.empty(self.shape, dtype=torch.float32).exponential_()))
        return self.ahead[index][1]

    def use(self, count: int) -> None:
        """The next `count` draws were used by chosen tokens."""
        del self.ahead[:count]

    def give_back(self) -> None:
        """Undo the draws not used (see the class docstring)."""
        if self.ahead:
            torch.set_rng_state(self.ahead[0][0])
            self.ahead = []


def _project(layer: nn.Module, hidden: torch.Tensor, gelu: bool = False) -> torch.Tensor:
    """`layer(hidden)`, then the exact GELU when `gelu`: `(..., in)` -> `(..., out)`. An fp32 `nn.Linear` runs
    through the measured kernel choice of `bark_vocos.kernels.linear`, an `Int8Linear` through its own."""
    if isinstance(layer, Int8Linear):
        return layer(hidden, gelu)
    return linear(hidden, layer, gelu)


def _head_rows(head: nn.Linear, rows: tuple[int, int]) -> nn.Linear:
    """A linear layer computing outputs `[low, high)` of `head`, on a view of its weight (nothing is copied)."""
    low, high = rows
    if not 0 <= low < high <= head.weight.shape[0]:
        raise ValueError(f"head rows {rows} are not within the head's {head.weight.shape[0]} rows")
    part = nn.Linear(head.weight.shape[1], high - low, bias=head.bias is not None, device="meta")
    part.weight = nn.Parameter(head.weight.detach()[low:high], requires_grad=False)
    if head.bias is not None:
        part.bias = nn.Parameter(head.bias.detach()[low:high], requires_grad=False)
    return part


def _int8(mode: str, model: nn.Module) -> bool:
    """Whether `mode` runs `model`'s linear layers as int8 copies: fast mode on the CPU."""
    return mode == "fast" and model.device.type == "cpu"


class _BlockLinears:
    """The four linear layers of one `BarkBlock`: the block's own, or int8 copies of them (`int8`: the fast engine on
    the CPU, whose attention over several queries may also run in bfloat16, see `_attention`)."""

    def __init__(self, block: nn.Module, int8: bool):
        self.int8 = int8
        convert = Int8Linear if int8 else (lambda layer: layer)
        self.att_proj = convert(block.attn.att_proj)
        self.out_proj = convert(block.attn.out_proj)
        self.mlp_in = convert(block.mlp.in_proj)
        self.mlp_out = convert(block.mlp.out_proj)


# (heads, queries bucket, keys bucket, head size, masked, causal, threads) -> how the fast engine attends over several
# queries (prompts, the fine stage's windows): SDPA in "float32" or in "bfloat16", or "float32_heads" (see
# `_attention_by_heads`; unmasked, non-causal attention only), whichever runs fastest here (see `_attention`);
# `BARK_VOCOS_ATTENTION=float32|bfloat16|float32_heads` forces one (per head where it applies, float32 SDPA elsewhere).
ATTENTION_KERNELS = KernelCache("BARK_VOCOS_ATTENTION")
# The same for the exact engine, whose candidates are float32 only: "float32" (SDPA) or "float32_heads", for unmasked,
# non-causal attention (the fine stage's windows); `BARK_VOCOS_EXACT_ATTENTION=float32|float32_heads` forces one
# (per head where it applies).
EXACT_ATTENTION_KERNELS = KernelCache("BARK_VOCOS_EXACT_ATTENTION")


ATTENTION_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}  # SDPA's precisions, by candidate name
HEADS_KERNEL = "float32_heads"


def _attention_in(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    is_causal: bool,
    dtype: torch.dtype,
) -> torch.Tensor:
    """`F.scaled_dot_product_attention` computed in `dtype` (the inputs cast to it, the result cast back)."""
    if dtype == query.dtype:
        return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, is_causal=is_causal)
    cast = [tensor.to(dtype) for tensor in (query, key, value)]
    return F.scaled_dot_product_attention(*cast, attn_mask=mask, is_causal=is_causal).to(query.dtype)


def _attention_by_heads(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Unmasked, non-causal float32 attention one head at a time, as two oneDNN products around a float32 softmax:
    `(B, H, T, D)` queries and `(B, H, S, D)` keys/values -> `(B, H, T, D)`, a view of `(B, T, H, D)` memory (so the
    caller's transpose back to `(B, T, H * D)` needs no copy).

    SDPA's CPU kernel runs its inner products at about 180 GFLOP/s here, where oneDNN's reach 290 with AVX-512: on a
    Zen 5 (2 threads, 12 heads of 64, 1024 positions) 11.9 ms against 17.6 ms with freed memory kept (where each
    head's 4 MB of scores is not faulted in anew), and the exact fine stage over a 100-token sentence took 3.5 s
    against 3.8 s, the same codes. Held to AVX2 it gains nothing there, so it is one candidate of a timed choice. Same
    products and sums as SDPA's, in another order: float32 rounding apart.
    """
    batch, heads, queries, size = query.shape
    scale = 1.0 / math.sqrt(size)
    out = query.new_empty(batch, queries, heads, size)
    for row in range(batch):
        for head in range(heads):
            keys = key[row, head].contiguous()  # (S, D): the "weight" of a linear layer from D to S
            scores = torch.ops.mkldnn._linear_pointwise(query[row, head].contiguous(), keys, None, "none", [], "")
            probabilities = torch.softmax(scores.mul_(scale), dim=-1)
            values = value[row, head].t().contiguous()  # (D, S)
            out[row, :, head] = torch.ops.mkldnn._linear_pointwise(probabilities, values, None, "none", [], "")
    return out.transpose(1, 2)


def _attention_candidates(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    is_causal: bool,
    fast: bool,
) -> dict[str, Callable[[], torch.Tensor]]:
    """The ways to compute this attention that its engine chooses from, by name: SDPA in float32 (and in bfloat16 for
    the fast engine), and per head (`_attention_by_heads`) where it applies."""
    precisions = ATTENTION_DTYPES if fast else {"float32": torch.float32}
    candidates: dict[str, Callable[[], torch.Tensor]] = {
        name: functools.partial(_attention_in, query, key, value, mask, is_causal, dtype)
        for name, dtype in precisions.items()
    }
    if mask is None and not is_causal and "onednn" in linear_kernel_names():
        candidates[HEADS_KERNEL] = functools.partial(_attention_by_heads, query, key, value)
    return candidates


def _attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    is_causal: bool,
    fast: bool,
) -> torch.Tensor:
    """`F.scaled_dot_product_attention` over `(B, H, T, D)` queries and `(B, H, S, D)` keys/values -> `(B, H, T, D)`.

    On the CPU, float32 inputs without autograd are attended to whichever way a timing finds fastest for the shape
    (`ATTENTION_KERNELS` for the fast engine, `fast`; `EXACT_ATTENTION_KERNELS` for the exact one). The fast engine may
    attend in bfloat16 (the result cast back): with AMX a 790-query prompt over 887 keys took 5.3 ms per layer in
    bfloat16 against 13.1 ms in float32 (Intel Xeon, 2 threads), while a CPU without bfloat16 instructions takes
    about ten times longer in bfloat16; the fast engine's 7-bit activations already round more than bfloat16's 8-bit
    mantissa does here. Both engines may attend head by head in float32 where there is no mask and no causality
    (the fine stage's windows; `_attention_by_heads`). Where an engine has a single candidate, nothing is timed.
    Everything else: SDPA as given.
    """
    if query.device.type != "cpu" or query.dtype != torch.float32 or (torch.is_grad_enabled() and query.requires_grad):
        return _attention_in(query, key, value, mask, is_causal, query.dtype)
    candidates = _attention_candidates(query, key, value, mask, is_causal, fast)
    cache = ATTENTION_KERNELS if fast else EXACT_ATTENTION_KERNELS
    if len(candidates) == 1 or (os.environ.get(cache.variable) == HEADS_KERNEL and HEADS_KERNEL not in candidates):
        return candidates["float32"]()  # nothing to choose; or per head forced, but it does not apply: float32 SDPA
    _, heads, queries, size = query.shape
    shape = (heads, rows_bucket(queries), rows_bucket(key.shape[2]), size, mask is not None, is_causal)
    # Timed on the batch's first sequence, and chosen for every batch size: each sequence is attended to alone, at the
    # same cost in a batch, and a batch of 8 sentences' prompts timed whole took 0.3-0.4 s of the long form's first
    # batch (AMD EPYC, 2 threads).

    def timed() -> dict[str, Callable[[], torch.Tensor]]:
        first = [None if tensor is None else tensor[:1] for tensor in (query, key, value, mask)]
        return _attention_candidates(*first, is_causal, fast)

    chosen = cache.choose((*shape, torch.get_num_threads()), candidates, cold=False, timed=timed)
    return candidates[chosen]()


def _block_forward(
    block: nn.Module,
    linears: _BlockLinears,
    hidden: torch.Tensor,
    key_cache: torch.Tensor | None,
    value_cache: torch.Tensor | None,
    start: int,
    causal: bool,
) -> torch.Tensor:
    """One `BarkBlock` (pre-norm attention + MLP) with SDPA and an optional preallocated key/value cache.

    Args:
        block: a transformers `BarkBlock` (its layer norms and head count are used).
        linears: the block's linear layers to run (fp32 or int8).
        hidden: `(B, T, C)` input of the block.
        key_cache, value_cache: `(B, H, L, D)` buffers holding positions `[0, start)`; positions
            `[start, start + T)` are written by this call. None for the non-causal fine model.
        start: number of positions already in the cache.
        causal: whether position i attends only to positions <= i.
    Returns:
        `(B, T, C)` output of the block.
    """
    batch, length, channels = hidden.shape
    heads = block.attn.num_heads
    normed = block.layernorm_1(hidden)
    query, key, value = _project(linears.att_proj, normed).split(channels, dim=2)
    query = query.view(batch, length, heads, -1).transpose(1, 2)
    key = key.view(batch, length, heads, -1).transpose(1, 2)
    value = value.view(batch, length, heads, -1).transpose(1, 2)
    mask = None
    is_causal = False
    if key_cache is not None:
        key_cache[:, :, start : start + length] = key
        value_cache[:, :, start : start + length] = value
        key = key_cache[:, :, : start + length]
        value = value_cache[:, :, : start + length]
    if causal and length > 1:
        if start == 0:
            is_causal = True
        else:  # queries sit at the end of the keys: bottom-right aligned causal mask
            mask = torch.ones(length, start + length, dtype=torch.bool, device=hidden.device).tril(diagonal=start)
    if length == 1:  # one query (a decode step): two small products, 5-8x cheaper than SDPA's kernel on CPU here
        weights = torch.matmul(query, key.transpose(-1, -2)) * (1.0 / math.sqrt(query.shape[-1]))
        out = torch.matmul(torch.softmax(weights, dim=-1).to(value.dtype), value)
    else:
        out = _attention(query, key, value, mask, is_causal, linears.int8)
    out = _project(linears.out_proj, out.transpose(1, 2).reshape(batch, length, channels))
    hidden = hidden + out
    mlp = _project(linears.mlp_in, block.layernorm_2(hidden), gelu=True)
    return hidden + _project(linears.mlp_out, mlp)


# (hidden size, layers, batch bucket, threads) -> the float32 linear kernel of a one-token decode step, chosen by
# timing whole steps (see `_CausalDecoder.step`)
DECODE_KERNELS = KernelCache()
# (hidden size, layers, batch bucket, threads) -> the int8 kernel of every layer of a PyTorch fast-engine step, chosen
# the same way (a layer timed alone from cold caches took 0.25-0.44 s per shape to choose at batch 8, Intel Xeon);
# `BARK_VOCOS_INT8_KERNEL=fbgemm|onednn` forces one.
DECODE_INT8_KERNELS = KernelCache(INT8_KERNELS.variable)
# (hidden size, layers, batch bucket, threads, int8) -> the implementation of a one-token decode step: "torch" or
# "onnxruntime" (`bark_vocos.bark.onnx_step`); `BARK_VOCOS_DECODE_ENGINE=torch|onnxruntime` forces one.
DECODE_ENGINES = KernelCache("BARK_VOCOS_DECODE_ENGINE")
# The environment variables that pin each measured kernel choice of the stages instead of timing it (README,
# "Reproducibility"): the float32 linear kernel, the int8 kernel, the decode-step engine and each engine's attention.
CHOICE_VARIABLES = (
    FORCE_VARIABLE,
    INT8_KERNELS.variable,
    DECODE_ENGINES.variable,
    ATTENTION_KERNELS.variable,
    EXACT_ATTENTION_KERNELS.variable,
)
# Speculative decoding in the exact engine (`_CausalDecoder.speculate`): the counts of draft tokens per round it
# chooses from by timing (0: plain steps), the rounds each is first timed for, and the variable that forces a count
# (0: off).
DRAFT_CHOICES = (0, 2, 4)
EXPLORE_ROUNDS = 8
DRAFT_TOKENS_VARIABLE = "BARK_VOCOS_DRAFT_TOKENS"


class _CausalDecoder:
    """A `BarkCausalModel` run with SDPA and a preallocated key/value cache that remembers which ids it holds.

    Args:
        model: the transformers sub-model (its modules and weights are used, never modified).
        mode: `"exact"` or `"fast"`.
        head_rows: `(low, high)` to compute only those rows of the LM head: the logits of every other token are
            `-inf`, as the stage's logits processing would make them (the coarse stage never chooses a semantic id:
            it computes 2096 of the head's 12096 rows, a sixth of its weights to read per token). The logits computed
            are those of the whole head, bit for bit. None: the whole head.
    """

    def __init__(self, model: BarkSemanticModel | BarkCoarseModel, mode: str, head_rows: tuple[int, int] | None = None):
        self.model = model
        self.int8 = _int8(mode, model)
        self.vocab = model.lm_head.weight.shape[0]
        self.head_rows = head_rows
        self.linears = [_BlockLinears(block, self.int8) for block in model.layers]
        head = model.lm_head if head_rows is None else _head_rows(model.lm_head, head_rows)
        self.lm_head = Int8Linear(head) if self.int8 else head
        # the exact engine's 8-bit step drafts tokens for its float32 step to verify (`speculate`); the two sessions
        # take turns, each spinning only within its own calls (see `OnnxDecodeStep._session`)
        speculative = not self.int8 and onnx_step_supported(model, False) and onnx_step_supported(model, True)
        self.onnx_step = None
        if onnx_step_supported(model, self.int8):
            self.onnx_step = OnnxDecodeStep(model, self.int8, head)
        self.draft_step = OnnxDecodeStep(model, True, head) if speculative else None
        self.round_times: dict[tuple[int, int], list] = {}  # (threads, drafts) -> [seconds, tokens, rounds]
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.cached_ids: torch.Tensor | None = None  # (B, n) ids whose keys/values are in the cache, if known

    def allocate(self, batch: int, capacity: int) -> None:
        """Empty the cache and make room for `capacity` positions of `batch` sequences."""
        config = self.model.config
        weight = self.model.position_embeds_layer.weight
        shape = (batch, config.num_heads, capacity, config.hidden_size // config.num_heads)
        if not self.keys or self.keys[0].shape != shape:
            self.keys = [torch.empty(shape, dtype=weight.dtype, device=weight.device) for _ in self.linears]
            self.values = [torch.empty(shape, dtype=weight.dtype, device=weight.device) for _ in self.linears]
        self.cached_ids = None

    def step(self, input_ids: torch.Tensor, start: int) -> torch.Tensor:
        """Logits after one new token per sequence, `input_ids` `(B, 1)`, at position `start`: `(B, V)` float32.

        A step on the CPU has two implementations, PyTorch and ONNX Runtime (`bark_vocos.bark.onnx_step`), and the
        first step for a batch size times whole steps with each and keeps the faster (`DECODE_ENGINES`). A float32
        PyTorch step likewise runs all its layers with one linear kernel, chosen by timing whole steps
        (`DECODE_KERNELS`): a step reads every weight from memory, and a layer timed alone, a fraction of a
        millisecond, gives too noisy an answer. A step writes the same keys and values however often it runs, so the
        timing runs leave the cache as one step does (the chosen implementation runs last).
        """
        if input_ids.device.type != "cpu":
            return self.forward(self.model.input_embeds_layer(input_ids), start)
        config = self.model.config
        batch = input_ids.shape[0].bit_length()
        key = (config.hidden_size, config.num_layers, batch, torch.get_num_threads(), self.int8)
        candidates = {"torch": functools.partial(self._torch_step, input_ids, start)}
        if self.onnx_step is not None:
            candidates["onnxruntime"] = lambda: self._onnx_forward(input_ids, start)[:, -1]
        return candidates[DECODE_ENGINES.choose(key, candidates)]()

    def _torch_step(self, input_ids: torch.Tensor, start: int) -> torch.Tensor:
        """`step` in PyTorch, with one kernel for all layers: float32 (`DECODE_KERNELS`) or int8
        (`DECODE_INT8_KERNELS`), chosen by timing whole steps."""
        inputs_embeds = self.model.input_embeds_layer(input_ids)
        config = self.model.config
        key = (config.hidden_size, config.num_layers, input_ids.shape[0].bit_length(), torch.get_num_threads())
        if self.int8:
            names, kernel, kernels = int8_kernels_available(), int8_kernel, DECODE_INT8_KERNELS
        else:
            names, kernel, kernels = linear_kernel_names(), linear_kernel, DECODE_KERNELS

        def run(name: str) -> torch.Tensor:
            with kernel(name):
                return self.forward(inputs_embeds, start)

        candidates = {name: functools.partial(run, name) for name in names}
        return run(kernels.choose(key, candidates))

    def _onnx_forward(self, input_ids: torch.Tensor, start: int, step: OnnxDecodeStep | None = None) -> torch.Tensor:
        """`input_ids` `(B, T)` through an ONNX Runtime step (`self.onnx_step` unless `step` is given), at positions
        `[start, start + T)` -> `(B, T, V)` logits of every position."""
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
        `linear` chooses it (or as the caller's `linear_kernel`): `(B, V)` float32."""
        length = inputs_embeds.shape[1]
        if start + length > self.keys[0].shape[2]:
            raise ValueError(f"sequence of {start + length} positions exceeds the cache of {self.keys[0].shape[2]}")
        positions = torch.arange(start, start + length, device=inputs_embeds.device)
        hidden = inputs_embeds + self.model.position_embeds_layer(positions)[None]
        blocks = zip(self.model.layers, self.linears, self.keys, self.values, strict=True)
        for block, linears, keys, values in blocks:
            hidden = _block_forward(block, linears, hidden, keys, values, start, causal=True)
        hidden = self.model.layernorm_final(hidden[:, -1])
        return self._widen(_project(self.lm_head, hidden).float())

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

    def can_speculate(self, batch: int) -> bool:
        """Whether `speculate` can run: the exact engine on the CPU with both ONNX Runtime steps, one sequence, the
        decode steps not forced to PyTorch, and `torch.multinomial` replayable (`_multinomial_replays`)."""
        return (
            self.draft_step is not None
            and batch == 1
            and os.environ.get(DECODE_ENGINES.variable) != "torch"
            and os.environ.get(DRAFT_TOKENS_VARIABLE) != "0"
            and _multinomial_replays()
        )

    def draft_count(self) -> int:
        """Draft tokens for the next round of `speculate`: `BARK_VOCOS_DRAFT_TOKENS` if set, else the count in
        `DRAFT_CHOICES` with the lowest measured time per chosen token, each first run for `EXPLORE_ROUNDS` rounds
        (per torch thread count, over the life of this decoder; the first round of each is a warm-up, not timed)."""
        forced = os.environ.get(DRAFT_TOKENS_VARIABLE)
        if forced:
            if not forced.isdigit() or int(forced) > 16:
                raise ValueError(f"{DRAFT_TOKENS_VARIABLE}={forced!r} is not a count of draft tokens from 0 to 16")
            return int(forced)
        threads = torch.get_num_threads()
        per_token = {}
        for drafts in DRAFT_CHOICES:
            seconds, tokens, rounds = self.round_times.get((threads, drafts), (0.0, 0, 0))
            if rounds < EXPLORE_ROUNDS:
                return drafts
            per_token[drafts] = seconds / tokens
        return min(per_token, key=per_token.get)

    def speculate(
        self,
        logits: torch.Tensor,
        start: int,
        count: int,
        choose: Callable[[int, torch.Tensor, torch.Tensor | None], torch.Tensor],
        sampling: bool,
        stop: Callable[[torch.Tensor], bool] = lambda token: False,
        emit: Callable[[torch.Tensor], None] = lambda token: None,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Up to `count` tokens of one sequence, the same as token-by-token decoding, fewer float32 passes.

        Speculative decoding with the exact engine's own 8-bit step as the draft: the 8-bit ONNX Runtime step drafts
        `d` tokens one by one, reading the float32 keys/values of the tokens already chosen (and writing its own for
        the drafts, which the verification overwrites); the float32 step then reads the last chosen token and the
        drafts in one pass (`d + 1` positions, one read of the weights) and chooses from each position's logits
        exactly as a plain step would, with the same sampling draw (`_Draws`). Drafts are kept up to the first
        token the float32 logits choose differently; that token, or one more after all `d`, ends the round. So
        each round costs `d` 8-bit steps plus about one float32 step and yields 1 to `d + 1` tokens. The tokens are
        those of plain steps whatever the drafts; float32 logits of several positions in one pass differ from
        one-position passes by rounding only (as the ONNX Runtime step differs from PyTorch's). `d` is measured
        (`draft_count`): 0 is a plain step.

        Args:
            logits: `(1, V)` float32 logits of the first token to choose (from the prompt).
            start: positions in the cache; the first chosen token goes to position `start` when fed.
            count: tokens to choose (>= 1).
            choose: `(step, (1, V) logits, draw or None) -> (1,)` token, for step 0, 1, ... of this call: the
                stage's logits processing then `_choose` with the draw.
            sampling: whether `choose` samples (draws are then made by `_Draws`).
            stop: whether a chosen token ends the sequence (it is kept).
            emit: called with each chosen token, in order.
        Returns:
            The chosen tokens (each `(1,)`), and `(1, n)` the ids fed to the cache (all chosen tokens but the last),
            at positions `[start, start + n)`.
        """
        draws = _Draws(tuple(logits.shape), sampling)
        try:
            token = choose(0, logits, draws.get(0))
            draws.use(1)
            tokens, fed = [token], []
            emit(token)
            while len(tokens) < count and not stop(token):
                started = time.perf_counter()
                step = len(tokens)
                drafts_wanted = self.draft_count()
                position = start + len(fed)  # the next position to feed: `token`'s
                drafts = []
                last = token
                for index in range(min(drafts_wanted, count - step - 1)):
                    draft_logits = self._onnx_forward(last[:, None], position + index, self.draft_step)[:, -1]
                    last = choose(step + index, draft_logits, draws.get(index))
                    drafts.append(last)
                verified = self._onnx_forward(torch.stack([token, *drafts], dim=1), position)
                for index in range(len(drafts) + 1):
                    chosen = choose(step + index, verified[:, index], draws.get(index))
                    tokens.append(chosen)
                    emit(chosen)
                    if stop(chosen) or index == len(drafts) or not torch.equal(chosen, drafts[index]):
                        break
                used = index + 1
                draws.use(used)
                fed += [token, *drafts[: used - 1]]
                token = tokens[-1]
                totals = self.round_times.setdefault((torch.get_num_threads(), drafts_wanted), [0.0, 0, 0])
                if totals[2] > 0:  # the first round builds sessions and buffers: a warm-up
                    totals[0] += time.perf_counter() - started
                    totals[1] += used
                totals[2] += 1
        finally:  # on an error too: no draw made ahead is left taken
            draws.give_back()
        fed_ids = torch.stack(fed, dim=1) if fed else torch.empty(1, 0, dtype=torch.long, device=logits.device)
        return tokens, fed_ids

    def feed_token(self, token: torch.Tensor) -> torch.Tensor:
        """Logits after appending `token` `(B,)` to the cached ids; returns `(B, V)` float32 logits."""
        start = self.cached_ids.shape[1]
        logits = self.step(token[:, None], start)
        self.cached_ids = torch.cat([self.cached_ids, token[:, None].to(self.cached_ids.dtype)], dim=1)
        return logits


class FastSemanticStage:
    """Drop-in for `BarkSemanticModel.generate` (text ids -> semantic tokens)."""

    def __init__(self, model: BarkSemanticModel, mode: str):
        self.model = model
        self.decoder = _CausalDecoder(model, mode)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        semantic_generation_config: BarkSemanticGenerationConfig | None = None,
        history_prompt: dict[str, torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.LongTensor:
        """Semantic tokens for tokenised text, as `BarkSemanticModel.generate`.

        Args:
            input_ids: `(B, S)` tokenised text (truncated to `max_input_semantic_length`).
            semantic_generation_config: the semantic generation config (required).
            history_prompt: optional speaker prompt with `semantic_prompt` `(N,)`.
            attention_mask: optional `(B, S)` mask; masked text positions become the text pad token.
            **kwargs: `min_eos_p`, `streamer` and generation options (`max_new_tokens`, `min_new_tokens`,
                `do_sample`, `temperature`, `top_k`, `top_p`); anything else runs transformers' method.
        Returns:
            `(B, N)` semantic tokens (EOS and padding after it included, as transformers returns them).
        """
        if semantic_generation_config is None:
            raise ValueError("`semantic_generation_config` has to be provided")
        options = dict(kwargs)
        min_eos_p = options.pop("min_eos_p", semantic_generation_config.min_eos_p)
        streamer = options.pop("streamer", None)
        config = _decode_config(self.model, semantic_generation_config, options)
        # without max_new_tokens transformers derives the length from max_length: leave that case to it
        if config is None or config.max_new_tokens is None:
            return self.model.generate(
                input_ids,
                semantic_generation_config=semantic_generation_config,
                history_prompt=history_prompt,
                attention_mask=attention_mask,
                **kwargs,
            )
        model = self.model
        device = model.device
        batch = input_ids.shape[0]
        max_input = config.max_input_semantic_length
        input_ids = input_ids + config.text_encoding_offset
        if attention_mask is not None:
            input_ids = input_ids.masked_fill((1 - attention_mask).bool(), config.text_pad_token)
        if history_prompt is not None:
            history = history_prompt["semantic_prompt"][-max_input:]
            history = F.pad(history, (0, max_input - len(history)), value=config.semantic_pad_token)
        else:
            history = torch.full((max_input,), config.semantic_pad_token, device=device, dtype=torch.int)
        history = history[None].expand(batch, -1).to(device)
        infer = torch.full((batch, 1), config.semantic_infer_token, dtype=torch.int, device=device)
        embed = model.input_embeds_layer
        inputs_embeds = torch.cat(
            [embed(input_ids[:, :max_input].to(device)) + embed(history[:, : max_input + 1]), embed(infer)], dim=1
        )

        vocab = model.config.output_vocab_size
        suppress = torch.zeros(vocab, dtype=torch.bool, device=device)
        suppress[config.semantic_vocab_size : config.semantic_pad_token] = True
        suppress[config.semantic_pad_token + 1 :] = True
        eos = config.eos_token_id
        eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        pad = config.pad_token_id if config.pad_token_id is not None else (eos_ids[0] if eos_ids else None)
        min_new = config.min_new_tokens or 0
        warpers = _sampling_warpers(config)

        max_new = config.max_new_tokens
        if streamer is not None:  # the placeholder ids transformers' generate is given (and streams) as the prompt
            streamer.put(torch.ones(batch, inputs_embeds.shape[1], dtype=torch.int))
        self.decoder.allocate(batch, inputs_embeds.shape[1] + max_new)
        logits = self.decoder.forward(inputs_embeds, 0)
        position = inputs_embeds.shape[1]

        def scored(step: int, logits: torch.Tensor) -> torch.Tensor:
            """transformers' semantic logits processors for token `step`: `(B, V)` -> `(B, V)`."""
            scores = logits
            if step < min_new and eos_ids:
                scores = scores.clone()
                scores[:, eos_ids] = -float("inf")
            scores = scores.masked_fill(suppress, -float("inf"))
            if min_eos_p:
                probs = torch.softmax(scores.float(), dim=-1)
                early = torch.full_like(scores, -float("inf"))
                early[:, eos_ids] = scores[:, eos_ids]
                stop = (probs[:, eos_ids] > min_eos_p).any(dim=1, keepdim=True)
                scores = torch.where(stop, early, scores)
            return scores

        eos_tensor = torch.tensor(eos_ids, device=device, dtype=torch.long)
        if self.decoder.can_speculate(batch):
            tokens, _ = self.decoder.speculate(
                logits,
                position,
                max_new,
                lambda step, logits, draw: _choose(scored(step, logits), config, warpers, draw),
                sampling=config.do_sample,
                stop=lambda token: bool(torch.isin(token, eos_tensor).any()),
                emit=(lambda token: streamer.put(token.cpu())) if streamer is not None else (lambda token: None),
            )
        else:
            tokens = []
            unfinished = torch.ones(batch, dtype=torch.bool, device=device)
            for step in range(max_new):
                token = _choose(scored(step, logits), config, warpers)
                if pad is not None:
                    token = torch.where(unfinished, token, torch.full_like(token, pad))
                tokens.append(token)
                if streamer is not None:
                    streamer.put(token.cpu())
                if eos_ids:
                    unfinished &= ~torch.isin(token, eos_tensor)
                    if not bool(unfinished.any()):
                        break
                if step + 1 < max_new:
                    logits = self.decoder.step(token[:, None], position)
                    position += 1
        if streamer is not None:
            streamer.end()
        return torch.stack(tokens, dim=1)


class FastCoarseStage:
    """Drop-in for `BarkCoarseModel.generate` (semantic tokens -> first two codebooks, interleaved)."""

    def __init__(self, model: BarkCoarseModel, mode: str, semantic_vocab_size: int | None = None):
        """`semantic_vocab_size`: the ids below it are never chosen (the semantic tokens), so their rows of the LM
        head are not computed (see `_CausalDecoder`); a `generate` call whose config says otherwise rebuilds the
        decoder for its own. None: the whole head until then."""
        self.model = model
        self.mode = mode
        self.decoder = _CausalDecoder(
            model, mode, None if semantic_vocab_size is None else self._head_rows(semantic_vocab_size)
        )

    def _head_rows(self, semantic_vocab_size: int) -> tuple[int, int]:
        """The LM head's rows of the ids this stage can choose: every id below the semantic vocabulary's end is masked
        for both codebooks (`scored` in `generate`), the codebooks' ids and those after them are not."""
        return semantic_vocab_size, self.model.config.output_vocab_size

    @torch.no_grad()
    def generate(
        self,
        semantic_output: torch.Tensor,
        semantic_generation_config: BarkSemanticGenerationConfig | None = None,
        coarse_generation_config: BarkCoarseGenerationConfig | None = None,
        codebook_size: int = 1024,
        history_prompt: dict[str, torch.Tensor] | None = None,
        return_output_lengths: bool | None = None,
        **kwargs,
    ) -> torch.LongTensor | tuple[torch.LongTensor, torch.LongTensor]:
        """Coarse tokens for semantic tokens, as `BarkCoarseModel.generate`.

        Like transformers, semantic pad tokens in `semantic_output` are replaced in place by the coarse pad token.

        Args:
            semantic_output: `(B, N)` semantic tokens (output of the semantic stage).
            semantic_generation_config, coarse_generation_config: the stage configs (required).
            codebook_size: entries per codebook (1024).
            history_prompt: optional speaker prompt with `semantic_prompt` and `coarse_prompt` `(2, M)`.
            return_output_lengths: also return the number of valid coarse tokens per sample.
            **kwargs: `streamer` and generation options (`do_sample`, `temperature`, `top_k`, `top_p`); anything
                else runs transformers' method.
        Returns:
            `(B, M)` coarse tokens (two codebooks interleaved, offset by the semantic vocabulary), and with
            `return_output_lengths` also `(B,)` int lengths.
        """
        if semantic_generation_config is None:
            raise ValueError("`semantic_generation_config` has to be provided")
        if coarse_generation_config is None:
            raise ValueError("`coarse_generation_config` has to be provided")
        options = dict(kwargs)
        streamer = options.pop("streamer", None)
        config = _decode_config(self.model, coarse_generation_config, options)
        # an EOS or pad token would make transformers stop early or mask the window: leave those cases to it
        if config is None or config.eos_token_id is not None or config.pad_token_id is not None:
            return self.model.generate(
                semantic_output,
                semantic_generation_config=semantic_generation_config,
                coarse_generation_config=coarse_generation_config,
                codebook_size=codebook_size,
                history_prompt=history_prompt,
                return_output_lengths=return_output_lengths,
                **kwargs,
            )
        model = self.model
        device = model.device
        max_input = config.max_coarse_input_length
        max_history = config.max_coarse_history
        window = config.sliding_window_len
        semantic_vocab = semantic_generation_config.semantic_vocab_size

        semantic_output.masked_fill_(
            semantic_output == semantic_generation_config.semantic_pad_token, config.coarse_semantic_pad_token
        )
        ratio = config.coarse_rate_hz / semantic_generation_config.semantic_rate_hz * config.n_coarse_codebooks
        max_semantic_history = int(np.floor(max_history / ratio))
        output_lengths = (semantic_output != config.coarse_semantic_pad_token).sum(1)
        output_lengths = torch.floor(output_lengths * ratio / config.n_coarse_codebooks)
        output_lengths = torch.round(output_lengths * config.n_coarse_codebooks).int()
        max_generated = int(torch.max(output_lengths).item())
        batch = semantic_output.shape[0]

        semantic_history, coarse = model.preprocess_histories(
            history_prompt=history_prompt,
            max_coarse_history=max_history,
            semantic_to_coarse_ratio=ratio,
            batch_size=batch,
            semantic_generation_config=semantic_generation_config,
            codebook_size=codebook_size,
        )
        base_semantic_idx = semantic_history.shape[1]
        semantic_output = torch.hstack([semantic_history, semantic_output])
        history_len = coarse.shape[1]

        # first-codebook and second-codebook masks of AlternatingCodebooksLogitsProcessor
        vocab = model.config.output_vocab_size
        not_first = torch.ones(vocab, dtype=torch.bool, device=device)
        not_first[semantic_vocab : semantic_vocab + codebook_size] = False
        not_second = torch.zeros(vocab, dtype=torch.bool, device=device)
        not_second[: semantic_vocab + codebook_size] = True
        warpers = _sampling_warpers(config)

        def scored(step: int, logits: torch.Tensor) -> torch.Tensor:
            """AlternatingCodebooksLogitsProcessor for token `step` of a window: `(B, V)` -> `(B, V)`."""
            return logits.masked_fill(not_first if step % 2 == 0 else not_second, -float("inf"))

        infer = torch.full((batch, 1), config.coarse_infer_token, dtype=semantic_output.dtype, device=device)

        head_rows = self._head_rows(semantic_vocab)
        if self.decoder.head_rows != head_rows:
            self.decoder = _CausalDecoder(model, self.mode, head_rows)
        self.decoder.allocate(batch, max_input + 1 + max_history + window)
        generated = 0
        for _ in range(int(np.ceil(max_generated / window))):
            semantic_idx = base_semantic_idx + int(round(generated / ratio))
            window_input = semantic_output[:, max(0, semantic_idx - max_semantic_history) :][:, :max_input]
            window_input = F.pad(
                window_input, (0, max_input - window_input.shape[-1]), "constant", config.coarse_semantic_pad_token
            )
            window_input = torch.hstack([window_input, infer, coarse[:, -max_history:].to(window_input.dtype)])
            new_tokens = min(window, max_generated - generated)
            if streamer is not None:
                streamer.put(window_input.cpu())
            logits = self.decoder.feed_ids(window_input.long())
            if self.decoder.can_speculate(batch):
                tokens, fed = self.decoder.speculate(
                    logits,
                    self.decoder.cached_ids.shape[1],
                    new_tokens,
                    lambda step, logits, draw: _choose(scored(step, logits), config, warpers, draw),
                    sampling=config.do_sample,
                    emit=(lambda token: streamer.put(token.cpu())) if streamer is not None else (lambda token: None),
                )
                self.decoder.cached_ids = torch.cat([self.decoder.cached_ids, fed.to(self.decoder.cached_ids.dtype)], 1)
            else:
                tokens = []
                for step in range(new_tokens):
                    token = _choose(scored(step, logits), config, warpers)
                    tokens.append(token)
                    if streamer is not None:
                        streamer.put(token.cpu())
                    if step + 1 < new_tokens:
                        logits = self.decoder.feed_token(token)
            if streamer is not None:
                streamer.end()
            coarse = torch.hstack([coarse, torch.stack(tokens, dim=1).to(coarse.dtype)])
            generated = coarse.shape[1] - history_len
        coarse_output = coarse[:, history_len:]
        if return_output_lengths:
            return coarse_output, output_lengths
        return coarse_output


class FastFineStage:
    """Drop-in for `BarkFineModel.generate` (coarse tokens -> all eight codebooks)."""

    def __init__(self, model: BarkFineModel, mode: str):
        self.model = model
        self.mode = mode
        int8 = _int8(mode, model)
        self.linears = [_BlockLinears(block, int8) for block in model.layers]
        self.lm_heads = [Int8Linear(head) if int8 else head for head in model.lm_heads]

    def logits(self, codebook_idx: int, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits of codebook `codebook_idx` for every position, as `BarkFineModel.forward(...).logits`.

        Args:
            codebook_idx: codebook to predict (>= `n_codes_given`).
            input_ids: `(B, T, n_codes_total)` codes; codebooks `<= codebook_idx` are read.
        Returns:
            `(B, T, V)` logits.
        """
        model = self.model
        embeds = torch.cat(
            [layer(input_ids[:, :, i]).unsqueeze(-1) for i, layer in enumerate(model.input_embeds_layers)], dim=-1
        )
        hidden = embeds[:, :, :, : codebook_idx + 1].sum(dim=-1)
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        hidden = hidden + model.position_embeds_layer(positions)[None]
        for block, linears in zip(model.layers, self.linears, strict=True):
            hidden = _block_forward(block, linears, hidden, None, None, 0, causal=False)
        hidden = model.layernorm_final(hidden)
        return _project(self.lm_heads[codebook_idx - model.config.n_codes_given], hidden)

    def _fill_window(
        self,
        buffer: torch.Tensor,
        rel_fill: int,
        n_coarse: int,
        n_fine: int,
        temperature: float | None,
        codebook_size: int,
    ) -> None:
        """Predict codebooks `[n_coarse, n_fine)` of `buffer` from position `rel_fill` on, one codebook per pass.

        Args:
            buffer: `(B, W, n_fine)` codes of one window, modified in place; positions before `rel_fill` are context.
            rel_fill: first position to predict.
            temperature: None or 1.0: argmax (as transformers); otherwise sampling at that temperature.
        """
        batch = buffer.shape[0]
        for n_inner in range(n_coarse, n_fine):
            logits = self.logits(n_inner, buffer)
            if temperature is None or temperature == 1.0:
                preds = torch.argmax(logits[:, rel_fill:, :codebook_size], -1)
            else:
                probs = F.softmax(logits[:, :, :codebook_size] / temperature, dim=-1)[:, rel_fill:]
                preds = torch.multinomial(probs.reshape(-1, codebook_size), num_samples=1).view(batch, -1)
            buffer[:, rel_fill:, n_inner] = preds.to(buffer.dtype)

    @torch.no_grad()
    def generate(
        self,
        coarse_output: torch.Tensor,
        semantic_generation_config: BarkSemanticGenerationConfig | None = None,
        coarse_generation_config: BarkCoarseGenerationConfig | None = None,
        fine_generation_config: BarkFineGenerationConfig = None,
        codebook_size: int = 1024,
        history_prompt: dict[str, torch.Tensor] | None = None,
        **kwargs,
    ) -> torch.LongTensor:
        """All codebooks for coarse tokens, as `BarkFineModel.generate`.

        Args:
            coarse_output: `(B, M)` coarse tokens (output of the coarse stage).
            semantic_generation_config, coarse_generation_config, fine_generation_config: stage configs (required).
            codebook_size: entries per codebook (1024).
            history_prompt: optional speaker prompt with `fine_prompt` `(n_fine_codebooks, K)`.
            **kwargs: `temperature` (None or 1.0: argmax, as transformers).
        Returns:
            `(B, n_fine_codebooks, M / n_coarse_codebooks)` codes in `[0, codebook_size)`.
        """
        if semantic_generation_config is None:
            raise ValueError("`semantic_generation_config` has to be provided")
        if coarse_generation_config is None:
            raise ValueError("`coarse_generation_config` has to be provided")
        if fine_generation_config is None:
            raise ValueError("`fine_generation_config` has to be provided")
        temperature = kwargs.get("temperature", fine_generation_config.temperature)
        history_len = fine_generation_config.max_fine_history_length
        input_len = fine_generation_config.max_fine_input_length
        n_fine = fine_generation_config.n_fine_codebooks
        n_coarse = coarse_generation_config.n_coarse_codebooks

        vocab = semantic_generation_config.semantic_vocab_size
        coarse_output = coarse_codes(coarse_output, n_coarse, vocab, codebook_size).transpose(1, 2)  # (B, T, n_coarse)
        batch = coarse_output.shape[0]
        fine_input = F.pad(coarse_output, (0, n_fine - n_coarse), "constant", codebook_size)
        n_history = 0
        if history_prompt is not None:
            fine_history = history_prompt["fine_prompt"].T[None].expand(batch, -1, -1)[:, -history_len:, :]
            fine_input = torch.cat([fine_history.to(fine_input.dtype), fine_input], dim=1)
            n_history = fine_history.shape[1]
        n_remove_from_end = 0
        if self.mode == "fast" and fine_input.shape[1] <= input_len:
            # one window over the frames that exist, no padding (see the module docstring)
            self._fill_window(fine_input, n_history, n_coarse, n_fine, temperature, codebook_size)
        else:
            if fine_input.shape[1] < input_len:
                n_remove_from_end = input_len - fine_input.shape[1]
                fine_input = F.pad(fine_input, (0, 0, 0, n_remove_from_end), mode="constant", value=codebook_size)
            n_loops = max(0, int(np.ceil((coarse_output.shape[1] - (input_len - n_history)) / history_len))) + 1
            for n_outer in range(n_loops):
                start = min(n_outer * history_len, fine_input.shape[1] - input_len)
                start_fill = min(n_history + n_outer * history_len, fine_input.shape[1] - history_len)
                rel_fill = start_fill - start
                buffer = fine_input[:, start : start + input_len, :]
                self._fill_window(buffer, rel_fill, n_coarse, n_fine, temperature, codebook_size)
                fine_input[:, start_fill : start_fill + (input_len - rel_fill), n_coarse:] = buffer[
                    :, rel_fill:, n_coarse:
                ]

        fine_input = fine_input.transpose(1, 2)[:, :, n_history:]
        if n_remove_from_end > 0:
            fine_input = fine_input[:, :, :-n_remove_from_end]
        if fine_input.shape[-1] != coarse_output.shape[-2]:
            raise ValueError("input and output should have the same seq_len")
        return fine_input


class FastBarkStages:
    """The three Bark generation stages of a transformers `BarkModel`, made faster (see the module docstring).

    Args:
        bark_model: a loaded transformers `BarkModel`; its modules and weights are reused, never modified.
        mode: `"exact"` (fp32, same codes as transformers, greedy or sampled with the same seed) or `"fast"`
            (int8 linear layers on the CPU, the model's own dtype elsewhere, and an unpadded fine window; codes
            agree with exact mode only approximately).
    """

    def __init__(self, bark_model: BarkModel, mode: str = "exact"):
        if not isinstance(bark_model, BarkModel):
            raise TypeError(f"bark_model must be a transformers BarkModel, got {type(bark_model).__name__}")
        if mode not in FAST_BARK_MODES:
            raise ValueError(f"mode must be one of {FAST_BARK_MODES}, got {mode!r}")
        self.bark_model = bark_model
        self.mode = mode
        self.semantic = FastSemanticStage(bark_model.semantic, mode)
        semantic_vocab_size = BarkGenerationConfigs.from_bark(bark_model).semantic.semantic_vocab_size
        self.coarse_acoustics = FastCoarseStage(bark_model.coarse_acoustics, mode, semantic_vocab_size)
        self.fine_acoustics = FastFineStage(bark_model.fine_acoustics, mode)
