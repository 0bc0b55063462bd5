"""How bark-vocos writes files and folders: with the permissions the umask gives a new file or folder, never the
private ones `tempfile.mkstemp`/`mkdtemp` create (a staged checkpoint or output must be readable like any other file);
a folder of outputs all or nothing (`new_folder`); the machine's own cache files (the tuning record, the step graphs)
atomically and private to the user (`write_cache_file`), and the cache folders of files made from checkpoints kept
from growing without end (`mark_used`, `prune_unused`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "UNUSED_CACHE_DAYS",
    "check_new_folder",
    "mark_used",
    "new_folder",
    "prune_unused",
    "set_default_mode",
    "write_cache_file",
]

UNUSED_CACHE_DAYS = 30  # a cache file neither read nor written for this long is deleted (`prune_unused`)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def set_default_mode(path: str | os.PathLike) -> None:
    """Give `path` the permissions a new file or folder gets from the umask."""
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~_umask())


def check_new_folder(path: str | os.PathLike) -> Path:
    """Fail early when `path` cannot become a new folder of outputs: it must not exist or be an empty folder.

    Raises:
        FileExistsError: `path` is a file, or a folder that is not empty (nothing in it is touched).
        FileNotFoundError: Its parent folder does not exist.
    """
    path = Path(path)
    if path.exists() and not (path.is_dir() and not any(path.iterdir())):
        raise FileExistsError(f"{path} already exists and is not an empty folder: give a new folder name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"parent folder does not exist: {parent}")
    return path


@contextlib.contextmanager
def new_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield `path` as a new, empty folder; if the block fails in any way, the folder and all written in it go.

    For outputs that are a folder of files which must stay where they are written (e.g. a checkpoint that records
    its own absolute path), so cannot be renamed into place like `atomic_output` does.

    Raises:
        FileExistsError, FileNotFoundError: As `check_new_folder`, before anything is written.
    """
    path = check_new_folder(path)
    existed = path.is_dir()
    path.mkdir(exist_ok=True)
    try:
        yield path
    except BaseException:
        if existed:  # it was an empty folder: leave it empty
            for child in path.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
        raise


def write_cache_file(path: str | os.PathLike, data: bytes) -> None:
    """`data` into `path` atomically: a reader sees the old file or the new one, never a part (a temporary file in
    the same folder, created if missing, synced and renamed over it). The file stays private to the user, as
    `mkstemp` makes it: a cache of this machine's, not an output.

    Raises:
        OSError: The folder cannot be made or written (nothing is left behind).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def mark_used(path: str | os.PathLike) -> None:
    """Set a cache file's modification time to now, so that `prune_unused` keeps a file that is still read (nothing
    happens where the file cannot be changed, e.g. a read-only cache)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def prune_unused(folder: str | os.PathLike, days: float = UNUSED_CACHE_DAYS) -> int:
    """Delete the files directly in `folder` whose modification time is older than `days` (neither written nor read
    through `mark_used` since), leftover temporaries included; returns how many.

    Why: these caches are keyed by the checkpoint file a weight comes from, so a checkpoint downloaded again or no
    longer used would leave its files forever. Called before a new file is written. A missing or read-only folder,
    or a file another process removed first, is skipped.
    """
    cutoff = time.time() - days * 86400
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed
