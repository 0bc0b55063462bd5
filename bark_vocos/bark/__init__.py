"""Bark's three generation stages: the stage interface and its engines (`engines`: transformers' own sub-models, our
optimized `exact` and `fast` stages in `optimized`), and the one orchestration chaining semantic -> coarse -> fine."""

from __future__ import annotations

import warnings
from typing import Any

from .engines import ENGINES, BarkStages, bark_stages, check_engine
from .optimized import OPTIMIZED_MODES, OptimizedBarkStages
from .orchestration import (
    BarkGenerationConfigs,
    BarkTokens,
    coarse_codes,
    coarse_frames_for_semantic,
    generate_bark_tokens,
    split_generation_kwargs,
)

__all__ = [
    "ENGINES",
    "OPTIMIZED_MODES",
    "BarkGenerationConfigs",
    "BarkStages",
    "BarkTokens",
    "OptimizedBarkStages",
    "bark_stages",
    "check_engine",
    "coarse_codes",
    "coarse_frames_for_semantic",
    "generate_bark_tokens",
    "split_generation_kwargs",
]

# old name -> (new name, its value): kept for one release, with a DeprecationWarning
_DEPRECATED = {
    "FastBarkStages": ("OptimizedBarkStages", OptimizedBarkStages),
    "FAST_BARK_MODES": ("OPTIMIZED_MODES", OPTIMIZED_MODES),
}


def __getattr__(name: str) -> Any:
    if name not in _DEPRECATED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    new, value = _DEPRECATED[name]
    warnings.warn(f"bark-vocos: bark_vocos.bark.{name} is deprecated, use {new}", DeprecationWarning, stacklevel=2)
    return value
