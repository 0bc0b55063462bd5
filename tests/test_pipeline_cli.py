"""`bark-vocos say` and `make-tiny` from the shell: files written, determinism, and one-line errors with no output."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.commands import main

ROOT = Path(__file__).resolve().parents[1]


def _say(tiny_bark_dir, out, *extra):
    return main(["say", "Hello, my dog is cute", "-o", str(out), "--bark", str(tiny_bark_dir), "--decoder", "encodec",
                 "--seed", "0", "--voice", "v2/en_speaker_0", "--no-progress", *extra])  # fmt: skip


def test_say_writes_a_deterministic_wav(tiny_bark_dir, tmp_path, capsys):
    assert _say(tiny_bark_dir, tmp_path / "a.wav") == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out
    assert "random weights" in captured.err and "noise" in captured.err
    # the same text from a file, same seed: the same samples, bit for bit
    (tmp_path / "in.txt").write_text("Hello, my dog is cute", encoding="utf-8")
    code = main(["say", "--text-file", str(tmp_path / "in.txt"), "-o", str(tmp_path / "b.wav"), "--bark",
                 str(tiny_bark_dir), "--decoder", "encodec", "--seed", "0", "--voice", "v2/en_speaker_0",
                 "--no-progress", "--save-voice", str(tmp_path / "voice.npz")])  # fmt: skip
    assert code == 0
    a, sr = sf.read(tmp_path / "a.wav", dtype="float32")
    b, _ = sf.read(tmp_path / "b.wav", dtype="float32")
    assert sr == 24000 and a.ndim == 1 and a.shape[0] % 320 == 0 and a.shape[0] > 0
    assert a.tobytes() == b.tobytes()
    with np.load(tmp_path / "voice.npz") as preset:
        assert sorted(preset.files) == ["coarse_prompt", "fine_prompt", "semantic_prompt"]
        assert preset["fine_prompt"].shape == (8, a.shape[0] // 320)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav", "in.txt", "voice.npz"]


def test_say_engines_give_the_same_sampled_audio(tiny_bark_dir, tmp_path, capsys):
    assert _say(tiny_bark_dir, tmp_path / "exact.wav") == 0  # the default engine
    assert _say(tiny_bark_dir, tmp_path / "ref.wav", "--engine", "transformers") == 0
    assert _say(tiny_bark_dir, tmp_path / "fast.wav", "--engine", "fast") == 0
    exact, _ = sf.read(tmp_path / "exact.wav", dtype="float32")
    reference, _ = sf.read(tmp_path / "ref.wav", dtype="float32")
    fast, sr = sf.read(tmp_path / "fast.wav", dtype="float32")
    assert exact.tobytes() == reference.tobytes()
    assert sr == 24000 and fast.ndim == 1 and fast.shape[0] % 320 == 0 and fast.shape[0] > 0
    with pytest.raises(SystemExit) as exit_info:
        _say(tiny_bark_dir, tmp_path / "x.wav", "--engine", "turbo")
    assert exit_info.value.code == 2
    assert "invalid choice: 'turbo'" in capsys.readouterr().err


def test_list_voices(tiny_bark_dir, capsys):
    assert main(["say", "--list-voices", "--bark", str(tiny_bark_dir)]) == 0
    assert capsys.readouterr().out.split() == ["v2/en_speaker_0", "v2/en_speaker_1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["say", "   ", "-o", "{tmp}/x.wav"], "empty"),
        (["say", "Hi", "-o", "{tmp}/x.wav", "--device", "tpu"], "unknown device 'tpu'"),
        (["say", "Hi", "-o", "{tmp}/x.wav", "--dtype", "int8"], "unknown dtype 'int8'"),
        (["say", "Hi", "-o", "{tmp}/missing/x.wav"], "output folder does not exist"),
        (["say", "Hi", "-o", "{tmp}/x.mp3"], "unsupported output format"),
        (
            ["say", "Hi", "-o", "{tmp}/x.wav", "--bark", "nobody/no-such-bark"],
            "cannot load Bark model 'nobody/no-such-bark'",
        ),
        (["say", "Hi", "-o", "{tmp}/x.wav", "--voice", "v9/xx"], "unknown voice preset 'v9/xx'"),
    ],
)
def test_say_errors_are_one_line_and_leave_no_file(tiny_bark_dir, tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--bark" not in args:
        args += ["--bark", str(tiny_bark_dir), "--decoder", "encodec"]
    assert main(args + ["--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("bark-vocos: error: ") and message in err
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_unknown_voice_lists_how_to_find_valid_ones(tiny_bark_dir, tmp_path, capsys):
    main(["say", "Hi", "-o", str(tmp_path / "x.wav"), "--bark", str(tiny_bark_dir), "--decoder", "encodec",
          "--voice", "nope", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert "v2/en_speaker_0" in err and "--list-voices" in err


def test_say_error_from_a_real_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "say", "", "-o", str(tmp_path / "x.wav")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "bark-vocos: error: text is empty or only whitespace: give some words to speak"
    ]
    assert list(tmp_path.iterdir()) == []


# A command whose run logs and warns as dependencies do, logs a line of ours, then fails as a user error; run in its own
# process so that pytest's log capture stays out of what the CLI shows.
_NOISY_COMMAND = """
import logging, sys, types, warnings
from pipelines import commands

def run(args):
    logging.getLogger("somelibrary.hub").warning("a library's log line")
    logging.getLogger("transformers.modeling_utils").warning("transformers' log line")
    warnings.warn("a library's warning", UserWarning, stacklevel=1)
    logging.getLogger("pipelines.noisy").warning("our own log line")
    raise ValueError("bad value 'x': give one of 'a', 'b'")

module = types.ModuleType("pipelines.commands.noisy_for_test")
module.add_arguments = lambda parser: None
module.run = run
sys.modules[module.__name__] = module
commands.COMMANDS["noisy"] = ("noisy_for_test", "a test command")
sys.exit(commands.main(sys.argv[1:]))
"""


def test_other_packages_logs_and_warnings_are_hidden_unless_debug():
    """A dependency that logs or warns (transformers 5.25's `kernels` logs on every offline import) never breaks the
    one-line error; our own log lines stay; `--debug` shows the rest and ends with the traceback."""

    def noisy(*args):
        unset = ("BARK_VOCOS_DEBUG", "TRANSFORMERS_VERBOSITY")
        env = {key: value for key, value in os.environ.items() if key not in unset}
        return subprocess.run([sys.executable, "-c", _NOISY_COMMAND, *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, env=env)  # fmt: skip

    quiet = noisy("noisy")
    assert quiet.returncode == 1
    error = "bark-vocos: error: bad value 'x': give one of 'a', 'b'"
    assert quiet.stderr.strip().splitlines() == ["our own log line", error]
    loud = noisy("--debug", "noisy")
    assert loud.returncode == 1
    for line in ("a library's log line", "transformers' log line", "a library's warning", "our own log line"):
        assert line in loud.stderr
    assert "Traceback" in loud.stderr and "ValueError: bad value 'x'" in loud.stderr
