"""Helpers shared by the batch tests (local and Ray): settings, job files, manifests, and a batch process to stop."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from processes import child_env

from pipelines.batch import BatchSettings, read_manifest

REPO = Path(__file__).resolve().parent.parent
WORDS = "Hello my dog is cute and the cat was in it that she said to you I laughs of a".split()


def settings(tiny_dir: Path) -> BatchSettings:
    """The tiny random models, one torch thread."""
    return BatchSettings(bark=str(tiny_dir / "bark"), vocoder=str(tiny_dir / "vocos"), threads=1)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def manifest_entries(out_dir: Path) -> dict[str, dict]:
    """The manifest's entries by id, checking that it is whole and has no id twice."""
    found, partial = read_manifest(out_dir / "manifest.jsonl")
    assert not partial
    assert len({entry["id"] for entry in found}) == len(found), "a manifest line is duplicated"
    return {entry["id"]: entry for entry in found}


def _ctrl_c_as_in_a_terminal() -> None:
    """In the child before it runs: SIGINT back to its default, so Python turns it into KeyboardInterrupt as in a
    terminal. A test run started in the background by a non-interactive shell ignores SIGINT, and a child inherits
    that: it would run on through the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_batch(arguments: list[str], out: Path, timeout: float, rows: int = 3) -> subprocess.Popen:
    """`bark-vocos batch ARGUMENTS --out OUT` as a real process, returned once its manifest holds `rows` lines (or it
    ended, or `timeout` seconds passed), for the caller to stop."""
    command = [sys.executable, "-m", "pipelines", "batch", *arguments, "--out", str(out)]
    env = child_env()
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.is_file() and manifest.read_text().count("\n") >= rows:
            break
        time.sleep(0.01)
    return process
