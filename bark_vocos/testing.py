"""Every test and benchmark fixture of bark-vocos under one name: RANDOM WEIGHTS, never speech.

Defined here: random Bark and Vocos models in memory, in the real models' shapes (bark-small's, the 24 kHz
Vocos-EnCodec's) or tiny ones, built under a fixed seed with nothing read from disk. Gathered here from the writers of
tiny checkpoints in the real on-disk layouts: `make_tiny`, `save_tiny_bark`, `save_tiny_tokenizer`
(`bark_vocos.tiny_bark`), `save_tiny_vocos` (`bark_vocos.tiny`), `save_tiny_encodec`, `save_tiny_hubert`,
`save_tiny_quantizer` (`bark_vocos.tiny_voice`).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import (
    BarkCoarseConfig,
    BarkConfig,
    BarkFineConfig,
    BarkModel,
    BarkSemanticConfig,
    EncodecConfig,
    GenerationConfig,
)
from transformers.models.bark.generation_configuration_bark import BarkGenerationConfig

from .tiny import (
    AUDIO_TOKENIZER_FOLDER,
    PORT_FEATURE_EXTRACTOR,
    RANDOM_WEIGHTS_MARKER,
    TINY_LAYOUTS,
    is_random_checkpoint,
    save_tiny_vocos,
    tiny_encodec,
    tiny_vocos_config,
)
from .tiny_bark import TINY_VOICE_PRESETS, make_tiny, save_tiny_bark, save_tiny_tokenizer
from .tiny_voice import save_tiny_encodec, save_tiny_hubert, save_tiny_quantizer, tiny_hubert_config
from .vocos.configuration_vocos_encodec import VocosEncodecConfig
from .vocos.modeling_vocos_encodec import VocosEncodecModel

__all__ = [
    "AUDIO_TOKENIZER_FOLDER",
    "BARK_SMALL",
    "PORT_FEATURE_EXTRACTOR",
    "QUICK",
    "RANDOM_WEIGHTS_MARKER",
    "SMALL_WINDOWS",
    "TINY_LAYOUTS",
    "TINY_VOICE_PRESETS",
    "is_random_checkpoint",
    "make_tiny",
    "random_bark_model",
    "random_vocoder",
    "save_tiny_bark",
    "save_tiny_encodec",
    "save_tiny_hubert",
    "save_tiny_quantizer",
    "save_tiny_tokenizer",
    "save_tiny_vocos",
    "tiny_encodec",
    "tiny_hubert_config",
    "tiny_vocos_config",
]

# suno/bark-small: three 12-layer, 12-head, 768-wide transformers (vocabularies from Bark's model_args)
BARK_SMALL = {"hidden_size": 768, "num_layers": 12, "num_heads": 12}
QUICK = {"hidden_size": 32, "num_layers": 2, "num_heads": 2}
# shorter windows than Bark's (same code paths: sliding coarse windows, several fine windows) for smoke runs
SMALL_WINDOWS = {
    "semantic_config": {"max_input_semantic_length": 64},
    "coarse_acoustics_config": {"max_coarse_input_length": 32, "max_coarse_history": 60, "sliding_window_len": 10},
    "fine_acoustics_config": {"max_fine_input_length": 64, "max_fine_history_length": 32},
}


def random_bark_model(
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    seed: int = 0,
    initializer_range: float = 0.02,
    generation: dict[str, dict[str, Any]] | None = None,
) -> BarkModel:
    """A `BarkModel` with Bark's vocabularies and block size, the given transformer size and random weights.

    Args:
        hidden_size, num_layers, num_heads: size of each of the three transformers (bark-small: 768, 12, 12).
        seed: torch seed for the weights.
        initializer_range: std of the random weights.
        generation: per-stage overrides of Bark's default generation config (e.g. `SMALL_WINDOWS`).
    Returns:
        The model in eval mode (codec: default 24 kHz EnCodec shape, shrunk for hidden sizes below 128).
    """
    torch.manual_seed(seed)
    common = {
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "block_size": 1024,
        "bias": False,
        "initializer_range": initializer_range,
    }
    codec = EncodecConfig() if hidden_size >= 128 else EncodecConfig(hidden_size=16, num_filters=4, codebook_dim=16)
    config = BarkConfig(
        semantic_config=BarkSemanticConfig(input_vocab_size=129_600, output_vocab_size=10_048, **common).to_dict(),
        coarse_acoustics_config=BarkCoarseConfig(input_vocab_size=12_096, output_vocab_size=12_096, **common).to_dict(),
        fine_acoustics_config=BarkFineConfig(
            input_vocab_size=1056, output_vocab_size=1056, n_codes_total=8, n_codes_given=1, **common
        ).to_dict(),
        codec_config=codec.to_dict(),
    )
    model = BarkModel(config).eval()
    # as stored in a checkpoint's generation_config.json: the stage configs are plain dicts
    model.generation_config = GenerationConfig.from_dict(BarkGenerationConfig(**(generation or {})).to_dict())
    return model


def random_vocoder(quick: bool, seed: int) -> VocosEncodecModel:
    """A VocosEncodec with random weights (full size: the hf-audio/vocos-encodec-24khz shape) and a random codebook
    table, so that different codes decode to different audio."""
    torch.manual_seed(seed)
    sizes = {"hidden_size": 32, "intermediate_size": 48, "num_layers": 1} if quick else {}
    vocoder = VocosEncodecModel(VocosEncodecConfig(**sizes)).eval()
    with torch.no_grad():
        vocoder.codebook_weights.normal_(generator=torch.Generator().manual_seed(seed))
    return vocoder
