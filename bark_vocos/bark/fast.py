"""Deprecated: `bark_vocos.bark.fast` is now `bark_vocos.bark.optimized` and the modules it names (this module goes
in the next release)."""

import warnings

from .optimized import CHOICE_VARIABLES, OptimizedBarkStages
from .optimized import OPTIMIZED_MODES as FAST_BARK_MODES
from .optimized import OptimizedBarkStages as FastBarkStages

__all__ = ["CHOICE_VARIABLES", "FAST_BARK_MODES", "FastBarkStages", "OptimizedBarkStages"]

warnings.warn(
    "bark-vocos: bark_vocos.bark.fast is deprecated, import OptimizedBarkStages and OPTIMIZED_MODES from "
    "bark_vocos.bark (FastBarkStages and FAST_BARK_MODES are their old names)",
    DeprecationWarning,
    stacklevel=2,
)
