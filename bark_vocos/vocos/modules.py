"""The Vocos backbone's blocks, channels-last `(B, T, H)`: the bandwidth-conditioned layer norm and the ConvNeXt block.

As gemelo-ai/vocos's `modules.py` (`AdaLayerNorm`, `ConvNeXtBlock`), with the transformers port's weight names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..kernels import linear
from .configuration_vocos_encodec import VocosEncodecConfig

__all__ = ["VocosEncodecAdaptiveLayerNorm", "VocosEncodecConvNeXtBlock"]


class VocosEncodecAdaptiveLayerNorm(nn.Module):
    """Layer norm whose scale and shift are looked up by bandwidth id (the original `AdaLayerNorm`).

    Weights: `weight` and `bias` of shape `(num_bandwidths, hidden_size)`.
    """

    def __init__(self, config: VocosEncodecConfig):
        super().__init__()
        self.eps = config.layer_norm_eps
        self.weight = nn.Parameter(torch.ones(len(config.bandwidths), config.hidden_size))
        self.bias = nn.Parameter(torch.zeros(len(config.bandwidths), config.hidden_size))

    def forward(self, hidden_states: torch.Tensor, bandwidth_id: int) -> torch.Tensor:
        """(B, T, H) -> (B, T, H), normalized over H then scaled and shifted for `bandwidth_id`."""
        size = (hidden_states.shape[-1],)
        return F.layer_norm(hidden_states, size, self.weight[bandwidth_id], self.bias[bandwidth_id], self.eps)


class VocosEncodecConvNeXtBlock(nn.Module):
    """ConvNeXt block on channels-last activations: depthwise conv, adaptive norm, MLP, layer scale, residual."""

    def __init__(self, config: VocosEncodecConfig):
        super().__init__()
        hidden = config.hidden_size
        self.dwconv = nn.Conv1d(hidden, hidden, config.kernel_size, padding=config.padding, groups=hidden)
        self.norm = VocosEncodecAdaptiveLayerNorm(config)
        self.pwconv1 = nn.Linear(hidden, config.intermediate_size)
        self.pwconv2 = nn.Linear(config.intermediate_size, hidden)
        self.layer_scale_parameter = nn.Parameter(torch.full((hidden,), float(config.layer_scale_init_value)))

    def forward(self, hidden_states: torch.Tensor, bandwidth_id: int) -> torch.Tensor:
        """(B, T, H) contiguous -> (B, T, H) contiguous."""
        residual = hidden_states
        hidden_states = self.depthwise_conv(hidden_states)
        hidden_states = self.norm(hidden_states, bandwidth_id)
        hidden_states = linear(hidden_states, self.pwconv1, gelu=True, prepack=True)
        hidden_states = linear(hidden_states, self.pwconv2, prepack=True)
        return torch.addcmul(residual, hidden_states, self.layer_scale_parameter)

    def depthwise_conv(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """`self.dwconv` on channels-last (B, T, H) -> (B, T, H) contiguous, without copying to channels-first.

        Viewed as a `(B, H, 1, T)` image, channels-last `(B, T, H)` memory is exactly torch's `channels_last`
        format, which oneDNN's depthwise `conv2d` reads and writes directly, sparing the channels-first `conv1d`'s two
        transposed copies (measured: docs/design-notes.md). Same weights and sums; the output view is contiguous
        `(B, T, H)` again.
        """
        conv = self.dwconv
        image = hidden_states.transpose(1, 2).unsqueeze(2)  # (B, H, 1, T), channels_last strides
        weight = conv.weight.unsqueeze(2)  # (H, 1, 1, kernel_size)
        output = F.conv2d(image, weight, conv.bias, padding=(0, conv.padding[0]), groups=conv.groups)
        return output.squeeze(2).transpose(1, 2).contiguous()
