"""Outputs that are not plain writable files (FIFOs, devices, read-only or immutable files) and pairs of outputs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from processes import child_env

from pipelines.io.files import atomic_outputs, check_writable


def _say(tiny_dir: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = child_env()
    command = [sys.executable, "-m", "pipelines", "say", "hello there", "--bark", str(tiny_dir / "bark")]
    command += ["--vocoder", str(tiny_dir / "vocos"), "--seed", "1", "--no-progress", *argv]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_fifo_output_is_refused_and_stays_a_fifo(tiny_dir, tmp_path):
    fifo = tmp_path / "f.wav"
    os.mkfifo(fifo)
    result = _say(tiny_dir, "-o", str(fifo), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"bark-vocos: error: cannot write {fifo}: it is a FIFO (named pipe), not a regular file (for a WAV stream use "
        "-o - and redirect it)"
    ]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.wav"]


def test_a_device_node_is_refused_and_kept(tmp_path):
    node = tmp_path / "null.wav"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the same device as /dev/null
    except PermissionError:
        pytest.skip("creating a device node needs root")
    with pytest.raises(ValueError, match="it is a character device, not a regular file"):
        check_writable(node)
    assert stat.S_ISCHR(node.stat().st_mode)


def test_a_read_only_output_is_refused_before_generating(tiny_dir, tmp_path):
    target = tmp_path / "ro.wav"
    target.write_bytes(b"keep me")
    target.chmod(0o444)
    result = _say(tiny_dir, "-o", str(target), "--save-voice", str(tmp_path / "v.npz"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"bark-vocos: error: cannot replace {target}: the file is read-only or immutable"
    ]
    assert target.read_bytes() == b"keep me" and stat.S_IMODE(target.stat().st_mode) == 0o444
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ro.wav"]  # no voice preset, no .part file


def test_an_immutable_output_leaves_neither_file(tiny_dir, tmp_path):
    target = tmp_path / "a.wav"
    target.write_bytes(b"old")
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and a file system that supports it)")
    try:
        result = _say(tiny_dir, "-o", str(target), "--save-voice", str(tmp_path / "v.npz"), cwd=tmp_path)
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
    assert result.returncode == 1
    assert "cannot replace" in result.stderr and ".part" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
    assert target.read_bytes() == b"old"


def test_outputs_are_committed_together_or_not_at_all(tmp_path):
    first, second = tmp_path / "a.wav", tmp_path / "v.npz"
    first.write_bytes(b"old")
    with pytest.raises(IsADirectoryError), atomic_outputs((first, ".wav"), (second, ".npz")) as (tmp_a, tmp_v):
        tmp_a.write_bytes(b"new")
        tmp_v.write_bytes(b"voice")
        second.mkdir()  # appears after the checks: its replacement fails, after the first one's
    assert first.read_bytes() == b"old"  # undone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "v.npz"] and second.is_dir()


def test_outputs_committed_together(tmp_path):
    first, second = tmp_path / "a.wav", tmp_path / "v.npz"
    first.write_bytes(b"old")
    with atomic_outputs((first, ".wav"), (second, ".npz")) as (tmp_a, tmp_v):
        tmp_a.write_bytes(b"new")
        tmp_v.write_bytes(b"voice")
    assert (first.read_bytes(), second.read_bytes()) == (b"new", b"voice")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "v.npz"]
