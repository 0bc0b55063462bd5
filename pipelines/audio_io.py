"""Deprecated path (one release): `pipelines.audio_io` is `pipelines.io.audio_io` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
