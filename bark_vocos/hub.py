"""Loading from a local folder or the Hugging Face Hub, with one clear error when neither works."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from .errors import ModelNotAvailableError

__all__ = ["explain_unavailable", "is_local"]


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
    try:
        yield
    except ModelNotAvailableError:
        raise
    except OSError as error:
        if is_local(name_or_path):
            raise
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
        reason = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face Hub cannot be reached or has no such model"
        raise ModelNotAvailableError(
            f"cannot load {what} '{os.fspath(name_or_path)}': it is not a local folder and {reason}. "
            f"Download it where you have internet (huggingface-cli download {os.fspath(name_or_path)}) "
            f"and pass its local folder with {option}."
        ) from error
