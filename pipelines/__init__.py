"""What users call: text-to-wav, long-form text, the EnCodec-vs-Vocos comparison, and the command line.

Names are imported on first use (PEP 562), so the command line parses its arguments before torch loads.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["AudioChunk", "TextToWavOutput", "TextToWavPipeline", "keep_freed_memory"]

# public name -> the submodule that defines it
_SOURCES = {
    "AudioChunk": ".text_to_wav",
    "TextToWavOutput": ".text_to_wav",
    "TextToWavPipeline": ".text_to_wav",
    "keep_freed_memory": ".memory",
}


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
