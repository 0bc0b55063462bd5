"""HuBERT base features for the semantic quantizer: the output of the 9th transformer layer, 50 frames/s at 16 kHz.

The quantizers (`bark_vocos.hubert_quantizer`) were trained on fairseq's HuBERT base with `output_layer=9`, fed the raw
16 kHz waveform (no normalisation, as HuBERT base was pre-trained). transformers' `HubertModel` computes the same
network; its `hidden_states[9]` (with `output_hidden_states=True`) is that layer's output. `load_hubert` keeps only the
first 9 layers, so `last_hidden_state` is that output and the last 3 layers are not computed.
"""

from __future__ import annotations

import os

import torch
from transformers import HubertModel

from .hub import check_model_source, explain_unavailable

__all__ = [
    "HUBERT_LAYER",
    "HUBERT_SAMPLING_RATE",
    "hubert_features",
    "hubert_frames",
    "hubert_frames_min_samples",
    "load_hubert",
]

HUBERT_LAYER = 9  # the transformer layer whose output the quantizers read (fairseq's output_layer=9)
HUBERT_SAMPLING_RATE = 16_000


def load_hubert(name_or_path: str | os.PathLike, layer: int = HUBERT_LAYER) -> HubertModel:
    """Load a HuBERT model cut after its `layer`-th transformer layer, in eval mode.

    Args:
        name_or_path: Hub id (e.g. `facebook/hubert-base-ls960`) or a `save_pretrained` folder.
        layer: How many transformer layers to keep (1-based: 9 keeps layers 1 to 9).

    Raises:
        ModelNotAvailableError: A folder that is not a HuBERT checkpoint, or a hub id that cannot be had.
        ValueError: A model with fewer than `layer` layers, or a pre-norm (`do_stable_layer_norm`) HuBERT such as
            hubert-large, whose layer outputs are not what the quantizers were trained on.
    """
    check_model_source(name_or_path, "HuBERT model", "--hubert PATH", "hubert")
    with explain_unavailable(name_or_path, "HuBERT model", "--hubert PATH"):
        model = HubertModel.from_pretrained(os.fspath(name_or_path))
    config = model.config
    if config.do_stable_layer_norm:
        raise ValueError(
            f"HuBERT model {os.fspath(name_or_path)} is a pre-norm HuBERT (do_stable_layer_norm=True, as "
            "hubert-large): the quantizers read HuBERT base's post-norm layers; use facebook/hubert-base-ls960"
        )
    if not 1 <= layer <= config.num_hidden_layers:
        raise ValueError(
            f"HuBERT model {os.fspath(name_or_path)} has {config.num_hidden_layers} layers: layer {layer} is not "
            f"one of 1 to {config.num_hidden_layers}"
        )
    model.encoder.layers = model.encoder.layers[:layer]
    config.num_hidden_layers = layer
    return model.eval()


@torch.no_grad()
def hubert_features(model: HubertModel, audio: torch.Tensor) -> torch.Tensor:
    """The last kept layer's output (the 9th after `load_hubert`) for 16 kHz audio.

    Args:
        model: From `load_hubert`.
        audio: `(B, N)` float waveform at 16 kHz, unnormalised (samples in [-1, 1]).

    Returns:
        `(B, hubert_frames(N), hidden_size)` float32 features, 50 frames/s.
    """
    if audio.ndim != 2:
        raise ValueError(f"expected audio of shape (B, N), got {tuple(audio.shape)}")
    if audio.shape[1] < hubert_frames_min_samples(model):
        raise ValueError(f"{audio.shape[1]} samples is too short for one HuBERT frame")
    param = next(model.parameters())
    return model(audio.to(device=param.device, dtype=param.dtype)).last_hidden_state.float()


def hubert_frames(num_samples: int, model: HubertModel) -> int:
    """Number of feature frames HuBERT's convolutions make from `num_samples` samples (0 when too short)."""
    frames = int(num_samples)
    for kernel, stride in zip(model.config.conv_kernel, model.config.conv_stride, strict=True):
        frames = (frames - kernel) // stride + 1
        if frames <= 0:
            return 0
    return frames


def hubert_frames_min_samples(model: HubertModel) -> int:
    """The fewest samples that give one frame (400 for HuBERT base: 25 ms at 16 kHz)."""
    samples = 1
    for kernel, stride in reversed(list(zip(model.config.conv_kernel, model.config.conv_stride, strict=True))):
        samples = (samples - 1) * stride + kernel
    return samples
