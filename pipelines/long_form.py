"""Deprecated path (one release): `pipelines.long_form` is `pipelines.speech.long_form` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
