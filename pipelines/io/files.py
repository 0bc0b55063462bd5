"""The one way bark-vocos writes output: a file via a temporary file beside it, renamed into place when complete;
a folder of files created new and removed again if anything fails."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bark_vocos.permissions import check_new_folder, new_folder, set_default_mode

__all__ = ["atomic_output", "atomic_outputs", "check_new_folder", "check_writable", "new_folder", "output_path"]

# what a path that is not a regular file is, for the error message
_KINDS = {
    stat.S_IFIFO: "FIFO (named pipe)",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFSOCK: "socket",
}


def output_path(path: str | os.PathLike) -> Path:
    """Where writing `path` really goes: a symbolic link is written through (its target is replaced, the link stays).

    Raises:
        ValueError: The link points back to itself or in a loop.
    """
    path = Path(path)
    if not path.is_symlink():
        return path
    try:
        return path.resolve(strict=False)
    except RuntimeError as error:  # a symlink loop (Python < 3.13 raises RuntimeError; 3.13 OSError)
        raise ValueError(f"cannot write {path}: the symbolic link loops") from error


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before any work, when `path` cannot be written as a file.

    Returns:
        The path to write: `path` itself, or the target of `path` when it is a symbolic link (see `output_path`).

    Raises:
        FileNotFoundError: The destination folder does not exist.
        PermissionError: `path` is a folder, or its folder is not writable.
    """
    path = output_path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {folder}")
    if path.is_dir() or not os.access(folder, os.W_OK):
        raise PermissionError(f"cannot write {path}: not a writable file path")
    if path.exists():
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            # replacing a FIFO or a device node by a file would break whatever reads or owns it
            raise ValueError(
                f"cannot write {path}: it is a {_KINDS.get(stat.S_IFMT(mode), 'special file')}, not a regular file "
                "(for a WAV stream use -o - and redirect it)"
            )
        if not mode & 0o222 or not os.access(path, os.W_OK):
            # read-only (chmod a-w) or immutable (chattr +i): the user protected it; do not replace it behind their back
            raise PermissionError(f"cannot replace {path}: the file is read-only or immutable")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on any failure it is removed.

    A failure therefore leaves no partial file, and an existing file at `path` stays as it was. An exception of any
    kind counts, KeyboardInterrupt included; the CLI turns SIGTERM into one too (`commands.Terminated`), so a killed
    `bark-vocos` leaves no `.part` file either (only SIGKILL, which nothing can catch, can leave one behind). A
    symbolic link at `path` is written through: its target gets the new content, the link stays.

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
        set_default_mode(tmp)  # mkstemp creates 0600; an output file gets the usual permissions
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_outputs(*specs: tuple[str | os.PathLike, str]) -> Iterator[list[Path]]:
    """Several outputs that appear together or not at all: `atomic_output` for each `(path, suffix)`, committed as one.

    Every destination is checked before the block runs. After it, each temporary file replaces its destination in
    turn; if one replacement fails, those already made are undone (a previous file comes back from a hard link kept
    until the end, a new one is removed), so a failure leaves every destination as it was.

    Raises:
        FileNotFoundError, PermissionError, ValueError: As `check_writable`, before the block runs.
    """
    paths = [check_writable(path) for path, _ in specs]
    with contextlib.ExitStack() as temporaries:
        suffixes = [suffix for _, suffix in specs]
        tmps = [temporaries.enter_context(_temporary_beside(p, s)) for p, s in zip(paths, suffixes, strict=True)]
        yield tmps
        _replace_all(tmps, paths)


@contextlib.contextmanager
def _temporary_beside(path: Path, suffix: str) -> Iterator[Path]:
    """A temporary file beside `path` with the default permissions, removed at the end unless renamed away."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{suffix}", dir=path.parent)
    os.close(fd)
    try:
        set_default_mode(tmp)  # mkstemp creates 0600; an output file gets the usual permissions
        yield Path(tmp)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _replace_all(tmps: list[Path], paths: list[Path]) -> None:
    """`os.replace(tmp, path)` for every pair, all or none (see `atomic_outputs`)."""
    done: list[tuple[Path, Path | None]] = []  # (destination, hard link to its previous file or None)
    try:
        for index, (tmp, path) in enumerate(zip(tmps, paths, strict=True)):
            backup = None
            if path.exists() and index < len(paths) - 1:  # the last one is never undone
                backup = path.with_name(f".{path.name}.{os.getpid()}.previous.part")
                os.link(path, backup)
            done.append((path, backup))
            os.replace(tmp, path)
    except BaseException:
        for path, backup in done[:-1]:  # the last one failed: not replaced
            with contextlib.suppress(OSError):
                os.replace(backup, path) if backup is not None else os.unlink(path)
        if done and done[-1][1] is not None:
            with contextlib.suppress(OSError):
                os.unlink(done[-1][1])
        raise
    for _, backup in done:
        if backup is not None:
            with contextlib.suppress(OSError):
                os.unlink(backup)
