"""Tiny random HuBERT, quantizer and EnCodec checkpoints for voice-cloning tests: RANDOM WEIGHTS, no real voice.

Each is written in its real on-disk format, so the real loaders run: HuBERT with `HubertModel.save_pretrained`, the
quantizer as gitmylo's published files are (a `torch.save`d state dict in a zip with a `<name>/.info` member, or an
old-style file without it), EnCodec with `EncodecModel.save_pretrained`. A preset made with them is valid input for
Bark but no one's voice.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import HubertConfig, HubertModel

from .hubert_quantizer import HubertQuantizer, HubertQuantizerConfig, save_hubert_quantizer
from .tiny import RANDOM_WEIGHTS_MARKER, tiny_encodec

__all__ = ["save_tiny_encodec", "save_tiny_hubert", "save_tiny_quantizer", "tiny_hubert_config"]

_NOTE = "RANDOM weights written by bark_vocos.tiny_voice for tests: a voice made with them is no one's voice.\n"


def tiny_hubert_config() -> HubertConfig:
    """HuBERT base's convolutions (stride 320: 50 frames/s at 16 kHz) with 8 channels; 10 layers of width 32.

    Ten layers, one more than the 9 the quantizer reads, so that cutting the model after layer 9 is tested.
    """
    return HubertConfig(
        hidden_size=32,
        num_hidden_layers=10,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(8,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )


def save_tiny_hubert(path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write a random `HubertModel` (`tiny_hubert_config`) with `save_pretrained`; returns the folder."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / RANDOM_WEIGHTS_MARKER).write_text(_NOTE, encoding="utf-8")
    torch.manual_seed(seed)
    HubertModel(tiny_hubert_config()).eval().save_pretrained(path)
    return path


def save_tiny_quantizer(
    path: str | os.PathLike,
    *,
    seed: int = 0,
    input_size: int = 32,
    hidden_size: int = 16,
    output_size: int = 64,
    version: int = 1,
    info: bool = True,
) -> Path:
    """Write a random quantizer file as the published ones are (see `save_hubert_quantizer`); returns its path.

    The defaults fit `tiny_hubert_config` (32 features) and the tiny Bark's 64 semantic tokens. `info=False` writes
    an old-style file, which needs version 0's real sizes (768, 1024, 10_000).
    """
    torch.manual_seed(seed)
    config = HubertQuantizerConfig(input_size, hidden_size, output_size, version)
    model = HubertQuantizer(config)
    with torch.no_grad():  # larger weights than PyTorch's init, so that the argmax varies from frame to frame
        for parameter in model.parameters():
            parameter.mul_(4.0)
    return save_hubert_quantizer(model, path, info=info)


def save_tiny_encodec(path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write `bark_vocos.tiny.tiny_encodec` (24 kHz, 75 frames/s, 1024-bin codebooks) with `save_pretrained`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / RANDOM_WEIGHTS_MARKER).write_text(_NOTE, encoding="utf-8")
    tiny_encodec(seed).save_pretrained(path)
    return path
