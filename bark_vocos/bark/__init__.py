"""Bark's three generation stages: the stage interface and its engines (`stages`: transformers' own sub-models, our
faster `exact` and `fast` stages in `fast`), and the one orchestration that chains semantic -> coarse -> fine."""

from .fast import FAST_BARK_MODES, FastBarkStages
from .orchestration import (
    BarkGenerationConfigs,
    BarkTokens,
    coarse_codes,
    coarse_frames_for_semantic,
    generate_bark_tokens,
    split_generation_kwargs,
)
from .stages import ENGINES, BarkStages, bark_stages, check_engine

__all__ = [
    "ENGINES",
    "FAST_BARK_MODES",
    "BarkGenerationConfigs",
    "BarkStages",
    "BarkTokens",
    "FastBarkStages",
    "bark_stages",
    "check_engine",
    "coarse_codes",
    "coarse_frames_for_semantic",
    "generate_bark_tokens",
    "split_generation_kwargs",
]
