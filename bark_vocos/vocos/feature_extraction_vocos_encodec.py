"""Input checks and padding of raw 24 kHz audio for the VocosEncodec processor (no spectral features)."""

from __future__ import annotations

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor

__all__ = ["VocosFeatureExtractor"]


class VocosFeatureExtractor(SequenceFeatureExtractor):
    """Checks mono audio and pads a batch to a common length, a multiple of `hop_length`, with an attention mask.

    Padding to whole hops makes the mask line up with the vocoder's output, which has `frames * hop_length`
    samples. The EnCodec features themselves are computed by `VocosEncodecProcessor`.

    Args:
        feature_size (`int`, defaults to 1): Channels of the audio (mono).
        sampling_rate (`int`, defaults to 24000): The only sampling rate accepted, in Hz.
        padding_value (`float`, defaults to 0.0): Value of the padded samples.
        hop_length (`int`, defaults to 320): Samples per EnCodec frame; padded lengths are multiples of it.
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = 24000,
        padding_value: float = 0.0,
        hop_length: int = 320,
        **kwargs,
    ):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.hop_length = hop_length
        self.return_attention_mask = True

    def __call__(self, raw_audio, sampling_rate: int | None = None, return_tensors: str = "pt") -> BatchFeature:
        """Checks and pads audio.

        Args:
            raw_audio: One waveform `(T,)` or a batch `(B, T)` (numpy or torch), or a list of waveforms `(T_i,)`.
            sampling_rate: Sampling rate of `raw_audio` in Hz; must equal `self.sampling_rate` when given.
            return_tensors: Only "pt".

        Returns:
            `BatchFeature` with `input_values` float32 `(B, L)` and `attention_mask` int64 `(B, L)`, `L` the longest
            item rounded up to a multiple of `hop_length`.

        Raises:
            ValueError: On a different sampling rate, empty audio, NaN/inf samples or more than two dimensions.
            TypeError: On non-numeric audio.
        """
        if return_tensors != "pt":
            raise ValueError(f"return_tensors={return_tensors!r} is not supported; the only valid value is 'pt'")
        if sampling_rate is not None and int(sampling_rate) != self.sampling_rate:
            raise ValueError(
                f"audio at {sampling_rate} Hz: this vocoder takes {self.sampling_rate} Hz audio; resample it first "
                f"(e.g. pipelines.audio_io.read_audio(path, sampling_rate={self.sampling_rate}))"
            )
        items = _as_list_of_waveforms(raw_audio)
        longest = max(len(item) for item in items)
        length = -(-longest // self.hop_length) * self.hop_length
        values = torch.full((len(items), length), float(self.padding_value), dtype=torch.float32)
        mask = torch.zeros((len(items), length), dtype=torch.long)
        for index, item in enumerate(items):
            values[index, : len(item)] = item
            mask[index, : len(item)] = 1
        return BatchFeature({"input_values": values, "attention_mask": mask})


def _as_list_of_waveforms(raw_audio) -> list[torch.Tensor]:
    """Float32 1-D tensors, checked for emptiness and finiteness."""
    if isinstance(raw_audio, (list, tuple)) and raw_audio and not np.isscalar(raw_audio[0]):
        items = list(raw_audio)
    else:
        batch = _as_tensor(raw_audio)
        if batch.dim() not in (1, 2):
            raise ValueError(f"audio must have shape (T,) or (B, T) (mono), got {tuple(batch.shape)}")
        items = [batch] if batch.dim() == 1 else list(batch)
    if not items:
        raise ValueError("audio is empty: got an empty batch")
    waveforms = []
    for index, item in enumerate(items):
        waveform = _as_tensor(item)
        if waveform.dim() != 1:
            raise ValueError(f"audio item {index} must be a mono waveform (T,), got shape {tuple(waveform.shape)}")
        if waveform.numel() == 0:
            raise ValueError(f"audio item {index} is empty (0 samples)")
        if not bool(torch.isfinite(waveform).all()):
            raise ValueError(f"audio item {index} contains NaN or infinite samples")
        waveforms.append(waveform)
    return waveforms


def _as_tensor(audio) -> torch.Tensor:
    try:
        tensor = torch.as_tensor(np.asarray(audio) if not isinstance(audio, torch.Tensor) else audio)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"audio must be a numeric array or tensor, got {type(audio).__name__}") from error
    if not tensor.dtype.is_floating_point:
        raise TypeError(f"audio must hold floating-point samples in [-1, 1], got dtype {tensor.dtype}")
    return tensor.detach().to(device="cpu", dtype=torch.float32)
