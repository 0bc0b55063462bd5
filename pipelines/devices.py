"""Deprecated path (one release): `pipelines.devices` is `pipelines.speech.devices` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
