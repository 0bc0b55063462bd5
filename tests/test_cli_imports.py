"""`bark-vocos --help`, each command's `--help`, usage errors and checks that need no model load no torch.

Each case runs in a fresh Python process (the test process has torch loaded already), then prints the modules the
command line loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from processes import child_env

from pipelines.commands import COMMANDS

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
    env = child_env()
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


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--batch-size", "0"], "--batch-size 0 is out of range: use 1 or more"),
        (["--pause", "nan"], "--pause nan is out of range"),
        (["--pause", "inf"], "--pause inf is out of range"),
        (["--max-chunk-tokens", "0"], "--max-chunk-tokens 0 is out of range: use 1 to 256"),
        (["--seed", "-1"], "--seed -1 is out of range: give an integer from 0 to 2**64-1"),
        (["--threads", "100000"], "--threads 100000 is out of range: use 1 to "),
        (["--workers", "0"], "--workers 0 is out of range"),
    ],
)
def test_batch_checks_its_settings_before_loading(options, message, tmp_path):
    (tmp_path / "jobs.txt").write_text("Hello there.\nHow are you?\n", encoding="utf-8")
    code, modules, stderr = _loaded(["batch", "jobs.txt", "--out", "out", *options], tmp_path)
    assert code == 1
    assert stderr.splitlines() == [f"bark-vocos: error: {stderr.split('error: ', 1)[1]}"] and message in stderr
    assert _heavy(modules) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.txt"]  # no output folder, manifest or lock


def test_a_row_seed_beyond_the_seed_range_is_a_job_error(tmp_path):
    (tmp_path / "jobs.jsonl").write_text('{"id": "a", "text": "Hi.", "seed": 1180591620717411303424}\n')
    code, _, stderr = _loaded(["batch", "jobs.jsonl", "--out", "out"], tmp_path)
    assert code == 1
    assert "'seed' must be an integer from 0 to 2**64-1, got 1180591620717411303424" in stderr
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ([[0, 1], [2, 3], [4, 5]], "holds 3 codebooks; EnCodec 24 kHz codes have one of [2, 4, 8, 16]"),
        ([[0, 1024], [2, 3]], "holds the code 1024; EnCodec codes are integers from 0 to 1023"),
        ([[0, -1], [2, 3]], "holds the code -1"),
        ("uint64", "holds the code 9223372036854775808"),
    ],
)
def test_decode_checks_codes_before_loading(codes, message, tmp_path):
    import numpy as np

    if codes == "uint64":
        codes = np.array([[0, 2**63], [1, 2]], dtype=np.uint64)
    np.save(tmp_path / "codes.npy", np.asarray(codes))
    code, modules, stderr = _loaded(["decode", "codes.npy", "-o", "a.wav", "--vocoder", "nowhere"], tmp_path)
    assert code == 1
    assert message in stderr
    assert _heavy(modules) == []


def test_decode_names_a_missing_file(tmp_path):
    code, _, stderr = _loaded(["decode", "nope.npy", "-o", "a.wav"], tmp_path)
    assert (code, stderr) == (1, "bark-vocos: error: nope.npy: no such file")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--text", ""], "--text is empty or only whitespace"),
        (["--text", "Hi.", "--seed", "-5"], "--seed -5 is out of range"),
    ],
)
def test_compare_checks_text_options_before_loading(options, message, tmp_path):
    code, modules, stderr = _loaded(["compare", *options, "--out", "report"], tmp_path)
    assert code == 1
    assert message in stderr
    assert _heavy(modules) == []


def test_bench_vocoder_bounds_its_threads(tmp_path):
    code, modules, stderr = _loaded(["bench", "vocoder", "--threads", "1000000", "--tiny"], tmp_path)
    assert code == 1
    assert "--threads 1000000 is out of range: use 1 to " in stderr
    assert _heavy(modules) == []


def test_a_usage_error_keeps_the_usage_and_ends_with_our_line(tmp_path):
    code, modules, stderr = _loaded(["say", "hi", "-o", "a.wav", "--seed", "x"], tmp_path)
    assert code == 2
    lines = stderr.splitlines()
    assert lines[0].startswith("usage: bark-vocos say ")
    assert lines[-1] == "bark-vocos: error: say: argument --seed: invalid int value: 'x'"
    assert _heavy(modules) == []


def test_version_names_the_packages_a_bug_report_needs(tmp_path):
    from importlib import metadata

    env = child_env()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "--version"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stderr == ""
    line = done.stdout.strip()
    assert line.startswith(f"bark-vocos {metadata.version('bark-vocos')}, torch {metadata.version('torch')}, ")
    assert f"transformers {metadata.version('transformers')}" in line and "onnxruntime " in line
    code, modules, _ = _loaded(["--version"], tmp_path)
    assert code == 0 and _heavy(modules) == []


def test_speaking_imports_no_analysis_library(tmp_path):
    """What a `say` pays before its first token is torch and transformers (which itself loads scipy.optimize), not our
    A/B's libraries (scipy's signal and stats, matplotlib) nor onnx (building step graphs, which a cached one skips)."""
    script = "import json, sys; from pipelines import TextToWavPipeline; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert {"torch", "transformers"} <= modules
    assert [name for name in ("scipy.signal", "scipy.stats", "matplotlib", "onnx") if name in modules] == []
