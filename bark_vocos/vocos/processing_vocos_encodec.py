"""Processor of VocosEncodec: audio (through EnCodec) or EnCodec codes -> the vocoder's `input_features`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import BatchFeature, EncodecModel, ProcessorMixin

from ..hub import explain_unavailable
from .bandwidth import BANDWIDTHS, CODEBOOK_SIZE, bandwidth_for_num_codebooks, num_codebooks_for_bandwidth
from .feature_extraction_vocos_encodec import VocosFeatureExtractor

__all__ = ["VocosEncodecProcessor"]


class VocosEncodecProcessor(ProcessorMixin):
    """Prepares `VocosEncodecModel` inputs from audio or from EnCodec codes.

    - `processor(audio=..., bandwidth=6.0)`: pads the batch (`VocosFeatureExtractor`), encodes it with the EnCodec
      audio tokenizer at that bandwidth and embeds the codes with EnCodec's codebooks.
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

    def __call__(
        self,
        audio=None,
        codes=None,
        bandwidth: float | None = None,
        sampling_rate: int | None = None,
        return_tensors: str = "pt",
        device: str | torch.device | None = None,
    ) -> BatchFeature:
        """Computes `input_features` (plus `bandwidth` and, for padded batches, `attention_mask`).

        Args:
            audio: Waveform `(T,)`, batch `(B, T)` or list of waveforms, float in [-1, 1] at 24 kHz.
            codes: EnCodec codes `(K, T)` or `(K, B, T)`, or a list of `(K, T_i)` arrays of one K.
            bandwidth: kbps, one of 1.5, 3, 6, 12. Required with audio; inferred from K with codes.
            sampling_rate: Sampling rate of `audio`; anything but 24000 is refused with that rate named.
            return_tensors: Only "pt".
            device: Where EnCodec runs and the features are put (default: the audio tokenizer's device).

        Returns:
            `BatchFeature` with `input_features` `(B, codebook_dim, T)`, `bandwidth` (float) and `attention_mask`
            `(B, T * 320)` in output samples when the items have different lengths (None otherwise).

        Raises:
            ValueError: On both or neither of audio/codes, an unknown bandwidth, codebooks that do not match it,
                codes outside [0, 1024), a wrong shape, empty or non-finite audio, or a wrong sampling rate.
        """
        if return_tensors != "pt":
            raise ValueError(f"return_tensors={return_tensors!r} is not supported; the only valid value is 'pt'")
        if (audio is None) == (codes is None):
            raise ValueError("pass exactly one of audio or codes")
        if self.audio_tokenizer is None:
            raise ValueError("this processor has no audio tokenizer (EnCodec model) to embed audio or codes with")
        tokenizer = self.audio_tokenizer
        device = torch.device(device) if device is not None else tokenizer.device
        attention_mask = None
        if audio is not None:
            if bandwidth is None:
                raise ValueError(f"audio needs a bandwidth: one of {list(BANDWIDTHS)} kbps")
            num_codebooks_for_bandwidth(bandwidth)
            padded = self.feature_extractor(audio, sampling_rate=sampling_rate)
            codes = self.encode(padded["input_values"].to(device), bandwidth)
            if bool((padded["attention_mask"] == 0).any()):
                attention_mask = padded["attention_mask"]
        else:
            codes, lengths = _stack_codes(codes)
            num_codebooks = codes.shape[0]
            if bandwidth is None:
                bandwidth = bandwidth_for_num_codebooks(num_codebooks)
            elif num_codebooks != num_codebooks_for_bandwidth(bandwidth):
                raise ValueError(
                    f"codes have {num_codebooks} codebooks but bandwidth {bandwidth} kbps uses "
                    f"{num_codebooks_for_bandwidth(bandwidth)}; pass the bandwidth that produced the codes or none"
                )
            if lengths is not None:
                hop = self.feature_extractor.hop_length
                positions = torch.arange(codes.shape[2] * hop)
                attention_mask = (positions[None, :] < lengths[:, None] * hop).long()
        features = self.embed_codes(codes.to(device))
        data = {"input_features": features, "bandwidth": float(bandwidth)}
        if attention_mask is not None:
            data["attention_mask"] = attention_mask.to(device)
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
        if codes.shape[0] > len(layers):
            raise ValueError(f"codes have {codes.shape[0]} codebooks; the audio tokenizer has {len(layers)}")
        table = torch.cat([layer.codebook.embed for layer in layers[: codes.shape[0]]]).float().to(codes.device)
        offsets = torch.arange(0, CODEBOOK_SIZE * codes.shape[0], CODEBOOK_SIZE, device=codes.device).view(-1, 1, 1)
        return F.embedding(codes + offsets, table).sum(dim=0).transpose(1, 2)


def _stack_codes(codes) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Codes as a checked int64 (K, B, T) tensor, plus per-item frame lengths when a list of (K, T_i) was given."""
    from .modeling_vocos_encodec import _check_codes

    lengths = None
    if isinstance(codes, (list, tuple)):
        items = [_check_codes(item, CODEBOOK_SIZE, 16) for item in codes]
        if not items:
            raise ValueError("codes is an empty list")
        if any(item.shape[1] != 1 for item in items) or len({item.shape[0] for item in items}) != 1:
            shapes = [tuple(item.shape) for item in items]
            raise ValueError(f"a list of codes must hold (K, T_i) arrays with one K, got shapes {shapes}")
        lengths = torch.tensor([item.shape[2] for item in items])
        codes = torch.zeros(items[0].shape[0], len(items), int(lengths.max()), dtype=torch.long)
        for index, item in enumerate(items):
            codes[:, index, : item.shape[2]] = item[:, 0]
        if bool((lengths == lengths.max()).all()):
            lengths = None
    return _check_codes(codes, CODEBOOK_SIZE, 16), lengths
