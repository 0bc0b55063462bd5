"""Bark voice presets: resolve a name, a local `.npz` file or a dict; save a generation as a reusable `.npz` preset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .files import atomic_output

__all__ = ["PRESET_KEYS", "resolve_voice_preset", "save_voice_preset"]

# key -> number of dimensions, as in BarkProcessor.preset_shape
PRESET_KEYS = {"semantic_prompt": 1, "coarse_prompt": 2, "fine_prompt": 2}


def _validated(preset: dict, where: str) -> dict[str, np.ndarray]:
    missing = [key for key in PRESET_KEYS if key not in preset]
    if missing:
        raise ValueError(f"voice preset {where} lacks {missing}: a preset needs {list(PRESET_KEYS)}")
    arrays = {}
    for key, ndim in PRESET_KEYS.items():
        array = np.asarray(preset[key])
        if array.ndim != ndim or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"voice preset {where}: '{key}' must be a {ndim}-D integer array, got {array.dtype} {array.shape}"
            )
        arrays[key] = array.astype(np.int64)
    return arrays


def resolve_voice_preset(preset, available: list[str]) -> str | dict[str, np.ndarray] | None:
    """Check a voice preset and turn it into what `BarkProcessor.__call__(voice_preset=...)` accepts.

    Args:
        preset: `None` (no voice prompt), a preset name of the Bark repository's `speaker_embeddings` (e.g.
            `"v2/en_speaker_6"`), a path to a local `.npz` file, or a dict with `semantic_prompt (S,)`,
            `coarse_prompt (2, T)` and `fine_prompt (8, T)` integer arrays.
        available: The preset names of the Bark repository (`BarkProcessor.available_voice_presets`).

    Returns:
        `None`, the preset name, or a dict of int64 arrays (for files and dicts).

    Raises:
        ValueError: An unknown name or missing file (the message says how to list valid names), or a malformed preset.
        TypeError: A preset of another type.
    """
    if preset is None:
        return None
    if isinstance(preset, dict):
        return _validated(preset, "dict")
    if not isinstance(preset, str | os.PathLike):
        raise TypeError(f"voice_preset must be a name, a .npz path or a dict, got {type(preset).__name__}")
    if isinstance(preset, str) and preset in available:
        return preset
    path = Path(preset)
    candidates = [path] if path.suffix == ".npz" else [path, path.with_name(path.name + ".npz")]
    for candidate in candidates:
        if candidate.is_file():
            with np.load(candidate, allow_pickle=False) as data:
                return _validated(dict(data), f"file {candidate}")
    examples = ", ".join(available[:4]) + (", ..." if len(available) > 4 else "")
    known = f"this Bark model has {len(available)} presets ({examples})" if available else "this Bark model has none"
    raise ValueError(
        f"unknown voice preset '{os.fspath(preset)}': not a preset name ({known}; list them with "
        f"`bark-vocos say --list-voices --bark ID|PATH`) and not a local .npz file"
    )


def save_voice_preset(
    path: str | os.PathLike, semantic_prompt: np.ndarray, coarse_prompt: np.ndarray, fine_prompt: np.ndarray
) -> Path:
    """Write a Bark voice preset `.npz` (keys `semantic_prompt`, `coarse_prompt`, `fine_prompt`), atomically.

    Args:
        path: Destination; must end in `.npz`.
        semantic_prompt: Semantic tokens, shape `(S,)`.
        coarse_prompt: Coarse codes, shape `(2, T)`.
        fine_prompt: Fine codes, shape `(8, T)`.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"a voice preset file must end in .npz, got '{path.name}'")
    arrays = _validated(
        {"semantic_prompt": semantic_prompt, "coarse_prompt": coarse_prompt, "fine_prompt": fine_prompt}, "to save"
    )
    with atomic_output(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return path
