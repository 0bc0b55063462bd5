"""Deprecated path (one release): `pipelines.voice_cloning` is `pipelines.speech.voice_cloning` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
