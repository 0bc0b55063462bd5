"""Deprecated path (one release): `pipelines.machine` is `pipelines.benchmarks.machine` now."""

import sys

from .deprecated import moved

sys.modules[__name__] = moved(__name__)
