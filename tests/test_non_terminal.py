"""Output that is not a terminal (a log file, a pipe, CI): no progress-bar control characters, no third-party bars."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_say_into_a_log_has_plain_lines_only(tiny_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "pipelines", "say", "Hello there.", "-o", "a.wav", "--seed", "3"]
    command += ["--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos")]
    with open(tmp_path / "log", "w") as log:
        done = subprocess.run(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log, timeout=300)
    assert done.returncode == 0
    stderr = (tmp_path / "log").read_text()
    assert "\r" not in stderr and "\x1b[" not in stderr
    assert "Loading weights" not in stderr and "%|" not in stderr
    bark, vocos = tiny_dir / "bark", tiny_dir / "vocos"
    assert stderr.splitlines() == [
        f"note: {bark}, {vocos} hold random weights (make-tiny): the audio is noise, not speech"
    ]
    assert done.stdout.decode().startswith("wrote a.wav: ")
