"""Bark's three generation stages: the stage interface and its engines (`stages`: transformers' own sub-models, our
faster `exact` and `fast` stages in `fast`), and the one orchestration that chains semantic -> coarse -> fine.

Names are imported on first use (PEP 562): `ENGINES` and `FAST_BARK_MODES` (from `engines`) load neither torch nor
transformers, so the command line can offer them as choices before any model code loads.
"""

from __future__ import annotations

import importlib
from typing import Any

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

# public name -> the submodule that defines it
_SOURCES = {
    "ENGINES": ".engines",
    "FAST_BARK_MODES": ".engines",
    "FastBarkStages": ".fast",
    "BarkGenerationConfigs": ".orchestration",
    "BarkTokens": ".orchestration",
    "coarse_codes": ".orchestration",
    "coarse_frames_for_semantic": ".orchestration",
    "generate_bark_tokens": ".orchestration",
    "split_generation_kwargs": ".orchestration",
    "BarkStages": ".stages",
    "bark_stages": ".stages",
    "check_engine": ".stages",
}


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
