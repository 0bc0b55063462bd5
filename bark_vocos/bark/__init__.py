"""Bark's three generation stages: the stage interface and its engines (`engines`: transformers' own sub-models, our
optimized `exact` and `fast` stages in `optimized`), and the one orchestration chaining semantic -> coarse -> fine.

Names are imported on first use (PEP 562): `ENGINES` and `OPTIMIZED_MODES` (from `names`) load neither torch nor
transformers, so the command line can offer them as choices before any model code loads.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

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

# public name -> the submodule that defines it
_SOURCES = {
    "ENGINES": ".names",
    "OPTIMIZED_MODES": ".names",
    "OptimizedBarkStages": ".optimized",
    "BarkGenerationConfigs": ".orchestration",
    "BarkTokens": ".orchestration",
    "coarse_codes": ".orchestration",
    "coarse_frames_for_semantic": ".orchestration",
    "generate_bark_tokens": ".orchestration",
    "split_generation_kwargs": ".orchestration",
    "BarkStages": ".engines",
    "bark_stages": ".engines",
    "check_engine": ".engines",
}

# old name -> its new name: kept for one release, with a DeprecationWarning
_DEPRECATED = {
    "FastBarkStages": "OptimizedBarkStages",
    "FAST_BARK_MODES": "OPTIMIZED_MODES",
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        new = _DEPRECATED[name]
        warnings.warn(f"bark-vocos: bark_vocos.bark.{name} is deprecated, use {new}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_SOURCES[new], __name__), new)
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
