"""Configuration of the VocosEncodec vocoder (the `vocos_encodec` model type)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from ..bandwidth import BANDWIDTHS, CODEBOOK_SIZE, num_codebooks_for_bandwidth

__all__ = ["VocosEncodecConfig"]


@strict
class VocosEncodecConfig(PreTrainedConfig):
    r"""Architecture of a VocosEncodec vocoder: EnCodec codebook features -> ConvNeXt backbone -> ISTFT head.

    The defaults are those of `charactr/vocos-encodec-24khz` / `hf-audio/vocos-encodec-24khz`.

    Args:
        codebook_dim (`int`, defaults to 128): Dimension of an EnCodec codebook entry (the input features' channels).
        num_quantizers (`int`, defaults to 16384): Number of rows of the stacked codebook table
            `codebook_weights` of shape `(num_quantizers, codebook_dim)`: 1024 bins for each of the 16 codebooks
            of the highest bandwidth.
        hidden_size (`int`, defaults to 384): Hidden dimension of the ConvNeXt backbone.
        intermediate_size (`int`, defaults to 1152): Inner dimension of each ConvNeXt block's feed-forward part.
        num_layers (`int`, defaults to 8): Number of ConvNeXt blocks.
        kernel_size (`int`, defaults to 7): Kernel size of the input and depthwise convolutions.
        padding (`int`, defaults to 3): Padding of the input and depthwise convolutions.
        layer_scale_init_value (`float`, defaults to 0.125): Initial value of each block's layer scale.
        layer_norm_eps (`float`, defaults to 1e-6): Epsilon of every layer norm.
        n_fft (`int`, defaults to 1280): FFT size (and window length) of the ISTFT head.
        hop_length (`int`, defaults to 320): Hop between ISTFT frames: output samples per feature frame.
        istft_padding (`str`, defaults to `"same"`): `"same"` (exactly `frames * hop_length` samples) or `"center"`.
        sample_rate (`int`, defaults to 24000): Sampling rate of the audio in Hz.
        hidden_act (`str`, defaults to `"gelu"`): Activation of the ConvNeXt blocks (`"gelu"`, exact erf form).
        bandwidths (`list[float]`, defaults to `[1.5, 3.0, 6.0, 12.0]`): EnCodec bandwidths in kbps the adaptive
            layer norms are conditioned on; `bandwidth_id` indexes this list.
    """

    model_type = "vocos_encodec"

    codebook_dim: int = 128
    num_quantizers: int = 16384
    hidden_size: int = 384
    intermediate_size: int = 1152
    num_layers: int = 8
    kernel_size: int = 7
    padding: int = 3
    layer_scale_init_value: float = 0.125
    layer_norm_eps: float = 1e-6
    n_fft: int = 1280
    hop_length: int = 320
    istft_padding: str = "same"
    sample_rate: int = 24000
    hidden_act: str = "gelu"
    bandwidths: list[float] | tuple[float, ...] = (1.5, 3.0, 6.0, 12.0)

    def __post_init__(self, **kwargs):
        self.bandwidths = [float(bandwidth) for bandwidth in self.bandwidths]
        super().__post_init__(**kwargs)
        self._check_values()

    def _check_values(self):
        """Raises `ValueError` naming any value the model cannot work with."""
        if not self.bandwidths or any(bandwidth not in BANDWIDTHS for bandwidth in self.bandwidths):
            raise ValueError(f"bandwidths {self.bandwidths} must be a non-empty subset of {list(BANDWIDTHS)}")
        if self.num_quantizers != self.codebook_size * self.max_codebooks:
            raise ValueError(
                f"num_quantizers={self.num_quantizers} must be {CODEBOOK_SIZE} bins x {self.max_codebooks} "
                f"codebooks (for {max(self.bandwidths)} kbps) = {CODEBOOK_SIZE * self.max_codebooks}"
            )
        if self.istft_padding not in ("same", "center"):
            raise ValueError(
                f"istft_padding {self.istft_padding!r} is not supported; valid values are 'same', 'center'"
            )
        if self.hidden_act != "gelu":
            raise ValueError(f"hidden_act {self.hidden_act!r} is not supported; the only valid value is 'gelu'")
        if self.hop_length <= 0 or self.n_fft < self.hop_length:
            raise ValueError(f"need 0 < hop_length <= n_fft, got hop_length={self.hop_length}, n_fft={self.n_fft}")

    @property
    def codebook_size(self) -> int:
        """Bins per EnCodec codebook (1024): codes must lie in `[0, codebook_size)`."""
        return CODEBOOK_SIZE

    @property
    def max_codebooks(self) -> int:
        """Number of codebooks stacked in the codebook table (16 for 12 kbps)."""
        return num_codebooks_for_bandwidth(max(self.bandwidths))
