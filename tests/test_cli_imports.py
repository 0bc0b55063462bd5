"""`bark-vocos --help`, each command's `--help`, usage errors and checks that need no model load no torch.

Each case runs in a fresh Python process (the test process has torch loaded already), then prints the modules the
command line loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "onnx", "onnxruntime")
_PROBE = """
import json, sys
from pipelines.commands import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if "." not in m)}), file=sys.stderr)
"""


def _loaded(argv: list[str], cwd: Path) -> tuple[int, list[str], str]:
    """(exit code, top-level modules loaded, stderr without the probe's line) of `bark-vocos ARGV` in a new process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    *messages, probe = done.stderr.strip().splitlines()
    report = json.loads(probe)
    return report["code"], report["modules"], "\n".join(messages)


def _heavy(modules: list[str]) -> list[str]:
    return [name for name in HEAVY if name in modules]


@pytest.mark.parametrize("command", [[]] + [name.split() for name in COMMANDS], ids=lambda c: " ".join(c) or "top")
def test_help_loads_nothing_heavy(command, tmp_path):
    code, modules, _ = _loaded([*command, "--help"], tmp_path)
    assert code == 0
    assert _heavy(modules) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["say", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["say", "hi", "-o", "a.wav", "--seed", "x"], "--seed: invalid int value: 'x'"),
        (["say", "hi", "-o", "no-such-folder/a.wav"], "output folder does not exist"),
        (["say", "hi", "-o", "a.wav", "--seed", "-1"], "--seed -1 is out of range"),
        (["say", "hi", "-o", "a.wav", "--pause", "nan"], "--pause nan is out of range"),
        (["say", "--text-file", "missing.txt", "-o", "a.wav"], "--text-file missing.txt: no such file"),
        (["decode", "missing.npy", "-o", "a.wav"], "missing.npy"),
        (["decode", "codes.npy", "-o", "a.mp3"], "unsupported output format '.mp3'"),
        (["decode", "codes.npy", "-o", "a.wav", "--bandwidth", "5"], "invalid choice: 5.0"),
        (["bench", "nope"], "invalid choice: 'nope'"),
    ],
)
def test_usage_errors_and_model_free_checks_load_nothing_heavy(argv, message, tmp_path):
    code, modules, stderr = _loaded(argv, tmp_path)
    assert code != 0
    assert message in stderr
    assert _heavy(modules) == []
