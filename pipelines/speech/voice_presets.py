"""Bark voice presets: resolve a name, a local `.npz` file or a dict; save a generation as a reusable `.npz` preset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io.files import atomic_output
from ..io.npy_files import read_npz

__all__ = [
    "CODEBOOK_SIZE",
    "MAX_PRESET_VALUES",
    "PRESET_KEYS",
    "SEMANTIC_VOCAB_SIZE",
    "resolve_voice_preset",
    "save_voice_preset",
]

# key -> number of dimensions, as in BarkProcessor.preset_shape
PRESET_KEYS = {"semantic_prompt": 1, "coarse_prompt": 2, "fine_prompt": 2}
# Bark's codebooks: 2 coarse and 8 fine EnCodec codebooks of 1024 bins; 10_000 semantic tokens (Bark's real sizes;
# a model with other sizes passes its own to `resolve_voice_preset`)
N_COARSE_CODEBOOKS = 2
N_FINE_CODEBOOKS = 8
CODEBOOK_SIZE = 1024
SEMANTIC_VOCAB_SIZE = 10_000
# Largest array a preset file may hold: 2**21 values (16 MiB as int64), about 17 minutes of fine codes; suno's
# presets hold a few thousand. Checked before anything is decompressed.
MAX_PRESET_VALUES = 2**21


def _validated(
    preset: dict, where: str, semantic_vocab_size: int = SEMANTIC_VOCAB_SIZE, codebook_size: int = CODEBOOK_SIZE
) -> dict[str, np.ndarray]:
    missing = [key for key in PRESET_KEYS if key not in preset]
    if missing:
        raise ValueError(f"voice preset {where} lacks {missing}: a preset needs {list(PRESET_KEYS)}")
    arrays, ranges = {}, {}
    for key, ndim in PRESET_KEYS.items():
        array = np.asarray(preset[key])
        if array.ndim != ndim or not np.issubdtype(array.dtype, np.integer) or array.size == 0:
            raise ValueError(
                f"voice preset {where}: '{key}' must be a {ndim}-D integer array, not empty, "
                f"got {array.dtype} {array.shape}"
            )
        ranges[key] = int(array.min()), int(array.max())  # before the cast: uint64 values >= 2**63 would wrap
        arrays[key] = array.astype(np.int64)
    coarse, fine = arrays["coarse_prompt"], arrays["fine_prompt"]
    if coarse.shape[0] != N_COARSE_CODEBOOKS or fine.shape[0] != N_FINE_CODEBOOKS or coarse.shape[1] != fine.shape[1]:
        raise ValueError(
            f"voice preset {where}: coarse_prompt {coarse.shape} and fine_prompt {fine.shape} must be "
            f"({N_COARSE_CODEBOOKS}, T) and ({N_FINE_CODEBOOKS}, T) with the same T"
        )
    for key, size in (
        ("semantic_prompt", semantic_vocab_size),
        ("coarse_prompt", codebook_size),
        ("fine_prompt", codebook_size),
    ):
        low, high = ranges[key]
        if low < 0 or high >= size:
            raise ValueError(
                f"voice preset {where}: '{key}' holds values from {low} to {high}, outside the valid 0 to {size - 1}"
            )
    return arrays


def resolve_voice_preset(
    preset,
    available: list[str],
    *,
    semantic_vocab_size: int = SEMANTIC_VOCAB_SIZE,
    codebook_size: int = CODEBOOK_SIZE,
) -> str | dict[str, np.ndarray] | None:
    """Check a voice preset and turn it into what `BarkProcessor.__call__(voice_preset=...)` accepts.

    Args:
        preset: `None` (no voice prompt), a preset name of the Bark repository's `speaker_embeddings` (e.g.
            `"v2/en_speaker_6"`), a path to a local `.npz` file, or a dict with `semantic_prompt (S,)`,
            `coarse_prompt (2, T)` and `fine_prompt (8, T)` integer arrays.
        available: The preset names of the Bark repository (`BarkProcessor.available_voice_presets`).
        semantic_vocab_size: Semantic tokens must lie in `[0, semantic_vocab_size)` (Bark's is 10_000).
        codebook_size: Coarse and fine codes must lie in `[0, codebook_size)` (EnCodec's 1024).

    A `.npz` file is read safely: only the three arrays, each checked for size (at most `MAX_PRESET_VALUES`
    values) before it is decompressed; a file with other arrays, or pickled data, is refused.

    Returns:
        `None`, the preset name, or a dict of int64 arrays (for files and dicts).

    Raises:
        ValueError: An unknown name or missing file (the message says how to list valid names), or a malformed preset
            (wrong keys, shapes, dtypes, sizes or values out of range).
        TypeError: A preset of another type.
    """
    limits = {"semantic_vocab_size": semantic_vocab_size, "codebook_size": codebook_size}
    if preset is None:
        return None
    if isinstance(preset, dict):
        return _validated(preset, "dict", **limits)
    if not isinstance(preset, str | os.PathLike):
        raise TypeError(f"voice_preset must be a name, a .npz path or a dict, got {type(preset).__name__}")
    if isinstance(preset, str) and preset in available:
        return preset
    if not os.fspath(preset).strip():
        raise ValueError("voice preset is empty: give a preset name (list them with --list-voices) or a .npz file")
    path = Path(preset)
    candidates = [path] if path.suffix == ".npz" else [path, path.with_name(path.name + ".npz")]
    for candidate in candidates:
        if candidate.is_file():
            arrays = read_npz(candidate, list(PRESET_KEYS), MAX_PRESET_VALUES)
            return _validated(arrays, f"file {candidate}", **limits)
    examples = ", ".join(available[:4]) + (", ..." if len(available) > 4 else "")
    known = f"this Bark model has {len(available)} presets ({examples})" if available else "this Bark model has none"
    raise ValueError(
        f"unknown voice preset '{os.fspath(preset)}': not a preset name ({known}; list them with "
        f"`bark-vocos say --list-voices --bark ID|PATH`) and not a local .npz file"
    )


def save_voice_preset(
    path: str | os.PathLike,
    semantic_prompt: np.ndarray,
    coarse_prompt: np.ndarray,
    fine_prompt: np.ndarray,
    *,
    semantic_vocab_size: int = SEMANTIC_VOCAB_SIZE,
    codebook_size: int = CODEBOOK_SIZE,
) -> Path:
    """Write a Bark voice preset `.npz` (keys `semantic_prompt`, `coarse_prompt`, `fine_prompt`), atomically.

    Args:
        path: Destination; must end in `.npz`.
        semantic_prompt: Semantic tokens, shape `(S,)`.
        coarse_prompt: Coarse codes, shape `(2, T)`.
        fine_prompt: Fine codes, shape `(8, T)`.
        semantic_vocab_size: Semantic tokens must lie in `[0, semantic_vocab_size)` (the Bark model's; 10_000).
        codebook_size: Codes must lie in `[0, codebook_size)` (1024).

    Returns:
        The path written.

    Raises:
        ValueError: A path not ending in `.npz`, or arrays that are no valid preset (as `resolve_voice_preset`).
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"a voice preset file must end in .npz, got '{path.name}'")
    arrays = _validated(
        {"semantic_prompt": semantic_prompt, "coarse_prompt": coarse_prompt, "fine_prompt": fine_prompt},
        "to save",
        semantic_vocab_size=semantic_vocab_size,
        codebook_size=codebook_size,
    )
    with atomic_output(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return path
