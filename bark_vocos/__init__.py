"""bark-vocos model layer: the bundled VocosEncodec vocoder (config, processor, model) and Bark glue.

Names are imported on first use (PEP 562), so `bark_vocos.errors`, the bandwidth table and the command line's
argument parsing load neither torch nor transformers. Touching any vocoder name registers VocosEncodec with
transformers' Auto classes.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BANDWIDTHS",
    "BarkVocosError",
    "ModelNotAvailableError",
    "VocosEncodecConfig",
    "VocosEncodecModel",
    "VocosEncodecOutput",
    "VocosEncodecProcessor",
    "VocosFeatureExtractor",
    "bandwidth_for_num_codebooks",
    "num_codebooks_for_bandwidth",
]

# public name -> the submodule that defines it
_LIGHT_SOURCES = {
    "BarkVocosError": ".errors",
    "ModelNotAvailableError": ".errors",
    "BANDWIDTHS": ".bandwidth",
    "bandwidth_for_num_codebooks": ".bandwidth",
    "num_codebooks_for_bandwidth": ".bandwidth",
}
_SOURCES = _LIGHT_SOURCES | {name: ".vocos" for name in __all__ if name not in _LIGHT_SOURCES}


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
