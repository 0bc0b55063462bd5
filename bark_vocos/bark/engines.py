"""The stage interface of Bark's generation and the registry of engines that implement it.

An engine is any object with three attributes, `semantic`, `coarse_acoustics` and `fine_acoustics`, each with the
`generate` method (signature and outputs) of transformers' `BarkSemanticModel`, `BarkCoarseModel` and
`BarkFineModel`. The one orchestration (`bark_vocos.bark.orchestration.generate_bark_tokens`) calls only these three
methods, so engines differ only in how a stage runs:

- `"transformers"`: the `BarkModel`'s own sub-models (the reference);
- `"exact"`: `OptimizedBarkStages` in exact mode (same codes as transformers, faster on CPU);
- `"fast"`: `OptimizedBarkStages` in fast mode (int8 linear layers on the CPU, an unpadded fine window; codes agree only
  approximately).

A faster stage (another kernel, precision or runtime) is a new object with the same `generate` method, dropped into
`BarkStages` or `OptimizedBarkStages`; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers import BarkModel

from .names import ENGINES
from .optimized import OptimizedBarkStages

__all__ = ["ENGINES", "BarkStages", "bark_stages", "check_engine"]


@dataclass
class BarkStages:
    """The three Bark stages, each an object with the `generate` method of its transformers sub-model.

    Attributes:
        semantic: Has `BarkSemanticModel.generate`'s signature (text ids `(B, L)` -> semantic tokens `(B, S)`).
        coarse_acoustics: Has `BarkCoarseModel.generate`'s signature (semantic -> interleaved coarse `(B, 2 * T)`).
        fine_acoustics: Has `BarkFineModel.generate`'s signature (coarse -> fine codes `(B, 8, T)`).
    """

    semantic: Any
    coarse_acoustics: Any
    fine_acoustics: Any

    @classmethod
    def from_bark(cls, bark: BarkModel) -> BarkStages:
        """The stages of a `transformers.BarkModel`: its own sub-models."""
        return cls(semantic=bark.semantic, coarse_acoustics=bark.coarse_acoustics, fine_acoustics=bark.fine_acoustics)


def check_engine(engine: str) -> str:
    """`engine` if it is one of `ENGINES`.

    Raises:
        ValueError: Another value; the message lists the valid engines.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    return engine


def bark_stages(bark: BarkModel, engine: str = "exact") -> BarkStages | OptimizedBarkStages:
    """The three Bark stages of `bark` run by `engine` (see the module docstring).

    Raises:
        ValueError: An unknown engine.
    """
    if check_engine(engine) == "transformers":
        return BarkStages.from_bark(bark)
    return OptimizedBarkStages(bark, mode=engine)
