"""Deprecated path (one release): `pipelines.roofline` is `pipelines.benchmarks.roofline` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
