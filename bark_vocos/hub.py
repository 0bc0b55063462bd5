"""Loading from a local folder or the Hugging Face Hub, with one clear error when neither works."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

from .errors import ModelNotAvailableError

__all__ = ["explain_unavailable", "is_local"]

# Files whose presence in the local hub cache means a repo was downloaded before (either Vocos layout, or Bark).
_CACHE_MARKERS = ("config.json", "config.yaml")
_REACHABILITY_TIMEOUT_S = 10.0


def is_local(name_or_path: str | os.PathLike) -> bool:
    """Whether `name_or_path` names an existing local folder or file (rather than a hub id)."""
    return os.path.exists(os.fspath(name_or_path))


@contextlib.contextmanager
def explain_unavailable(name_or_path: str | os.PathLike, what: str, option: str) -> Iterator[None]:
    """Turn a failed hub look-up inside the block into one `ModelNotAvailableError` line.

    Args:
        name_or_path: The hub id or local path being loaded.
        what: What is being loaded, for the message (e.g. "Vocos vocoder").
        option: How the user passes a local path instead (e.g. "--vocoder PATH or vocoder=PATH").

    Raises:
        ModelNotAvailableError: When `name_or_path` is not a local path and loading it raised an `OSError`
            (transformers and huggingface_hub raise `OSError` subclasses for unreachable or unknown repos).
    """
    if not is_local(name_or_path) and not _offline() and not _cached(os.fspath(name_or_path)):
        # One quick look-up first: without it an unreachable hub costs a minute of retries per file before failing.
        try:
            _check_reachable(os.fspath(name_or_path))
        except Exception as error:  # noqa: BLE001 - any failure of the look-up means the model cannot be had
            raise _unavailable(name_or_path, what, option) from error
    try:
        yield
    except ModelNotAvailableError:
        raise
    except OSError as error:
        if is_local(name_or_path):
            raise
        raise _unavailable(name_or_path, what, option) from error


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def _unavailable(name_or_path: str | os.PathLike, what: str, option: str) -> ModelNotAvailableError:
    reason = "HF_HUB_OFFLINE is set" if _offline() else "the Hugging Face Hub cannot be reached or has no such model"
    return ModelNotAvailableError(
        f"cannot load {what} '{os.fspath(name_or_path)}': it is not a local folder and {reason}. "
        f"Download it where you have internet (huggingface-cli download {os.fspath(name_or_path)}) "
        f"and pass its local folder with {option}."
    )


def _cached(repo_id: str) -> bool:
    """Whether the hub cache already holds this repo (then loading works without the network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return any(isinstance(try_to_load_from_cache(repo_id, name), str) for name in _CACHE_MARKERS)
    except ValueError:  # not a valid repo id: let the loader say what is wrong
        return True


@functools.cache
def _check_reachable(repo_id: str) -> None:
    """Raises when the hub does not answer for `repo_id` within a few seconds; remembered once it did."""
    from huggingface_hub import HfApi

    HfApi().model_info(repo_id, timeout=_REACHABILITY_TIMEOUT_S)
