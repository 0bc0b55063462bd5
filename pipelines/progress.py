"""Deprecated path (one release): `pipelines.progress` is `pipelines.speech.progress` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
