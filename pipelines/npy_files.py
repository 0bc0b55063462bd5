"""Deprecated path (one release): `pipelines.npy_files` is `pipelines.io.npy_files` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
