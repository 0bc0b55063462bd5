"""Deprecated path (one release): `pipelines.checks` is `pipelines.speech.checks` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
