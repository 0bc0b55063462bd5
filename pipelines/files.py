"""Deprecated path (one release): `pipelines.files` is `pipelines.io.files` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
