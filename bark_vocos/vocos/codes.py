"""The one check, batching and codebook embedding of EnCodec codes, shared by the processor and the model."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..bandwidth import CODEBOOK_SIZE, bandwidth_for_num_codebooks

__all__ = ["MAX_CODEBOOKS", "check_codes", "embed_codes", "stack_codes"]

# Codebooks of EnCodec 24 kHz at its highest Vocos bandwidth (12 kbps).
MAX_CODEBOOKS = 16


def check_codes(codes, codebook_size: int = CODEBOOK_SIZE, max_codebooks: int = MAX_CODEBOOKS) -> torch.Tensor:
    """Validated EnCodec codes as an int64 `(K, B, T)` tensor.

    Args:
        codes: Integer tensor or array `(K, T)` or `(K, B, T)`, K in 2/4/8/16, values in `[0, codebook_size)`.
        codebook_size: Bins per codebook (1024 for EnCodec 24 kHz).
        max_codebooks: Codebooks the caller's table holds.

    Raises:
        TypeError: If `codes` is not an integer tensor or array.
        ValueError: On a wrong number of dimensions or codebooks, empty codes, or a code out of range.
    """
    if not isinstance(codes, torch.Tensor):
        try:
            codes = torch.as_tensor(codes)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"codes must be an integer tensor or array, got {type(codes).__name__}") from error
    if codes.dtype.is_floating_point or codes.dtype.is_complex or codes.dtype == torch.bool:
        raise TypeError(f"codes must hold integers, got dtype {codes.dtype}")
    if codes.dim() == 2:
        codes = codes.unsqueeze(1)
    if codes.dim() != 3:
        raise ValueError(f"codes must have shape (K, T) or (K, B, T), got {tuple(codes.shape)}")
    num_codebooks = codes.shape[0]
    bandwidth_for_num_codebooks(num_codebooks)  # a ValueError listing the valid numbers of codebooks
    if num_codebooks > max_codebooks:
        raise ValueError(f"codes have {num_codebooks} codebooks but the codebook table holds {max_codebooks}")
    if codes.shape[2] == 0 or codes.shape[1] == 0:
        raise ValueError(f"codes are empty: shape {tuple(codes.shape)}")
    low, high = int(codes.min()), int(codes.max())
    if low < 0 or high >= codebook_size:
        bad = low if low < 0 else high
        raise ValueError(f"code {bad} is outside the valid range [0, {codebook_size})")
    return codes.long()


def stack_codes(codes) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Codes as a checked int64 `(K, B, T)` tensor, plus frame lengths `(B,)` for a list of unequal `(K, T_i)`.

    Args:
        codes: `(K, T)`, `(K, B, T)`, or a list of `(K, T_i)` arrays with one K (padded with code 0).

    Returns:
        `(codes, lengths)`; `lengths` is None unless a list of items of different lengths was given.
    """
    if not isinstance(codes, (list, tuple)):
        return check_codes(codes), None
    items = [check_codes(item) for item in codes]
    if not items:
        raise ValueError("codes is an empty list")
    if any(item.shape[1] != 1 for item in items) or len({item.shape[0] for item in items}) != 1:
        shapes = [tuple(item.shape[::2]) for item in items]
        raise ValueError(f"a list of codes must hold (K, T_i) arrays with one K, got shapes {shapes}")
    lengths = torch.tensor([item.shape[2] for item in items])
    stacked = torch.zeros(items[0].shape[0], len(items), int(lengths.max()), dtype=torch.long)
    for index, item in enumerate(items):
        stacked[:, index, : item.shape[2]] = item[:, 0]
    return stacked, (None if bool((lengths == lengths.max()).all()) else lengths)


def embed_codes(codes: torch.Tensor, table: torch.Tensor, codebook_size: int = CODEBOOK_SIZE) -> torch.Tensor:
    """Sums the codebook embeddings of checked codes, as the original Vocos `EncodecFeatures` does.

    Args:
        codes: Int64 `(K, B, T)` from `check_codes`.
        table: Stacked codebooks `(num_codebooks * codebook_size, codebook_dim)`; codebook k occupies rows
            `[k * codebook_size, (k + 1) * codebook_size)`.
        codebook_size: Bins per codebook.

    Returns:
        Features `(B, codebook_dim, T)` in the table's dtype, on the table's device.
    """
    codes = codes.to(table.device)
    num_codebooks, batch, num_frames = codes.shape
    offsets = torch.arange(0, codebook_size * num_codebooks, codebook_size, device=table.device)
    if table.dtype != torch.float32:
        return F.embedding(codes + offsets.view(-1, 1, 1), table).sum(dim=0).transpose(1, 2)
    # One bag of K rows per frame, summed in codebook order as `.sum(dim=0)` above sums them, without gathering the
    # (K, B, T, C) rows first (faster on the CPU); the same float32 features in the parity tests.
    bags = (codes.permute(1, 2, 0) + offsets).reshape(batch * num_frames, num_codebooks)
    return F.embedding_bag(bags, table, mode="sum").view(batch, num_frames, -1).transpose(1, 2)
