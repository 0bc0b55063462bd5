"""File permissions of what bark-vocos writes: those the umask gives a new file or folder, never the private ones
`tempfile.mkstemp`/`mkdtemp` create (a staged checkpoint or output must be readable like any other file)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["set_default_mode"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def set_default_mode(path: str | os.PathLike) -> None:
    """Give `path` the permissions a new file or folder gets from the umask."""
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~_umask())
