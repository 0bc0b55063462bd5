"""Output that is not a terminal (a log file, a pipe, CI): no progress-bar control characters, no third-party bars."""

from __future__ import annotations

import subprocess
import sys

from processes import child_env


def test_say_into_a_log_has_plain_lines_only(tiny_dir, tmp_path):
    env = child_env()
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


def test_a_mis_shaped_vocoder_is_our_line_alone(tiny_dir, tmp_path):
    import shutil

    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(tiny_dir / "vocos", tmp_path / "vocos")
    state = load_file(folder / "model.safetensors")
    state["codebook_weights"] = torch.zeros(state["codebook_weights"].shape[0] + 1, state["codebook_weights"].shape[1])
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    np.save(tmp_path / "codes.npy", np.zeros((8, 10), dtype=np.int64))
    env = child_env()
    command = [sys.executable, "-m", "pipelines", "decode", "codes.npy", "-o", "a.wav", "--vocoder", str(folder)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"bark-vocos: error: checkpoint {folder} does not match the model: mismatched_keys: ('codebook_weights', "
        "torch.Size([16385, 16]), torch.Size([16384, 16]))"
    ]
    assert not (tmp_path / "a.wav").exists()
