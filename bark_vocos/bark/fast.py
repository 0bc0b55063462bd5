"""Deprecated: `bark_vocos.bark.fast` is now `bark_vocos.bark.optimized` and the modules it names (this module goes
in the next release). Its public names stay importable from here until then."""

import warnings

from .attention import ATTENTION_DTYPES, ATTENTION_KERNELS, EXACT_ATTENTION_KERNELS, HEADS_KERNEL
from .decoder import DECODE_ENGINES, DECODE_INT8_KERNELS, DECODE_KERNELS
from .optimized import CHOICE_VARIABLES, OptimizedBarkStages
from .optimized import OPTIMIZED_MODES as FAST_BARK_MODES
from .optimized import OptimizedBarkStages as FastBarkStages
from .speculative import DRAFT_CHOICES, DRAFT_TOKENS_VARIABLE, EXPLORE_ROUNDS

__all__ = [
    "ATTENTION_DTYPES",
    "ATTENTION_KERNELS",
    "CHOICE_VARIABLES",
    "DECODE_ENGINES",
    "DECODE_INT8_KERNELS",
    "DECODE_KERNELS",
    "DRAFT_CHOICES",
    "DRAFT_TOKENS_VARIABLE",
    "EXACT_ATTENTION_KERNELS",
    "EXPLORE_ROUNDS",
    "FAST_BARK_MODES",
    "HEADS_KERNEL",
    "FastBarkStages",
    "OptimizedBarkStages",
]

warnings.warn(
    "bark-vocos: bark_vocos.bark.fast is deprecated, import OptimizedBarkStages and OPTIMIZED_MODES from "
    "bark_vocos.bark (FastBarkStages and FAST_BARK_MODES are their old names), the choices from bark_vocos.choices",
    DeprecationWarning,
    stacklevel=2,
)
