"""A batch row can be replayed with `say`: its file carries the seed and the manifest gives the command line."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import soundfile as sf
from processes import child_env


def test_say_with_the_manifest_command_gives_the_rows_audio(tiny_dir, tmp_path):
    (tmp_path / "jobs.jsonl").write_text(
        '{"id": "a", "text": "Hello there."}\n{"id": "b", "text": "Bye.", "seed": 7}\n'
    )
    command = [sys.executable, "-m", "pipelines", "batch", "jobs.jsonl", "--out", "out", "--no-progress"]
    command += ["--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos"), "--seed", "5", "--threads", "1"]
    done = subprocess.run(command, cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert [entry["status"] for entry in entries] == ["ok", "ok"]
    for entry in entries:
        info = sf.info(tmp_path / "out" / entry["file"])
        assert f"bark-vocos seed {entry['seed']}" in info.extra_info  # the comment tag, as `say` writes it
        argv = shlex.split(entry["say"])
        assert argv[:2] == ["bark-vocos", "say"] and argv[argv.index("--seed") + 1] == str(entry["seed"])
        argv[argv.index("-o") + 1] = f"replay-{entry['file']}"
        replay = subprocess.run(
            [sys.executable, "-m", "pipelines", *argv[1:], "--no-progress"],
            cwd=tmp_path, env=child_env(OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert replay.returncode == 0, replay.stderr
        batch_audio, rate = sf.read(tmp_path / "out" / entry["file"], dtype="float32")
        say_audio, say_rate = sf.read(tmp_path / f"replay-{entry['file']}", dtype="float32")
        assert rate == say_rate and batch_audio.shape == say_audio.shape and (batch_audio == say_audio).all()
