"""The one way bark-vocos writes an output file: to a temporary file beside it, renamed into place when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_output", "check_writable"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before any work, when `path` cannot be written as a file.

    Raises:
        FileNotFoundError: The destination folder does not exist.
        PermissionError: `path` is a folder, or its folder is not writable.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {folder}")
    if path.is_dir() or not os.access(folder, os.W_OK):
        raise PermissionError(f"cannot write {path}: not a writable file path")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on any failure it is removed.

    A failure therefore leaves no partial file, and an existing file at `path` stays as it was.

    Args:
        path: The final destination; its folder must exist.
        suffix: Ending of the temporary name, for writers that pick the format by suffix (e.g. ".npz").

    Raises:
        FileNotFoundError, PermissionError: As `check_writable`.
    """
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{suffix}", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; an output file gets the usual permissions
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
