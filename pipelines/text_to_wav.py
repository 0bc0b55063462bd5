"""Deprecated path (one release): `pipelines.text_to_wav` is `pipelines.speech.text_to_wav` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
