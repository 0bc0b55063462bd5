"""A closed reader (`| head`) and a closed stdout (`>&-`) as real processes meet them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from processes import child_env


def _say_stream(tiny_dir: Path) -> list[str]:
    command = [sys.executable, "-m", "pipelines", "say", "Hello there. How are you?", "--stream", "-o", "-"]
    return command + ["--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos"), "--seed", "1"]


def test_a_reader_that_closes_ends_the_stream_quietly_with_141(tiny_dir):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte: every write fails with EPIPE
    try:
        done = subprocess.run(_say_stream(tiny_dir), env=child_env(), stdout=write, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.close(write)
    assert done.returncode == 128 + 13  # as cat and yes end (SIGPIPE)
    stderr = done.stderr.decode()
    assert "error" not in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr
    assert "streamed" not in stderr  # stopped at the first write, not after the whole generation


def test_a_closed_stdout_is_one_line(tiny_dir):
    done = subprocess.run(
        _say_stream(tiny_dir), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert done.returncode == 1
    message = "-o - writes to stdout, but stdout is closed: redirect it to a file or a pipe, or use -o FILE"
    assert done.stderr.decode().strip().splitlines() == [f"bark-vocos: error: {message}"]
