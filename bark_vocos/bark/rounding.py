"""Symmetric 8-bit rounding of the float32 weights for the fast engine's int8 layers (`int8`) and the 8-bit step graphs
(`onnx_step`), and the rounded weights kept on disk beside the tuning record (`rounded-weights/`), so that a later
process reads them instead of rounding again.

A weight is found again by where its values are (`bark_vocos.residency.file_identity`: the checkpoint file it is
mapped from, with its size and modification time, and the weight's offset in it) and its shape, strides, dtype and
layout, so finding it costs no pass over its values; a weight that is not unwritten pages of a file (made in memory,
changed in place) is rounded every time. A cached file that cannot be read or has the wrong shapes is ignored with
one warning and written again; a folder that cannot be written is skipped with one warning. A file not read for
`permissions.UNUSED_CACHE_DAYS` days is deleted when new ones are written (`permissions.prune_unused`).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch

from ..permissions import mark_used, prune_unused, write_cache_file
from ..residency import file_identity, release_file_pages

__all__ = ["BLOCK_SIZE", "RoundedWeights", "block_size", "round_symmetric"]

BLOCK_SIZE = 128  # input channels per weight scale of the step graphs (MatMulNBits' block_size: a power of two)
# Bumped when the codes a weight rounds to change (the rounding, a layout): older files are then never read.
ROUNDING_FORMAT = 1
_CHUNK_ELEMENTS = 1 << 20  # float32 elements rounded at a time (4 MiB)


def round_symmetric(groups: torch.Tensor, zero_point: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric 8-bit codes of `groups` `(N, ..., G)`, one scale per group of its last dimension.

    Returns:
        `(N, ..., G)` codes `round(groups / scale) + zero_point`, the rounding clamped to [-127, 127] (int8 when
        `zero_point` is 0, uint8 when it is 128), and the `(N, ...)` float32 scales `max(|group|) / 127`.

    No temporary the size of `groups`: the scales come from a min/max reduction and the codes are rounded a few
    rows at a time in one small buffer (a float32 temporary the size of each weight, freed after each layer, left
    the heap fragmented: hundreds of MB more resident once a model's layers were made).
    """
    groups = groups.detach().float()
    low, high = torch.aminmax(groups, dim=-1)
    scale = torch.maximum(high, low.neg_()).clamp_(min=1e-12).div_(127)
    codes = torch.empty(groups.shape, dtype=torch.int8 if zero_point == 0 else torch.uint8)
    rows = max(1, _CHUNK_ELEMENTS // max(1, groups[0].numel()))
    buffer = torch.empty(rows, *groups.shape[1:])
    for start in range(0, groups.shape[0], rows):
        chunk = buffer[: min(rows, groups.shape[0] - start)]
        torch.div(groups[start : start + rows], scale[start : start + rows, ..., None], out=chunk)
        codes[start : start + rows] = chunk.round_().clamp_(-127, 127).add_(zero_point)
    return codes, scale


def block_size(in_features: int) -> int | None:
    """The largest power of two from 16 to `BLOCK_SIZE` that divides `in_features`, or None."""
    size = BLOCK_SIZE
    while size >= 16:
        if in_features % size == 0:
            return size
        size //= 2
    return None


class RoundedWeights:
    """Where rounded weights come from: read from `folder` when cached there, rounded (`round_symmetric`) otherwise.

    Args:
        folder: the cache folder, or None to round every weight (nothing read or written).
        release_float32: let go of a float32 weight's file pages once it is rounded (`bark_vocos.residency`), for
            a caller that no longer reads them (the fast engine).
    """

    def __init__(self, folder: Path | None = None, release_float32: bool = False):
        self.folder = folder
        self.release_float32 = release_float32
        self.warned = False  # one warning per object, whatever goes wrong
        self.writable = True
        self.pruned = False  # the folder's unused files deleted, once per object, before its first write

    def rows(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`weight` `(N, K)` as int8 codes `(N, K)` with one float32 scale per row `(N,)` (`int8.Int8Linear`)."""
        return self._rounded(weight, tuple(weight.shape), 0)

    def blocks(self, weight: torch.Tensor) -> tuple[np.ndarray, np.ndarray, int]:
        """`weight` `(N, K)` in `MatMulNBits`' 8-bit layout: `(N, K / block, block)` uint8 codes (zero point 128),
        `(N * K / block,)` float32 scales, one per block of input channels, and the block size (`block_size(K)`,
        which must not be None)."""
        out_features, in_features = weight.shape
        block = block_size(in_features)
        codes, scales = self._rounded(weight, (out_features, in_features // block, block), 128)
        return codes.numpy(), scales.reshape(-1).numpy(), block

    def _warn_once(self, message: str) -> None:
        if not self.warned:
            self.warned = True
            warnings.warn(f"bark-vocos: {message}", stacklevel=4)

    def _path(self, weight: torch.Tensor, groups: tuple[int, ...], zero_point: int) -> Path | None:
        identity = None if self.folder is None else file_identity(weight)
        if identity is None:
            return None
        layout = (tuple(weight.shape), weight.stride(), str(weight.dtype), groups, zero_point)
        description = repr((ROUNDING_FORMAT, identity, layout)).encode()
        return self.folder / f"{hashlib.sha256(description).hexdigest()[:32]}.safetensors"

    def _rounded(
        self, weight: torch.Tensor, groups: tuple[int, ...], zero_point: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`round_symmetric` of `weight` `(N, K)` viewed as `groups` (`(N, K)`, or `(N, K / G, G)`): codes of that
        shape and scales of `groups[:-1]`, from the cache when there."""
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import save

        expected = (torch.int8 if zero_point == 0 else torch.uint8, groups, torch.float32, groups[:-1])
        path = self._path(weight, groups, zero_point)
        if path is not None and path.is_file():
            try:
                with safe_open(str(path), "pt") as cached:
                    codes, scales = cached.get_tensor("codes"), cached.get_tensor("scales")
                if (codes.dtype, tuple(codes.shape), scales.dtype, tuple(scales.shape)) == expected:
                    mark_used(path)
                    return codes, scales
            except (OSError, SafetensorError):
                pass
            self._warn_once(f"ignored the unreadable rounded weights {path}; rounded again")
            path.unlink(missing_ok=True)
        codes, scales = round_symmetric(weight.detach().reshape(groups), zero_point)
        if self.release_float32:
            release_file_pages([weight])
        if path is not None and self.writable:
            if not self.pruned:
                self.pruned = True
                prune_unused(path.parent)
            try:
                write_cache_file(path, save({"codes": codes, "scales": scales}))
            except OSError as error:
                self.writable = False
                self._warn_once(f"could not cache rounded weights in {path.parent}: {error}")
        return codes, scales
