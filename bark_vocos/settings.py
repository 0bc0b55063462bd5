"""The engine's settings: the `BARK_VOCOS_*` variables that pin measured choices, declared and checked in one place,
read from the environment once, overridable for a block (tests, the bench) and forwarded to worker processes.

Every variable, its field and its valid values (unset: the choice is measured; see `bark_vocos.choices`):

- `BARK_VOCOS_KERNEL` (`kernel`): the float32 linear kernel, `onednn`, `aten` or `onednn_aten_gelu`;
- `BARK_VOCOS_INT8_KERNEL` (`int8_kernel`): the int8 linear kernel, `fbgemm` or `onednn`;
- `BARK_VOCOS_DECODE_ENGINE` (`decode_engine`): the decode step's implementation, `torch` or `onnxruntime`;
- `BARK_VOCOS_ATTENTION` (`attention`): the fast engine's attention, `float32`, `bfloat16` or `float32_heads`;
- `BARK_VOCOS_EXACT_ATTENTION` (`exact_attention`): the exact engine's attention, `float32` or `float32_heads`;
- `BARK_VOCOS_DRAFT_TOKENS` (`draft_tokens`): the exact engine's draft tokens per round, `0` (off) to `16`;
- `BARK_VOCOS_TUNING_RECORD` (`tuning_record`): not a pin but where the machine's measured choices are kept
  (`bark_vocos.tuning`): a file path, or `off` to neither read nor write one (unset: the user's cache folder).

A pin applies wherever its value is a candidate (`onednn_aten_gelu` only where a GELU follows; `float32_heads` only
where attention is unmasked and non-causal, float32 SDPA elsewhere); where a kernel pinned is not offered at all
(e.g. a torch without fbgemm) the choice raises a `ValueError` naming the candidates there. One pin has a second
effect: `decode_engine="torch"` also turns speculative decoding off (its drafts and verification are ONNX Runtime
steps).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["MAX_DRAFT_TOKENS", "PATH", "VARIABLES", "Settings", "override", "reload", "settings"]

MAX_DRAFT_TOKENS = 16
PATH = "path"  # the valid values of a variable that names a file
# field -> (its environment variable, the valid values of a name pin; None for the draft count, PATH for a file)
VARIABLES: dict[str, tuple[str, tuple[str, ...] | str | None]] = {
    "kernel": ("BARK_VOCOS_KERNEL", ("onednn", "aten", "onednn_aten_gelu")),
    "int8_kernel": ("BARK_VOCOS_INT8_KERNEL", ("fbgemm", "onednn")),
    "decode_engine": ("BARK_VOCOS_DECODE_ENGINE", ("torch", "onnxruntime")),
    "attention": ("BARK_VOCOS_ATTENTION", ("float32", "bfloat16", "float32_heads")),
    "exact_attention": ("BARK_VOCOS_EXACT_ATTENTION", ("float32", "float32_heads")),
    "draft_tokens": ("BARK_VOCOS_DRAFT_TOKENS", None),
    "tuning_record": ("BARK_VOCOS_TUNING_RECORD", PATH),
}


@dataclass(frozen=True)
class Settings:
    """The engine's pins (see the module docstring); None: measured.

    Raises:
        ValueError: a value that is not valid for its variable; the message names the variable and the valid values.
    """

    kernel: str | None = None
    int8_kernel: str | None = None
    decode_engine: str | None = None
    attention: str | None = None
    exact_attention: str | None = None
    draft_tokens: int | None = None
    tuning_record: str | None = None

    def __post_init__(self) -> None:
        for field, (variable, valid) in VARIABLES.items():
            value = getattr(self, field)
            if value is None:
                continue
            if valid == PATH:
                if not isinstance(value, str) or not value:
                    raise ValueError(f"{variable}={value!r} is not a file path (or 'off')")
            elif valid is None:
                if type(value) is not int or not 0 <= value <= MAX_DRAFT_TOKENS:
                    raise ValueError(
                        f"{variable}={value!r} is not a count of draft tokens from 0 to {MAX_DRAFT_TOKENS}"
                    )
            elif value not in valid:
                raise ValueError(f"{variable}={value!r} is not a kernel here; valid: {sorted(valid)}")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the variables of `environ` (default: `os.environ`) set; an empty variable is unset.

        Raises:
            ValueError: a variable's value is not valid (named, with the valid values).
        """
        environ = os.environ if environ is None else environ
        values: dict[str, str | int] = {}
        for field, (variable, valid) in VARIABLES.items():
            text = environ.get(variable, "")
            if not text:
                continue
            if valid is None:
                if not text.isdigit():
                    raise ValueError(f"{variable}={text!r} is not a count of draft tokens from 0 to {MAX_DRAFT_TOKENS}")
                values[field] = int(text)
            else:
                values[field] = text
        return cls(**values)

    def environ(self) -> dict[str, str]:
        """The variables that give these settings to another process (a Ray worker): those pinned, as text."""
        return {VARIABLES[field][0]: str(value) for field, value in self._pinned().items()}

    def _pinned(self) -> dict[str, str | int]:
        return {field: getattr(self, field) for field in VARIABLES if getattr(self, field) is not None}

    def pin(self, variable: str) -> str | None:
        """The candidate name pinned by `variable` (e.g. `"BARK_VOCOS_KERNEL"`), or None.

        Raises:
            KeyError: `variable` is not one of the name pins.
        """
        fields = {name: field for field, (name, valid) in VARIABLES.items() if isinstance(valid, tuple)}
        return getattr(self, fields[variable])


_current: Settings | None = None


def settings() -> Settings:
    """The settings in force: read from the environment on the first call (and by `reload`), or an `override`.

    Raises:
        ValueError: a variable's value is not valid (named, with the valid values).
    """
    global _current
    if _current is None:
        _current = Settings.from_environ()
    return _current


def reload() -> Settings:
    """Read the environment again (a process whose variables changed after the first `settings()` call).

    Raises:
        ValueError: a variable's value is not valid; the settings in force are then unchanged.
    """
    global _current
    _current = Settings.from_environ()
    return _current


@contextmanager
def override(**changes: str | int | None) -> Iterator[Settings]:
    """Inside the block, the settings in force with `changes` (fields of `Settings`; None unpins); restored after.

    Raises:
        TypeError: an unknown field.
        ValueError: a value that is not valid.
    """
    global _current
    before = settings()
    _current = dataclasses.replace(before, **changes)
    try:
        yield _current
    finally:
        _current = before
