"""Deprecated path (one release): `pipelines.wav_stream` is `pipelines.io.wav_stream` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
