"""What users call: text-to-wav, long-form text, the EnCodec-vs-Vocos comparison, and the command line.

Names are imported on first use (PEP 562), so the command line parses its arguments before torch loads.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AudioChunk",
    "ClonedVoice",
    "TextToWavOutput",
    "TextToWavPipeline",
    "VoiceCloner",
    "keep_freed_memory",
    "save_voice_preset",
    "voice_from_audio",
]

# public name -> the submodule that defines it
_SOURCES = {
    "AudioChunk": ".speech.text_to_wav",
    "TextToWavOutput": ".speech.text_to_wav",
    "TextToWavPipeline": ".speech.text_to_wav",
    "keep_freed_memory": ".speech.memory",
    "ClonedVoice": ".speech.voice_cloning",
    "VoiceCloner": ".speech.voice_cloning",
    "voice_from_audio": ".speech.voice_cloning",
    "save_voice_preset": ".speech.voice_presets",
}


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
