"""The comparison by resynthesis: real speech encoded by EnCodec, the same codes decoded by EnCodec and by Vocos, both
scored against the input."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io.audio_io import read_audio
from .scoring import ANALYSIS_SAMPLING_RATE, DEFAULT_MAX_LAG_MS, REFERENCE, Comparison, metric_names, score_item

__all__ = ["compare_resynthesis", "decode_both"]


def decode_both(codes: Any, codec_model: Any, vocoder: Any, bandwidth: float) -> dict[str, np.ndarray]:
    """Decode the same EnCodec codes with the EnCodec decoder and with Vocos.

    Args:
        codes: torch.LongTensor of shape `(K, frames)`.
        codec_model: A transformers `EncodecModel` (24 kHz).
        vocoder: A `bark_vocos.VocosEncodecModel`.
        bandwidth: In kbps; must match `K` (1.5/3/6/12 kbps use 2/4/8/16 codebooks).

    Returns:
        `{"encodec": audio, "vocos": audio}`, float32 arrays of shape `(frames * 320,)`.
    """
    import torch

    from bark_vocos.bandwidth import num_codebooks_for_bandwidth

    expected = num_codebooks_for_bandwidth(bandwidth)
    if codes.ndim != 2 or codes.shape[0] != expected:
        raise ValueError(f"expected codes of shape ({expected}, frames) for {bandwidth} kbps, got {tuple(codes.shape)}")
    with torch.inference_mode():
        encodec_audio = codec_model.decode(codes[None, None], [None]).audio_values  # (1, 1, frames * 320)
        vocos_audio = vocoder(codes=codes, bandwidth=bandwidth).audio  # (1, frames * 320)
    return {
        "encodec": encodec_audio.reshape(-1).float().numpy(),
        "vocos": vocos_audio.reshape(-1).float().numpy(),
    }


def compare_resynthesis(
    audio_paths: Sequence[str | os.PathLike],
    codec_model: Any,
    vocoder: Any,
    bandwidth: float,
    max_lag_ms: float = DEFAULT_MAX_LAG_MS,
) -> Comparison:
    """Encode real speech with EnCodec, decode the same codes both ways, and score both against the input.

    Args:
        audio_paths: Speech files (any format and rate soundfile reads); resampled to 24 kHz.
        codec_model: A transformers `EncodecModel` (24 kHz) used to encode and as the "encodec" decoder.
        vocoder: A `bark_vocos.VocosEncodecModel`, the "vocos" decoder.
        bandwidth: 1.5, 3, 6 or 12 kbps.
        max_lag_ms: Lag search range (see `metrics.align`).

    Returns:
        A `Comparison` with mode `"resynthesis"`, candidates `["encodec", "vocos"]`, one item per file.
    """
    import torch

    from bark_vocos.bandwidth import num_codebooks_for_bandwidth

    num_codebooks_for_bandwidth(bandwidth)  # raises ValueError listing the valid bandwidths
    if not audio_paths:
        raise ValueError("give at least one audio file to resynthesise")
    items = []
    for path in audio_paths:
        speech, _ = read_audio(path, ANALYSIS_SAMPLING_RATE)
        with torch.inference_mode():
            encoded = codec_model.encode(torch.from_numpy(speech)[None, None], bandwidth=float(bandwidth))
        codes = encoded.audio_codes[0, 0]  # (chunks=1, batch=1, K, frames) -> (K, frames)
        decoded = {
            name: audio[: speech.size] for name, audio in decode_both(codes, codec_model, vocoder, bandwidth).items()
        }
        item = score_item(Path(path).stem, decoded, ANALYSIS_SAMPLING_RATE, reference=speech, max_lag_ms=max_lag_ms)
        item.sources = {REFERENCE: str(path)}
        item.codes = codes.numpy()
        items.append(item)
    return Comparison(
        mode="resynthesis",
        sampling_rate=ANALYSIS_SAMPLING_RATE,
        candidates=["encodec", "vocos"],
        metrics=metric_names(True),
        items=items,
        settings={"bandwidth_kbps": float(bandwidth), "max_lag_ms": max_lag_ms},
    )
