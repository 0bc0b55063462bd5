"""Decoding codes that arrive in pieces (streaming, or long inputs in bounded memory), exactly as one pass would.

A Vocos output frame depends only on the codes within a fixed number of frames on each side: the input convolution
and every depthwise convolution of the ConvNeXt backbone reach `max(padding, kernel_size - 1 - padding)` frames, and
the inverse STFT overlaps each frame's samples with the windows of a few neighbouring frames. `vocos_context_frames`
computes that reach from the config (29 frames, about 0.39 s, for the published checkpoints). `IncrementalDecoder`
holds back the last `context` frames of what it has until the next codes give them their right context, and decodes
each new stretch together with `context` frames before it, so every sample it emits equals the one-pass decode up
to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .configuration_vocos_encodec import VocosEncodecConfig

__all__ = ["IncrementalDecoder", "vocos_context_frames"]


def vocos_context_frames(config: VocosEncodecConfig) -> int:
    """Frames on each side of a frame that its output samples depend on, for a "same"-padded Vocos.

    Raises:
        ValueError: `istft_padding="center"`, whose output is not `frames * hop_length` samples.
    """
    if config.istft_padding != "same":
        raise ValueError(f"incremental decoding needs istft_padding 'same', got {config.istft_padding!r}")
    conv_reach = max(config.padding, config.kernel_size - 1 - config.padding)
    backbone = conv_reach * (config.num_layers + 1)  # the input convolution and one depthwise one per block
    pad = (config.n_fft - config.hop_length) // 2
    istft_left = math.ceil((config.n_fft - pad) / config.hop_length) - 1
    istft_right = (config.hop_length - 1 + pad) // config.hop_length
    return backbone + max(istft_left, istft_right)


class IncrementalDecoder:
    """Decodes one sequence of codes given in pieces; the emitted samples concatenate to the one-pass decode.

    Args:
        decode: Codes `(K, T)` -> audio `(T * hop_length,)` (a float tensor), the one-pass decoder.
        hop_length: Samples per frame.
        left_context: Frames before a stretch that its decode needs; `None` decodes from the first frame every time
            (for decoders with unbounded memory, such as EnCodec's LSTM; cost grows with the sequence).
        right_context: Frames after a frame that its samples depend on: they are held back until that many frames
            follow, or until `final=True`.
    """

    def __init__(
        self,
        decode: Callable[[torch.Tensor], torch.Tensor],
        hop_length: int,
        left_context: int | None,
        right_context: int,
    ):
        self.decode = decode
        self.hop_length = hop_length
        self.left_context = left_context
        self.right_context = right_context
        self.codes: torch.Tensor | None = None  # the frames kept, from `self.first` on
        self.first = 0  # global index of self.codes[:, 0]
        self.emitted = 0  # frames whose samples have been returned
        self.finished = False

    @property
    def frames(self) -> int:
        """Frames pushed so far."""
        return self.first + (0 if self.codes is None else int(self.codes.shape[1]))

    def push(self, codes: torch.Tensor, final: bool = False) -> torch.Tensor:
        """Add the next frames `(K, n)` and return the samples that are now exact, `(m * hop_length,)`.

        Args:
            codes: The next frames of the sequence.
            final: No frames follow: return everything that is left.
        """
        if self.finished:
            raise ValueError("this decoder has finished: no frames can follow final=True")
        self.codes = codes if self.codes is None else torch.cat([self.codes, codes], dim=1)
        self.finished = final
        ready = self.frames if final else max(self.emitted, self.frames - self.right_context)
        if ready == self.emitted:
            return self.codes.new_zeros(0, dtype=torch.float32)
        start = 0 if self.left_context is None else max(self.first, self.emitted - self.left_context)
        audio = self.decode(self.codes[:, start - self.first :])
        hop = self.hop_length
        out = audio[(self.emitted - start) * hop : (ready - start) * hop]
        self.emitted = ready
        if self.left_context is not None:  # keep only what the next decode can need
            keep_from = max(self.first, self.emitted - self.left_context)
            self.codes = self.codes[:, keep_from - self.first :]
            self.first = keep_from
        return out
