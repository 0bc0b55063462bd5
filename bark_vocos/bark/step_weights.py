"""The 8-bit weights of the decode-step graphs (`onnx_step`): rounded in `MatMulNBits`' layout, and kept on disk beside
the tuning record (`rounded-weights/`) so that a later process reads them instead of rounding the float32 weights.

A weight is found again by where its values are (`bark_vocos.residency.file_identity`: the checkpoint file it is
mapped from, with its size and modification time, and the weight's offset in it) and its shape, strides and dtype,
so finding it costs no pass over its values; a weight that is not unwritten pages of a file (made in memory, changed
in place) is rounded every time. A cached file that cannot be read or has the wrong shapes is ignored with one
warning and written again; a folder that cannot be written is skipped with one warning.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch

from ..permissions import write_cache_file
from ..residency import file_identity, release_file_pages
from .int8 import round_symmetric

__all__ = ["BLOCK_SIZE", "EightBitWeights", "block_size"]

BLOCK_SIZE = 128  # input channels per weight scale (MatMulNBits' block_size: a power of two, 16 to 256)
# Bumped when the codes a weight rounds to change (the rounding, the layout): older files are then never read.
ROUNDING_FORMAT = 1


def block_size(in_features: int) -> int | None:
    """The largest power of two from 16 to `BLOCK_SIZE` that divides `in_features`, or None."""
    size = BLOCK_SIZE
    while size >= 16:
        if in_features % size == 0:
            return size
        size //= 2
    return None


def _round(weight: torch.Tensor, block: int) -> tuple[np.ndarray, np.ndarray]:
    """`weight` `(N, K)` in MatMulNBits' 8-bit layout: `(N, K / block, block)` uint8 codes (symmetric, zero point
    128) and `(N * K / block,)` float32 scales, one per block of input channels."""
    out_features, in_features = weight.shape
    codes, scale = round_symmetric(weight.detach().reshape(out_features, in_features // block, block), 128)
    return codes.numpy(), scale.reshape(-1).numpy()


class EightBitWeights:
    """Where a step graph's 8-bit weights come from: read from `folder` when cached there, rounded otherwise.

    Args:
        folder: the cache folder, or None to round every weight (nothing read or written).
        release_float32: let go of a float32 weight's file pages once it is rounded (`bark_vocos.residency`), for
            a caller that no longer reads them (the fast engine).
    """

    def __init__(self, folder: Path | None = None, release_float32: bool = False):
        self.folder = folder
        self.release_float32 = release_float32
        self.warned = False  # one warning per graph built, whatever goes wrong
        self.writable = True

    def _warn_once(self, message: str) -> None:
        if not self.warned:
            self.warned = True
            warnings.warn(f"bark-vocos: {message}", stacklevel=3)

    def _path(self, weight: torch.Tensor, block: int) -> Path | None:
        identity = None if self.folder is None else file_identity(weight)
        if identity is None:
            return None
        description = (ROUNDING_FORMAT, identity, tuple(weight.shape), weight.stride(), str(weight.dtype), block)
        return self.folder / f"{hashlib.sha256(repr(description).encode()).hexdigest()[:32]}.safetensors"

    def of(self, weight: torch.Tensor) -> tuple[np.ndarray, np.ndarray, int]:
        """The 8-bit codes `(N, K / block, block)` uint8, scales `(N * K / block,)` float32 and block size of
        `weight` `(N, K)` (`block_size(K)` must not be None)."""
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import save

        out_features, in_features = weight.shape
        block = block_size(in_features)
        shapes = {
            "codes": (out_features, in_features // block, block),
            "scales": (out_features * in_features // block,),
        }
        path = self._path(weight, block)
        if path is not None and path.is_file():
            try:
                with safe_open(str(path), "pt") as cached:
                    codes, scales = cached.get_tensor("codes"), cached.get_tensor("scales")
                if (codes.dtype, tuple(codes.shape), scales.dtype, tuple(scales.shape)) == (
                    torch.uint8, shapes["codes"], torch.float32, shapes["scales"]
                ):  # fmt: skip
                    return codes.numpy(), scales.numpy(), block
            except (OSError, SafetensorError):
                pass
            self._warn_once(f"ignored the unreadable rounded weights {path}; rounded again")
            path.unlink(missing_ok=True)
        codes, scales = _round(weight, block)
        if self.release_float32:
            release_file_pages([weight])
        if path is not None and self.writable:
            try:
                write_cache_file(path, save({"codes": torch.from_numpy(codes), "scales": torch.from_numpy(scales)}))
            except OSError as error:
                self.writable = False
                self._warn_once(f"could not cache rounded weights in {path.parent}: {error}")
        return codes, scales, block
