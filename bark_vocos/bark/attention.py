"""Attention of the optimized stages: one query (a decode step) as two small products, several queries (prompts, the
fine stage's windows) in the precision or layout a timing finds fastest on this CPU."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..choices import CHOICES, AttentionKey
from ..kernels import linear_kernel_names, rows_bucket
from ..settings import settings

__all__ = [
    "ATTENTION_DTYPES",
    "ATTENTION_KERNELS",
    "EXACT_ATTENTION_KERNELS",
    "HEADS_KERNEL",
    "attend",
    "attention",
    "attention_by_heads",
    "attention_candidates",
    "attention_in",
]

# `AttentionKey` -> how the fast engine attends over several
# queries (prompts, the fine stage's windows): SDPA in "float32" or in "bfloat16", or "float32_heads" (see
# `attention_by_heads`; unmasked, non-causal attention only), whichever runs fastest here (see `attention`);
# `BARK_VOCOS_ATTENTION=float32|bfloat16|float32_heads` forces one (per head where it applies, float32 SDPA elsewhere).
ATTENTION_KERNELS = CHOICES["attention"]
# The same for the exact engine, whose candidates are float32 only: "float32" (SDPA) or "float32_heads", for unmasked,
# non-causal attention (the fine stage's windows); `BARK_VOCOS_EXACT_ATTENTION=float32|float32_heads` forces one
# (per head where it applies).
EXACT_ATTENTION_KERNELS = CHOICES["exact_attention"]

ATTENTION_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}  # SDPA's precisions, by candidate name
HEADS_KERNEL = "float32_heads"


def attention_in(
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


def attention_by_heads(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Unmasked, non-causal float32 attention one head at a time, as two oneDNN products around a float32 softmax:
    `(B, H, T, D)` queries and `(B, H, S, D)` keys/values -> `(B, H, T, D)`, a view of `(B, T, H, D)` memory (so the
    caller's transpose back to `(B, T, H * D)` needs no copy).

    oneDNN's products can run faster than SDPA's CPU kernel where AVX-512 is available (and gain nothing elsewhere),
    so this is one candidate of a timed choice. Same products and sums as SDPA's, in another order: float32 rounding
    apart.
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


def attention_candidates(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    is_causal: bool,
    fast: bool,
) -> dict[str, Callable[[], torch.Tensor]]:
    """The ways to compute this attention that its engine chooses from, by name: SDPA in float32 (and in bfloat16 for
    the fast engine), and per head (`attention_by_heads`) where it applies."""
    precisions = ATTENTION_DTYPES if fast else {"float32": torch.float32}
    candidates: dict[str, Callable[[], torch.Tensor]] = {
        name: functools.partial(attention_in, query, key, value, mask, is_causal, dtype)
        for name, dtype in precisions.items()
    }
    if mask is None and not is_causal and "onednn" in linear_kernel_names():
        candidates[HEADS_KERNEL] = functools.partial(attention_by_heads, query, key, value)
    return candidates


def attention(
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
    attend in bfloat16 (the result cast back): much faster with AMX, much slower on a CPU without bfloat16
    instructions, and within the rounding of its 7-bit activations. Both engines may attend head by head in float32
    where there is no mask and no causality (the fine stage's windows; `attention_by_heads`). Where an engine has a
    single candidate, nothing is timed. Everything else: SDPA as given.
    """
    if query.device.type != "cpu" or query.dtype != torch.float32 or (torch.is_grad_enabled() and query.requires_grad):
        return attention_in(query, key, value, mask, is_causal, query.dtype)
    candidates = attention_candidates(query, key, value, mask, is_causal, fast)
    cache = ATTENTION_KERNELS if fast else EXACT_ATTENTION_KERNELS
    if len(candidates) == 1 or (settings().pin(cache.variable) == HEADS_KERNEL and HEADS_KERNEL not in candidates):
        return candidates["float32"]()  # nothing to choose; or per head forced, but it does not apply: float32 SDPA
    _, heads, queries, size = query.shape
    key_shape = rows_bucket(queries), rows_bucket(key.shape[2])
    # Timed on the batch's first sequence, and chosen for every batch size: each sequence is attended to alone, at the
    # same cost in a batch.

    def timed() -> dict[str, Callable[[], torch.Tensor]]:
        first = [None if tensor is None else tensor[:1] for tensor in (query, key, value, mask)]
        return attention_candidates(*first, is_causal, fast)

    choice = AttentionKey(heads, *key_shape, size, mask is not None, is_causal, torch.get_num_threads())
    chosen = cache.choose(choice, candidates, cold=False, timed=timed)
    return candidates[chosen]()


def attend(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    start: int,
    causal: bool,
    fast: bool,
) -> torch.Tensor:
    """Attention of `(B, H, T, D)` queries at positions `[start, start + T)` over `(B, H, start + T, D)` keys/values
    -> `(B, H, T, D)`: causal (each position attends to those up to it) when `causal`.

    One query (a decode step) runs as two small products and a softmax, cheaper than SDPA's kernel on the CPU for a
    single query; several run through `attention`.
    """
    length = query.shape[2]
    if length == 1:
        weights = torch.matmul(query, key.transpose(-1, -2)) * (1.0 / math.sqrt(query.shape[-1]))
        return torch.matmul(torch.softmax(weights, dim=-1).to(value.dtype), value)
    mask = None
    is_causal = False
    if causal:
        if start == 0:
            is_causal = True
        else:  # queries sit at the end of the keys: bottom-right aligned causal mask
            mask = torch.ones(length, start + length, dtype=torch.bool, device=query.device).tril(diagonal=start)
    return attention(query, key, value, mask, is_causal, fast)
