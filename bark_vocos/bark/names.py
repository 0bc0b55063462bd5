"""The names of Bark's stage engines and optimized modes: plain constants, importable without torch or transformers."""

from __future__ import annotations

__all__ = ["ENGINES", "OPTIMIZED_MODES"]

# how Bark's stages run: transformers' own sub-models, our exact stages, our int8 stages (see `engines.bark_stages`)
ENGINES = ("transformers", "exact", "fast")
# the modes of `optimized.OptimizedBarkStages`
OPTIMIZED_MODES = ("exact", "fast")
