"""Input checks and padding of raw 24 kHz mono audio for the VocosEncodec processor (no spectral features)."""

from __future__ import annotations

import logging

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor

__all__ = ["VocosFeatureExtractor"]

logger = logging.getLogger(__name__)


class VocosFeatureExtractor(SequenceFeatureExtractor):
    """Checks mono audio and pads a batch to a common length, a multiple of the EnCodec frame, with a sample mask.

    Padding to whole frames makes the mask line up with the vocoder's output, which has `frames * 320` samples.
    The EnCodec features themselves are computed by `VocosEncodecProcessor`, which passes EnCodec's frame length
    (`pad_to_multiple_of`): the transformers port saves its *mel* `VocosFeatureExtractor` here (`hop_length` 256,
    `n_fft` 1024, `num_mel_bins` 100, ...), whose values are kept as saved but play no part in EnCodec's frames.

    Args:
        feature_size (`int`, defaults to 1): Channels of the audio (mono).
        sampling_rate (`int`, defaults to 24000): The only sampling rate accepted, in Hz.
        padding_value (`float`, defaults to 0.0): Value of the padded samples.
        hop_length (`int`, defaults to 320): Default padding multiple when called on its own (EnCodec's frame).
        **kwargs: Other saved values (e.g. the port's mel settings), kept as attributes and saved back.
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
        kwargs["return_attention_mask"] = True
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.hop_length = hop_length

    def __call__(
        self,
        raw_audio,
        sampling_rate: int | None = None,
        padding: bool | str = True,
        pad_to_multiple_of: int | None = None,
        return_tensors: str = "pt",
    ) -> BatchFeature:
        """Checks and pads audio.

        Args:
            raw_audio: One waveform `(T,)` or a batch `(B, T)` (numpy or torch), or a list of waveforms `(T_i,)`.
                Multi-channel audio is refused: downmix it first (e.g. `audio.mean(axis=1)` for `(T, 2)`).
            sampling_rate: Sampling rate of `raw_audio` in Hz; must equal `self.sampling_rate`. Without it the
                audio is taken to be at `self.sampling_rate`, with a logged warning (as transformers' audio
                feature extractors do).
            padding: `True` / `"longest"` (pad to the longest item) or `False` / `"do_not_pad"` (items must have
                one length). Either way every item is padded to whole frames.
            pad_to_multiple_of: Frame length in samples (default `self.hop_length`).
            return_tensors: Only "pt".

        Returns:
            `BatchFeature` with `input_values` float32 `(B, L)` and `attention_mask` int64 `(B, L)`, `L` the longest
            item rounded up to a multiple of `pad_to_multiple_of`.

        Raises:
            ValueError: On a different sampling rate, empty audio, NaN/inf samples, multi-channel audio, more than
                two dimensions, an unknown `padding`, or unequal lengths with `padding=False`.
            TypeError: On non-numeric audio.
        """
        if return_tensors != "pt":
            raise ValueError(f"return_tensors={return_tensors!r} is not supported; the only valid value is 'pt'")
        if padding not in _PADDING_VALUES:
            raise ValueError(f"padding={padding!r} is not supported; valid values are {list(_PADDING_VALUES)}")
        if sampling_rate is None:
            logger.warning(
                "No sampling_rate was given to %s: taking the audio to be at %d Hz. Pass sampling_rate to be sure "
                "(audio at another rate would be decoded at the wrong pitch and speed).",
                type(self).__name__,
                self.sampling_rate,
            )
        elif int(sampling_rate) != self.sampling_rate:
            raise ValueError(
                f"audio at {sampling_rate} Hz: this vocoder takes {self.sampling_rate} Hz audio; resample it first "
                f"(e.g. pipelines.io.audio_io.read_audio(path, sampling_rate={self.sampling_rate}))"
            )
        multiple = int(pad_to_multiple_of or self.hop_length)
        items = _as_list_of_waveforms(raw_audio)
        longest = max(len(item) for item in items)
        if padding in (False, "do_not_pad") and any(len(item) != longest for item in items):
            lengths = [len(item) for item in items]
            raise ValueError(f"audio items of different lengths {lengths} need padding=True (or 'longest')")
        length = -(-longest // multiple) * multiple
        values = torch.full((len(items), length), float(self.padding_value), dtype=torch.float32)
        mask = torch.zeros((len(items), length), dtype=torch.long)
        for index, item in enumerate(items):
            values[index, : len(item)] = item
            mask[index, : len(item)] = 1
        return BatchFeature({"input_values": values, "attention_mask": mask})


_PADDING_VALUES = (True, "longest", False, "do_not_pad")


def _as_list_of_waveforms(raw_audio) -> list[torch.Tensor]:
    """Float32 1-D tensors, checked for emptiness and finiteness."""
    if isinstance(raw_audio, (list, tuple)) and raw_audio and not np.isscalar(raw_audio[0]):
        items = list(raw_audio)
    else:
        batch = _as_tensor(raw_audio)
        if batch.dim() not in (1, 2):
            raise ValueError(f"audio must have shape (T,) or (B, T) (mono), got {tuple(batch.shape)}")
        if batch.dim() == 2 and batch.shape[1] <= 2 < batch.shape[0]:
            raise ValueError(
                f"audio of shape {tuple(batch.shape)} looks like {batch.shape[1]}-channel audio with channels last; "
                "this vocoder takes mono: downmix it first (e.g. audio.mean(axis=1)); a batch is (B, T) or a list"
            )
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
