"""The names of Bark's stage engines and fast modes: plain constants, importable without torch or transformers."""

from __future__ import annotations

__all__ = ["ENGINES", "FAST_BARK_MODES"]

# how Bark's stages run: transformers' own sub-models, our exact stages, our int8 stages (see `stages.bark_stages`)
ENGINES = ("transformers", "exact", "fast")
# the modes of `fast.FastBarkStages`
FAST_BARK_MODES = ("exact", "fast")
