"""The checks of texts, generation settings and thread counts, run before any model (or torch) loads.

Each failure is a `ValueError` naming the option, its value and the valid range, in the words of the CLI's options.
"""

from __future__ import annotations

import math
import os

from ..defaults import BARK_MAX_INPUT_TOKENS, MAX_PAUSE_SECONDS, MAX_SEED

__all__ = [
    "available_cpus",
    "check_generation_options",
    "check_seed_option",
    "check_text",
    "check_texts",
    "check_threads_option",
]


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one, else the CPU count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_text(text: str, name: str = "text") -> None:
    """`text` must be valid Unicode that UTF-8 can encode: no lone surrogates (an undecodable byte of a command-line
    argument arrives as one, e.g. `$'\\xff'`; JSON can carry one as `"\\ud800"`), which the tokenizer cannot take."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        what = f"the byte {code - 0xDC00:#04x}" if 0xDC80 <= code <= 0xDCFF else f"the lone surrogate U+{code:04X}"
        raise ValueError(
            f"{name} holds {what} at character {error.start}, which is not UTF-8 text: give UTF-8 text"
        ) from None


def check_texts(texts: list[str]) -> None:
    """The texts a pipeline call speaks: at least one, each a string with a non-space character, valid UTF-8.

    Raises:
        ValueError: No text, an empty or whitespace-only text, or one that is not UTF-8 text (see `check_text`).
        TypeError: A text that is not a string (naming its position).
    """
    if not texts:
        raise ValueError("no text given: pass a non-empty string or list of strings")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text must be a string or a list of strings, got {type(text).__name__} at {i}")
        if not text.strip():
            raise ValueError("text is empty or only whitespace: give some words to speak")
        check_text(text)


def check_seed_option(seed: int | None, option: str = "--seed") -> None:
    """`seed` must be `None` or an integer from 0 to 2**64-1 (what torch.manual_seed takes)."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{option} {seed} is out of range: give an integer from 0 to 2**64-1")


def check_threads_option(threads: int | None, option: str = "--threads") -> None:
    """`threads` must be `None` or from 1 to the CPUs this process may use (more only oversubscribes, or crashes)."""
    cpus = available_cpus()
    if threads is not None and not 1 <= threads <= cpus:
        raise ValueError(f"{option} {threads} is out of range: use 1 to {cpus} (the CPUs this process may use)")


def check_generation_options(
    *,
    pause: float,
    max_chunk_tokens: int,
    batch_size: int,
    first_chunk_tokens: int | None = None,
) -> None:
    """The long-form options of `say`, `batch` and `serve`: `--pause` (finite seconds, 0 to `MAX_PAUSE_SECONDS`),
    `--max-chunk-tokens` and `--first-chunk-tokens` (1 to `BARK_MAX_INPUT_TOKENS`), `--batch-size` (1 or more)."""
    if not math.isfinite(pause) or not 0 <= pause <= MAX_PAUSE_SECONDS:
        raise ValueError(f"--pause {pause} is out of range: give seconds from 0 to {MAX_PAUSE_SECONDS:g}")
    for option, tokens in (("--max-chunk-tokens", max_chunk_tokens), ("--first-chunk-tokens", first_chunk_tokens)):
        if tokens is not None and not 1 <= tokens <= BARK_MAX_INPUT_TOKENS:
            raise ValueError(f"{option} {tokens} is out of range: use 1 to {BARK_MAX_INPUT_TOKENS}")
    if batch_size < 1:
        raise ValueError(f"--batch-size {batch_size} is out of range: use 1 or more")
