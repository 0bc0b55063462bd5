"""Batch job files: read and check JSONL, CSV or plain-text JOBS files into rows, before any model loads."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..defaults import DECODERS, MAX_SEED

__all__ = ["JOB_FORMATS", "MANIFEST_FIELDS", "JobRow", "read_jobs", "row_seed"]

# suffix -> format; any other suffix is read as plain text (one item per line)
JOB_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
# the columns a JOBS file may give; any other column is carried into the manifest as it is
ROW_COLUMNS = ("id", "text", "voice", "seed", "decoder")
# the manifest's own fields: a JOBS file's extra columns may not reuse these names
MANIFEST_FIELDS = (
    "id",
    "status",
    "file",
    "text",
    "duration",
    "samples",
    "sampling_rate",
    "sha256",
    "seed",
    "voice",
    "decoder",
    "error",
    "settings",
    "say",
)
# ids name files (DIR/<id>.<ext>): letters, digits, '.', '_', '-', starting with a letter or digit
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SEED_BITS = 31  # derived seeds lie in [0, 2**31): valid for torch, numpy and every other seeding API


@dataclass(frozen=True)
class JobRow:
    """One row of a JOBS file.

    Attributes:
        id: The row's id; its output file is `DIR/<id>.<ext>`.
        text: The text to speak (may be empty: the row then fails with its error, the job goes on).
        voice: Voice preset name or `.npz` path; `None`: the job's default.
        seed: The row's seed; `None`: derived from the job's seed and the id (`row_seed`).
        decoder: `"vocos"` or `"encodec"`; `None`: the job's default.
        line: Line number in the JOBS file (1-based), for messages.
        extra: Any other columns, carried into the manifest.
    """

    id: str
    text: str
    voice: str | None = None
    seed: int | None = None
    decoder: str | None = None
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def row_seed(job_seed: int, row_id: str) -> int:
    """The seed of a row that gives none: the first 31 bits of `sha256("<job_seed>:<row_id>")`.

    It depends on nothing but the job's seed and the row's id, so any row can be regenerated alone, in any order, on any
    worker: `pipe(text, seed=row_seed(job_seed, row_id), ...)`.
    """
    digest = hashlib.sha256(f"{int(job_seed)}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - _SEED_BITS)


def _fail(path: Path, line: int | None, problem: str) -> ValueError:
    where = f"{path} line {line}" if line is not None else str(path)
    return ValueError(f"{where}: {problem}")


def _optional_str(value: Any, name: str, path: Path, line: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _fail(path, line, f"'{name}' must be a string, got {json.dumps(value)}")
    return value


def _row(values: dict[str, Any], path: Path, line: int) -> JobRow:
    """Check one row's values (from a JSON object or a CSV record) and build its `JobRow`."""
    for name in ("id", "text"):
        if name not in values or values[name] is None:
            raise _fail(path, line, f"no '{name}' field: every row needs 'id' and 'text'")
    raw_id = values["id"]
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        raise _fail(path, line, f"'id' must be a string or an integer, got {json.dumps(raw_id)}")
    row_id = str(raw_id)
    if not _ID_PATTERN.fullmatch(row_id):
        raise _fail(
            path,
            line,
            f"id {row_id!r} cannot name a file: use 1-128 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit",
        )
    text = values["text"]
    if not isinstance(text, str):
        raise _fail(path, line, f"'text' must be a string, got {json.dumps(text)}")
    seed = values.get("seed")
    if seed == "":
        seed = None
    if seed is not None:
        try:
            seed = int(seed) if not isinstance(seed, bool | float) else None
        except ValueError:
            seed = None
        if seed is None or not 0 <= seed <= MAX_SEED:
            raise _fail(path, line, f"'seed' must be an integer from 0 to 2**64-1, got {json.dumps(values['seed'])}")
    decoder = _optional_str(values.get("decoder"), "decoder", path, line)
    if decoder is not None and decoder not in DECODERS:
        raise _fail(path, line, f"unknown decoder {decoder!r}: use one of {list(DECODERS)}")
    extra = {key: value for key, value in values.items() if key not in ROW_COLUMNS}
    reserved = [key for key in extra if key in MANIFEST_FIELDS]
    if reserved:
        raise _fail(path, line, f"column {reserved[0]!r} is a manifest field: rename it")
    return JobRow(
        id=row_id,
        text=text,
        voice=_optional_str(values.get("voice"), "voice", path, line),
        seed=seed,
        decoder=decoder,
        line=line,
        extra=extra,
    )


def _jsonl_rows(path: Path, lines: list[str]) -> list[JobRow]:
    rows = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise _fail(path, number, f"invalid JSON ({error.msg} at column {error.colno})") from None
        if not isinstance(values, dict):
            raise _fail(path, number, f"expected a JSON object with 'id' and 'text', got {type(values).__name__}")
        rows.append(_row(values, path, number))
    return rows


def _csv_rows(path: Path, lines: list[str]) -> list[JobRow]:
    reader = csv.DictReader(lines, strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise _fail(path, 1, f"invalid CSV header ({error})") from None
    if not header:
        raise _fail(path, None, "empty file: no header and no rows")
    for name in ("id", "text"):
        if name not in header:
            raise _fail(path, 1, f"no '{name}' column (columns: {', '.join(header)}): the header needs 'id' and 'text'")
    if len(set(header)) != len(header):
        duplicate = next(name for name in header if header.count(name) > 1)
        raise _fail(path, 1, f"column {duplicate!r} appears twice in the header")
    rows = []
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise _fail(path, reader.line_num, f"invalid CSV ({error})") from None
        line = reader.line_num
        if None in record:
            raise _fail(path, line, f"{len(header) + len(record[None])} fields, the header has {len(header)}")
        if any(value is None for value in record.values()):
            raise _fail(path, line, f"fewer fields than the header's {len(header)}")
        rows.append(_row(dict(record), path, line))
    return rows


def _text_rows(path: Path, lines: list[str]) -> list[JobRow]:
    width = max(6, len(str(len(lines))))
    return [
        JobRow(id=str(number).zfill(width), text=text.strip(), line=number)
        for number, text in enumerate(lines, start=1)
        if text.strip()
    ]


def read_jobs(path: str | os.PathLike) -> list[JobRow]:
    """Read and check a JOBS file; every problem is one line naming the file, the line and the problem.

    Formats, by suffix:
    - `.jsonl` / `.ndjson`: one JSON object per line with `id` and `text`, optional `voice`, `seed`, `decoder`;
      any other key is carried into the manifest. Blank lines are skipped.
    - `.csv`: a header with `id` and `text` (and optionally the other columns), one row per record.
    - anything else: plain UTF-8 text, one item per non-blank line; the id is the line number, zero-padded to six
      digits (`000001`), so the files sort in line order.

    Args:
        path: The JOBS file.

    Returns:
        The rows, in file order.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not UTF-8, empty, invalid JSON/CSV, a missing `id`/`text` column, a bad id, seed or decoder, a
            duplicate id (naming both lines), or an extra column named like a manifest field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"jobs file not found: {path}")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise _fail(path, None, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    lines = content.splitlines(keepends=True)  # csv needs the line ends inside quoted fields
    if not content.strip():
        raise _fail(path, None, "empty file: no rows")
    reader = {"jsonl": _jsonl_rows, "csv": _csv_rows}.get(JOB_FORMATS.get(path.suffix.lower(), "text"), _text_rows)
    rows = reader(path, lines)
    if not rows:
        raise _fail(path, None, "no rows (only a header or blank lines)")
    first_line: dict[str, int] = {}
    for row in rows:
        if row.id in first_line:
            raise _fail(path, row.line, f"duplicate id {row.id!r} (first on line {first_line[row.id]})")
        first_line[row.id] = row.line
    return rows
