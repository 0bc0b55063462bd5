"""Bark's three generation stages: the stage interface, its engines (transformers' own sub-models, our faster
`exact` and `fast` stages) and the one orchestration that chains semantic -> coarse -> fine."""

from .fast import FAST_BARK_MODES, FastBarkStages
from .orchestration import (
    BarkGenerationConfigs,
    BarkStages,
    BarkTokens,
    coarse_frames_for_semantic,
    generate_bark_tokens,
    split_generation_kwargs,
)

__all__ = [
    "FAST_BARK_MODES",
    "BarkGenerationConfigs",
    "BarkStages",
    "BarkTokens",
    "FastBarkStages",
    "coarse_frames_for_semantic",
    "generate_bark_tokens",
    "split_generation_kwargs",
]
