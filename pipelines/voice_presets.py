"""Deprecated path (one release): `pipelines.voice_presets` is `pipelines.speech.voice_presets` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
