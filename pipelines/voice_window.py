"""Deprecated path (one release): `pipelines.voice_window` is `pipelines.speech.voice_window` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
