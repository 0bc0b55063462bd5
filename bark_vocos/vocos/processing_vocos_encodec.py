"""Processor of VocosEncodec: audio (through EnCodec) or EnCodec codes -> the vocoder's `input_features`."""

from __future__ import annotations

import logging

import torch
from transformers import BatchFeature, EncodecModel, ProcessorMixin

from ..bandwidth import BANDWIDTHS, bandwidth_for_num_codebooks, num_codebooks_for_bandwidth
from ..hub import explain_unavailable
from .codes import check_codes, embed_codes, stack_codes
from .feature_extraction_vocos_encodec import VocosFeatureExtractor

__all__ = ["VocosEncodecProcessor"]

logger = logging.getLogger(__name__)


class VocosEncodecProcessor(ProcessorMixin):
    """Prepares `VocosEncodecModel` inputs from audio or from EnCodec codes.

    - `processor(audio=..., bandwidth=6.0)`: pads the batch to whole EnCodec frames (`VocosFeatureExtractor`),
      encodes it with the EnCodec audio tokenizer at that bandwidth and embeds the codes with EnCodec's codebooks.
    - `processor(codes=..., bandwidth=None)`: embeds codes `(K, T)`, `(K, B, T)` or a list of `(K, T_i)`.

    Saved as the transformers processor format: `processor_config.json` holds the feature extractor and a
    reference `audio_tokenizer: {audio_tokenizer_class: "EncodecModel", audio_tokenizer_name_or_path: ...}` that
    `from_pretrained` loads.

    Args:
        feature_extractor: Checks and pads audio.
        audio_tokenizer: The EnCodec 24 kHz model (`transformers.EncodecModel`); needed for both paths.
    """

    def __init__(self, feature_extractor: VocosFeatureExtractor, audio_tokenizer: EncodecModel | None = None):
        # transformers 5.24 accepts only DAC-like classes as `audio_tokenizer` in ProcessorMixin.__init__, so the
        # EnCodec model is attached here; saving and loading still use ProcessorMixin's reference format.
        super().__init__(feature_extractor=feature_extractor)
        if audio_tokenizer is not None and not isinstance(audio_tokenizer, EncodecModel):
            raise TypeError(
                f"audio_tokenizer must be a transformers EncodecModel, got {type(audio_tokenizer).__name__}"
            )
        self.audio_tokenizer = audio_tokenizer

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> VocosEncodecProcessor:
        """Loads the feature extractor and the referenced EnCodec model (hub id or local folder)."""
        with explain_unavailable(pretrained_model_name_or_path, "Vocos processor", "a local folder"):
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    def to_dict(self) -> dict:
        output = super().to_dict()
        if self.audio_tokenizer is None:
            output.pop("audio_tokenizer", None)
        return output

    @property
    def frame_length(self) -> int:
        """Samples per EnCodec frame (320 at 24 kHz), from the audio tokenizer's config, never the feature extractor's.

        The transformers port saves its mel feature extractor (hop 256) in the processor folder; EnCodec's frames
        are the tokenizer's hop whatever that file says.
        """
        if self.audio_tokenizer is None:
            raise ValueError("this processor has no audio tokenizer (EnCodec model) to embed audio or codes with")
        return int(self.audio_tokenizer.config.hop_length)

    def __call__(
        self,
        audio=None,
        codes=None,
        bandwidth: float | None = None,
        return_tensors: str = "pt",
        device: str | torch.device | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Computes `input_features`, `bandwidth` and `attention_mask`; the transformers port's call signature.

        Args:
            audio: Waveform `(T,)`, batch `(B, T)` or list of waveforms, float in [-1, 1], mono, at 24 kHz.
            codes: EnCodec codes `(K, T)` or `(K, B, T)`, or a list of `(K, T_i)` arrays of one K.
            bandwidth: kbps, one of 1.5, 3, 6, 12. Required with audio (or `bandwidth_id`); inferred from K with
                codes, where it must agree with K (2/4/8/16 codebooks).
            return_tensors: Only "pt".
            device: Where EnCodec runs and the features are put (default: the audio tokenizer's device).
            **kwargs: `sampling_rate` (of `audio`; anything but 24000 is refused; a warning when missing),
                `padding` (`True`/"longest" or `False`/"do_not_pad"), `bandwidth_id` (index into
                [1.5, 3.0, 6.0, 12.0], an alternative to `bandwidth`), `return_attention_mask` (always True). Other
                names are ignored with a warning naming them, as transformers' processors do.

        Returns:
            `BatchFeature` with `input_features` `(B, codebook_dim, T)`, `bandwidth` (float) and `attention_mask`
            `(B, T * 320)` in output samples, 1 for each item's own samples: trim item `i` of the model's audio with
            `audio[i][attention_mask[i].bool()]`.

        Raises:
            ValueError: On both or neither of audio/codes, an unknown bandwidth, codebooks that do not match it,
                codes outside [0, 1024), a wrong shape, stereo, empty or non-finite audio, or a wrong sampling rate.
        """
        sampling_rate = kwargs.pop("sampling_rate", None)
        padding = kwargs.pop("padding", True)
        bandwidth_id = kwargs.pop("bandwidth_id", None)
        if kwargs.pop("return_attention_mask", True) is False:
            logger.warning("return_attention_mask=False is ignored: the attention_mask is always returned")
        if kwargs:
            logger.warning("VocosEncodecProcessor ignores the keyword arguments %s", ", ".join(sorted(kwargs)))
        if return_tensors != "pt":
            raise ValueError(f"return_tensors={return_tensors!r} is not supported; the only valid value is 'pt'")
        if (audio is None) == (codes is None):
            raise ValueError("pass exactly one of audio or codes")
        bandwidth = _bandwidth_from_id(bandwidth, bandwidth_id)
        hop = self.frame_length
        tokenizer = self.audio_tokenizer
        device = torch.device(device) if device is not None else tokenizer.device
        if audio is not None:
            if bandwidth is None:
                raise ValueError(f"audio needs a bandwidth: one of {list(BANDWIDTHS)} kbps")
            num_codebooks_for_bandwidth(bandwidth)
            padded = self.feature_extractor(audio, sampling_rate=sampling_rate, padding=padding, pad_to_multiple_of=hop)
            codes = self.encode(padded["input_values"].to(device), bandwidth)
            attention_mask = padded["attention_mask"]
        else:
            codes, lengths = stack_codes(codes)
            num_codebooks = codes.shape[0]
            if bandwidth is None:
                bandwidth = bandwidth_for_num_codebooks(num_codebooks)
            elif num_codebooks != num_codebooks_for_bandwidth(bandwidth):
                raise ValueError(
                    f"codes have {num_codebooks} codebooks but bandwidth {bandwidth} kbps uses "
                    f"{num_codebooks_for_bandwidth(bandwidth)}; pass the bandwidth that produced the codes or none"
                )
            if lengths is None:
                lengths = torch.full((codes.shape[1],), codes.shape[2])
            positions = torch.arange(codes.shape[2] * hop)
            attention_mask = (positions[None, :] < lengths[:, None] * hop).long()
        features = self.embed_codes(codes.to(device))
        data = {"input_features": features, "bandwidth": float(bandwidth), "attention_mask": attention_mask.to(device)}
        return BatchFeature(data)

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, bandwidth: float) -> torch.Tensor:
        """Padded audio (B, L) -> EnCodec codes (K, B, L / 320) at `bandwidth`, as `EncodecModel.encode` has them."""
        tokenizer = self.audio_tokenizer
        embeddings = tokenizer.encoder(audio[:, None, :].to(tokenizer.device, tokenizer.dtype))
        return tokenizer.quantizer.encode(embeddings, bandwidth=float(bandwidth))

    @torch.no_grad()
    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (K, B, T) -> summed EnCodec codebook embeddings (B, codebook_dim, T), float32."""
        layers = self.audio_tokenizer.quantizer.layers
        codebook_size = int(self.audio_tokenizer.config.codebook_size)
        codes = check_codes(codes, codebook_size, len(layers))
        table = torch.cat([layer.codebook.embed for layer in layers[: codes.shape[0]]]).float().to(codes.device)
        return embed_codes(codes, table, codebook_size)


def _bandwidth_from_id(bandwidth: float | None, bandwidth_id) -> float | None:
    """`bandwidth`, or the bandwidth `bandwidth_id` indexes in `BANDWIDTHS` (the model card passes an id)."""
    if bandwidth_id is None:
        return bandwidth
    index = int(bandwidth_id.reshape(-1)[0]) if isinstance(bandwidth_id, torch.Tensor) else bandwidth_id
    if isinstance(bandwidth_id, torch.Tensor) and bandwidth_id.numel() != 1:
        raise ValueError(f"bandwidth_id must hold one index, got shape {tuple(bandwidth_id.shape)}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(BANDWIDTHS):
        raise ValueError(f"bandwidth_id {bandwidth_id!r} is not valid; valid ids are 0..{len(BANDWIDTHS) - 1}")
    if bandwidth is not None and float(bandwidth) != BANDWIDTHS[index]:
        raise ValueError(f"bandwidth {bandwidth} and bandwidth_id {index} ({BANDWIDTHS[index]} kbps) disagree")
    return BANDWIDTHS[index]
