"""Deprecated: `bark_vocos.bark.stages` is now `bark_vocos.bark.engines` (this module goes in the next release)."""

import warnings

from .engines import ENGINES, BarkStages, bark_stages, check_engine

__all__ = ["ENGINES", "BarkStages", "bark_stages", "check_engine"]

warnings.warn(
    "bark-vocos: bark_vocos.bark.stages is deprecated, import from bark_vocos.bark.engines (or bark_vocos.bark)",
    DeprecationWarning,
    stacklevel=2,
)
