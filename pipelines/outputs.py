"""Deprecated path (one release): `pipelines.outputs` is `pipelines.speech.outputs` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
