"""One `BarkBlock` forward of the optimized stages: its linear layers (float32 or int8 copies) and a key/value cache."""

from __future__ import annotations

import torch
from torch import nn

from ..kernels import linear
from .attention import attend
from .int8 import Int8Linear
from .rounding import RoundedWeights

__all__ = ["BlockLinears", "block_forward", "head_part", "project", "uses_int8"]


def project(layer: nn.Module, hidden: torch.Tensor, gelu: bool = False) -> torch.Tensor:
    """`layer(hidden)`, then the exact GELU when `gelu`: `(..., in)` -> `(..., out)`. An fp32 `nn.Linear` runs
    through the measured kernel choice of `bark_vocos.kernels.linear`, an `Int8Linear` through its own."""
    if isinstance(layer, Int8Linear):
        return layer(hidden, gelu)
    return linear(hidden, layer, gelu)


def head_part(head: nn.Linear, rows: tuple[int, int]) -> nn.Linear:
    """A linear layer computing outputs `[low, high)` of `head`, on a view of its weight (nothing is copied).

    Raises:
        ValueError: `rows` is not within the head's rows.
    """
    low, high = rows
    if not 0 <= low < high <= head.weight.shape[0]:
        raise ValueError(f"head rows {rows} are not within the head's {head.weight.shape[0]} rows")
    part = nn.Linear(head.weight.shape[1], high - low, bias=head.bias is not None, device="meta")
    part.weight = nn.Parameter(head.weight.detach()[low:high], requires_grad=False)
    if head.bias is not None:
        part.bias = nn.Parameter(head.bias.detach()[low:high], requires_grad=False)
    return part


def uses_int8(mode: str, model: nn.Module) -> bool:
    """Whether `mode` runs `model`'s linear layers as int8 copies: fast mode on the CPU."""
    return mode == "fast" and model.device.type == "cpu"


class BlockLinears:
    """The four linear layers of one `BarkBlock`: the block's own, or int8 copies of them (`int8`: the fast engine on
    the CPU, whose attention over several queries may also run in bfloat16, see `attention.attention`), their codes
    from `rounded` (a disk cache; None: rounded here)."""

    def __init__(self, block: nn.Module, int8: bool, rounded: RoundedWeights | None = None):
        self.int8 = int8

        def convert(layer: nn.Linear) -> nn.Module:
            return Int8Linear(layer, rounded) if int8 else layer

        self.att_proj = convert(block.attn.att_proj)
        self.out_proj = convert(block.attn.out_proj)
        self.mlp_in = convert(block.mlp.in_proj)
        self.mlp_out = convert(block.mlp.out_proj)


def block_forward(
    block: nn.Module,
    linears: BlockLinears,
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
    query, key, value = project(linears.att_proj, normed).split(channels, dim=2)
    query = query.view(batch, length, heads, -1).transpose(1, 2)
    key = key.view(batch, length, heads, -1).transpose(1, 2)
    value = value.view(batch, length, heads, -1).transpose(1, 2)
    if key_cache is not None:
        key_cache[:, :, start : start + length] = key
        value_cache[:, :, start : start + length] = value
        key = key_cache[:, :, : start + length]
        value = value_cache[:, :, : start + length]
    out = attend(query, key, value, start, causal, linears.int8)
    out = project(linears.out_proj, out.transpose(1, 2).reshape(batch, length, channels))
    hidden = hidden + out
    mlp = project(linears.mlp_in, block.layernorm_2(hidden), gelu=True)
    return hidden + project(linears.mlp_out, mlp)
