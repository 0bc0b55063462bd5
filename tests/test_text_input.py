"""Text a user feeds the CLI that is not clean UTF-8, and text read from a pipe."""

from __future__ import annotations

import subprocess
import sys

import pytest
from processes import child_env

from pipelines.speech.checks import check_text


def test_an_undecodable_argument_byte_is_named(tmp_path):
    command = [sys.executable.encode(), b"-m", b"pipelines", b"say", b"Hello \xff\xfe there", b"-o", b"a.wav"]
    done = subprocess.run(command, cwd=tmp_path, env=child_env(), capture_output=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.decode().strip().splitlines() == [
        "bark-vocos: error: text holds the byte 0xff at character 6, which is not UTF-8 text: give UTF-8 text"
    ]


def test_text_file_can_be_a_pipe(tmp_path):
    command = [sys.executable, "-m", "pipelines", "say", "--text-file", "/dev/stdin", "-o", "a.wav"]
    done = subprocess.run(command, cwd=tmp_path, env=child_env(), input=b"Hello \xff", capture_output=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.decode().strip() == (
        "bark-vocos: error: --text-file /dev/stdin is not UTF-8 text (byte 0xff at offset 6): save it as UTF-8"
    )  # read, not "no such file"


@pytest.mark.parametrize("text", ["Hello there", "naïve café 日本語 😀"])
def test_valid_text_passes(text):
    check_text(text)


def test_a_lone_surrogate_is_refused():
    with pytest.raises(ValueError, match="'input' holds the lone surrogate U[+]D800 at character 3"):
        check_text("Hi \ud800", "'input'")


def test_a_preset_value_at_2_63_is_reported_as_itself(tmp_path):
    import numpy as np

    from pipelines.speech.voice_presets import resolve_voice_preset

    path = tmp_path / "v.npz"
    np.savez(
        path,
        semantic_prompt=np.array([1, 2**63], dtype=np.uint64),
        coarse_prompt=np.zeros((2, 3), dtype=np.int64),
        fine_prompt=np.zeros((8, 3), dtype=np.int64),
    )
    with pytest.raises(ValueError, match="'semantic_prompt' holds values from 1 to 9223372036854775808, outside"):
        resolve_voice_preset(str(path), [])


def test_an_npy_header_of_a_huge_shape_is_refused_naming_the_file(tmp_path):
    import numpy as np

    from pipelines.io.npy_files import read_npy

    path = tmp_path / "codes.npy"
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, {"descr": "<i8", "fortran_order": False, "shape": (2**40, 2**40)})
    with pytest.raises(ValueError, match=f"{path} holds {2**80} values, shape"):
        read_npy(path, max_elements=100)
