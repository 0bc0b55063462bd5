"""Deprecated path (one release): `pipelines.memory` is `pipelines.speech.memory` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
