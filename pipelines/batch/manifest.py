"""The batch manifest `DIR/manifest.jsonl` (append-only, fsync'd, one line per finished row) and resuming from it."""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..io.files import atomic_output

__all__ = [
    "MANIFEST_NAME",
    "Manifest",
    "RowTask",
    "file_sha256",
    "plan_resume",
    "read_manifest",
    "remove_stale_parts",
]

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = ".manifest.jsonl.lock"
# what must match between a manifest line and a row for the row's file to count as done
_REQUEST_FIELDS = ("file", "text", "seed", "voice", "decoder")


@dataclass(frozen=True)
class RowTask:
    """One row to generate, with every default resolved (what a worker needs, nothing more).

    Attributes:
        id: The row's id.
        text: The text to speak.
        voice: Voice preset name or `.npz` path, or `None` for no voice prompt.
        seed: The seed (given by the row, or `jobs.row_seed(job_seed, id)`).
        decoder: `"vocos"` or `"encodec"`.
        file: The output file's name inside the output folder, `<id>.<ext>`.
    """

    id: str
    text: str
    voice: str | None
    seed: int
    decoder: str
    file: str

    def matches(self, entry: dict[str, Any]) -> bool:
        """Whether a manifest line was written for exactly this request (same file name, text, seed, voice, decoder)."""
        return all(entry.get(name) == getattr(self, name) for name in _REQUEST_FIELDS)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: str | os.PathLike) -> tuple[list[dict[str, Any]], bool]:
    """Read a manifest's lines.

    A last line without its newline that is not valid JSON is the trace of a process killed while appending: it is
    left out (and reported), never an error.

    Returns:
        `(entries, partial_tail)`: the entries in file order (none when the file does not exist), and whether a
        partial last line was left out.

    Raises:
        ValueError: A complete line that is not a JSON object with an 'id', naming the line.
    """
    path = Path(path)
    if not path.is_file():
        return [], False
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) and not line.endswith("\n"):
                return entries, True
            raise ValueError(f"{path} line {number}: invalid JSON; move the file away to start afresh") from None
        if not isinstance(entry, dict) or "id" not in entry:
            raise ValueError(f"{path} line {number}: not a manifest entry (a JSON object with an 'id')")
        entries.append(entry)
    return entries, False


@dataclass
class ResumePlan:
    """What a run does with an output folder's earlier results.

    Attributes:
        done: Entries of rows whose file exists and matches the manifest's sha256 and request; they are skipped.
        todo: The rows to generate (new, failed before, changed since, or whose file is missing or corrupt).
        kept: The manifest lines to keep: `done` plus lines of ids that are not in this job, in file order.
        rewrite: Whether the manifest must be rewritten to `kept` (it holds lines of rows to redo, duplicates or a
            partial last line); otherwise it is only appended to.
    """

    done: dict[str, dict[str, Any]]
    todo: list[RowTask]
    kept: list[dict[str, Any]]
    rewrite: bool


def plan_resume(tasks: list[RowTask], out_dir: str | os.PathLike, settings: dict[str, Any]) -> ResumePlan:
    """Compare the rows with `out_dir/manifest.jsonl` and the files on disk (their sha256).

    A row counts as done when its latest manifest line has status "ok", was written for the same request
    (`RowTask.matches`) with the same `settings` (the models, engine and options the line records; a line written
    before lines recorded them counts as the same), and its file's sha256 equals the line's. Everything else is
    redone, and its old line dropped so that the manifest never holds two lines for one id.
    """
    out_dir = Path(out_dir)
    entries, partial_tail = read_manifest(out_dir / MANIFEST_NAME)
    latest = {entry["id"]: entry for entry in entries}
    by_id = {task.id: task for task in tasks}
    done = {}
    for task in tasks:
        entry = latest.get(task.id)
        if entry is None or entry.get("status") != "ok" or not task.matches(entry):
            continue
        if entry.get("settings", settings) != settings:
            continue
        path = out_dir / task.file
        if path.is_file() and file_sha256(path) == entry.get("sha256"):
            done[task.id] = entry
    kept = [entry for entry in latest.values() if entry["id"] not in by_id or entry["id"] in done]
    rewrite = partial_tail or len(kept) != len(entries)
    todo = [task for task in tasks if task.id not in done]
    return ResumePlan(done=done, todo=todo, kept=kept, rewrite=rewrite)


def remove_stale_parts(out_dir: str | os.PathLike, names: list[str]) -> int:
    """Remove the temporary files a killed run left beside `names` (`files.atomic_output` writes `.<name>.*.part*`
    beside `<name>` and renames it into place; a SIGKILL between the two leaves it behind). Returns how many."""
    removed = 0
    for name in names:
        for path in Path(out_dir).glob(f".{glob.escape(name)}.*.part*"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _write_synced(f: IO[str], text: str) -> None:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())


class Manifest:
    """The append-only manifest of one output folder, held under an exclusive lock while a run writes it.

    Each `append` writes one complete JSON line with a single write, then flushes and fsyncs it, so a finished row's
    line survives a crash or a kill right after it. Use as a context manager:

        with Manifest(out_dir) as manifest:
            manifest.append({"id": ..., "status": "ok", ...})
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        self._lock: IO[str] | None = None
        self._file: IO[str] | None = None

    def __enter__(self) -> Manifest:
        self._lock = open(self.out_dir / LOCK_NAME, "a")  # noqa: SIM115 (held until __exit__)
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise OSError(f"another batch job is writing {self.out_dir}: wait for it or use another --out") from None
        return self

    def rewrite(self, entries: list[dict[str, Any]]) -> None:
        """Replace the manifest with `entries` atomically (before any append of this run)."""
        assert self._lock is not None and self._file is None, "rewrite inside `with`, before the first append"
        with atomic_output(self.path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            _write_synced(f, "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries))

    def append(self, entry: dict[str, Any]) -> None:
        """Append one line and fsync it."""
        assert self._lock is not None, "append inside `with Manifest(...)`"
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in __exit__)
        _write_synced(self._file, json.dumps(entry, ensure_ascii=False) + "\n")

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock is not None:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
