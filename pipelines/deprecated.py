"""Old module paths of `pipelines` (before its subpackages), kept for one release: each warns and is the new module.

`pipelines/audio_io.py` and the others hold only `sys.modules[__name__] = moved(__name__)`: importing the old path
gives the new module itself (the same objects, so patching either patches both), after a `DeprecationWarning` naming
the new path.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

__all__ = ["MOVED", "moved"]

# old module -> new module (the subpackages: speech = the pipeline and its parts, io = files and audio, benchmarks)
MOVED = {
    "pipelines.text_to_wav": "pipelines.speech.text_to_wav",
    "pipelines.long_form": "pipelines.speech.long_form",
    "pipelines.sentences": "pipelines.speech.sentences",
    "pipelines.outputs": "pipelines.speech.outputs",
    "pipelines.progress": "pipelines.speech.progress",
    "pipelines.voice_presets": "pipelines.speech.voice_presets",
    "pipelines.voice_cloning": "pipelines.speech.voice_cloning",
    "pipelines.voice_window": "pipelines.speech.voice_window",
    "pipelines.checks": "pipelines.speech.checks",
    "pipelines.devices": "pipelines.speech.devices",
    "pipelines.memory": "pipelines.speech.memory",
    "pipelines.audio_io": "pipelines.io.audio_io",
    "pipelines.files": "pipelines.io.files",
    "pipelines.npy_files": "pipelines.io.npy_files",
    "pipelines.wav_stream": "pipelines.io.wav_stream",
    "pipelines.machine": "pipelines.benchmarks.machine",
    "pipelines.roofline": "pipelines.benchmarks.roofline",
}


def moved(old: str) -> ModuleType:
    """The new module of the old path `old`, after a `DeprecationWarning` that names both."""
    new = MOVED[old]
    warnings.warn(f"bark-vocos: {old} is deprecated, import from {new}", DeprecationWarning, stacklevel=3)
    return importlib.import_module(new)
