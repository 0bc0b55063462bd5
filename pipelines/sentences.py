"""Deprecated path (one release): `pipelines.sentences` is `pipelines.speech.sentences` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
