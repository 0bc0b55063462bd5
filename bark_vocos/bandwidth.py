"""The one place that maps EnCodec 24 kHz bandwidths (kbps) to numbers of codebooks, and back."""

from __future__ import annotations

__all__ = ["BANDWIDTHS", "CODEBOOK_SIZE", "bandwidth_for_num_codebooks", "num_codebooks_for_bandwidth"]

# EnCodec 24 kHz runs at 75 frames/s with 1024 bins (10 bits) per codebook: 750 bit/s per codebook.
BANDWIDTHS: tuple[float, ...] = (1.5, 3.0, 6.0, 12.0)
CODEBOOK_SIZE = 1024
_NUM_CODEBOOKS: dict[float, int] = {1.5: 2, 3.0: 4, 6.0: 8, 12.0: 16}


def num_codebooks_for_bandwidth(bandwidth: float) -> int:
    """Number of EnCodec codebooks used at `bandwidth` kbps (2, 4, 8 or 16).

    Raises:
        ValueError: If `bandwidth` is not one of `BANDWIDTHS`.
    """
    try:
        return _NUM_CODEBOOKS[float(bandwidth)]
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"bandwidth {bandwidth!r} kbps is not supported; valid bandwidths are {list(BANDWIDTHS)}"
        ) from None


def bandwidth_for_num_codebooks(n: int) -> float:
    """Bandwidth in kbps that uses `n` EnCodec codebooks (1.5, 3.0, 6.0 or 12.0).

    Raises:
        ValueError: If `n` is not 2, 4, 8 or 16.
    """
    for bandwidth, num_codebooks in _NUM_CODEBOOKS.items():
        if num_codebooks == n:
            return bandwidth
    raise ValueError(
        f"{n!r} codebooks match no bandwidth; valid numbers of codebooks are {list(_NUM_CODEBOOKS.values())} "
        f"(for {list(BANDWIDTHS)} kbps)"
    )
