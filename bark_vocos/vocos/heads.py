"""The Vocos head: backbone features `(B, T, H)` -> a complex spectrum -> inverse STFT -> audio `(B, T * hop)`.

As gemelo-ai/vocos's `heads.py` (`ISTFTHead`, "same" padding), with the transformers port's weight names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..kernels import linear
from .configuration_vocos_encodec import VocosEncodecConfig

__all__ = ["VocosEncodecISTFTHead"]


class VocosEncodecISTFTHead(nn.Module):
    """Linear projection to log-magnitude and phase, then an inverse STFT (always in float32).

    Weights: `out` (hidden_size -> n_fft + 2) and the persistent Hann `window` of shape `(n_fft,)`.
    """

    def __init__(self, config: VocosEncodecConfig):
        super().__init__()
        self.n_fft = config.n_fft
        self.hop_length = config.hop_length
        self.padding = config.istft_padding
        self.out = nn.Linear(config.hidden_size, config.n_fft + 2)
        self.register_buffer("window", torch.hann_window(config.n_fft))
        self._envelope_cache: tuple[int, torch.device, torch.Tensor] | None = None

    def spectrum(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> complex64 spectrum (B, T, n_fft // 2 + 1), magnitude `exp` clipped at 100 as the original."""
        projected = linear(hidden_states, self.out, prepack=True).float()
        if projected.requires_grad:
            log_magnitude, phase = projected.chunk(2, dim=-1)
            magnitude = torch.exp(log_magnitude).clamp(max=1e2)
            return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        # Without autograd: on contiguous halves, in place, and into `projected`'s own memory. torch's exp, cos and sin
        # run slower on the strided halves of `projected` than on contiguous ones, by more than the one copy that makes
        # them contiguous costs; and each fresh buffer of this size costs page faults on its first write.
        batch, num_frames, size = projected.shape
        # A copy even where the permuted view is already contiguous (one frame): the spectrum is written over
        # `projected` below, while `halves` is still read.
        halves = (
            projected.view(batch, num_frames, 2, size // 2)
            .permute(2, 0, 1, 3)
            .clone(memory_format=torch.contiguous_format)
        )
        magnitude = halves[0].exp_().clamp_(max=1e2)
        phase = halves[1]
        # The original's `magnitude * (cos(phase) + 1j * sin(phase))`, with torch's vectorized cos and sin as it has:
        # `torch.polar` computes the same products with scalar cos/sin, which is slower (docs/design-notes.md).
        real = torch.cos(phase).mul_(magnitude)
        imaginary = phase.sin_().mul_(magnitude)
        # (B, T, n_fft + 2) float32 is (B, T, n_fft // 2 + 1) complex64 in the same bytes; `projected` is spent.
        spectrum = torch.view_as_complex(projected.view(batch, num_frames, size // 2, 2))
        return torch.complex(real, imaginary, out=spectrum)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> float32 audio (B, T * hop_length) for "same" padding."""
        spectrum = self.spectrum(hidden_states)
        window = self.window.float()
        if self.padding == "center":
            return torch.istft(spectrum.transpose(1, 2), self.n_fft, self.hop_length, self.n_fft, window, center=True)
        frames = torch.fft.irfft(spectrum, n=self.n_fft, dim=-1).mul_(window)  # (B, T, n_fft)
        num_frames = frames.shape[1]
        pad = (self.n_fft - self.hop_length) // 2
        audio = self._overlap_add(frames)[:, pad : pad + num_frames * self.hop_length]
        return audio * self._inverse_envelope(num_frames, window)

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, n_fft) windowed frames -> (B, (T - 1) * hop_length + n_fft) summed at hop_length strides."""
        batch, num_frames, n_fft = frames.shape
        hop = self.hop_length
        if n_fft % hop == 0:
            # Each frame spans n_fft // hop whole hops: the overlap-add is that many shifted slice additions,
            # much cheaper than `F.fold` (what the original uses) on the same contiguous memory.
            ratio = n_fft // hop
            blocks = frames.view(batch, num_frames, ratio, hop)
            output = frames.new_zeros(batch, num_frames + ratio - 1, hop)
            for index in range(ratio):
                output[:, index : index + num_frames] += blocks[:, :, index]
            return output.view(batch, -1)
        length = (num_frames - 1) * hop + n_fft
        folded = F.fold(frames.transpose(1, 2), output_size=(1, length), kernel_size=(1, n_fft), stride=(1, hop))
        return folded.view(batch, length)

    def _inverse_envelope(self, num_frames: int, window: torch.Tensor) -> torch.Tensor:
        """1 / (overlap-added squared window) over the kept samples, (num_frames * hop_length,); cached per length."""
        cache = self._envelope_cache
        if cache is not None and cache[0] == num_frames and cache[1] == window.device:
            return cache[2]
        # Computed outside inference mode (from a fresh float32 copy of the window buffer): a tensor made under
        # `torch.inference_mode()` cannot take part in a later call with autograd on, and this one is cached.
        with torch.inference_mode(False), torch.no_grad():
            squared = self.window.float().clone().square().expand(1, num_frames, self.n_fft)
            pad = (self.n_fft - self.hop_length) // 2
            envelope = self._overlap_add(squared.contiguous())[0, pad : pad + num_frames * self.hop_length]
            if bool((envelope <= 1e-11).any()):
                raise ValueError(f"n_fft={self.n_fft} and hop_length={self.hop_length} leave samples with no window")
            inverse = envelope.reciprocal()
        self._envelope_cache = (num_frames, window.device, inverse)
        return inverse
